//! `git maestro task stack` and `git maestro task notes`: a task's short-term memory.

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::model::RunSession;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct StackArgs {
    /// The task, as <score>/<task>
    pub task: String,
}

#[derive(Debug, clap::Args)]
pub struct NotesArgs {
    /// The task, as <score>/<task>
    pub task: String,
}

fn sessions(ctx: &Context, address: &str) -> CommandResult<Vec<RunSession>> {
    let (score, id) = args::task_address(address)?;
    let store = ctx.store()?;
    let view = store.view()?;
    let task = store::task(&view, &score, &id)?;
    Ok(store::run_sessions(&view, &task)?)
}

pub fn cmd_task_stack(ctx: &Context, args: &StackArgs) -> CommandResult {
    let stack = sessions(ctx, &args.task)?.pop().map(|s| s.stack).unwrap_or_default();
    if ctx.ui.json {
        ctx.ui.json(&stack)?;
        return Ok(());
    }
    if stack.is_empty() {
        ctx.ui.status("The stack is empty.");
    }
    for item in stack.iter().rev() {
        ctx.ui.line(&item.text)?;
    }
    Ok(())
}

pub fn cmd_task_notes(ctx: &Context, args: &NotesArgs) -> CommandResult {
    let sessions = sessions(ctx, &args.task)?;
    if ctx.ui.json {
        ctx.ui.json(&sessions)?;
        return Ok(());
    }
    for s in &sessions {
        for n in &s.notes {
            ctx.ui.line(format!("{}  {}  {}  {}", n.at.strftime("%Y-%m-%d %H:%M:%S"), s.run, s.performer, n.text))?;
        }
        if let Some(status) = &s.status {
            ctx.ui.line(format!(
                "{}  {}  {}  status: {}",
                status.at.strftime("%Y-%m-%d %H:%M:%S"),
                s.run,
                s.performer,
                status.text
            ))?;
        }
    }
    if sessions.iter().all(|s| s.notes.is_empty() && s.status.is_none()) {
        ctx.ui.status("No notes yet.");
    }
    Ok(())
}
