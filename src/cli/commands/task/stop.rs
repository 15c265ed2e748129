//! `git maestro task stop`

use std::time::{Duration, Instant};

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::model::TaskStatus;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// The task, as <score>/<task>
    pub task: String,
}

/// How long `task stop` waits for the attempt to end.
const WAIT: Duration = Duration::from_secs(60);

pub fn cmd_task_stop(ctx: &Context, args: &StopArgs) -> CommandResult {
    let (score, id) = args::task_address(&args.task)?;
    let store = ctx.store()?;
    let requested = crate::performer::stop::request(&store, &score, &id)?;
    ctx.ui.status(format!("Asked run {} of {score}/{id} ({}) to stop…", requested.run, requested.holder));
    let deadline = Instant::now() + WAIT;
    let ended = loop {
        let t = store::task(&store.view()?, &score, &id)?;
        let holds = t.status == TaskStatus::Running && t.lease.as_ref().is_some_and(|l| l.run == requested.run);
        if !holds {
            break Some(t.status);
        }
        if Instant::now() >= deadline || crate::git::interrupted() {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if ctx.ui.json {
        ctx.ui.json(&serde_json::json!({
            "task": requested.task,
            "run": requested.run,
            "holder": requested.holder,
            "ended": ended.is_some(),
            "status": ended.map(|s| s.to_string()),
        }))?;
        return Ok(());
    }
    match ended {
        Some(status) => ctx.ui.line(format!("{score}/{id}  {status}  run {} stopped", requested.run))?,
        None => {
            ctx.ui.warn(format!("run {} has not ended yet; it stops as soon as it sees the request", requested.run));
            ctx.ui.line(format!("{score}/{id}  running  stop requested"))?;
        }
    }
    Ok(())
}
