//! `git maestro task review`

use crate::approval::{self, ChainError, ChainOutcome};
use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};

/// Run a submitted task's approval chain up to its first waiting step
///
/// Steps come from the task's `approval`, else the Score's. `checks` runs the task's named
/// checks from trusted config in the task worktree and records exit, duration, an output digest
/// and its tail as evidence. The first failing step rejects the task (exit 1). At `human` or `pr`
/// the chain waits for `git maestro approve` or the pull request. A chain without a waiting step
/// approves the task.
#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    /// The task, as <score>/<task>
    pub task: String,
}

pub fn cmd_task_review(ctx: &Context, args: &ReviewArgs) -> CommandResult {
    let (score, id) = args::task_address(&args.task)?;
    let store = ctx.store()?;
    let config = ctx.config(&store.repo)?;
    let worktree = super::run::worktree_root(&store)?.join(&score).join(&id);
    let outcome = approval::run_chain(&store, &config, &score, &id, &worktree, &super::run::inherited_env()).map_err(
        |e| match e {
            ChainError::Approval(e) => super::super::approve::error(e),
            ChainError::UnknownCheck(ref name) => {
                let hint = format!("define it in .maestro/config.toml: [checks.{name}] run = \"…\"");
                CommandError::user("unknown-check", e.to_string()).hint(hint)
            }
            other => CommandError::user("approval", other.to_string()),
        },
    )?;
    if ctx.ui.json {
        ctx.ui.json(&outcome)?;
    }
    let evidence = match &outcome {
        ChainOutcome::Approved { evidence }
        | ChainOutcome::Rejected { evidence, .. }
        | ChainOutcome::Waiting { evidence, .. } => evidence,
    };
    if !ctx.ui.json {
        for e in evidence {
            ctx.ui.status(format!("  check {}: exit {} in {:.1}s", e.check, e.exit, e.duration_ms as f64 / 1000.0));
        }
    }
    match outcome {
        ChainOutcome::Approved { .. } => {
            if !ctx.ui.json {
                ctx.ui.line(format!("{score}/{id}  approved"))?;
            }
            Ok(())
        }
        ChainOutcome::Waiting { step, .. } => {
            if !ctx.ui.json {
                ctx.ui.line(format!("{score}/{id}  waiting for {step}"))?;
            }
            ctx.ui.status(format!(
                "Next: `git maestro approve {score}/{id}` or `git maestro reject {score}/{id} -m <reason>`."
            ));
            Ok(())
        }
        ChainOutcome::Rejected { reason, .. } => {
            Err(CommandError::user("rejected", format!("{score}/{id} was rejected: {reason}")).hint(format!(
                "the output is in .git/maestro/logs/{score}/{id}/; rework it with `git maestro task run {score}/{id}`"
            )))
        }
    }
}
