//! The view model of a watcher: the board as plain values ([`Board`], read from one state
//! commit with the rows `status` shows), and the events between two boards ([`diff`]).
//!
//! Pure: nothing here reads git or prints. `status --watch` and the board build a [`Board`] per
//! state commit and report what [`diff`] finds.

use serde::Serialize;

use crate::cli::commands::status::{Row, Why, row};
use crate::model::budget::Spent;
use crate::model::{AttemptOutcome, Score, ScoreStatus, Task, TaskStatus};

/// Every Score of one state, in the order the state lists them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Board {
    pub scores: Vec<ScoreView>,
    /// Score records this version refuses, by path, with why: shown, never a crash.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub unreadable: std::collections::BTreeMap<String, String>,
}

/// A Score and its tasks as the board shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreView {
    pub score: String,
    pub status: ScoreStatus,
    pub title: String,
    pub tasks: Vec<TaskView>,
    /// Task records this version refuses, by path, with why: shown, never a crash.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub unreadable: std::collections::BTreeMap<String, String>,
}

/// One task's row (the fields of `status --json`), plus what the events are made from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskView {
    pub id: String,
    pub status: TaskStatus,
    pub assignee: Option<String>,
    pub attempts: usize,
    pub spent: Spent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What a person is needed for, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needs_you: Option<Need>,
    #[serde(skip_serializing_if = "is_zero")]
    pub sync_conflicts: usize,
    /// The ids of the tasks it depends on.
    #[serde(skip)]
    pub deps: Vec<String>,
    /// The approval steps its current result passed.
    #[serde(skip)]
    pub passed: Vec<String>,
    /// Its latest attempt.
    #[serde(skip)]
    pub last: Option<AttemptView>,
    /// The other open tasks of its Score whose scopes overlap its own (the conflict forecast
    /// from the records: neither depends on the other).
    #[serde(skip)]
    pub overlaps: Vec<Overlap>,
    /// The branches a merge of its own would conflict with (another task's, or
    /// `integration`), and the paths: the board sets it from git, not from the state.
    #[serde(skip)]
    pub conflicts: Vec<(String, Vec<String>)>,
}

/// Another task whose declared scope overlaps a task's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// The other task's id, in the same Score.
    pub with: String,
    /// The task's own scope globs that meet the other's.
    pub globs: Vec<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The parts of an attempt the events report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptView {
    pub run: String,
    pub performer: String,
    pub adapter: String,
    pub started: jiff::Timestamp,
    pub ended: Option<jiff::Timestamp>,
    pub outcome: AttemptOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why a task needs a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// Its result waits for a human step of its approval chain.
    Approval,
    /// It is merged and waits for its checkpoint to be released.
    Checkpoint,
    /// It stopped for good: too many attempts, a rejection that blocks it, an approval chain
    /// that cannot go on.
    Blocked,
    /// A budget cap stopped it.
    Budget,
    /// Its result conflicted with the integration branch.
    Conflict,
    /// `sync` set a concurrent value aside.
    SyncConflict,
}

impl Need {
    /// The words a person reads.
    pub fn describe(self) -> &'static str {
        match self {
            Need::Approval => "an approval",
            Need::Checkpoint => "a checkpoint release",
            Need::Blocked => "a decision: it is blocked",
            Need::Budget => "a budget raise",
            Need::Conflict => "a conflict resolved",
            Need::SyncConflict => "a sync conflict resolved",
        }
    }
}

impl Board {
    /// The board of `scores`, each with its readable task records and the refused ones.
    pub fn new(scores: Vec<(Score, Vec<Task>, std::collections::BTreeMap<String, String>)>, why: &Why) -> Board {
        let scores = scores
            .into_iter()
            .map(|(score, tasks, unreadable)| {
                let pairs = crate::approval::open_overlaps(&tasks);
                let tasks = tasks
                    .iter()
                    .map(|t| TaskView { overlaps: overlaps(t, &pairs, &tasks), ..task_view(&score, t, why) })
                    .collect();
                ScoreView { score: score.id, status: score.status, title: score.title, tasks, unreadable }
            })
            .collect();
        Board { scores, unreadable: std::collections::BTreeMap::new() }
    }
}

