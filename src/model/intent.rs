//! Intents: the git effects of a lifecycle step, recorded in the same state commit as the
//! step itself (DESIGN.md §12.2).
//!
//! A step such as a merge changes the state *and* moves a branch. The state commit records the
//! new status together with an [`Intent`] naming the ref move (old and new value); the store then
//! applies it by compare-and-swap and removes the intent in its next write. If the process dies
//! in between, the next writing command of the same clone settles it: a ref already at `new` is
//! done, a ref still at `old` is moved, a ref anywhere else means the step failed, and the
//! lifecycle undoes it ([`crate::model::lifecycle::undo`]).
//!
//! Stored at `intents/<id>.toml`. Intents are few and short-lived, so the directory is flat.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::origin::Origin;

/// The lifecycle step an intent belongs to: what to undo when its effects cannot happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Step {
    /// `task` was recorded as merged.
    Merge { score: String, task: String },
    /// `tasks` were recorded as reverted.
    Rollback { score: String, tasks: Vec<String> },
    /// The Score was recorded as landed; `before` is the status it had.
    Land { score: String, before: super::ScoreStatus },
    /// A conflicted task's branch restarts from the integration tip.
    Restart { score: String, task: String },
    /// A task worktree is removed, or parked in the worktree pool.
    Prune { score: String, task: String },
    /// A pooled worktree becomes `task`'s worktree.
    Reuse { score: String, task: String },
}

/// One git effect. Each is idempotent: applying it twice is applying it once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Effect {
    /// Move the ref `name` from `old` (absent: create it) to `new`.
    MoveRef {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        old: Option<String>,
        new: String,
    },
    /// Move the branch `name`, checked out in the clean worktree `worktree`, from `old` to
    /// `new`, refreshing the checkout (landing on a checked-out target).
    RefreshCheckout { name: String, worktree: String, old: String, new: String },
    /// Reset the worktree at `path` to `commit` (its branch was restarted).
    ResetWorktree { path: String, commit: String },
    /// Remove the linked worktree at `path` (its work was committed first).
    RemoveWorktree { path: String },
    /// Detach the HEAD of the clean worktree at `path` and move it into the pool at `pool`.
    ParkWorktree { path: String, pool: String },
    /// Move the pooled worktree at `pool` to `path` and check out `commit` there, detached,
    /// rewriting only the files that differ.
    ReuseWorktree { pool: String, path: String, commit: String },
}

/// A step's effects, waiting to be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    pub format: u32,
    pub id: String,
    /// The operation (state commit) that recorded it.
    pub op: String,
    pub created: Timestamp,
    /// One line for people: what the step was.
    pub why: String,
    pub origin: Origin,
    pub step: Step,
    pub effects: Vec<Effect>,
}

impl Effect {
    /// One line for people.
    pub fn describe(&self) -> String {
        let short = |s: &str| s.chars().take(12).collect::<String>();
        match self {
            Effect::MoveRef { name, old, new } => {
                format!("move {name} from {} to {}", old.as_deref().map_or("nothing".into(), short), short(new))
            }
            Effect::RefreshCheckout { name, worktree, new, .. } => {
                format!("move {name} to {} and refresh its checkout in {worktree}", short(new))
            }
            Effect::ResetWorktree { path, commit } => format!("reset the worktree {path} to {}", short(commit)),
            Effect::RemoveWorktree { path } => format!("remove the worktree {path}"),
            Effect::ParkWorktree { path, pool } => format!("park the worktree {path} in the pool at {pool}"),
            Effect::ReuseWorktree { pool, path, commit } => {
                format!("move the pooled worktree {pool} to {path} at {}", short(commit))
            }
        }
    }
}
