//! `git maestro task review`

use crate::approval::{self, ChainContext, ChainOutcome};
use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};

#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    /// The task, as <score>/<task>
    pub task: String,
}

pub fn cmd_task_review(ctx: &Context, args: &ReviewArgs) -> CommandResult {
    let (score, id) = args::task_address(&args.task)?;
    let store = ctx.store()?;
    let config = ctx.config(&store.repo)?;
    let chain = ChainContext {
        config: &config,
        worktree_root: super::run::worktree_root(&store)?,
        env: super::run::inherited_env(),
        maestro_exe: std::env::current_exe()?,
    };
    let spinner = ctx.ui.spinner(format!("{score}/{id} · approval chain"));
    let outcome = approval::run_chain(&store, &chain, &score, &id);
    if let Some(bar) = &spinner {
        bar.finish_and_clear();
    }
    let outcome = outcome?;
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
            let secs = e.duration_ms as f64 / 1000.0;
            match e.check.strip_prefix("agent:") {
                Some(reviewer) => ctx.ui.status(format!("  review by {reviewer} in {secs:.1}s: {}", e.tail)),
                None => ctx.ui.status(format!("  check {}: exit {} in {secs:.1}s", e.check, e.exit)),
            }
        }
    }
    match outcome {
        ChainOutcome::Approved { .. } => {
            if !ctx.ui.json {
                ctx.ui.line(format!("{score}/{id}  approved"))?;
            }
            Ok(())
        }
        ChainOutcome::Waiting { step, why, .. } => {
            if !ctx.ui.json {
                ctx.ui.line(format!("{score}/{id}  waiting for {step}"))?;
            }
            ctx.ui.status(format!("It waits for {why}."));
            Ok(())
        }
        ChainOutcome::Rejected { reason, .. } => {
            Err(CommandError::user("rejected", format!("{score}/{id} was rejected: {reason}")).hint(format!(
                "the output is in .git/maestro/logs/{score}/{id}/; rework it with `git maestro task run {score}/{id}`"
            )))
        }
    }
}
