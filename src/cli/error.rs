//! The one error type of the CLI: what went wrong, whose fault it is, and what to run next.
//!
//! Printed as `Error: …`, then one `Caused by: …` per source, then `Hint: …` lines.
//! Exit codes: 1 user error, 3 broken pipe, 255 internal error (2 is clap's usage error).

use std::error::Error as StdError;
use std::fmt::Write as _;

use crate::{git, model, store};

/// Whose fault an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad input or a refused operation: exit 1.
    User,
    /// A bug or an environment failure: exit 255.
    Internal,
    /// stdout was closed by the reader: exit 3, print nothing.
    BrokenPipe,
    /// Pass on another process's exit status and print nothing (`supervise` ends with its
    /// command's status).
    Status(u8),
}

/// An error on its way to the user.
#[derive(Debug)]
pub struct CommandError {
    pub kind: Kind,
    /// A stable, machine-readable name for `--json` (e.g. `already-claimed`).
    pub code: &'static str,
    pub error: Box<dyn StdError + Send + Sync>,
    pub hints: Vec<String>,
}

impl CommandError {
    /// A user error with a message.
    pub fn user(code: &'static str, message: impl Into<String>) -> CommandError {
        CommandError { kind: Kind::User, code, error: message.into().into(), hints: Vec::new() }
    }

    /// A user error listing several problems, one per line: "<subject> has N problems<tail>:".
    pub fn problems(
        code: &'static str,
        subject: &str,
        tail: &str,
        lines: impl IntoIterator<Item = String>,
    ) -> CommandError {
        let lines: Vec<String> = lines.into_iter().map(|l| format!("  {l}")).collect();
        let noun = if lines.len() == 1 { "problem" } else { "problems" };
        CommandError::user(code, format!("{subject} has {} {noun}{tail}:\n{}", lines.len(), lines.join("\n")))
    }

    fn wrap(kind: Kind, code: &'static str, error: impl StdError + Send + Sync + 'static) -> CommandError {
        CommandError { kind, code, error: Box::new(error), hints: Vec::new() }
    }

    /// End with `code`, printing nothing: the status of a command run on the user's behalf.
    pub fn status(code: u8) -> CommandError {
        CommandError {
            kind: Kind::Status(code),
            code: "status",
            error: format!("exit {code}").into(),
            hints: Vec::new(),
        }
    }

    /// Add a hint: the exact command to run next, where there is one.
    pub fn hint(mut self, hint: impl Into<String>) -> CommandError {
        self.hints.push(hint.into());
        self
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            Kind::User => 1,
            Kind::BrokenPipe => 3,
            Kind::Internal => 255,
            Kind::Status(code) => code,
        }
    }

    /// What caused the error, outermost first.
    fn causes(&self) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
        std::iter::successors(self.error.source(), |e| (*e).source())
    }

    /// The text for stderr.
    pub fn render(&self) -> String {
        let mut out = format!("Error: {}\n", self.error);
        for cause in self.causes() {
            let _ = writeln!(out, "Caused by: {cause}");
        }
        for hint in &self.hints {
            let _ = writeln!(out, "Hint: {hint}");
        }
        out
    }

    /// The object for stdout under `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        let causes: Vec<String> = self.causes().map(|c| c.to_string()).collect();
        serde_json::json!({
            "error": { "code": self.code, "message": self.error.to_string(), "causes": causes, "hints": self.hints }
        })
    }
}

/// The `--json` error object for a usage error clap found: its message, then its tips, the
/// usage line and where to read more as hints.
pub fn usage_json(e: &clap::Error) -> serde_json::Value {
    let text = e.render().to_string();
    let mut paragraphs = text.split("\n\n").map(str::trim).filter(|p| !p.is_empty());
    let first = paragraphs.next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(first);
    let hints: Vec<String> = paragraphs
        .flat_map(str::lines)
        .map(|l| l.trim().strip_prefix("tip: ").unwrap_or(l.trim()).to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    serde_json::json!({ "error": { "code": "usage", "message": message, "causes": [], "hints": hints } })
}

mod domain;

impl From<std::io::Error> for CommandError {
    fn from(e: std::io::Error) -> CommandError {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CommandError::wrap(Kind::BrokenPipe, "broken-pipe", e)
        } else {
            CommandError::wrap(Kind::Internal, "io", e)
        }
    }
}