/// The tasks among `pairs` that `t` overlaps, with the globs of `t` that meet theirs.
fn overlaps(t: &Task, pairs: &[crate::approval::ScopeOverlap], tasks: &[Task]) -> Vec<Overlap> {
    let others = pairs.iter().filter_map(|p| match (p.a == t.id, p.b == t.id) {
        (true, _) => Some(&p.b),
        (_, true) => Some(&p.a),
        _ => None,
    });
    others
        .filter_map(|other| {
            let theirs = &tasks.iter().find(|o| &o.id == other)?.scope;
            let meet = |g: &&String| theirs.iter().any(|h| crate::approval::globs_overlap(g, h));
            Some(Overlap { with: other.clone(), globs: t.scope.iter().filter(meet).cloned().collect() })
        })
        .collect()
}

fn task_view(score: &Score, t: &Task, why: &Why) -> TaskView {
    let Row { id, status, assignee, attempts, spent, waiting_for, reason, sync_conflicts } = row(score, &t.id, t, why);
    let needs_you = need(t, waiting_for.as_deref(), !sync_conflicts.is_empty());
    TaskView {
        id: id.to_owned(),
        status,
        assignee: assignee.map(str::to_owned),
        attempts,
        spent,
        waiting_for,
        reason,
        needs_you,
        sync_conflicts: sync_conflicts.len(),
        deps: t.deps.clone(),
        passed: t.passed.clone(),
        last: t.attempts.last().map(|a| AttemptView {
            run: a.run.clone(),
            performer: a.performer.clone(),
            adapter: a.adapter.clone(),
            started: a.started,
            ended: a.ended,
            outcome: a.outcome,
            reason: a.reason.clone(),
        }),
        overlaps: Vec::new(),
        conflicts: Vec::new(),
    }
}

/// What `t` needs a person for, from its status and what `status` says it waits for.
fn need(t: &Task, waiting_for: Option<&str>, sync_conflicts: bool) -> Option<Need> {
    match (t.status, waiting_for) {
        (TaskStatus::Submitted, Some("human")) => Some(Need::Approval),
        (TaskStatus::Submitted, Some("a person")) => Some(Need::Blocked),
        (TaskStatus::Merged, Some("checkpoint approval")) => Some(Need::Checkpoint),
        (TaskStatus::Blocked, _) if crate::model::lifecycle::blocked_by_budget(t) => Some(Need::Budget),
        (TaskStatus::Blocked, _) => Some(Need::Blocked),
        (TaskStatus::Conflict, _) => Some(Need::Conflict),
        _ if sync_conflicts => Some(Need::SyncConflict),
        _ => None,
    }
}

