//! `git maestro task claim`

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::store::{self, layout};

#[derive(Debug, clap::Args)]
pub struct ClaimArgs {
    /// The task, as <score>/<task>
    pub task: String,
    /// Who claims it: a performer or person name
    #[arg(long = "as", value_name = "NAME")]
    pub holder: String,
}

pub fn cmd_task_claim(ctx: &Context, args: &ClaimArgs) -> CommandResult {
    let (score, id) = args::task_address(&args.task)?;
    let holder = args::slug("name", &args.holder)?;
    let store = ctx.store()?;
    let actor = store.session.actor.clone();
    let clone = store.clone_id()?;
    let summary = format!("{holder} claims {score}/{id}");
    let outcome = store.transact(&summary, |tx| {
        let mut task = store::task(tx, &score, &id)?;
        if !task.claim(&holder, Some(&clone), tx.op, tx.clock, tx.now)? {
            return Ok::<_, CommandError>(task);
        }
        tx.put(&layout::task_file(&score, &id), &task)?;
        super::record_assignment(tx, &actor, &score, &id, format!("{holder} claimed {score}/{id}"))?;
        Ok(task)
    })?;
    if ctx.ui.json {
        ctx.ui.json(&outcome.value)?;
    } else {
        ctx.ui.line(format!("{score}/{id}  {}  claimed by {holder}", outcome.value.status))?;
    }
    super::super::report_write(ctx, &outcome, &format!("Claimed {score}/{id} for {holder}."));
    Ok(())
}
