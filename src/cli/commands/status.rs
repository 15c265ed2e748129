//! `git maestro status`

use crate::approval::{self, ChainError, ForecastConflict};
use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::cli::ui::Painted;
use crate::config::Config;
use crate::model::{Decision, DecisionKind, Score, Task, TaskStatus};
use crate::store;
use crate::store::brief::Brief;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Keep watching: print an event for each change of the state
    #[arg(long)]
    pub watch: bool,
    /// List every task, also of a Score shown in brief
    #[arg(long)]
    pub all: bool,
}

#[derive(serde::Serialize)]
pub(crate) struct Row<'a> {
    pub(crate) id: &'a str,
    pub(crate) status: TaskStatus,
    pub(crate) assignee: Option<&'a str>,
    pub(crate) attempts: usize,
    /// What its attempts used and cost, the running one's so far included.
    pub(crate) spent: crate::model::budget::Spent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) waiting_for: Option<String>,
    /// Why the task stopped, when it waits for a person or a retry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// Conflicts sync settled on this task by setting a value aside.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) sync_conflicts: Vec<&'a crate::model::clock::SyncConflict>,
}

/// Say which steps have git effects not applied yet: reads never settle them.
fn report_pending_effects(ctx: &Context, store: &store::Store, view: &store::View<'_>) -> CommandResult {
    let clone = store.clone_id()?;
    for intent in store::effects::intents(view)? {
        if !store::effects::pending(store, &intent)? {
            continue;
        }
        let what: Vec<String> = intent.effects.iter().map(crate::model::intent::Effect::describe).collect();
        if intent.origin.clone == clone {
            ctx.ui.warn(format!("{} is recorded but not complete: {}", intent.why, what.join("; ")));
            ctx.ui.hint("the next git-maestro command that writes here completes it (e.g. `git maestro doctor --fix`)");
        } else {
            ctx.ui.warn(format!("{} is pending on {} ({})", intent.why, intent.origin.host, what.join("; ")));
        }
    }
    Ok(())
}

/// A Score with more tasks than this is shown in brief, unless `--all`.
const BRIEF_OVER: usize = 50;

/// What `status` shows of one Score.
struct Shown {
    score: Score,
    /// Every task, in the order the Score lists them; or, for a Score shown in brief, the
    /// tasks that are not quiet.
    tasks: Vec<Task>,
    brief: Option<Brief>,
    conflicts: Vec<ForecastConflict>,
}

impl Shown {
    fn read(store: &store::Store, view: &store::View<'_>, score: Score, brief: Option<Brief>) -> CommandResult<Shown> {
        let tasks = match &brief {
            Some(b) => {
                let loud: std::collections::HashSet<&str> = b.loud.iter().map(String::as_str).collect();
                let listed = score.tasks.iter().filter(|id| loud.contains(id.as_str()));
                listed.map(|id| store::task(view, &score.id, id)).collect::<Result<_, _>>()?
            }
            None => store::tasks(view, &score)?,
        };
        // From the tasks read once; scope overlaps are `conflicts`' business (O(tasks²)).
        let conflicts = approval::forecast(store, &score, &tasks)?;
        Ok(Shown { score, tasks, brief, conflicts })
    }

    fn merged(&self) -> usize {
        match &self.brief {
            Some(b) => b.counts.get(&TaskStatus::Merged).copied().unwrap_or(0),
            None => self.tasks.iter().filter(|t| t.status == TaskStatus::Merged).count(),
        }
    }
}

