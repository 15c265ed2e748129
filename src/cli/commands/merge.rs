//! `git maestro merge`

use crate::approval::{self, Integrated};
use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::model::ScoreStatus;
use crate::model::lifecycle::SentBack;

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The task, as <score>/<task>
    pub task: String,
}

pub fn cmd_merge(ctx: &Context, args: &MergeArgs) -> CommandResult {
    let (score, task) = args::task_address(&args.task)?;
    let store = ctx.store()?;
    let outcome = integrate(ctx, &store, &score, &task)?;
    if ctx.ui.json {
        ctx.ui.json(&outcome)?;
    }
    let commit = merged(&score, &task, outcome)?;
    if !ctx.ui.json {
        ctx.ui.line(format!("{score}/{task}  merged  {}", &commit[..12]))?;
        // Its last merge finished the Score.
        if crate::store::score(&store.view()?, &score)?.status == ScoreStatus::Done {
            ctx.ui.line(format!("{score}  done: every task is merged"))?;
            ctx.ui.hint(format!("land it with `git maestro approve {score}` and `git maestro land {score}`"));
        }
    }
    Ok(())
}

/// Merge `score/task` (approved) as `git maestro merge` does, post-merge checks included.
pub fn integrate(ctx: &Context, store: &crate::store::Store, score: &str, task: &str) -> CommandResult<Integrated> {
    let config = ctx.config(&store.repo)?;
    let post = approval::PostMerge {
        config: &config,
        worktree: approval::integration_worktree(&super::task::worktree_root(store)?, score),
        env: super::task::inherited_env(),
        maestro_exe: std::env::current_exe()?,
    };
    Ok(approval::integrate(store, score, task, &post)?)
}

/// The merge commit, or why the merge did not stay (reverted, or a conflict) with what to do.
pub fn merged(score: &str, task: &str, outcome: Integrated) -> CommandResult<String> {
    match outcome {
        Integrated::Merged { commit } => Ok(commit),
        Integrated::Reverted { revert, reason, sent_back, .. } => {
            let (next, hint) = match sent_back {
                SentBack::Rework => (
                    "it is ready for rework, with the check's output in its next prompt",
                    format!(
                        "run `git maestro task run {score}/{task}`; the check's output is also in .git/maestro/logs/{score}/{task}/"
                    ),
                ),
                SentBack::Blocked => (
                    "it used its attempts and is blocked",
                    format!(
                        "see `git maestro task show {score}/{task}`, then `git maestro task run {score}/{task}` to try again"
                    ),
                ),
            };
            Err(CommandError::user(
                "post-merge-check",
                format!("{score}/{task} was merged and reverted ({}): {reason}; {next}", &revert[..12]),
            )
            .hint(hint))
        }
        Integrated::Conflict { paths } => Err(CommandError::user(
            "conflict",
            format!(
                "{score}/{task} conflicts with {} in: {}; nothing was merged and the task is now `conflict`",
                approval::integration_branch(score),
                paths.join(", ")
            ),
        )
        .hint(format!("rework the task on its branch, then run `git maestro task run {score}/{task}` again"))),
    }
}
