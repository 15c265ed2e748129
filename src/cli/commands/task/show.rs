//! `git maestro task show`

use crate::cli::args;
use crate::cli::context::Context;
use std::path::Path;

use crate::cli::error::CommandResult;
use crate::cli::ui::{Painted, field};
use crate::model::Attempt;
use crate::performer::runner::stderr_log;
use crate::performer::task_run;
use crate::store;

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
    let header = Painted::plain(&format!("Task:       {} (", task.address()))
        .then(ctx.ui.status_word(task.status.as_str()))
        .text(")\n");
    let mut out = vec![
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
    if ctx.ui.verbose {
        out.push(format!("State file: {}", view.physical(&store::layout::task_file(&task.score, &task.id))?));
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
            out.extend(attempt_lines(n + 1, a));
            out.extend(attempt_logs(a, store.repo.common_dir(), &task.score, &task.id));
            if ctx.ui.verbose {
                out.extend(attempt_details(a));
            }
        }
    }
    ctx.ui.painted(&header.text(&out.join("\n")))?;
    Ok(())
}

/// One attempt: a summary line, then its reason on a line of its own.
fn attempt_lines(number: usize, a: &Attempt) -> Vec<String> {
    let mut parts = vec![format!("{number}."), field(&a.performer).into_owned(), a.outcome.as_str().to_owned()];
    if let Some(exit) = &a.exit {
        parts.push(format!("exit {}", field(exit)));
    }
    if a.input_tokens.is_some() || a.output_tokens.is_some() {
        let u = crate::model::budget::ledger::usage_of(a);
        let cache = if u.cache_read + u.cache_write > 0 {
            format!(" (+ {} cache read, {} cache write)", u.cache_read, u.cache_write)
        } else {
            String::new()
        };
        parts.push(format!("{} in / {} out tokens{cache}", u.input, u.output));
        parts.push(crate::cli::money::cost(a.cost_usd));
    }
    if let Some(model) = &a.model {
        parts.push(field(model).into_owned());
    }
    if let Some(commit) = &a.commit {
        parts.push(format!("commit {}", field(commit.get(..12).unwrap_or(commit))));
    }
    let mut lines = vec![format!("  {}", parts.join("  "))];
    if let Some(reason) = &a.reason {
        lines.push(format!("     reason: {}", field(reason)));
    }
    lines
}

/// The logs an attempt left on this machine: its transcript and its stderr.
fn attempt_logs(a: &Attempt, common_dir: &Path, score: &str, task: &str) -> Vec<String> {
    let transcript = task_run::transcript(common_dir, score, task, &a.run);
    let stderr = stderr_log(&transcript);
    let logs: Vec<String> = [(&transcript, "stdout"), (&stderr, "stderr")]
        .into_iter()
        .filter(|(path, _)| path.exists())
        .map(|(path, what)| format!("{} ({what})", path.display()))
        .collect();
    if logs.is_empty() { Vec::new() } else { vec![format!("     logs:   {}", logs.join(", "))] }
}

/// What `-v` adds to an attempt.
fn attempt_details(a: &Attempt) -> Vec<String> {
    let adapter = match &a.adapter_version {
        Some(v) => format!("{} {}", a.adapter, v),
        None => a.adapter.clone(),
    };
    let took = a.duration_ms.map(|ms| format!(", took {:.1}s", ms as f64 / 1000.0)).unwrap_or_default();
    let mut lines = vec![format!("     run {}, {}, started {}{took}", field(&a.run), field(&adapter), a.started)];
    if let Some(summary) = &a.summary {
        lines.push(format!("     last message: {}", field(summary)));
    }
    if !a.outside_writes.is_empty() {
        lines.push(format!("     wrote outside its worktree: {}", field(&a.outside_writes.join(", "))));
    }
    lines
}