pub fn cmd_status(ctx: &Context, args: &StatusArgs) -> CommandResult {
    if args.watch {
        return crate::cli::watch::cmd_watch(ctx);
    }
    let store = ctx.store()?;
    let view = store.view()?;
    // JSON lists every task: scripts read it whole.
    let over = if args.all || ctx.ui.json { usize::MAX } else { BRIEF_OVER };
    let board = store::brief::scores(&store, &view, over)?
        .into_iter()
        .map(|(score, brief)| Shown::read(&store, &view, score, brief))
        .collect::<CommandResult<Vec<_>>>()?;
    // What the reasons come from: the decision log only when some task was rejected or
    // blocked, and the trusted config (a board is still shown when it does not load).
    let stopped = |t: &Task| matches!(t.status, TaskStatus::Blocked | TaskStatus::Rejected);
    let decisions =
        if board.iter().any(|s| s.tasks.iter().any(stopped)) { store::decisions(&view)? } else { Vec::new() };
    let why = Why { config: ctx.config(&store.repo).ok(), decisions };
    report_pending_effects(ctx, &store, &view)?;
    if ctx.ui.json {
        let value: Vec<serde_json::Value> = board
            .iter()
            .map(|Shown { score: s, tasks, conflicts, .. }| {
                let rows: Vec<Row<'_>> = s.tasks.iter().zip(tasks).map(|(listed, t)| row(s, listed, t, &why)).collect();
                serde_json::json!({ "score": s.id, "status": s.status, "title": s.title, "tasks": rows, "conflicts": conflicts })
            })
            .collect();
        ctx.ui.json(&value)?;
        return Ok(());
    }
    if board.is_empty() {
        ctx.ui.status("No Scores yet: plan one with `git maestro plan --from <file>`.");
    }
    for shown in &board {
        show(ctx, shown, &why)?;
    }
    Ok(())
}

fn show(ctx: &Context, shown: &Shown, why: &Why) -> CommandResult {
    let Shown { score, tasks, brief, conflicts } = shown;
    let line = Painted::plain(&format!("{}  ", score.id))
        .then(ctx.ui.status_word(score.status.as_str()))
        .text(&format!("  {}/{} merged  {}", shown.merged(), score.tasks.len(), score.title));
    ctx.ui.painted(&line)?;
    if let Some(b) = brief {
        ctx.ui.line(format!("  {}", in_brief(b)))?;
    }
    let mut rows = vec![vec![
        "  TASK".into(),
        "STATUS".into(),
        "ASSIGNEE".into(),
        "ATTEMPTS".into(),
        "USED".into(),
        "WAITING FOR".into(),
    ]];
    for t in tasks {
        let r = row(score, &t.id, t, why);
        let waiting_for = match (r.waiting_for, r.reason) {
            (Some(what), Some(reason)) => format!("{what}: {reason}"),
            (what, reason) => what.or(reason).unwrap_or_default(),
        };
        // A table cell stays short; `task show` and --json carry the whole reason.
        let waiting_for = crate::performer::clip(&waiting_for, CELL_CHARS);
        rows.push(vec![
            format!("  {}", r.id),
            r.status.to_string(),
            r.assignee.unwrap_or("-").to_owned(),
            r.attempts.to_string(),
            used(&r.spent),
            waiting_for,
        ]);
    }
    if rows.len() > 1 {
        ctx.ui.painted(&ctx.ui.table(&rows, 1))?;
    }
    if brief.is_some() {
        let quiet = score.tasks.len() - tasks.len();
        ctx.ui.line(format!("  {quiet} quiet tasks not listed: `git maestro status --all` lists every task"))?;
    }
    for t in tasks {
        for c in t.sync.iter().flat_map(|s| &s.conflicts) {
            ctx.ui.line(format!("  sync conflict on {}: {}", t.id, c.describe()))?;
        }
    }
    for c in conflicts {
        ctx.ui.line(format!("  conflict forecast: {}", describe(c)))?;
    }
    Ok(())
}

/// `10000 tasks: 9990 ready, 10 running; used 1.2M · $3.40`
fn in_brief(b: &Brief) -> String {
    let counts: Vec<String> = TaskStatus::ALL
        .iter()
        .filter_map(|s| b.counts.get(s).filter(|n| **n > 0).map(|n| format!("{n} {s}")))
        .collect();
    let used = match used(&b.spent) {
        u if u == "-" => String::new(),
        u => format!("; used {u}"),
    };
    format!("{} tasks: {}{used}", b.total(), counts.join(", "))
}

/// The longest WAITING FOR cell, in characters.
const CELL_CHARS: usize = 100;

/// What the reasons of stopped tasks are read from.
pub(crate) struct Why {
    config: Option<Config>,
    /// Every decision, oldest first; empty when no task needs them.
    decisions: Vec<Decision>,
}

impl Why {
    /// Reasons from `config` (when it loaded) and `decisions` (every decision, oldest first, or
    /// none when no task is rejected or blocked).
    pub(crate) fn new(config: Option<Config>, decisions: Vec<Decision>) -> Why {
        Why { config, decisions }
    }

