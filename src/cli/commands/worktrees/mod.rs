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
#[command(defer = true)]
pub enum WorktreesCommand {
    /// List task worktrees with their task's status
    List(list::ListArgs),
    /// Remove task worktrees that are no longer needed, never losing work
    ///
    /// Worktrees of running tasks, and of tasks whose result waits for review or merge, are left
    /// alone; a run that is gone has its work committed and its task released first. Uncommitted
    /// changes (staged ones too) are committed on the task branch. A tip that is merged into the
    /// Score's integration branch or target is simply removed; any other tip is archived as
    /// refs/maestro/keep/<sha> before its worktree goes. The warm worktree pool is emptied too
    /// (its entries hold nothing unsaved; one that does is kept and reported).
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
