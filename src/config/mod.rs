//! Trusted configuration: the only source of anything that may run (DESIGN.md §3).
//!
//! Performers (`[performers.<name>]`) and checks (`[checks.<name>]`) come from, in increasing
//! precedence:
//!
//! 1. `~/.config/git-maestro/config.toml` (the user's, for all repositories);
//! 2. `.maestro/config.toml` in the checkout (created by `git maestro init`);
//! 3. `git config maestro.performer.<name>.<key>` and `maestro.check.<name>.<key>`.
//!
//! A later source replaces single fields of an entry of the same name. Unknown keys are refused,
//! and every error names the file and the key. Nothing read from the state ref reaches here:
//! Scores name performers and checks, they never define them.

pub mod boolean;
mod budget;
mod duration;
mod file;
pub mod notify;
mod setup;
mod size;
mod validate;
mod worktrees;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use duration::parse_duration;
pub use file::{CheckEntry, PerformerEntry};
pub use setup::{Import, Setup};
pub use size::parse_size;
pub use worktrees::Worktrees;

use crate::model::TaskKind;

/// Which CLI protocol a performer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Adapter {
    Claude,
    Codex,
    Gemini,
    Command,
}

impl Adapter {
    /// The adapter named `name` in config or in an attempt record.
    pub fn parse(name: &str) -> Option<Adapter> {
        Some(match name {
            "claude" => Adapter::Claude,
            "codex" => Adapter::Codex,
            "gemini" => Adapter::Gemini,
            "command" => Adapter::Command,
            _ => return None,
        })
    }

    /// The name used in config and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Adapter::Claude => "claude",
            Adapter::Codex => "codex",
            Adapter::Gemini => "gemini",
            Adapter::Command => "command",
        }
    }

    /// Who makes the model behind it, for cross-vendor review; a `command` performer counts as
    /// its own vendor, named after it.
    pub fn vendor(self, performer: &str) -> String {
        match self {
            Adapter::Claude => "anthropic".into(),
            Adapter::Codex => "openai".into(),
            Adapter::Gemini => "google".into(),
            Adapter::Command => format!("command:{performer}"),
        }
    }

    /// The context file the agent CLI reads from its working directory.
    pub fn context_file(self) -> &'static str {
        match self {
            Adapter::Claude => "CLAUDE.md",
            Adapter::Gemini => "GEMINI.md",
            Adapter::Codex | Adapter::Command => "AGENTS.md",
        }
    }

    /// Whether a run can continue the agent's own earlier session: Claude Code (`--resume`).
    /// Codex runs `--ephemeral`, so it keeps no session to resume; Gemini resumes by index,
    /// not by id.
    pub fn can_resume(self) -> bool {
        self == Adapter::Claude
    }

    /// The CLI version the test suite drives end to end, if this adapter has one.
    pub fn tested_version(self) -> Option<&'static str> {
        match self {
            Adapter::Claude => Some("2.1.330"),
            Adapter::Codex => Some("0.169.0"),
            Adapter::Gemini => Some("0.61.0"),
            Adapter::Command => None,
        }
    }

    /// The binary to run when config names none.
    fn default_command(self) -> Option<&'static str> {
        match self {
            Adapter::Claude => Some("claude"),
            Adapter::Codex => Some("codex"),
            Adapter::Gemini => Some("gemini"),
            Adapter::Command => None,
        }
    }
}

/// How expensive a performer is to run; routing prefers cheaper ones on ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CostTier {
    Low,
    Medium,
    High,
}

/// A validated performer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Performer {
    pub name: String,
    pub adapter: Adapter,
    pub command: String,
    pub model: Option<String>,
    pub languages: Vec<String>,
    pub kinds: Vec<TaskKind>,
    pub strengths: BTreeMap<String, f64>,
    pub max_parallel: u32,
    pub cost_tier: CostTier,
    /// Seconds.
    pub timeout: u64,
    pub extra_args: Vec<String>,
    pub isolate_home: bool,
    /// Also put the run's handover and memory in the agent's context file (CLAUDE.md,
    /// GEMINI.md or AGENTS.md) when the worktree has none; it is never committed.
    pub context_file: bool,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub env: BTreeMap<String, String>,
    /// Whether its runs are confined (DESIGN §13).
    pub sandbox: crate::sandbox::Mode,
    /// Paths its confined runs may write besides the worktree (`~/` is the home directory).
    pub writable: Vec<PathBuf>,
    /// TCP ports its confined runs may connect to besides the endpoint's.
    pub allow_ports: Vec<u16>,
    /// A write outside the worktree only warns instead of failing the attempt.
    pub outside_writes_warn: bool,
    /// The largest a run's transcript (and its stderr log) grows, in bytes; past it the oldest
    /// lines are dropped.
    pub transcript_max: u64,
    /// Where its definition came from, for messages.
    pub source: String,
}