    /// The rationale of the last rejection of `t` (a verdict, or the decision that blocked it).
    fn last_rejection(&self, t: &Task) -> Option<&Decision> {
        self.decisions.iter().rev().find(|d| {
            d.kind == DecisionKind::Rejection
                && d.score.as_deref() == Some(t.score.as_str())
                && d.task.as_deref() == Some(t.id.as_str())
        })
    }

    /// What `run` stops on in the approval step `step` of `t`, if the trusted config cannot
    /// carry it out (the same error the chain would give).
    fn chain_error(&self, t: &Task, step: &str) -> Option<String> {
        let config = self.config.as_ref()?;
        let error = match step {
            "checks" => ChainError::UnknownCheck(t.checks.iter().find(|c| !config.checks.contains_key(*c))?.clone()),
            "human" | "pr" | "agent:auto" => return None,
            other => match other.strip_prefix("agent:") {
                Some(who) if config.performers.contains_key(who) => return None,
                Some(who) => ChainError::UnknownReviewer(who.to_owned()),
                None => ChainError::Unsupported(other.to_owned()),
            },
        };
        Some(format!("error: {error}"))
    }
}

/// The row of the task record `t`, read at the place of `listed` in `score`.
pub(crate) fn row<'a>(score: &Score, listed: &'a str, t: &'a Task, why: &Why) -> Row<'a> {
    let last_reason = || t.attempts.last().and_then(|a| a.reason.clone());
    let (waiting_for, reason) = match t.status {
        TaskStatus::Submitted => {
            let steps = t.approval.as_ref().unwrap_or(&score.approval);
            let step = steps.get(t.steps_passed(steps)).cloned();
            match step.as_deref().and_then(|s| why.chain_error(t, s)) {
                Some(error) => (Some("a person".into()), Some(error)),
                None => (step, None),
            }
        }
        TaskStatus::Merged if t.checkpoint && !t.checkpoint_released() => (Some("checkpoint approval".into()), None),
        TaskStatus::Blocked if crate::model::lifecycle::blocked_by_budget(t) => {
            (Some(format!("a budget raise (`git maestro budget raise {}`)", score.id)), last_reason())
        }
        TaskStatus::Blocked => {
            let reason = why.last_rejection(t).map(|d| d.rationale.clone()).filter(|r| !r.is_empty());
            (Some("a person".into()), reason.or_else(last_reason).or_else(|| Some("no reason recorded".into())))
        }
        TaskStatus::Failed => (Some("a retry".into()), last_reason().map(|r| format!("the last run failed: {r}"))),
        TaskStatus::Rejected => {
            let reason = why.last_rejection(t).map(|d| format!("{} rejected it: {}", d.actor, d.rationale));
            (Some("a retry".into()), reason)
        }
        TaskStatus::Conflict => {
            (Some("a retry".into()), Some(format!("its result conflicted in {}", t.conflicts.join(", "))))
        }
        _ => (None, None),
    };
    Row {
        id: listed,
        status: t.status,
        assignee: t.claim.as_ref().map(|c| c.holder.as_str()),
        attempts: t.attempts.len(),
        spent: t.attempts.iter().fold(Default::default(), |mut s: crate::model::budget::Spent, a| {
            s.add(&crate::model::budget::ledger::usage_of(a), a.cost_usd);
            s
        }),
        waiting_for,
        reason,
        sync_conflicts: t.sync.iter().flat_map(|s| &s.conflicts).collect(),
    }
}

/// `12.3k · $0.42`, `cost unknown` for a model without a price, `-` before any usage.
pub(crate) fn used(s: &crate::model::budget::Spent) -> String {
    match (s.tokens, s.unknown) {
        (0, _) => "-".into(),
        (t, 0) => format!("{} · {}", crate::cli::money::tokens(t), crate::model::budget::dollars(s.usd)),
        (t, _) if s.usd == 0.0 => format!("{} · cost unknown", crate::cli::money::tokens(t)),
        (t, n) => format!("{} · {} + {n} unknown", crate::cli::money::tokens(t), crate::model::budget::dollars(s.usd)),
    }
}

fn describe(c: &ForecastConflict) -> String {
    let files: Vec<String> = c
        .paths
        .iter()
        .map(|p| match c.overlaps.iter().find(|o| &o.path == p) {
            Some(o) => {
                let lines: Vec<String> =
                    o.lines.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
                format!("{p} lines {}", lines.join(","))
            }
            None => p.clone(),
        })
        .collect();
    format!("{} ~ {} in {}", c.a, c.b, files.join("; "))
}
