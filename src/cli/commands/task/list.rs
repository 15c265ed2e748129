//! `git maestro task list`

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::cli::ui::table;
use crate::store;

/// List the tasks of a Score
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The Score id
    pub score: String,
}

pub fn cmd_task_list(ctx: &Context, args: &ListArgs) -> CommandResult {
    let id = args::slug("score id", &args.score)?;
    let store = ctx.store()?;
    let view = store.view()?;
    let score = store::score(&view, &id)?;
    let tasks = store::tasks(&view, &score)?;
    if ctx.ui.json {
        ctx.ui.json(&tasks)?;
        return Ok(());
    }
    let mut rows = vec![["TASK", "STATUS", "KIND", "CLAIMED BY", "TITLE"].map(String::from).to_vec()];
    for t in &tasks {
        rows.push(vec![
            t.id.clone(),
            t.status.to_string(),
            t.kind.as_str().to_owned(),
            t.claim.as_ref().map_or("-".into(), |c| c.holder.clone()),
            t.title.clone(),
        ]);
    }
    ctx.ui.line(table(&rows))?;
    Ok(())
}
