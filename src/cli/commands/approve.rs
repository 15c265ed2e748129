//! `git maestro approve` and `git maestro reject`

use crate::approval::{self, ApprovalError};
use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};

/// Approve a submitted task, or a Score
///
/// `approve <score>/<task>` is the human step of a task's approval chain: the task goes from
/// submitted to approved. `approve <score>` is Score-level approval: on a draft it approves the
/// plan so that it may run; afterwards it approves landing the Score on its target. Every
/// verdict is recorded as a decision.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// A task as <score>/<task>, or a Score id
    pub target: String,
    /// Why, recorded with the decision
    #[arg(short = 'm', long = "message", default_value = "")]
    pub message: String,
}

/// Reject a submitted task, with the reason
///
/// The task goes from submitted to rejected; the reason is recorded as a decision and is what a
/// rework is told.
#[derive(Debug, clap::Args)]
pub struct RejectArgs {
    /// The task, as <score>/<task>
    pub task: String,
    /// The reason
    #[arg(short = 'm', long = "message", required = true)]
    pub message: String,
}

pub fn cmd_approve(ctx: &Context, args: &ApproveArgs) -> CommandResult {
    let store = ctx.store()?;
    if !args.target.contains('/') {
        let id = args::slug("score id", &args.target)?;
        let (score, which) =
            approval::approve_score(&store, &id, &store.session.actor, &args.message).map_err(error)?;
        if ctx.ui.json {
            let mut value = serde_json::to_value(&score).map_err(std::io::Error::other)?;
            value["approved"] = serde_json::to_value(which).map_err(std::io::Error::other)?;
            ctx.ui.json(&value)?;
        } else {
            let what = match which {
                approval::ScoreApproval::Plan => "plan approved",
                approval::ScoreApproval::Landing => "landing approved",
            };
            ctx.ui.line(format!("{id}  {what}"))?;
        }
        return Ok(());
    }
    let (score, task) = args::task_address(&args.target)?;
    let t = approval::review(&store, &score, &task, true, &args.message).map_err(error)?;
    verdict(ctx, &t)
}

pub fn cmd_reject(ctx: &Context, args: &RejectArgs) -> CommandResult {
    let (score, task) = args::task_address(&args.task)?;
    let store = ctx.store()?;
    let t = approval::review(&store, &score, &task, false, &args.message).map_err(error)?;
    verdict(ctx, &t)
}

fn verdict(ctx: &Context, task: &crate::model::Task) -> CommandResult {
    if ctx.ui.json {
        ctx.ui.json(task)?;
    } else {
        ctx.ui.line(format!("{}  {}", task.address(), task.status))?;
    }
    if task.status == crate::model::TaskStatus::Submitted {
        let address = task.address();
        ctx.ui.status(format!(
            "Approved at the human step; `git maestro task review {address}` runs the rest of the chain."
        ));
    }
    Ok(())
}

/// The CLI form of an approval error.
pub fn error(e: ApprovalError) -> CommandError {
    match e {
        ApprovalError::Store(e) => e.into(),
        ApprovalError::Task(e) => e.into(),
        ApprovalError::Git(e) => e.into(),
        ApprovalError::Refused(e) => e.into(),
        ApprovalError::CheckedOut { ref branch } => {
            let hint = format!("switch that worktree to another branch, or remove it, then merge again ({branch})");
            CommandError::user("checked-out", e.to_string()).hint(hint)
        }
        ApprovalError::DirtyTarget { .. } => {
            CommandError::user("dirty-target", e.to_string()).hint("commit or stash those changes, then land again")
        }
        ApprovalError::NoRemote { ref remotes, .. } => {
            let hint = if remotes.is_empty() {
                "add one with `git remote add origin <url>`".to_owned()
            } else {
                format!("use --remote with one of: {}", remotes.join(", "))
            };
            CommandError::user("no-remote", e.to_string()).hint(hint)
        }
        ApprovalError::NotSubmitted { ref task, .. } => {
            let hint = format!("run it first: `git maestro task run {task}`");
            CommandError::user("not-submitted", e.to_string()).hint(hint)
        }
        ApprovalError::PullRequest(_) => CommandError::user("pull-request", e.to_string()),
        other => CommandError::user("approval", other.to_string()),
    }
}
