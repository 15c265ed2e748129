//! Typed access to records, shared by read-only views and transactions.

use super::layout::{self, DECISIONS_DIR, KNOWLEDGE_DIR, SCORES_DIR};
use std::borrow::Cow;
use std::collections::BTreeMap;

use super::codec::CodecError;
use super::validate::Record;
use super::{Error, Result, Tx, View};
use crate::model::handover::Handover;
use crate::model::stats::{Outcome, PerformerStats};
use crate::model::{Decision, DecisionKind, Knowledge, RunSession, Score, Task, TaskStatus, lifecycle};

/// Reading records: implemented by [`View`] and [`Tx`] so helpers work on both.
pub trait Read {
    /// Decode the record at `path`, if any.
    fn get<T: Record>(&self, path: &str) -> Result<Option<T>>;
    /// Entry names of `dir` in the state read (for a [`Tx`], T0: staged writes are not
    /// listed), with whether each is a directory.
    fn list(&self, dir: &str) -> Result<Vec<(String, bool)>>;
    /// Where the current layout places the record the state read keeps at `physical`.
    fn logical<'p>(&self, physical: &'p str) -> Result<Cow<'p, str>>;
}

impl Read for View<'_> {
    fn get<T: Record>(&self, path: &str) -> Result<Option<T>> {
        View::get(self, path)
    }
    fn list(&self, dir: &str) -> Result<Vec<(String, bool)>> {
        View::list(self, dir)
    }
    fn logical<'p>(&self, physical: &'p str) -> Result<Cow<'p, str>> {
        View::logical(self, physical)
    }
}

impl Read for Tx<'_> {
    fn get<T: Record>(&self, path: &str) -> Result<Option<T>> {
        Tx::get(self, path)
    }
    fn list(&self, dir: &str) -> Result<Vec<(String, bool)>> {
        self.view().list(dir)
    }
    fn logical<'p>(&self, physical: &'p str) -> Result<Cow<'p, str>> {
        self.view().logical(physical)
    }
}

/// The Score `id`, or [`Error::ScoreNotFound`].
pub fn score(r: &impl Read, id: &str) -> Result<Score> {
    r.get(&layout::score_file(id))?.ok_or_else(|| Error::ScoreNotFound(id.to_owned()))
}

/// Every Score, by id.
pub fn scores(r: &impl Read) -> Result<Vec<Score>> {
    let mut out = Vec::new();
    for (name, is_dir) in r.list(SCORES_DIR)? {
        if is_dir {
            out.push(score(r, &name)?);
        }
    }
    Ok(out)
}

/// The Scores that read, and by path why each other one does not (a record this version
/// refuses, or a Score directory without its record): what a watcher shows, so one refused
/// Score does not hide the others.
pub fn readable_scores(r: &impl Read) -> Result<(Vec<Score>, BTreeMap<String, String>)> {
    let (mut good, mut bad) = (Vec::new(), BTreeMap::new());
    for (name, is_dir) in r.list(SCORES_DIR)? {
        if !is_dir {
            continue;
        }
        match score(r, &name) {
            Ok(s) => good.push(s),
            Err(Error::Codec(CodecError::Invalid { path, message })) => {
                bad.insert(path, message);
            }
            Err(Error::Codec(e)) => {
                bad.insert(layout::score_file(&name), e.to_string());
            }
            Err(Error::ScoreNotFound(_)) => {
                bad.insert(layout::score_file(&name), "the record is missing".to_owned());
            }
            Err(e) => return Err(e),
        }
    }
    Ok((good, bad))
}

/// The task `score/id`, or [`Error::TaskNotFound`].
pub fn task(r: &impl Read, score: &str, id: &str) -> Result<Task> {
    r.get(&layout::task_file(score, id))?
        .ok_or_else(|| Error::TaskNotFound { score: score.to_owned(), task: id.to_owned() })
}

