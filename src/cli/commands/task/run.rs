//! `git maestro task run`

use std::path::PathBuf;

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::cli::money;
use crate::conductor::routing::{self, NoSingleFit};
use crate::config::Config;
use crate::model::{AttemptOutcome, Task, TaskStatus};
use crate::performer::adapter::Event;
use crate::performer::task_run::{self, RunRequest};
use crate::sandbox::Level;
use crate::store::{self, Root, layout};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The task, as <score>/<task>
    pub task: String,
    /// The performer to use (default: the task's `performer`, or the only one whose `kinds` and
    /// `languages` fit the task)
    #[arg(long, value_name = "NAME")]
    pub performer: Option<String>,
}

/// Variables a performer inherits from maestro's environment; everything else is explicit.
pub(super) const INHERITED_ENV: &[&str] =
    &["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SHELL", "TZ"];

pub fn cmd_task_run(ctx: &Context, args: &RunArgs) -> CommandResult {
    let (score, id) = args::task_address(&args.task)?;
    let store = ctx.store()?;
    let config = ctx.config(&store.repo)?;
    let task = store::task(&store.view()?, &score, &id)?;
    let name = pick_performer(&config, &task, args.performer.as_deref())?;
    let performer = &config.performers[&name];
    let base = store.repo.main_workdir().unwrap_or_else(|| store.repo.common_dir().to_owned());
    let binary = crate::performer::resolve(&performer.command, &base)
        .map_err(|e| CommandError::user("performer-unavailable", format!("{name}: {e}")).hint(e.hint(&name)))?;
    let base_env = inherited_env();
    let request = RunRequest {
        score: &score,
        task: &id,
        performer,
        binary,
        worktree_root: worktree_root(&store)?,
        base_env,
        maestro_exe: std::env::current_exe()?,
        routing: None,
        stop: None,
        prices: &config.prices,
        caps: &config.budget,
        setup: &config.setup,
        pool: config.worktrees.pool,
        confirm: None,
    };
    let headline = format!("{score}/{id} · {name}");
    let spinner = ctx.ui.spinner(headline.clone());
    if spinner.is_none() {
        ctx.ui.status(format!("Running {score}/{id} with {name}…"));
    }
    let mut tokens = String::new();
    let mut on_event = |event: &Event| match &spinner {
        Some(bar) => match event {
            Event::Tool { name, detail } => bar.set_message(format!("{headline} · {name} {detail}{tokens}")),
            Event::Usage { tokens: used, cost_usd } => tokens = format!(" · {}", money::usage_text(used, *cost_usd)),
            _ => {}
        },
        None => show_event(ctx, event),
    };
    let result = task_run::run_task(&store, &request, &mut on_event);
    if let Some(bar) = &spinner {
        bar.finish_and_clear();
    }
    let report = result?;
    if ctx.ui.json {
        ctx.ui.json(&serde_json::json!({ "event": "done", "report": report }))?;
    } else {
        let took = report.attempt.duration_ms.map(|ms| format!(" in {:.1}s", ms as f64 / 1000.0)).unwrap_or_default();
        let commit = report.attempt.commit.as_deref().map(|c| format!(", commit {}", &c[..12])).unwrap_or_default();
        ctx.ui.line(format!("{}  {}{commit}{took}", report.task, report.status))?;
    }
    match report.sandbox {
        Some(Level::Full(abi) | Level::Partial(abi)) => ctx.ui.status(format!("Confined by Landlock (ABI {abi}).")),
        Some(Level::Unavailable) => {
            ctx.ui.warn("ran unconfined: this kernel has no Landlock (set sandbox = \"required\" to refuse instead)")
        }
        Some(Level::Off) | None => {}
    }
    for path in &report.attempt.outside_writes {
        ctx.ui.warn(format!("{name} changed {path} outside its worktree; it was recorded on the attempt"));
    }
    match report.status {
        TaskStatus::Submitted => {
            ctx.ui.status(format!("Worktree: {}", report.worktree.display()));
            Ok(())
        }
        TaskStatus::Blocked if report.attempt.outcome == AttemptOutcome::Budget => {
            let why = report.attempt.reason.as_deref().unwrap_or_default();
            Err(CommandError::user("over-budget", format!("{} stopped: {why}", report.task))
                .hint(money::budget_hint(&score, &id, why)))
        }
        TaskStatus::Ready => Err(CommandError::user("interrupted", "the run was interrupted; the task is ready again")
            .hint(format!("run it again with `git maestro task run {}`", report.task))),
        _ => Err(CommandError::user(
            "run-failed",
            format!("{} failed: {}", report.task, report.attempt.reason.as_deref().unwrap_or("unknown reason")),
        )
        .hint(format!(
            "the performer's stderr is in {}; its transcript is {}; the worktree is kept at {}",
            report.stderr_log.display(),
            report.transcript.display(),
            report.worktree.display()
        ))),
    }
}

