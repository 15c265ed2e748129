//! `git maestro land`

use crate::approval;
use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::CommandResult;

/// Bring a Score's integration branch into its target branch
///
/// Needs Score-level approval given after the last merge: `git maestro approve <score>`.
/// Fast-forwards when possible, otherwise writes a merge commit. A target checked out in a clean
/// worktree is updated there; one with uncommitted changes is refused.
#[derive(Debug, clap::Args)]
pub struct LandArgs {
    /// The Score id
    pub score: String,
}

pub fn cmd_land(ctx: &Context, args: &LandArgs) -> CommandResult {
    let id = args::slug("score id", &args.score)?;
    let store = ctx.store()?;
    let landed = approval::land(&store, &id).map_err(super::approve::error)?;
    if ctx.ui.json {
        ctx.ui.json(&landed)?;
    } else {
        let how = if landed.fast_forward { "fast-forward" } else { "merge commit" };
        ctx.ui.line(format!("{id}  landed on {} at {} ({how})", landed.target, &landed.commit[..12]))?;
    }
    Ok(())
}