impl From<crate::supervisor::SuperviseError> for CommandError {
    fn from(e: crate::supervisor::SuperviseError) -> CommandError {
        // The supervisor's stderr is the command's: what it prints lands in the run's log.
        CommandError::wrap(Kind::Internal, "supervise", e)
    }
}

impl From<git::Error> for CommandError {
    fn from(e: git::Error) -> CommandError {
        match e {
            git::Error::NotARepository(_) => CommandError::wrap(Kind::User, "not-a-repository", e)
                .hint("run this inside a git repository, or pass `-C <dir>`"),
            git::Error::UnsupportedFormat(_) => CommandError::wrap(Kind::User, "unsupported-repository", e)
                .hint("git-maestro needs the `files` ref backend; convert with `git refs migrate --ref-format=files`"),
            git::Error::TooLarge { .. } => CommandError::wrap(Kind::User, "too-large", e),
            git::Error::NotABlob(_) | git::Error::BadName(_) => CommandError::wrap(Kind::User, "corrupt-state", e)
                .hint("run `git maestro doctor` to check every state file"),
            git::Error::Ref(_) => CommandError::wrap(Kind::User, "ref-moved", e)
                .hint("another writer got there first; run the command again"),
            git::Error::Binary(_) => CommandError::wrap(Kind::User, "git-binary", e)
                .hint("install git 2.25 or newer and make sure `git` is on PATH"),
            git::Error::Failed(_) => CommandError::wrap(Kind::User, "git-failed", e),
            git::Error::ObjectFormat(_) => CommandError::wrap(Kind::User, "unsupported-object-format", e)
                .hint("use git-maestro in a SHA-1 repository (`git init --object-format=sha1`, git's default)"),
            git::Error::ConfigParameters(_) => CommandError::wrap(Kind::User, "bad-config-parameters", e)
                .hint("check the `git -c key=value` options, or unset GIT_CONFIG_PARAMETERS"),
            _ => CommandError::wrap(Kind::Internal, "git", e),
        }
    }
}

impl From<store::Error> for CommandError {
    fn from(e: store::Error) -> CommandError {
        use store::Error as E;
        match e {
            // A clone does not fetch refs/maestro/*: there, sync is what is missing.
            E::NotInitialized => CommandError::wrap(Kind::User, "not-initialized", e).hint(
                "run `git maestro init` first; in a clone of a repository that uses git-maestro, \
                 `git maestro sync` fetches its state",
            ),
            E::ScoreNotFound(_) => CommandError::wrap(Kind::User, "score-not-found", e)
                .hint("run `git maestro score list` to see the Scores"),
            E::TaskNotFound { ref score, .. } => {
                let hint = format!("run `git maestro task list {score}` to see its tasks");
                CommandError::wrap(Kind::User, "task-not-found", e).hint(hint)
            }
            E::KnowledgeNotFound(_) => CommandError::wrap(Kind::User, "knowledge-not-found", e)
                .hint("run `git maestro kb search <words>` to find entries"),
            E::Exists { .. } => CommandError::wrap(Kind::User, "exists", e),
            E::Busy { ref lock, .. } => {
                let hint = format!(
                    "if no git-maestro process is running, the lock is stale: it is removed automatically once it is {}s old, or remove {} yourself",
                    store::lock::STALE_AFTER.as_secs(),
                    lock.display()
                );
                CommandError::wrap(Kind::User, "busy", e).hint(hint)
            }
            E::Contention { .. } => {
                CommandError::wrap(Kind::User, "contention", e).hint("run the command again; nothing was written")
            }
            E::Codec(ref c) => {
                let code = match c {
                    store::CodecError::FutureFormat { .. } => "future-format",
                    store::CodecError::TooLarge { .. } | store::CodecError::StringTooLong { .. } => "too-large",
                    store::CodecError::Invalid { .. } => "invalid-record",
                    _ => "corrupt-state",
                };
                let hint = if code == "future-format" {
                    "upgrade git-maestro: this state was written by a newer version"
                } else {
                    "run `git maestro doctor` to check every state file"
                };
                CommandError::wrap(Kind::User, code, e).hint(hint)
            }
            E::Task(t) => t.into(),
            E::Lifecycle(r) => r.into(),
            E::Git(g) => g.into(),
        }
    }
}