/// A validated check.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub run: String,
    /// Seconds.
    pub timeout: u64,
    /// Whether it runs confined, and what it may write besides the worktree (e.g. caches).
    pub sandbox: crate::sandbox::Mode,
    pub writable: Vec<PathBuf>,
    pub source: String,
}

/// All trusted configuration.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Config {
    pub performers: BTreeMap<String, Performer>,
    pub checks: BTreeMap<String, Check>,
    /// What each model's tokens cost.
    pub prices: crate::model::budget::Prices,
    /// The caps on spending from trusted config.
    pub budget: crate::model::budget::Caps,
    /// How new worktrees are made ready (`[setup]`).
    pub setup: Setup,
    /// The command run when something starts needing a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify: Option<notify::Notify>,
    /// How task worktrees are kept (`[worktrees]`).
    pub worktrees: Worktrees,
}

/// A configuration problem, naming where and which key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {key}: {message}")]
pub struct ConfigError {
    pub source_name: String,
    pub key: String,
    pub message: String,
}

/// Where to read configuration from.
pub struct Sources<'a> {
    /// The user's config file; `None` when there is no home directory.
    pub user_file: Option<PathBuf>,
    /// The checkout's `.maestro/config.toml`; `None` in a bare repository.
    pub repo_file: Option<PathBuf>,
    /// `git config` entries under `maestro.`, as `(key, value)` with the key lowercased after
    /// the subsection as git does, e.g. `("maestro.performer.claude.timeout", Some("10m"))`.
    /// The value is `None` for a key written without `=` (git's implicit true).
    pub git_config: &'a [(String, Option<String>)],
}

/// The default user config path: `$XDG_CONFIG_HOME/git-maestro/config.toml`, else
/// `~/.config/git-maestro/config.toml`.
pub fn user_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("git-maestro").join("config.toml"))
}

