//! `git maestro task release`

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::model::lease::Liveness;
use crate::model::lifecycle;
use crate::store::{self, layout};

#[derive(Debug, clap::Args)]
pub struct ReleaseArgs {
    /// The task, as <score>/<task>
    pub task: String,
    /// Only release if NAME holds it
    #[arg(long = "as", value_name = "NAME")]
    pub holder: Option<String>,
}

pub fn cmd_task_release(ctx: &Context, args: &ReleaseArgs) -> CommandResult {
    let (score, id) = args::task_address(&args.task)?;
    let holder = args.holder.as_deref().map(|h| args::slug("name", h)).transpose()?;
    let store = ctx.store()?;
    let actor = store.session.actor.clone();
    let leases = crate::kernel::Leases::of(&store)?;
    // A run of it on this machine holds its run lock; without the lock, the run is gone.
    let lock = crate::performer::task_run::try_run_lock(store.repo.common_dir(), &score, &id)?;
    let outcome = store.transact(&format!("release {score}/{id}"), |tx| {
        let mut task = store::task(tx, &score, &id)?;
        let previous = task.claim.as_ref().map(|c| c.holder.clone());
        let live = match leases.liveness(&task, tx.now) {
            Liveness::Live if lock.is_some() => Liveness::Dead,
            other => other,
        };
        if !lifecycle::release(&mut task, holder.as_deref(), live, tx.now)? {
            return Ok::<_, CommandError>(task);
        }
        tx.put(&layout::task_file(&score, &id), &task)?;
        let who = previous.unwrap_or_default();
        super::record_assignment(tx, &actor, &score, &id, format!("{who} released {score}/{id}"))?;
        Ok(task)
    })?;
    if ctx.ui.json {
        ctx.ui.json(&outcome.value)?;
    } else {
        ctx.ui.line(format!("{score}/{id}  {}  unclaimed", outcome.value.status))?;
    }
    super::super::report_write(ctx, &outcome, &format!("Released {score}/{id}."));
    Ok(())
}