impl From<model::TaskError> for CommandError {
    fn from(e: model::TaskError) -> CommandError {
        use model::TaskError as T;
        let (code, hint) = match &e {
            T::AlreadyClaimed { task, holder, .. } => (
                "already-claimed",
                Some(format!(
                    "ask {holder} to run `git maestro task release {task} --as {holder}`, or pick another task"
                )),
            ),
            T::NotHolder { task, holder, .. } => (
                "not-holder",
                Some(format!("only {holder} can release it: `git maestro task release {task} --as {holder}`")),
            ),
            T::InvalidTransition { .. } => ("invalid-transition", None),
            T::Closed { .. } => ("task-closed", None),
            T::Running { .. } => ("task-running", None),
        };
        let err = CommandError::wrap(Kind::User, code, e);
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

impl From<model::lifecycle::Refusal> for CommandError {
    fn from(e: model::lifecycle::Refusal) -> CommandError {
        use model::lifecycle::Refusal as R;
        let code = match &e {
            R::Task(t) => return t.clone().into(),
            R::PlanNotApproved { .. } | R::LandingNotApproved { .. } | R::LandingStale { .. } => "not-approved",
            R::NotReady { .. } => "not-ready",
            R::HasResult { .. } => "has-result",
            R::AlreadyMerged { .. } => "already-merged",
            R::Running { .. } => "task-running",
            R::ClaimedElsewhere { .. } => "claimed-elsewhere",
            R::NotSubmitted { .. } => "not-submitted",
            R::NotApproved { .. } => "not-approved",
            R::NotMerged { .. } => "not-merged",
            R::Unfinished { .. } | R::NothingMerged { .. } => "unfinished",
            R::AlreadyApproved { .. } => "already-approved",
            R::ScoreClosed { .. } | R::Score(_) => "invalid-transition",
        };
        let hint = e.hint();
        let err = CommandError::wrap(Kind::User, code, e);
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

impl From<crate::kernel::KernelError> for CommandError {
    fn from(e: crate::kernel::KernelError) -> CommandError {
        use crate::kernel::KernelError as K;
        match e {
            K::Kept(_) => CommandError::wrap(Kind::User, "kept", e).hint("run the command again later"),
            K::Refused(r) => r.into(),
            K::Store(s) => s.into(),
            K::Git(g) => g.into(),
            K::Io(io) => io.into(),
        }
    }
}

impl From<model::KindError> for CommandError {
    fn from(e: model::KindError) -> CommandError {
        let open = model::DecisionKind::open_names().join(", ");
        let hint = match &e {
            model::KindError::Unknown(_) => format!("use one of: {open}"),
            model::KindError::System(name) => {
                let command = match *name {
                    "approval" => "`git maestro approve`",
                    "rejection" => "`git maestro reject`",
                    "merge" => "`git maestro merge`",
                    "landing" => "`git maestro land`",
                    "rollback" => "`git maestro rollback`",
                    _ => "`git maestro run`",
                };
                format!("{command} records it; `decide` records only {open}")
            }
        };
        CommandError::wrap(Kind::User, "invalid-kind", e).hint(hint)
    }
}

impl From<crate::mcp::relay::RelayError> for CommandError {
    fn from(e: crate::mcp::relay::RelayError) -> CommandError {
        use crate::mcp::relay::RelayError as R;
        let hint = match &e {
            R::NoOwner { .. } | R::OwnerGone => {
                "the MCP tools live only while their performer runs; start one with `git maestro task run`"
            }
            R::Refused(_) => "use the MCP server entry the run wrote for its agent, unchanged",
            R::Io(_) => "the agent closed the connection",
        };
        CommandError::wrap(Kind::User, "mcp-relay", e).hint(hint)
    }
}

/// Result alias for commands.
pub type CommandResult<T = ()> = Result<T, CommandError>;