/// The environment children inherit: the allow-list, plus `TERM=dumb`.
pub fn inherited_env() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> =
        INHERITED_ENV.iter().filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v))).collect();
    env.push(("TERM".into(), "dumb".into()));
    env
}

/// `--performer` if given, else what routing picks for a run by hand
/// ([`routing::only_fit`]: the task's own performer, or the only one that fits it).
fn pick_performer(config: &Config, task: &Task, wanted: Option<&str>) -> CommandResult<String> {
    let names: Vec<&str> = config.performers.keys().map(String::as_str).collect();
    if let Some(w) = wanted {
        if config.performers.contains_key(w) {
            return Ok(w.to_owned());
        }
        return Err(CommandError::user("unknown-performer", format!("no performer named {w:?} is configured")).hint(
            format!(
                "configured: {}; see `git maestro performers`",
                if names.is_empty() { "none".into() } else { names.join(", ") }
            ),
        ));
    }
    if names.is_empty() {
        return Err(CommandError::user("no-performer", "no performer is configured")
            .hint("uncomment one in .maestro/config.toml (`git maestro init` creates it)"));
    }
    match routing::only_fit(task, config) {
        Ok(name) => Ok(name),
        Err(NoSingleFit::Several(fitting)) => Err(CommandError::user(
            "no-performer",
            format!(
                "several performers can take {} ({} task); say which one to use",
                task.address(),
                task.kind.as_str()
            ),
        )
        .hint(format!("add --performer with one of: {}", fitting.join(", ")))),
        Err(NoSingleFit::None(r)) => {
            let why: Vec<String> = r.candidates.iter().map(|c| format!("{} {}", c.performer, c.why)).collect();
            Err(CommandError::user(
                "no-performer",
                format!("no configured performer takes {}: {}", task.address(), why.join("; ")),
            )
            .hint(format!(
                "add --performer with one of: {}, or widen its `kinds`/`languages` in .maestro/config.toml",
                names.join(", ")
            )))
        }
    }
}

/// `maestro.worktreeRoot`, else `$XDG_DATA_HOME/git-maestro/worktrees` (or
/// `~/.local/share/...`), then `<repo>-<id>` so repositories never share a directory.
pub fn worktree_root(store: &store::Store) -> CommandResult<PathBuf> {
    let root: Root = store.view()?.get(layout::MAESTRO_TOML)?.ok_or(store::Error::NotInitialized)?;
    let base = match store.repo.config_string("maestro.worktreeRoot") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .ok_or_else(|| {
                CommandError::user("no-home", "cannot tell where to put worktrees: HOME is not set")
                    .hint("set `git config maestro.worktreeRoot <dir>`")
            })?
            .join("git-maestro/worktrees"),
    };
    let repo_name = store
        .repo
        .main_workdir()
        .and_then(|w| w.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "repo".into());
    Ok(base.join(format!("{repo_name}-{}", &root.repo_id[root.repo_id.len().saturating_sub(8)..])))
}

fn show_event(ctx: &Context, event: &Event) {
    if ctx.ui.json {
        let value = match event {
            Event::Session(id) => serde_json::json!({ "event": "session", "id": id }),
            Event::Tool { name, detail } => serde_json::json!({ "event": "tool", "name": name, "detail": detail }),
            Event::Message(text) => serde_json::json!({ "event": "message", "text": text }),
            Event::Usage { tokens, cost_usd } => {
                let mut v = money::usage_json(tokens, *cost_usd);
                v["event"] = "usage".into();
                v
            }
            Event::Model(model) => serde_json::json!({ "event": "model", "model": model }),
            Event::BadUsage(why) => {
                serde_json::json!({ "event": "warning", "message": format!("usage not trusted: {why}") })
            }
            Event::BudgetSpent => serde_json::json!({ "event": "budget-spent" }),
            Event::Result { ok, text } => serde_json::json!({ "event": "result", "ok": ok, "text": text }),
        };
        let _ = ctx.ui.json_line(&value);
        return;
    }
    match event {
        Event::Tool { name, detail } => ctx.ui.status(format!("  ▸ {name} {detail}")),
        Event::Message(text) => ctx.ui.status(format!("  {text}")),
        Event::BadUsage(why) => ctx.ui.warn(format!("usage not trusted: {why}")),
        _ => {}
    }
}
