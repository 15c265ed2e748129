//! Every call into gix lives here, plus the few `git` subprocesses DESIGN.md §1 allows.
//!
//! This module owns: opening repositories (from any worktree), reading blobs and trees at a
//! commit, writing blobs/trees/commits without touching HEAD or the index, compare-and-swap ref
//! edits, and repository-format checks. It knows nothing about maestro's state layout: that is
//! `store`'s job. It must not print, and it must not decide policy (retry, backoff, limits);
//! the one retry here is mechanism: object writes wait out a concurrent `git gc` (`objects`).

mod binary;
mod config_env;
mod confined;
mod diff;
mod include;
mod index;
mod loose;
mod merge;
mod objects;
mod pool;
mod refs;
mod repo;
mod stream;
mod worktree;

pub use binary::{GitVersion, git_version};
pub use confined::{WorktreeLinks, outside_changes, url_port};
pub use diff::{FileChange, FileDiff, Hunk};
pub use include::{FILE_NAME as INCLUDE_FILE, IncludePlan, copy_includes, plan_includes};
pub use merge::MergeResult;
pub use objects::{CommitInfo, TreeEdit};
pub use pool::WorktreeHead;
pub use refs::{CasError, RefUpdate};
pub use repo::Repo;
pub use worktree::{Repair, WorktreeCommit, WorktreeInfo};

/// Files that differ from the index in the worktree at `path` (untracked included, ignored
/// excluded), for spotting writes outside a task's worktree.
pub fn dirty_paths(path: &std::path::Path) -> Result<Vec<String>> {
    worktree::dirty_paths(path, true)
}

/// Tracked files modified or deleted in the worktree at `path` (untracked files ignored).
pub fn modified_paths(path: &std::path::Path) -> Result<Vec<String>> {
    worktree::dirty_paths(path, false)
}

pub use gix::ObjectId;

/// Errors from the git layer. gix's own errors are kept as the source chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No repository was found from the given directory upwards.
    #[error("not a git repository (or any parent up to the filesystem root): {}", .0.display())]
    NotARepository(std::path::PathBuf),
    /// The repository uses a format maestro cannot write safely.
    #[error("unsupported repository format: {0}")]
    UnsupportedFormat(String),
    /// A blob is larger than the caller allows; detected from the object header before reading.
    #[error("object {id} at '{path}' is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { path: String, id: ObjectId, size: u64, limit: u64 },
    /// A path in a tree was expected to be a blob but is something else.
    #[error("'{0}' is not a file in the tree")]
    NotABlob(String),
    #[error("{0:?} is not a valid file name in a git tree")]
    BadName(String),
    /// Any other failure reported by gix, with what we were doing.
    #[error("{context}")]
    Gix {
        context: String,
        #[source]
        source: gix::Error,
    },
    /// A filesystem error outside gix (lock files, hooks dir).
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A ref could not be moved: it changed, vanished, or stayed locked.
    #[error("{0}")]
    Ref(String),
    /// The repository's object format (`extensions.objectFormat`) is not SHA-1.
    #[error("this repository uses {0} object ids (extensions.objectFormat); git-maestro supports SHA-1 only")]
    ObjectFormat(String),
    /// `GIT_CONFIG_PARAMETERS` (what `git -c` passes on) is not in git's format.
    #[error(transparent)]
    ConfigParameters(config_env::ParseError),
    /// The `git` binary is missing or unusable.
    #[error("{0}")]
    Binary(String),
    /// A `git` command ran and failed (a rejected push, an unreachable remote); its stderr.
    #[error("{0}")]
    Failed(String),
}

/// Result alias for the git layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach context to a gix result.
pub(crate) trait GixContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<gix::Error>> GixContext<T> for std::result::Result<T, E> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Gix { context: context(), source: e.into() })
    }
}

/// What a repeated SIGINT, SIGTERM or SIGHUP does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepeatedSignal {
    /// The second signal cleans up tempfiles and terminates the process (a user pressing
    /// Ctrl-C twice means it).
    Terminates,
    /// Every signal only raises the flag. For the supervisor, whose cleanup is short and must
    /// not be cut off: a parent killed outright can send it several SIGTERMs, one per thread
    /// of the parent that exits (`PR_SET_PDEATHSIG` follows the thread that forked).
    OnlyFlags,
}

/// Install gix's signal handler so SIGINT/SIGTERM remove lock files and tempfiles before the
/// process dies. Call once at startup; later calls are no-ops.
///
/// The first signal only raises a flag ([`interrupted`]): long operations (a performer run)
/// poll it to stop cleanly and record why; short ones finish. What a second signal does is
/// `repeated`. Failing to install is not fatal: stale-lock recovery covers it.
pub fn install_interrupt_handler(repeated: RepeatedSignal) {
    let grace = match repeated {
        RepeatedSignal::Terminates => 1,
        RepeatedSignal::OnlyFlags => usize::MAX,
    };
    let _ = gix::interrupt::init_handler_default(grace);
}

/// Whether SIGINT, SIGTERM or SIGHUP arrived.
pub fn interrupted() -> bool {
    gix::interrupt::is_triggered()
}
