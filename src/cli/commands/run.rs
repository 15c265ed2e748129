//! `git maestro run`

use std::collections::BTreeMap;
use std::io::IsTerminal;

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::conductor::{self, Progress, RunOptions, Summary, routing};
use crate::model::{ScoreStatus, TaskStatus};
use crate::performer::adapter::Event;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The Score id (default: the only Score that is not done)
    pub score: Option<String>,
    /// Tasks worked on at once
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_parallel: u16,
    /// Print which performer each open task would get, and why, without running anything
    #[arg(long)]
    pub explain: bool,
    /// Share the Score with other machines through this remote: sync the state and the Score's
    /// branches before scheduling and every second while tasks run; a performer starts, and a
    /// merge happens, only once a sync confirms this machine holds the task; a merge is pushed at
    /// once (see `git maestro sync`). It syncs first, so it works as the first command in a fresh
    /// clone
    #[arg(long, value_name = "REMOTE")]
    pub remote: Option<String>,
    /// Keep running while tasks wait for their pull requests, and look at their checks and
    /// reviews again every INTERVAL (e.g. 30s, 5m); without it, `run` stops when only such
    /// waits are left, and the next `run` or `task review` looks again
    #[arg(long, value_name = "INTERVAL", value_parser = crate::config::parse_duration)]
    pub watch_prs: Option<u64>,
}

pub fn cmd_run(ctx: &Context, args: &RunArgs) -> CommandResult {
    let store = ctx.store()?;
    let config = ctx.config(&store.repo)?;
    let remote = match &args.remote {
        Some(r) => Some(store::sync::pick_remote(&store, Some(r)).map_err(super::sync::error)?),
        None => None,
    };
    if let Some(remote) = &remote {
        // In a fresh clone the state, or this Score, is only on the remote so far.
        ctx.ui.status(format!("Syncing with {remote}…"));
        super::sync::sync_first(ctx, &store, remote)?;
    }
    let score = match &args.score {
        Some(s) => args::slug("score id", s)?,
        None => only_open_score(&store)?,
    };
    if args.explain {
        return explain(ctx, &store, &config, &score);
    }
    let opts = RunOptions {
        score: score.clone(),
        max_parallel: usize::from(args.max_parallel),
        worktree_root: super::task::worktree_root(&store)?,
        env: super::task::inherited_env(),
        maestro_exe: std::env::current_exe()?,
        remote,
        watch_prs: args.watch_prs.map(std::time::Duration::from_secs),
    };
    let mut view = ProgressView::new(ctx, &score);
    let summary = conductor::run(&ctx.store_opener(), &config, &opts, &mut |p| view.show(&p))?;
    view.finish();
    show_summary(ctx, &summary)?;
    if summary.interrupted {
        return Err(CommandError::user("interrupted", "the run was interrupted; nothing was left half-written")
            .hint(format!("run `git maestro run {score}` again to resume")));
    }
    if let Some(blocked) = summary.tasks.get("blocked") {
        return Err(CommandError::user("blocked", format!("{score} cannot finish: {} blocked", blocked.join(", ")))
            .hint(format!(
                "`git maestro status` says why each is blocked; one stopped by its budget goes on after \
                 `git maestro budget raise {score}`; for the others see `git maestro decisions --score {score} \
                 --kind rejection`, retry one with `git maestro task run {score}/<task>`, then `git maestro run \
                 {score}` goes on"
            )));
    }
    stopped(&summary)
}

/// The run ended on something only a person can fix: exit 1 saying what, with a hint. Tasks
/// that only wait for an approval or a pull request the run announced are no error.
fn stopped(s: &Summary) -> CommandResult {
    let score = &s.score;
    if !s.unusable.is_empty() {
        let paths: Vec<&str> = s.unusable.iter().map(|(path, _)| path.as_str()).collect();
        return Err(CommandError::user(
            "unusable-record",
            format!("{score} cannot go on: the run cannot use {}", paths.join(", ")),
        )
        .hint(format!(
            "`git maestro doctor` lists what is wrong with the state; restore the record from `git maestro log`, \
             then run `git maestro run {score}` again"
        )));
    }
    if let Some(why) = &s.stuck {
        return Err(CommandError::user("stuck", format!("{score} stopped: {why}"))
            .hint("run `git maestro doctor` to check the state"));
    }
    if !s.errors.is_empty() {
        let tasks: Vec<&str> = s.errors.iter().map(|(task, _)| task.as_str()).collect();
        return Err(CommandError::user("task-error", format!("{score} stopped on an error in {}", tasks.join(", ")))
            .hint(format!(
                "each error is listed above, and `git maestro status` shows the board; fix the cause, then run \
             `git maestro run {score}` again"
            )));
    }
    Ok(())
}

