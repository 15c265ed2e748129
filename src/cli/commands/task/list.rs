//! `git maestro task list`

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The Score id
    pub score: String,
}

pub fn cmd_task_list(ctx: &Context, args: &ListArgs) -> CommandResult {
    let id = args::slug("score id", &args.score)?;
    let store = ctx.store()?;
    let (_, tasks) = store::score_with_tasks(&store.view()?, &id)?;
    if ctx.ui.json {
        ctx.ui.json(&tasks)?;
        return Ok(());
    }
    ctx.ui.painted(&super::table(&ctx.ui, &tasks))?;
    Ok(())
}
