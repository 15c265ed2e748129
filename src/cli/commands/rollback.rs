//! `git maestro rollback`

use crate::approval;
use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::CommandResult;

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// A task as <score>/<task>, or a Score id
    pub target: String,
    /// Also revert the merged tasks that depend on the task, newest first
    #[arg(long)]
    pub with_dependants: bool,
}

pub fn cmd_rollback(ctx: &Context, args: &RollbackArgs) -> CommandResult {
    let (score, task) = match args.target.split_once('/') {
        Some(_) => {
            let (s, t) = args::task_address(&args.target)?;
            (s, Some(t))
        }
        None => (args::slug("score id", &args.target)?, None),
    };
    let store = ctx.store()?;
    let done = approval::rollback(&store, &score, task.as_deref(), args.with_dependants)?;
    if ctx.ui.json {
        ctx.ui.json(&done)?;
    } else {
        for t in &done.tasks {
            ctx.ui.line(format!("{t}  reverted"))?;
        }
        ctx.ui.status(format!("{} is now at {}.", approval::integration_branch(&score), &done.commit[..12]));
    }
    if !done.dependants.is_empty() {
        ctx.ui.warn(format!(
            "merged tasks build on what was reverted and were left merged: {}",
            done.dependants.join(", ")
        ));
        ctx.ui.hint(format!("roll them back too with `git maestro rollback {} --with-dependants`", args.target));
    }
    if let Some(target) = &done.landed_on {
        ctx.ui.warn(format!("{score} had landed: {target} still holds the reverted changes"));
        ctx.ui.hint(format!("land the revert with `git maestro approve {score}` and `git maestro land {score}`"));
    }
    Ok(())
}