fn only_open_score(store: &store::Store) -> CommandResult<String> {
    let open: Vec<String> = store::scores(&store.view()?)?
        .into_iter()
        .filter(|s| !matches!(s.status, ScoreStatus::Done | ScoreStatus::Landed | ScoreStatus::RolledBack))
        .map(|s| s.id)
        .collect();
    match open.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(CommandError::user("no-score", "there is no Score to run")
            .hint("plan one with `git maestro plan --from <file>`")),
        _ => Err(CommandError::user("several-scores", "several Scores are open; say which one to run")
            .hint(format!("e.g. `git maestro run {}`", open[0]))),
    }
}

fn explain(ctx: &Context, store: &store::Store, config: &crate::config::Config, score: &str) -> CommandResult {
    let (_, tasks) = store::score_with_tasks(&store.view()?, score)?;
    let history = routing::History::new(store::performer_stats(&store.view()?)?);
    let open: Vec<routing::Routing> = tasks
        .iter()
        .filter(|t| !t.status.is_closed() && t.status != TaskStatus::Submitted && t.status != TaskStatus::Approved)
        .map(|t| routing::route(t, config, &history, &BTreeMap::new(), &[]))
        .collect();
    if ctx.ui.json {
        ctx.ui.json(&open)?;
        return Ok(());
    }
    for r in &open {
        ctx.ui.line(format!("{}  → {}", r.task, r.chosen.as_deref().unwrap_or("nobody")))?;
        for c in &r.candidates {
            match c.score {
                Some(s) => ctx.ui.line(format!("    {:<12} {s:>5.2}  {}", c.performer, c.why))?,
                None => ctx.ui.line(format!("    {:<12}     -  {}", c.performer, c.why))?,
            }
        }
    }
    if open.is_empty() {
        ctx.ui.status("No open task needs a performer.");
    }
    Ok(())
}

/// Progress as it happens: bars on a terminal (an overall bar, and a line per task with its
/// performer, elapsed time, last tool call and tokens), JSON lines with `--json`, else status
/// lines.
struct ProgressView<'a> {
    ctx: &'a Context,
    /// The Score, named in every JSON event beside the task's id.
    score: &'a str,
    bars: Option<Bars>,
}

struct Bars {
    multi: indicatif::MultiProgress,
    overall: indicatif::ProgressBar,
    tasks: BTreeMap<String, (indicatif::ProgressBar, String)>,
}

impl<'a> ProgressView<'a> {
    fn new(ctx: &'a Context, score: &'a str) -> ProgressView<'a> {
        let tty = !ctx.ui.quiet && !ctx.ui.json && std::io::stderr().is_terminal();
        let bars = tty.then(|| {
            let multi = indicatif::MultiProgress::new();
            let overall = multi.add(indicatif::ProgressBar::new(0));
            if let Ok(style) = indicatif::ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} merged") {
                overall.set_style(style.progress_chars("=> "));
            }
            Bars { multi, overall, tasks: BTreeMap::new() }
        });
        ProgressView { ctx, score, bars }
    }

    fn show(&mut self, p: &Progress) {
        if self.ctx.ui.json {
            let mut event = json(p);
            event["score"] = self.score.into();
            let _ = self.ctx.ui.json_line(&event);
            return;
        }
        // A record the run cannot use is said once, as a warning, even with --quiet.
        if let Progress::Unusable { path, problem } = p {
            let line = format!("{path}: {problem}; the run leaves it alone until a person fixes it");
            match &self.bars {
                Some(Bars { multi, .. }) => multi.suspend(|| self.ctx.ui.warn(&line)),
                None => self.ctx.ui.warn(&line),
            }
            return;
        }
        let Some(Bars { multi, overall, tasks: bars }) = &mut self.bars else {
            if let Some(line) = plain(p) {
                self.ctx.ui.status(line);
            }
            return;
        };
        if let Progress::Board { merged, total } = p {
            overall.set_length(*total as u64);
            overall.set_position(*merged as u64);
            return;
        }
        let task = task_of(p).to_owned();
        let (bar, who) = bars.entry(task.clone()).or_insert_with(|| {
            let bar = multi.insert_before(overall, indicatif::ProgressBar::new_spinner());
            if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            (bar, String::new())
        });
        if let Progress::Started { performer, .. } = p {
            performer.clone_into(who);
        }
        match p {
            Progress::Agent { event: Event::Tool { name, detail }, .. } => {
                bar.set_message(format!("{task} · {who} · {name} {detail}"));
            }
            Progress::Agent { event: Event::Usage { tokens, cost_usd }, .. } => {
                bar.set_message(format!("{task} · {who} · {}", crate::cli::money::usage_text(tokens, *cost_usd)));
            }
            Progress::Agent { .. } => {}
            Progress::Finished { status: TaskStatus::Merged | TaskStatus::Blocked | TaskStatus::Reverted, .. }
            | Progress::Waiting { .. }
            | Progress::Error { .. } => {
                bar.finish_and_clear();
                bars.remove(&task);
                if let Some(line) = plain(p) {
                    let _ = multi.println(line);
                }
            }
            other => bar.set_message(plain(other).unwrap_or_default()),
        }
    }

    fn finish(&mut self) {
        if let Some(Bars { multi, overall, tasks }) = &mut self.bars {
            for (bar, _) in tasks.values() {
                bar.finish_and_clear();
            }
            overall.finish_and_clear();
            let _ = multi.clear();
        }
    }
}