/// The session records of a task's runs, oldest first (runs without one are skipped).
pub fn run_sessions(r: &impl Read, task: &Task) -> Result<Vec<RunSession>> {
    let mut out = Vec::new();
    for a in &task.attempts {
        if let Some(s) = r.get(&layout::session_file(&task.score, &task.id, &a.run))? {
            out.push(s);
        }
    }
    Ok(out)
}

/// Count a terminal outcome of `task` for the performer of its last attempt.
pub fn record_outcome(tx: &mut Tx<'_>, task: &Task, outcome: Outcome) -> Result<()> {
    let Some(performer) = task.attempts.last().map(|a| a.performer.clone()) else { return Ok(()) };
    let path = layout::performer_stats_file(&performer);
    let mut stats = tx.get::<PerformerStats>(&path)?.unwrap_or_else(|| PerformerStats::new(&performer));
    stats.record(task, outcome);
    tx.put(&path, &stats)
}

/// Every performer's learned record, by name.
pub fn performer_stats(r: &impl Read) -> Result<Vec<PerformerStats>> {
    let mut out = Vec::new();
    for (file, is_dir) in r.list("stats/performers")? {
        if let (false, Some(name)) = (is_dir, file.strip_suffix(".toml")) {
            out.extend(r.get::<PerformerStats>(&layout::performer_stats_file(name))?);
        }
    }
    Ok(out)
}

/// The tasks of a Score, in the order the Score lists them.
pub fn tasks(r: &impl Read, score: &Score) -> Result<Vec<Task>> {
    score.tasks.iter().map(|id| task(r, &score.id, id)).collect()
}

/// The tasks of a Score that read, and by path why each other one does not: a record this
/// version refuses (see [`super::validate`]) is left out, so the rest of the Score stays
/// usable (`run` reports it and goes on with the others).
pub fn readable_tasks(r: &impl Read, score: &Score) -> Result<(Vec<Task>, BTreeMap<String, String>)> {
    readable(r, &score.id, &score.tasks)
}

/// [`readable_tasks`] of the tasks `ids` of the Score `score`.
fn readable(r: &impl Read, score: &str, ids: &[String]) -> Result<(Vec<Task>, BTreeMap<String, String>)> {
    let (mut good, mut bad) = (Vec::new(), BTreeMap::new());
    for id in ids {
        match task(r, score, id) {
            Ok(t) => good.push(t),
            Err(Error::Codec(CodecError::Invalid { path, message })) => {
                bad.insert(path, message);
            }
            Err(Error::Codec(e)) => {
                bad.insert(layout::task_file(score, id), e.to_string());
            }
            Err(e) => return Err(e),
        }
    }
    Ok((good, bad))
}

/// The Score `id` with the tasks of it that read ([`readable_tasks`]): what the run and its
/// steps work with, so one refused record does not stop the others.
pub fn score_with_readable_tasks(r: &impl Read, id: &str) -> Result<(Score, Vec<Task>)> {
    let score = score(r, id)?;
    let (tasks, _) = readable_tasks(r, &score)?;
    Ok((score, tasks))
}

/// The Score `id` with, of its tasks that read ([`readable_tasks`]), `task` and the tasks
/// it depends on: all that starting `task` looks at, without reading the rest of the Score.
pub fn score_with_task_and_deps(r: &impl Read, id: &str, task: &str) -> Result<(Score, Vec<Task>)> {
    let score = score(r, id)?;
    let (mut tasks, _) = readable(r, id, &[task.to_owned()])?;
    if let Some(deps) = tasks.first().map(|t| t.deps.clone()) {
        tasks.extend(readable(r, id, &deps)?.0);
    }
    Ok((score, tasks))
}

