//! `git maestro land`

use crate::approval::{self, LandingPr};
use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::CommandResult;

#[derive(Debug, clap::Args)]
pub struct LandArgs {
    /// The Score id
    pub score: String,
    /// Get the landing approval from a pull request
    #[arg(long)]
    pub pr: bool,
    /// The remote for --pr (default: origin, or the only remote)
    #[arg(long, value_name = "NAME", requires = "pr")]
    pub remote: Option<String>,
}

pub fn cmd_land(ctx: &Context, args: &LandArgs) -> CommandResult {
    let id = args::slug("score id", &args.score)?;
    let store = ctx.store()?;
    let landed = if args.pr {
        let outcome = approval::land_with_pr(&store, &id, args.remote.as_deref())?;
        if ctx.ui.json {
            ctx.ui.json(&outcome)?;
            return Ok(());
        }
        match outcome {
            LandingPr::Opened { pr, gh_error } => {
                super::pr::show_opened(ctx, &id, &pr, gh_error.as_deref())?;
                ctx.ui.status(format!("Run `git maestro land {id} --pr` again once the pull request is approved."));
                return Ok(());
            }
            LandingPr::Waiting { how, .. } => {
                ctx.ui.line(format!("{id}  waiting: {how}"))?;
                return Ok(());
            }
            LandingPr::Landed { how, landed, .. } => {
                ctx.ui.status(format!("Landing approved: {how}."));
                landed
            }
        }
    } else {
        approval::land(&store, &id, None)?
    };
    if ctx.ui.json {
        ctx.ui.json(&landed)?;
    } else {
        let how = if landed.fast_forward { "fast-forward" } else { "merge commit" };
        ctx.ui.line(format!("{id}  landed on {} at {} ({how})", landed.target, &landed.commit[..12]))?;
    }
    Ok(())
}