fn task_of(p: &Progress) -> &str {
    match p {
        Progress::Started { task, .. }
        | Progress::Agent { task, .. }
        | Progress::Phase { task, .. }
        | Progress::Finished { task, .. }
        | Progress::Waiting { task, .. }
        | Progress::Error { task, .. } => task,
        Progress::Unusable { path, .. } => path,
        Progress::Board { .. } => "",
    }
}

fn plain(p: &Progress) -> Option<String> {
    Some(match p {
        Progress::Started { task, performer } => format!("{task}  running with {performer}"),
        Progress::Agent { .. } => return None,
        Progress::Phase { task, phase } => format!("{task}  {phase}"),
        Progress::Finished { task, status, note } => match note {
            Some(n) => format!("{task}  {status}: {n}"),
            None => format!("{task}  {status}"),
        },
        Progress::Waiting { task, why } => format!("{task}  waits for {why}"),
        Progress::Error { task, message } => format!("{task}  error: {message}"),
        Progress::Unusable { path, problem } => format!("{path}: {problem}"),
        Progress::Board { .. } => return None,
    })
}

fn json(p: &Progress) -> serde_json::Value {
    use serde_json::json;
    match p {
        Progress::Started { task, performer } => json!({ "event": "started", "task": task, "performer": performer }),
        Progress::Agent { task, event } => match event {
            Event::Tool { name, detail } => json!({ "event": "tool", "task": task, "name": name, "detail": detail }),
            Event::Usage { tokens, cost_usd } => {
                let mut v = crate::cli::money::usage_json(tokens, *cost_usd);
                v["event"] = "usage".into();
                v["task"] = task.as_str().into();
                v
            }
            Event::Model(model) => json!({ "event": "model", "task": task, "model": model }),
            Event::BadUsage(why) => {
                json!({ "event": "warning", "task": task, "message": format!("usage not trusted: {why}") })
            }
            Event::BudgetSpent => json!({ "event": "budget-spent", "task": task }),
            Event::Session(id) => json!({ "event": "session", "task": task, "id": id }),
            Event::Message(text) | Event::Result { text, .. } => {
                json!({ "event": "message", "task": task, "text": text })
            }
        },
        Progress::Phase { task, phase } => json!({ "event": "phase", "task": task, "phase": phase }),
        Progress::Finished { task, status, note } => {
            json!({ "event": "finished", "task": task, "status": status, "note": note })
        }
        Progress::Waiting { task, why } => json!({ "event": "waiting", "task": task, "why": why }),
        Progress::Error { task, message } => json!({ "event": "error", "task": task, "message": message }),
        Progress::Unusable { path, problem } => json!({ "event": "unusable", "path": path, "problem": problem }),
        Progress::Board { merged, total } => json!({ "event": "board", "merged": merged, "total": total }),
    }
}

fn show_summary(ctx: &Context, s: &Summary) -> CommandResult {
    if ctx.ui.json {
        ctx.ui.json_line(&serde_json::json!({ "event": "summary", "score": s.score, "summary": s }))?;
        return Ok(());
    }
    let mut counts: Vec<String> = s.tasks.iter().map(|(status, ids)| format!("{} {status}", ids.len())).collect();
    if !s.unusable.is_empty() {
        counts.push(format!("{} unusable", s.unusable.len()));
    }
    ctx.ui.line(format!("{}  {}: {}", s.score, s.score_status, counts.join(", ")))?;
    for (performer, u) in &s.usage {
        let tokens = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens + u.output_tokens;
        let cost = match (u.cost_usd, u.unknown_cost_attempts) {
            (_, 0) => crate::model::budget::dollars(u.cost_usd),
            (0.0, n) => format!("cost unknown ({n} attempts)"),
            (c, n) => format!("{} + {n} unknown", crate::model::budget::dollars(c)),
        };
        if tokens > 0 {
            ctx.ui.line(format!("  {performer}: {} tokens · {cost}", crate::cli::money::tokens(tokens)))?;
        }
    }
    for (task, why) in &s.waiting {
        ctx.ui.line(format!("  {}/{task} waits for {why}", s.score))?;
    }
    for (task, why) in &s.errors {
        ctx.ui.line(format!("  {}/{task} stopped on an error: {why}", s.score))?;
    }
    for (path, why) in &s.unusable {
        ctx.ui.line(format!("  {path} cannot be used: {why}"))?;
    }
    if let Some(why) = &s.stuck {
        ctx.ui.line(format!("  stopped: {why}"))?;
    }
    for task in &s.checkpoints {
        ctx.ui.line(format!(
            "  paused at checkpoint {}/{task}: `git maestro approve {}/{task}` lets its dependants start",
            s.score, s.score
        ))?;
    }
    Ok(())
}
