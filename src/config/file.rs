//! Reading config layers (TOML files and git config) and merging them field by field.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::ConfigError;

/// The largest config file read; anything bigger is not a hand-written config.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    performers: BTreeMap<String, PerformerEntry>,
    #[serde(default)]
    checks: BTreeMap<String, CheckEntry>,
    #[serde(default)]
    prices: BTreeMap<String, BTreeMap<String, toml::Value>>,
    #[serde(default)]
    budget: BTreeMap<String, toml::Value>,
    setup: Option<super::setup::SetupEntry>,
    #[serde(default)]
    notify: BTreeMap<String, toml::Value>,
    #[serde(default)]
    worktrees: BTreeMap<String, toml::Value>,
}

/// One `[performers.<name>]` table as written; every field optional so layers can merge.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformerEntry {
    pub adapter: Option<String>,
    pub command: Option<String>,
    pub model: Option<String>,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub strengths: BTreeMap<String, f64>,
    pub max_parallel: Option<i64>,
    pub cost_tier: Option<String>,
    pub timeout: Option<String>,
    #[serde(default)]
    pub extra_args: Vec<String>,
    pub isolate_home: Option<bool>,
    pub context_file: Option<bool>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub sandbox: Option<String>,
    #[serde(default)]
    pub writable: Vec<String>,
    #[serde(default)]
    pub allow_ports: Vec<u16>,
    pub outside_writes: Option<String>,
    pub transcript_max: Option<String>,
    /// Which source set each field, for error messages.
    #[serde(skip)]
    sources: BTreeMap<&'static str, String>,
}

/// One `[checks.<name>]` table as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckEntry {
    pub run: Option<String>,
    pub timeout: Option<String>,
    pub sandbox: Option<String>,
    #[serde(default)]
    pub writable: Vec<String>,
    #[serde(skip)]
    sources: BTreeMap<&'static str, String>,
}

/// Where a field of an entry came from; the entry's first source if the field was never set.
trait Sourced {
    fn sources(&self) -> &BTreeMap<&'static str, String>;
    fn source_of(&self, key: &str) -> String {
        let s = self.sources();
        s.get(key).or_else(|| s.values().next()).cloned().unwrap_or_default()
    }
}

impl Sourced for PerformerEntry {
    fn sources(&self) -> &BTreeMap<&'static str, String> {
        &self.sources
    }
}

impl Sourced for CheckEntry {
    fn sources(&self) -> &BTreeMap<&'static str, String> {
        &self.sources
    }
}

impl PerformerEntry {
    /// Where `key` was set.
    pub fn source_of(&self, key: &str) -> String {
        Sourced::source_of(self, key)
    }

    fn merge(&mut self, other: PerformerEntry, source: &str) {
        macro_rules! take {
            ($($field:ident),*) => {$(
                if other.$field.is_some() {
                    self.$field = other.$field;
                    self.sources.insert(stringify!($field), source.to_owned());
                }
            )*};
        }
        macro_rules! take_nonempty {
            ($($field:ident),*) => {$(
                if !other.$field.is_empty() {
                    self.$field = other.$field;
                    self.sources.insert(stringify!($field), source.to_owned());
                }
            )*};
        }
        take!(
            adapter,
            command,
            model,
            max_parallel,
            cost_tier,
            timeout,
            isolate_home,
            context_file,
            base_url,
            api_key_env,
            sandbox,
            outside_writes,
            transcript_max
        );
        take_nonempty!(languages, kinds, strengths, extra_args, env, writable, allow_ports);
    }
}

impl CheckEntry {
    /// Where `key` was set.
    pub fn source_of(&self, key: &str) -> String {
        Sourced::source_of(self, key)
    }
}

/// All layers merged, before validation.
#[derive(Debug, Default)]
pub struct RawConfig {
    pub performers: BTreeMap<String, PerformerEntry>,
    pub checks: BTreeMap<String, CheckEntry>,
    pub budget: super::budget::RawBudget,
    pub setup: super::setup::RawSetup,
    pub notify: Layered,
    pub worktrees: Layered,
}

/// A table of trusted config as written, each key with the file that set it; later layers win
/// per key.
#[derive(Debug, Default)]
pub struct Layered(BTreeMap<String, (String, toml::Value)>);

impl Layered {
    pub fn merge(&mut self, source: &str, table: BTreeMap<String, toml::Value>) {
        for (key, value) in table {
            self.0.insert(key, (source.to_owned(), value));
        }
    }

    /// Hand each key of `[section]` to `take` with its value and the file that set it; what
    /// `take` refuses is a problem of `section.key` in that file.
    pub fn take_each(
        self,
        section: &str,
        errors: &mut Vec<ConfigError>,
        mut take: impl FnMut(&str, toml::Value, &str) -> Result<(), String>,
    ) {
        for (key, (source, value)) in self.0 {
            if let Err(message) = take(&key, value, &source) {
                errors.push(ConfigError { source_name: source, key: format!("{section}.{key}"), message });
            }
        }
    }
}

