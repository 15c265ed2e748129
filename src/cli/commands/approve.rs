//! `git maestro approve` and `git maestro reject`

use crate::approval;
use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::CommandResult;

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// A task as <score>/<task>, or a Score id
    pub target: String,
    /// Why, recorded with the decision
    #[arg(short = 'm', long = "message", default_value = "")]
    pub message: String,
}

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
        let (score, which) = approval::approve_score(&store, &id, &store.session.actor, &args.message)?;
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
    let t = approval::review(&store, &score, &task, true, &args.message)?;
    verdict(ctx, &t)
}

pub fn cmd_reject(ctx: &Context, args: &RejectArgs) -> CommandResult {
    let (score, task) = args::task_address(&args.task)?;
    let store = ctx.store()?;
    let t = approval::review(&store, &score, &task, false, &args.message)?;
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
