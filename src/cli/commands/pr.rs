//! `git maestro pr`

use crate::approval;
use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::model::PullRequest;

#[derive(Debug, clap::Args)]
pub struct PrArgs {
    /// The task, as <score>/<task>
    pub task: String,
    /// The remote to push to (default: origin, or the only remote)
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
}

pub fn cmd_pr(ctx: &Context, args: &PrArgs) -> CommandResult {
    let (score, task) = args::task_address(&args.task)?;
    let store = ctx.store()?;
    let opened = approval::open_task_pr(&store, &score, &task, args.remote.as_deref())?;
    if ctx.ui.json {
        ctx.ui.json(&opened)?;
        return Ok(());
    }
    if !opened.pushed {
        ctx.ui.status("The remote already has this result.");
    }
    show_opened(ctx, &format!("{score}/{task}"), &opened.pr, opened.gh_error.as_deref())?;
    ctx.ui.status(format!("Next: `git maestro task review {score}/{task}` picks up the verdict."));
    Ok(())
}

/// What was pushed where, and how approval will be found.
pub fn show_opened(ctx: &Context, what: &str, pr: &PullRequest, gh_error: Option<&str>) -> CommandResult {
    let pushed = format!("{what}  pushed {} to {} at {}", pr.branch, pr.remote, &pr.head[..12]);
    match &pr.url {
        Some(url) => ctx.ui.line(format!("{pushed}; pull request {url}"))?,
        None => {
            ctx.ui.line(pushed)?;
            if let Some(e) = gh_error {
                ctx.ui.warn(format!("gh could not open the pull request: {e}"));
            }
            ctx.ui.status(format!(
                "Approval comes when {} is merged into {}/{} (no pull request URL to ask gh about).",
                pr.branch, pr.remote, pr.base
            ));
        }
    }
    Ok(())
}