/// Read, merge and validate every source. All problems are reported, not only the first.
pub fn load(sources: &Sources<'_>) -> Result<Config, Vec<ConfigError>> {
    let mut raw = file::RawConfig::default();
    let mut errors = Vec::new();
    for path in [&sources.user_file, &sources.repo_file].into_iter().flatten() {
        match file::read(path) {
            Ok(Some(layer)) => raw.merge(layer),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    if let Err(mut e) = raw.apply_git_config(sources.git_config) {
        errors.append(&mut e);
    }
    let config = validate::validate(raw, &mut errors);
    if errors.is_empty() { Ok(config) } else { Err(errors) }
}

/// The cap of a run's transcript when `transcript_max` is not given.
pub const TRANSCRIPT_MAX_DEFAULT: u64 = 64 << 20;
/// The smallest `transcript_max`: room for the marker line of a cut transcript and some output.
pub const TRANSCRIPT_MAX_MIN: u64 = 4 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write a test config");
        path
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("maestro-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("create the test directory");
        d
    }

    #[test]
    fn layers_merge_field_by_field_with_git_config_last() {
        let d = dir("layers");
        let user =
            write(&d, "user.toml", "[performers.claude]\nadapter = \"claude\"\nmodel = \"m1\"\ntimeout = \"1h\"\n");
        let repo = write(&d, "repo.toml", "[performers.claude]\nmodel = \"m2\"\n[checks.test]\nrun = \"cargo test\"\n");
        let git = vec![("maestro.performer.claude.maxparallel".to_owned(), Some("3".to_owned()))];
        let config = load(&Sources { user_file: Some(user), repo_file: Some(repo.clone()), git_config: &git })
            .expect("the layered config loads");
        let claude = &config.performers["claude"];
        assert_eq!(claude.model.as_deref(), Some("m2"), "the checkout overrides the user file");
        assert_eq!(claude.timeout, 3600, "fields the checkout does not set stay");
        assert_eq!(claude.max_parallel, 3, "git config wins");
        assert_eq!(claude.command, "claude", "adapters have a default binary");
        assert_eq!(config.checks["test"].timeout, 600);
        assert_eq!(config.checks["test"].source, repo.display().to_string());
        std::fs::remove_dir_all(&d).expect("remove the test directory");
    }

    #[test]
    fn every_problem_names_its_source_and_key() {
        let d = dir("problems");
        let repo = write(
            &d,
            "repo.toml",
            "[performers.a]\nadapter = \"gpt\"\n[performers.b]\nadapter = \"command\"\nkinds = [\"dance\"]\nmax_parallel = 0\n[checks.c]\ntimeout = \"soon\"\n",
        );
        let errors = load(&Sources { user_file: None, repo_file: Some(repo.clone()), git_config: &[] }).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let r = repo.display();
        for want in [
            format!("{r}: performers.a.adapter: \"gpt\" is not claude, codex, gemini or command"),
            format!("{r}: performers.b.command: missing"),
            format!("{r}: performers.b.kinds: unknown kind \"dance\""),
            format!("{r}: performers.b.max_parallel: 0 is outside 1..=64"),
            format!("{r}: checks.c.run: missing"),
            format!("{r}: checks.c.timeout: \"soon\" is not a duration"),
        ] {
            assert!(shown.iter().any(|s| s.starts_with(&want)), "missing {want:?} in {shown:#?}");
        }
        let unknown = write(&d, "unknown.toml", "[performers.a]\nadapter = \"claude\"\nrun = \"sh -c evil\"\n");
        let errors = load(&Sources { user_file: None, repo_file: Some(unknown), git_config: &[] }).unwrap_err();
        assert!(errors[0].to_string().contains("unknown field `run`"), "{errors:?}");
        assert!(errors[0].source_name.ends_with("unknown.toml:3"), "the line is named: {errors:?}");
        std::fs::remove_dir_all(&d).expect("remove the test directory");
    }

    #[test]
    fn the_template_uncommented_is_a_valid_config() {
        // Every example in the template `init` writes, settings and comments alike, must load.
        let template = include_str!("../../.maestro-template/config.toml");
        let is_setting = |rest: &str| {
            rest.starts_with('[')
                || rest
                    .split_once(" = ")
                    .is_some_and(|(k, _)| k.trim().chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                || rest.trim_start().starts_with('#')
        };
        let text: String = template
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if is_setting(rest) => format!("{rest}\n"),
                _ => format!("{l}\n"),
            })
            .collect();
        let d = dir("template");
        let path = write(&d, "config.toml", &text);
        let config = load(&Sources { user_file: None, repo_file: Some(path), git_config: &[] })
            .unwrap_or_else(|e| panic!("{e:#?}\n{text}"));
        let gemini = &config.performers["gemini-local"];
        assert!(gemini.isolate_home && gemini.base_url.is_some() && gemini.api_key_env.is_some(), "{gemini:?}");
        assert!(!gemini.env.is_empty() && !gemini.extra_args.is_empty(), "{gemini:?}");
        assert_eq!(config.performers.len(), 5, "{:?}", config.performers.keys());
        std::fs::remove_dir_all(&d).expect("remove the test directory");
    }

    #[test]
    fn git_config_booleans_follow_git_and_problems_name_the_key() {
        let entry = |key: &str, value: Option<&str>| (format!("maestro.performer.{key}"), value.map(str::to_owned));
        let git = vec![
            entry("a.adapter", Some("command")),
            entry("a.command", Some("true")),
            entry("a.isolatehome", None),
            entry("a.contextfile", Some("TRUE")),
            entry("b.adapter", Some("command")),
            entry("b.command", Some("true")),
            entry("b.isolatehome", Some("")),
            entry("b.contextfile", Some("Off")),
        ];
        let config = load(&Sources { user_file: None, repo_file: None, git_config: &git }).expect("booleans load");
        assert!(config.performers["a"].isolate_home, "a key without `=` is true");
        assert!(config.performers["a"].context_file, "TRUE is true");
        assert!(!config.performers["b"].isolate_home, "empty is false");
        assert!(!config.performers["b"].context_file, "Off is false");

        let bad = vec![entry("c.isolatehome", Some("maybe")), entry("c.model", None)];
        let errors = load(&Sources { user_file: None, repo_file: None, git_config: &bad }).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            shown.iter().any(|s| s.starts_with("git config: maestro.performer.c.isolatehome: not a boolean")),
            "the message names the key: {shown:#?}"
        );
        assert!(
            shown.iter().any(|s| s.starts_with("git config: maestro.performer.c.model: needs a value")),
            "{shown:#?}"
        );
    }
}