/// Whether every task of `score` is merged; a task that does not read, or is missing, is not.
/// It looks from the last task, where the tasks that depend on others usually are: while one
/// is not merged, a merge finds it without reading the whole of a big Score.
pub fn every_task_merged(r: &impl Read, score: &Score) -> Result<bool> {
    for status in statuses_from_last(r, score) {
        if status? != Some(TaskStatus::Merged) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The statuses of the tasks of `score`, from the last task back, read as they are asked for;
/// `None` for a task that does not read, or is missing.
fn statuses_from_last<'r>(r: &'r impl Read, score: &'r Score) -> impl Iterator<Item = Result<Option<TaskStatus>>> + 'r {
    score.tasks.iter().rev().map(|id| match task(r, &score.id, id) {
        Ok(t) => Ok(Some(t.status)),
        Err(Error::Codec(_) | Error::TaskNotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    })
}

/// The Score `id` with its status set to what its tasks say ([`lifecycle::settle_status`]),
/// when that moved it; `None` when it stays, or does not read.
pub fn settled_score(r: &impl Read, id: &str, now: jiff::Timestamp) -> Result<Option<Score>> {
    let Ok(mut score) = self::score(r, id) else { return Ok(None) };
    let progress = progress(r, &score)?;
    Ok(lifecycle::settle_status(&mut score, progress.every_merged, progress.some_active, now)?.then_some(score))
}

/// How far the tasks of `score` are: whether every one is merged, and whether any is neither
/// merged nor reverted. It looks from the last task back and stops at the first such one. A
/// task that does not read, or is missing, is not merged, and not known to be active.
fn progress(r: &impl Read, score: &Score) -> Result<Progress> {
    let mut out = Progress { every_merged: true, some_active: false };
    for status in statuses_from_last(r, score) {
        match status? {
            Some(TaskStatus::Merged) => {}
            Some(TaskStatus::Reverted) | None => out.every_merged = false,
            Some(_) => return Ok(Progress { every_merged: false, some_active: true }),
        }
    }
    Ok(out)
}

/// What [`progress`] found.
struct Progress {
    every_merged: bool,
    some_active: bool,
}

/// The Score `id` with its tasks.
pub fn score_with_tasks(r: &impl Read, id: &str) -> Result<(Score, Vec<Task>)> {
    let score = score(r, id)?;
    let tasks = tasks(r, &score)?;
    Ok((score, tasks))
}

/// A new decision of `kind` by `actor`, stamped with this transaction's id, op and time.
pub fn new_decision(tx: &Tx<'_>, kind: DecisionKind, summary: String, actor: &str) -> Decision {
    Decision::new(tx.new_id(), kind, summary, actor.to_owned(), tx.op.to_owned(), tx.now)
}

/// Append `decision` to the log. Decisions are never overwritten.
pub fn append_decision(tx: &mut Tx<'_>, decision: &Decision) -> Result<()> {
    tx.create(&layout::decision_file(&decision.id), decision)
}

/// Every decision, oldest first (ids sort by time).
pub fn decisions(r: &impl Read) -> Result<Vec<Decision>> {
    let mut out: Vec<Decision> = fanned_records(r, DECISIONS_DIR)?;
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Every knowledge entry, oldest first.
pub fn knowledge(r: &impl Read) -> Result<Vec<Knowledge>> {
    let mut out: Vec<Knowledge> = fanned_records(r, KNOWLEDGE_DIR)?;
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Every handover packet, oldest first.
pub fn handovers(r: &impl Read) -> Result<Vec<Handover>> {
    let mut out: Vec<Handover> = fanned_records(r, layout::HANDOVERS_DIR)?;
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The knowledge entry `id`, or [`Error::KnowledgeNotFound`].
pub fn knowledge_entry(r: &impl Read, id: &str) -> Result<Knowledge> {
    r.get(&layout::knowledge_file(id))?.ok_or_else(|| Error::KnowledgeNotFound(id.to_owned()))
}

/// Every record under a fanned-out directory, whatever its depth: decisions sit three levels
/// down (two in a format-1 state), the others two.
fn fanned_records<T: Record>(r: &impl Read, top: &str) -> Result<Vec<T>> {
    let mut out = Vec::new();
    let mut dirs = vec![top.to_owned()];
    while let Some(dir) = dirs.pop() {
        for (name, is_dir) in r.list(&dir)? {
            let path = format!("{dir}/{name}");
            if is_dir {
                dirs.push(path);
            } else if let Some(record) = r.get::<T>(&r.logical(&path)?)? {
                out.push(record);
            }
        }
    }
    Ok(out)
}
