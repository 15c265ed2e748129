//! `git maestro worktrees …`

mod list;
mod prune;

use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::git::WorktreeInfo;
use crate::model::TaskStatus;
use crate::store::{self, View};

/// Look at and clean up task worktrees
#[derive(Debug, clap::Subcommand)]
pub enum WorktreesCommand {
    List(list::ListArgs),
    Prune(prune::PruneArgs),
}

pub fn run(ctx: &Context, cmd: WorktreesCommand) -> CommandResult {
    match cmd {
        WorktreesCommand::List(args) => list::cmd_worktrees_list(ctx, &args),
        WorktreesCommand::Prune(args) => prune::cmd_worktrees_prune(ctx, &args),
    }
}

/// A task worktree: a linked worktree on `maestro/<score>/tasks/<task>`.
pub struct TaskWorktree {
    pub info: WorktreeInfo,
    pub score: String,
    pub task: String,
    /// `None` when the state has no such task any more.
    pub status: Option<TaskStatus>,
}

/// The task worktrees of this repository, with their tasks' status.
pub fn task_worktrees(repo: &crate::git::Repo, view: &View<'_>) -> CommandResult<Vec<TaskWorktree>> {
    let mut out = Vec::new();
    for info in repo.worktrees()? {
        let Some(branch) = info.branch.as_deref() else { continue };
        let parts: Vec<&str> = branch.split('/').collect();
        let ["maestro", score, "tasks", task] = parts[..] else { continue };
        let status = store::task(view, score, task).ok().map(|t| t.status);
        out.push(TaskWorktree { score: score.to_owned(), task: task.to_owned(), status, info });
    }
    Ok(out)
}