/// One change between two boards, in the public JSON vocabulary (`score` and `task` name a
/// task). The first event of a watcher is [`Event::Snapshot`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The whole board, as `status --json` shows it.
    Snapshot { scores: Vec<ScoreView> },
    /// A Score appeared (planned, or fetched by `sync`).
    ScoreAdded { score: String, status: ScoreStatus, title: String },
    /// A Score is gone from the state.
    ScoreRemoved { score: String },
    /// A Score moved from one status to another.
    ScoreStatus { score: String, from: ScoreStatus, to: ScoreStatus },
    /// A task appeared in a Score.
    TaskAdded { score: String, task: String, status: TaskStatus },
    /// A task is gone from a Score.
    TaskRemoved { score: String, task: String },
    /// A task moved from one status to another.
    TaskStatus {
        score: String,
        task: String,
        from: TaskStatus,
        to: TaskStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        waiting_for: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A performer started an attempt at a task (`attempt` counts from 1).
    AttemptStarted { score: String, task: String, attempt: usize, run: String, performer: String },
    /// An attempt ended.
    AttemptEnded {
        score: String,
        task: String,
        attempt: usize,
        run: String,
        outcome: AttemptOutcome,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A step of a task's approval chain passed.
    Approval { score: String, task: String, step: String },
    /// What a task's attempts used and cost changed.
    Usage { score: String, task: String, spent: Spent },
    /// A task started needing a person.
    NeedsYou {
        score: String,
        task: String,
        need: Need,
        #[serde(skip_serializing_if = "Option::is_none")]
        waiting_for: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The state could not be read; the watcher goes on with the next change.
    Unreadable { message: String },
}

/// The events that lead from `old` to `new`, Score by Score, task by task, in the order a
/// task lives them: status, attempts, approvals, usage, then what it needs.
pub fn diff(old: &Board, new: &Board) -> Vec<Event> {
    let mut events = Vec::new();
    for s in &old.scores {
        if !new.scores.iter().any(|n| n.score == s.score) {
            events.push(Event::ScoreRemoved { score: s.score.clone() });
        }
    }
    for s in &new.scores {
        let Some(before) = old.scores.iter().find(|o| o.score == s.score) else {
            events.push(Event::ScoreAdded { score: s.score.clone(), status: s.status, title: s.title.clone() });
            for t in &s.tasks {
                events.push(Event::TaskAdded { score: s.score.clone(), task: t.id.clone(), status: t.status });
                task_events(&s.score, None, t, &mut events);
            }
            continue;
        };
        if before.status != s.status {
            events.push(Event::ScoreStatus { score: s.score.clone(), from: before.status, to: s.status });
        }
        for t in &before.tasks {
            if !s.tasks.iter().any(|n| n.id == t.id) {
                events.push(Event::TaskRemoved { score: s.score.clone(), task: t.id.clone() });
            }
        }
        for t in &s.tasks {
            let was = before.tasks.iter().find(|o| o.id == t.id);
            if was.is_none() {
                events.push(Event::TaskAdded { score: s.score.clone(), task: t.id.clone(), status: t.status });
            }
            task_events(&s.score, was, t, &mut events);
        }
    }
    // Records that stopped reading (refused by validation, gone): said once each.
    let refused = |b: &Board| {
        let tasks = b.scores.iter().flat_map(|s| &s.unreadable);
        b.unreadable.iter().chain(tasks).map(|(p, w)| (p.clone(), w.clone())).collect::<Vec<_>>()
    };
    let before = refused(old);
    for (path, why) in refused(new).into_iter().filter(|r| !before.contains(r)) {
        events.push(Event::Unreadable { message: format!("{path} cannot be read: {why}") });
    }
    events
}

/// The events of one task between `was` (absent: new) and `now`.
fn task_events(score: &str, was: Option<&TaskView>, now: &TaskView, events: &mut Vec<Event>) {
    let (score, task) = (score.to_owned(), now.id.clone());
    let last_run = was.and_then(|w| w.last.as_ref()).map(|a| (a.run.as_str(), a.ended.is_some()));
    let attempt = now.attempts;
    let new_run = now.last.as_ref().filter(|a| last_run.is_none_or(|(run, _)| run != a.run));
    // An attempt that ended comes before the status it left the task in; one that started
    // comes after the status it put the task in (or before its own end, seen at once).
    let started = |a: &AttemptView| Event::AttemptStarted {
        score: score.clone(),
        task: task.clone(),
        attempt,
        run: a.run.clone(),
        performer: a.performer.clone(),
    };
    let mut new_run = new_run;
    if let Some(a) = new_run.filter(|a| a.ended.is_some()) {
        events.push(started(a));
        new_run = None;
    }
    if let Some(a) = &now.last
        && a.ended.is_some()
        && (last_run.is_none_or(|(run, _)| run != a.run) || last_run.is_some_and(|(_, ended)| !ended))
    {
        events.push(Event::AttemptEnded {
            score: score.clone(),
            task: task.clone(),
            attempt,
            run: a.run.clone(),
            outcome: a.outcome,
            reason: a.reason.clone(),
        });
    }
    if let Some(w) = was
        && w.status != now.status
    {
        events.push(Event::TaskStatus {
            score: score.clone(),
            task: task.clone(),
            from: w.status,
            to: now.status,
            waiting_for: now.waiting_for.clone(),
            reason: now.reason.clone(),
        });
    }
    if let Some(a) = new_run {
        events.push(started(a));
    }
    let before: &[String] = was.map_or(&[], |w| &w.passed);
    for step in now.passed.iter().skip(common_prefix(before, &now.passed)) {
        events.push(Event::Approval { score: score.clone(), task: task.clone(), step: step.clone() });
    }
    if was.is_some_and(|w| w.spent != now.spent) {
        events.push(Event::Usage { score: score.clone(), task: task.clone(), spent: now.spent });
    }
    if let Some(need) = now.needs_you
        && was.is_none_or(|w| w.needs_you != Some(need) || w.status != now.status)
    {
        let (waiting_for, reason) = (now.waiting_for.clone(), now.reason.clone());
        events.push(Event::NeedsYou { score, task, need, waiting_for, reason });
    }
}

fn common_prefix(a: &[String], b: &[String]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
