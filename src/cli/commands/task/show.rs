//! `git maestro task show`

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::store;

/// Show one task: its spec, acceptance criteria, scope, dependencies and claim
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The task, as <score>/<task>
    pub task: String,
}

pub fn cmd_task_show(ctx: &Context, args: &ShowArgs) -> CommandResult {
    let (score, id) = args::task_address(&args.task)?;
    let store = ctx.store()?;
    let view = store.view()?;
    let task = store::task(&view, &score, &id)?;
    if ctx.ui.json {
        ctx.ui.json(&task)?;
        return Ok(());
    }
    let list = |v: &[String]| if v.is_empty() { "-".to_owned() } else { v.join(", ") };
    let mut out = vec![
        format!("Task:       {} ({})", task.address(), task.status),
        format!("Title:      {}", task.title),
        format!("Kind:       {}", task.kind.as_str()),
        format!("Depends on: {}", list(&task.deps)),
        format!("Scope:      {}", list(&task.scope)),
        format!("Checks:     {}", list(&task.checks)),
        match &task.claim {
            Some(c) => format!("Claimed by: {} since {}", c.holder, c.since),
            None => "Claimed by: -".into(),
        },
    ];
    if !task.languages.is_empty() {
        out.push(format!("Languages:  {}", task.languages.join(", ")));
    }
    if let Some(p) = &task.performer {
        out.push(format!("Performer:  {p}"));
    }
    if let Some(a) = &task.approval {
        out.push(format!("Approval:   {}", a.join(" -> ")));
    }
    if task.checkpoint {
        out.push("Checkpoint: pauses the Score for a human before dependants start".into());
    }
    if !task.spec.is_empty() {
        out.push(String::new());
        out.extend(task.spec.trim_end().lines().map(|l| format!("    {l}")));
    }
    if !task.acceptance.is_empty() {
        out.push(String::new());
        out.push("Acceptance:".into());
        out.extend(task.acceptance.iter().map(|a| format!("  - {a}")));
    }
    ctx.ui.line(out.join("\n"))?;
    Ok(())
}