/// Read one TOML layer; `None` if the file does not exist.
pub fn read(path: &Path) -> Result<Option<(String, Layer)>, ConfigError> {
    let shown = path.display().to_string();
    let err = |message: String| ConfigError { source_name: shown.clone(), key: String::new(), message };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(format!("cannot read it: {e}"))),
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(err(format!("{} bytes is too large for a config file", meta.len())));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read it: {e}")))?;
    let file: FileConfig = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
        let message = e.message().trim().to_owned();
        ConfigError {
            source_name: match line {
                Some(l) => format!("{shown}:{l}"),
                None => shown.clone(),
            },
            key: key_at(&text, e.span().map(|s| s.start)),
            message,
        }
    })?;
    Ok(Some((shown, Layer(file))))
}

/// A parsed config file.
pub struct Layer(FileConfig);

/// The `[table]` header above a byte offset, to name the key of a parse error.
fn key_at(text: &str, offset: Option<usize>) -> String {
    let Some(offset) = offset else { return String::new() };
    text[..offset.min(text.len())]
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')))
        .unwrap_or_default()
        .to_owned()
}

impl RawConfig {
    /// Merge a file layer over what is there.
    pub fn merge(&mut self, (source, Layer(file)): (String, Layer)) {
        self.budget.merge(&source, file.prices, file.budget);
        self.setup.merge(&source, file.setup);
        self.notify.merge(&source, file.notify);
        self.worktrees.merge(&source, file.worktrees);
        for (name, entry) in file.performers {
            self.performers.entry(name).or_default().merge(entry, &source);
        }
        for (name, entry) in file.checks {
            let current = self.checks.entry(name).or_default();
            if entry.run.is_some() {
                current.run = entry.run;
                current.sources.insert("run", source.clone());
            }
            if entry.timeout.is_some() {
                current.timeout = entry.timeout;
                current.sources.insert("timeout", source.clone());
            }
            if entry.sandbox.is_some() {
                current.sandbox = entry.sandbox;
                current.sources.insert("sandbox", source.clone());
            }
            if !entry.writable.is_empty() {
                current.writable = entry.writable;
                current.sources.insert("writable", source.clone());
            }
        }
    }

    /// Apply `git config maestro.performer.<name>.<key>` and `maestro.check.<name>.<key>`.
    /// A value of `None` is a key written without `=`: true for a boolean, an error elsewhere.
    pub fn apply_git_config(&mut self, entries: &[(String, Option<String>)]) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        for (key, given) in entries {
            let source = format!("git config {key}");
            let err = |message: &str| ConfigError {
                source_name: "git config".to_owned(),
                key: key.clone(),
                message: message.to_owned(),
            };
            let Some(rest) = key.strip_prefix("maestro.") else { continue };
            let Some((kind, rest)) = rest.split_once('.') else { continue };
            let Some((name, field)) = rest.rsplit_once('.') else {
                errors.push(err("expected maestro.performer.<name>.<key> or maestro.check.<name>.<key>"));
                continue;
            };
            let field = field.replace('-', "").to_ascii_lowercase();
            if !matches!(kind, "performer" | "check") {
                continue;
            }
            let is_bool = kind == "performer" && matches!(field.as_str(), "isolatehome" | "contextfile");
            let value = match given {
                Some(v) => v.clone(),
                None if is_bool => String::new(),
                None => {
                    errors.push(err("needs a value (`key = value`)"));
                    continue;
                }
            };
            match kind {
                "performer" => {
                    let entry = self.performers.entry(name.to_owned()).or_default();
                    let mut set = PerformerEntry::default();
                    match field.as_str() {
                        "adapter" => set.adapter = Some(value),
                        "command" => set.command = Some(value),
                        "model" => set.model = Some(value),
                        "maxparallel" => match value.parse() {
                            Ok(n) => set.max_parallel = Some(n),
                            Err(_) => errors.push(err("not a whole number")),
                        },
                        "costtier" => set.cost_tier = Some(value),
                        "timeout" => set.timeout = Some(value),
                        "isolatehome" | "contextfile" => {
                            match (field.as_str(), super::boolean::parse(given.as_deref())) {
                                (_, None) => {
                                    errors.push(err("not a boolean (true/yes/on/1 or false/no/off/0, in any case)"))
                                }
                                ("isolatehome", b) => set.isolate_home = b,
                                (_, b) => set.context_file = b,
                            }
                        }
                        "baseurl" => set.base_url = Some(value),
                        "sandbox" => set.sandbox = Some(value),
                        "outsidewrites" => set.outside_writes = Some(value),
                        "transcriptmax" => set.transcript_max = Some(value),
                        "apikeyenv" => set.api_key_env = Some(value),
                        "languages" => set.languages = split_list(&value),
                        "kinds" => set.kinds = split_list(&value),
                        _ => {
                            errors.push(err("unknown key; lists, env and strengths belong in a config file"));
                            continue;
                        }
                    }
                    entry.merge(set, &source);
                }
                _ => {
                    let entry = self.checks.entry(name.to_owned()).or_default();
                    match field.as_str() {
                        "run" => entry.run = Some(value),
                        "timeout" => entry.timeout = Some(value),
                        "sandbox" => entry.sandbox = Some(value),
                        _ => {
                            errors.push(err("unknown key; a check has run, timeout and sandbox"));
                            continue;
                        }
                    }
                    let field = match field.as_str() {
                        "run" => "run",
                        "timeout" => "timeout",
                        _ => "sandbox",
                    };
                    entry.sources.insert(field, source.clone());
                }
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

fn split_list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}
