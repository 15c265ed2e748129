//! `[setup]` in trusted config: what makes a new worktree ready to build before anything runs
//! in it.
//!
//! ```toml
//! [setup]
//! run = "npm ci"                       # once per new worktree, in it, before the performer
//! timeout = "5m"                       # default 10m
//! import = ["conductor.json"]          # also run the setup the repository itself declares
//! sandbox = "auto"                     # as for checks: off | auto | required
//! writable = ["~/.npm"]                # what a confined setup may write besides the worktree
//! ```
//!
//! `import` names repository content (`conductor.json`, `.codex/environments/environment.toml`):
//! its commands run only because this trusted table names the file. Only the keys are kept
//! here; the files are read when a worktree is prepared (`performer::setup`).

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

/// A repository file whose setup command trusted config may opt into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Import {
    /// Conductor's `conductor.json`: `{"scripts": {"setup": "…"}}`.
    Conductor,
    /// The Codex app's `.codex/environments/environment.toml`: `[setup] script = "…"`.
    Codex,
}

impl Import {
    /// The names `import` accepts.
    pub const NAMES: [&'static str; 2] = ["conductor.json", ".codex/environments/environment.toml"];

    /// The file, relative to the repository root.
    pub fn path(self) -> &'static str {
        match self {
            Import::Conductor => Self::NAMES[0],
            Import::Codex => Self::NAMES[1],
        }
    }

    fn parse(name: &str) -> Option<Import> {
        match name.trim_start_matches("./") {
            "conductor.json" => Some(Import::Conductor),
            ".codex/environments/environment.toml" => Some(Import::Codex),
            _ => None,
        }
    }
}

/// The validated `[setup]` table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Setup {
    /// The shell command to run in each new worktree.
    pub run: Option<String>,
    /// Seconds, for each command.
    pub timeout: u64,
    /// Repository files whose setup commands run too (before `run`).
    pub import: Vec<Import>,
    pub sandbox: crate::sandbox::Mode,
    pub writable: Vec<PathBuf>,
    /// Where `run` was set, for messages.
    pub source: String,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            run: None,
            timeout: DEFAULT_TIMEOUT,
            import: Vec::new(),
            sandbox: crate::sandbox::Mode::default(),
            writable: Vec::new(),
            source: String::new(),
        }
    }
}

const DEFAULT_TIMEOUT: u64 = 10 * 60;

/// `[setup]` as written in one file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupEntry {
    run: Option<String>,
    timeout: Option<String>,
    import: Option<Vec<String>>,
    sandbox: Option<String>,
    writable: Option<Vec<String>>,
}

/// Every layer's `[setup]`, merged key by key (a later layer wins), with each key's source.
#[derive(Debug, Default)]
pub struct RawSetup {
    entry: SetupEntry,
    sources: std::collections::BTreeMap<&'static str, String>,
}

impl RawSetup {
    pub fn merge(&mut self, source: &str, entry: Option<SetupEntry>) {
        let Some(e) = entry else { return };
        macro_rules! take {
            ($($field:ident),*) => {$(
                if e.$field.is_some() {
                    self.entry.$field = e.$field;
                    self.sources.insert(stringify!($field), source.to_owned());
                }
            )*};
        }
        take!(run, timeout, import, sandbox, writable);
    }

    /// The validated table; every problem names its key.
    pub fn validate(self, errors: &mut Vec<ConfigError>) -> Setup {
        let RawSetup { entry, sources } = self;
        let mut err = |key: &str, message: String| {
            let source_name = sources.get(key).cloned().unwrap_or_default();
            errors.push(ConfigError { source_name, key: format!("setup.{key}"), message });
        };
        let mut setup = Setup { source: sources.get("run").cloned().unwrap_or_default(), ..Setup::default() };
        match entry.run {
            Some(run) if run.trim().is_empty() => {
                err("run", "empty; give the command to run, e.g. run = \"npm ci\", or leave it out".into())
            }
            run => setup.run = run,
        }
        if let Some(text) = entry.timeout.as_deref() {
            match super::parse_duration(text) {
                Ok(secs) => setup.timeout = secs,
                Err(e) => err("timeout", e),
            }
        }
        for name in entry.import.unwrap_or_default() {
            match Import::parse(&name) {
                Some(i) if !setup.import.contains(&i) => setup.import.push(i),
                Some(_) => {}
                None => err("import", format!("{name:?} is not one of {}", Import::NAMES.join(", "))),
            }
        }
        setup.sandbox = super::validate::sandbox_mode(entry.sandbox.as_deref(), &mut err);
        setup.writable = super::validate::writable_paths(&entry.writable.unwrap_or_default(), &mut err);
        setup
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> Option<SetupEntry> {
        Some(toml::from_str(text).expect("a [setup] table"))
    }

    #[test]
    fn layers_merge_per_key_and_problems_name_the_key_and_source() {
        let mut raw = RawSetup::default();
        raw.merge("user.toml", entry("run = \"make deps\"\ntimeout = \"2m\"\n"));
        raw.merge("repo.toml", entry("import = [\"./conductor.json\", \"conductor.json\"]\n"));
        let mut errors = Vec::new();
        let setup = raw.validate(&mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(setup.run.as_deref(), Some("make deps"));
        assert_eq!((setup.timeout, setup.source.as_str()), (120, "user.toml"));
        assert_eq!(setup.import, [Import::Conductor], "named twice, imported once");

        let mut raw = RawSetup::default();
        raw.merge("repo.toml", entry("run = \" \"\ntimeout = \"0s\"\nimport = [\".cursor/worktrees.json\"]\n"));
        let mut errors = Vec::new();
        let _ = raw.validate(&mut errors);
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 3, "{shown:#?}");
        assert!(shown[0].starts_with("repo.toml: setup.run: empty"), "{shown:#?}");
        assert!(shown[1].starts_with("repo.toml: setup.timeout: \"0s\" is not a duration"), "{shown:#?}");
        assert!(
            shown[2].starts_with("repo.toml: setup.import: \".cursor/worktrees.json\" is not one of"),
            "{shown:#?}"
        );
        assert!(toml::from_str::<SetupEntry>("command = \"x\"").is_err(), "unknown keys are refused");
    }
}
