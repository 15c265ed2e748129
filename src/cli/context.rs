//! Global options, parsed once, and the repository and store opened once per command.

use std::path::PathBuf;

use super::error::{CommandError, CommandResult};
use super::ui::Ui;
use crate::config::{self, Config, Sources};
use crate::git::Repo;
use crate::model::redact::redact;
use crate::store::{Clock, Session, Store};

/// Everything a command needs besides its own arguments.
pub struct Context {
    pub ui: Ui,
    dir: PathBuf,
    /// Whether `-C` gave `dir`.
    dir_given: bool,
    argv: Vec<String>,
}

impl Context {
    /// A context for the command line `argv`, run in `dir` (`-C`; `.` without it).
    pub fn new(ui: Ui, dir: Option<PathBuf>, argv: Vec<String>) -> Context {
        let dir_given = dir.is_some();
        Context { ui, dir: dir.unwrap_or_else(|| PathBuf::from(".")), dir_given, argv }
    }

    /// The directory the command runs in (after `-C`).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The directory `-C` named, if it was given.
    pub fn dir_given(&self) -> Option<&std::path::Path> {
        self.dir_given.then_some(self.dir.as_path())
    }

    /// Open the repository containing the working directory.
    pub fn repo(&self) -> CommandResult<Repo> {
        let repo = Repo::discover(&self.dir)?;
        self.ui.saw_repo(&repo);
        Ok(repo)
    }

    /// Open the state store, with the session (actor, clock, ids) from the environment.
    pub fn store(&self) -> CommandResult<Store> {
        let repo = self.repo()?;
        let session = self.session(&repo);
        Ok(Store::new(repo, session))
    }

    /// A thread-safe way to open the store of the working directory's repository again and
    /// again (a run's threads and its MCP owner do, per step and per call).
    pub fn store_opener(&self) -> crate::mcp::OpenStore {
        let dir = self.dir.clone();
        let argv = self.argv_line();
        // Each store gets its own id stream, even from a fixed test seed.
        let opened = std::sync::atomic::AtomicU64::new(1);
        std::sync::Arc::new(move || {
            let repo = Repo::discover(&dir).map_err(|e| e.to_string())?;
            let nth = opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let session = session_for(&repo, argv.clone(), nth);
            Ok(Store::new(repo, session))
        })
    }

    /// Load trusted configuration for `repo`: the user's file, the main checkout's
    /// `.maestro/config.toml`, and `git config maestro.*`.
    pub fn config(&self, repo: &Repo) -> CommandResult<Config> {
        let git_config = repo.config_entries("maestro");
        let sources = Sources {
            user_file: config::user_config_path(),
            repo_file: repo.main_workdir().map(|w| w.join(".maestro").join("config.toml")),
            git_config: &git_config,
        };
        config::load(&sources).map_err(|errors| {
            CommandError::problems("invalid-config", "the configuration", "", errors.iter().map(ToString::to_string))
                .hint("fix the keys named above; `git maestro init` puts commented examples in .maestro/config.toml")
        })
    }

    fn session(&self, repo: &Repo) -> Session {
        session_for(repo, self.argv_line(), 0)
    }
    /// The command line for the `Maestro-Argv` trailer: one line, quoted, secrets redacted.
    fn argv_line(&self) -> String {
        // argv[0] is wherever the binary lives; the trailer names the command, not the path.
        let args = self.argv.iter().skip(1);
        let words: Vec<String> = std::iter::once("git-maestro".to_owned())
            .chain(args.map(|a| {
                let a = one_line(&redact(a));
                if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
                    format!("'{}'", a.replace('\'', "'\\''"))
                } else {
                    a
                }
            }))
            .collect();
        words.join(" ")
    }
}

fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The session (actor, clock, ids) for commands in `repo`, from the environment and git config.
/// The session of the `nth` store this process opens (0 for the command's own).
fn session_for(repo: &Repo, argv: String, nth: u64) -> Session {
    let identity = repo.committer_identity();
    let actor = std::env::var("MAESTRO_ACTOR")
        .ok()
        .or_else(|| repo.config_string("maestro.actor"))
        .or_else(|| identity.as_ref().map(|(name, _)| name.clone()))
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let email =
        identity.map(|(_, email)| email).filter(|e| !e.is_empty()).unwrap_or_else(|| "maestro@localhost".into());
    let clock = std::env::var("MAESTRO_TIMESTAMP")
        .ok()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map_or(Clock::System, Clock::Fixed);
    let seed = std::env::var("MAESTRO_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(|s| s.wrapping_add(nth.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    Session::new(one_line(&actor), one_line(&email), argv, clock, seed)
}
