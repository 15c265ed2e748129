//! `git maestro task show`

use crate::cli::args;
use crate::cli::context::Context;
use std::path::Path;

use crate::cli::error::CommandResult;
use crate::cli::ui::field;
use crate::model::Attempt;
use crate::performer::runner::stderr_log;
use crate::performer::task_run;
use crate::store;

/// Show one task: its spec, acceptance criteria, scope, dependencies, claim and attempts
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
    if !task.attempts.is_empty() {
        out.push(String::new());
        out.push("Attempts:".into());
        for (n, a) in task.attempts.iter().enumerate() {
            out.extend(attempt_lines(n + 1, a, store.repo.common_dir(), &task.score, &task.id));
        }
    }
    ctx.ui.line(out.join("\n"))?;
    Ok(())
}

/// One attempt: outcome, exit, time, tokens, cost and commit on a line, then its full reason
/// and the logs it left on this machine.
fn attempt_lines(n: usize, a: &Attempt, common_dir: &Path, score: &str, task: &str) -> Vec<String> {
    let mut facts = vec![format!("{:?}", a.outcome).to_lowercase()];
    facts.extend(a.exit.as_ref().map(|e| format!("exit {e}")));
    facts.extend(a.duration_ms.map(|ms| format!("{:.1}s", ms as f64 / 1000.0)));
    if let (Some(i), Some(o)) = (a.input_tokens, a.output_tokens) {
        facts.push(format!("{i} in / {o} out tokens"));
    }
    facts.extend(a.cost_usd.map(|c| format!("${c:.4}")));
    facts.extend(a.commit.as_ref().map(|c| format!("commit {}", &c[..c.len().min(12)])));
    let version = a.adapter_version.as_ref().map(|v| format!(" {v}")).unwrap_or_default();
    let mut lines =
        vec![format!("  {n}. run {} by {} ({}{version}): {}", a.run, field(&a.performer), a.adapter, facts.join(", "))];
    if let Some(reason) = &a.reason {
        lines.push(format!("     reason: {}", field(reason)));
    }
    let transcript = task_run::transcript(common_dir, score, task, &a.run);
    let stderr = stderr_log(&transcript);
    let logs: Vec<String> = [(&transcript, "stdout"), (&stderr, "stderr")]
        .into_iter()
        .filter(|(path, _)| path.exists())
        .map(|(path, what)| format!("{} ({what})", path.display()))
        .collect();
    if !logs.is_empty() {
        lines.push(format!("     logs:   {}", logs.join(", ")));
    }
    lines
}
