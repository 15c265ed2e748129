//! The board's rows, from a watcher's [`Board`]: pure (state → rows), unit-tested with
//! snapshots. What is on each row came from the state: every cell is a [`field`].

use jiff::Timestamp;

use crate::cli::ui::field;
use crate::cli::watch::model::{Board, ScoreView, TaskView};

/// One line of the board's list.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub kind: Kind,
    pub text: String,
    /// The task the line is about, as (Score, task): lines with one can be selected.
    pub task: Option<(String, String)>,
    /// The status word on the line, for its colour.
    pub status: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Heading,
    NeedsYou,
    Score,
    Task,
    /// A warning about the task above (its conflict forecast).
    Warning,
    Note,
}

/// The rows of `board` (only the Score `only` when given) at time `now`: the needs-you list
/// first, then each Score with its tasks as an indented dependency tree.
pub fn rows(board: &Board, only: Option<&str>, now: Timestamp) -> Vec<Row> {
    let scores: Vec<&ScoreView> = board.scores.iter().filter(|s| only.is_none_or(|o| s.score == o)).collect();
    let mut out = Vec::new();
    let needs: Vec<(&ScoreView, &TaskView)> =
        scores.iter().flat_map(|s| s.tasks.iter().filter(|t| t.needs_you.is_some()).map(move |t| (*s, t))).collect();
    let heading =
        if needs.is_empty() { "NEEDS YOU: nothing".to_owned() } else { format!("NEEDS YOU ({})", needs.len()) };
    out.push(Row { kind: Kind::Heading, text: heading, task: None, status: None });
    for (s, t) in needs {
        let need = t.needs_you.map(|n| n.describe()).unwrap_or_default();
        let reason = t.reason.as_deref().map(|r| format!(": {}", field(r))).unwrap_or_default();
        out.push(Row {
            kind: Kind::NeedsYou,
            text: format!("  {}/{}  {need}{reason}", field(&s.score), field(&t.id)),
            task: Some((s.score.clone(), t.id.clone())),
            status: None,
        });
    }
    if scores.is_empty() {
        let text = match only {
            Some(id) => format!("No Score {} in the state (removed, or not fetched yet).", field(id)),
            None => "No Scores yet: plan one with `git maestro plan --from <file>`.".to_owned(),
        };
        out.push(Row { kind: Kind::Note, text, task: None, status: None });
    }
    for (path, why) in &board.unreadable {
        let text = format!("  {}: cannot be read: {}", field(path), field(why));
        out.push(Row { kind: Kind::Note, text, task: None, status: None });
    }
    for s in scores {
        out.push(Row { kind: Kind::Heading, text: String::new(), task: None, status: None });
        let merged = s.tasks.iter().filter(|t| t.status == crate::model::TaskStatus::Merged).count();
        out.push(Row {
            kind: Kind::Score,
            text: format!(
                "{}  {}  {merged}/{} merged  {}",
                field(&s.score),
                s.status.as_str(),
                s.tasks.len(),
                field(&s.title)
            ),
            task: None,
            status: Some(s.status.as_str().to_owned()),
        });
        out.push(Row { kind: Kind::Heading, text: header(), task: None, status: None });
        for (depth, t) in tree(&s.tasks) {
            out.push(Row {
                kind: Kind::Task,
                text: task_line(t, depth, now),
                task: Some((s.score.clone(), t.id.clone())),
                status: Some(t.status.to_string()),
            });
            for text in overlap_line(&s.score, t, depth).into_iter().chain(conflict_line(&s.score, t, depth)) {
                out.push(Row { kind: Kind::Warning, text, task: None, status: None });
            }
        }
        for (path, why) in &s.unreadable {
            let text = format!("  {}: cannot be read: {}", field(path), field(why));
            out.push(Row { kind: Kind::Note, text, task: None, status: None });
        }
    }
    out
}

const ID_WIDTH: usize = 24;

fn header() -> String {
    format!("  {:<ID_WIDTH$} {:<10} {:<10} {:>3} {:>7}  USED", "TASK", "STATUS", "PERFORMER", "TRY", "ELAPSED")
}

fn task_line(t: &TaskView, depth: usize, now: Timestamp) -> String {
    let id = format!("{}{}", "  ".repeat(depth), field(&t.id));
    let id = crate::performer::clip(&id, ID_WIDTH);
    let performer = t.last.as_ref().map_or_else(|| "-".to_owned(), |a| field(&a.performer).into_owned());
    let performer = crate::performer::clip(&performer, 10);
    let elapsed = t.last.as_ref().map_or_else(|| "-".to_owned(), |a| elapsed(a.started, a.ended.unwrap_or(now)));
    let used = crate::cli::commands::status::used(&t.spent);
    format!("  {id:<ID_WIDTH$} {:<10} {performer:<10} {:>3} {elapsed:>7}  {used}", t.status.as_str(), t.attempts)
}

/// `⚠ overlaps k/b: src/auth/*.rs; k/c: src/**` under the task's id, or nothing.
fn overlap_line(score: &str, t: &TaskView, depth: usize) -> Option<String> {
    let each = t.overlaps.iter().map(|o| {
        let globs: Vec<_> = o.globs.iter().map(|g| field(g)).collect();
        format!("{}/{}: {}", field(score), field(&o.with), globs.join(", "))
    });
    warning(depth, "overlaps", each.collect())
}

/// `⚠ conflicts with k/b in src/x.rs; integration in y.rs` under the task's id (the forecast
/// of its branch), or nothing.
fn conflict_line(score: &str, t: &TaskView, depth: usize) -> Option<String> {
    let each = t.conflicts.iter().map(|(with, paths)| {
        let with =
            if with == "integration" { "integration".to_owned() } else { format!("{}/{}", field(score), field(with)) };
        let paths: Vec<_> = paths.iter().map(|p| field(p)).collect();
        format!("{with} in {}", paths.join(", "))
    });
    warning(depth, "conflicts with", each.collect())
}

/// `⚠ <what> a; b` under a task's id at `depth`, or nothing when `each` is empty.
fn warning(depth: usize, what: &str, each: Vec<String>) -> Option<String> {
    (!each.is_empty()).then(|| format!("  {}  \u{26a0} {what} {}", "  ".repeat(depth), each.join("; ")))
}

/// `42s`, `3m05s`, `2h10m`.
fn elapsed(from: Timestamp, to: Timestamp) -> String {
    let secs = to.as_second().saturating_sub(from.as_second()).max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// The tasks in tree order with their depth: each under its first dependency in the Score,
/// the others (roots, and tasks whose dependencies are elsewhere) at depth 0.
fn tree(tasks: &[TaskView]) -> Vec<(usize, &TaskView)> {
    let parent = |t: &TaskView| t.deps.iter().find(|d| tasks.iter().any(|o| &o.id == *d)).cloned();
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut stack: Vec<(usize, &TaskView)> =
        tasks.iter().rev().filter(|t| parent(t).is_none()).map(|t| (0, t)).collect();
    while let Some((depth, t)) = stack.pop() {
        if !seen.insert(t.id.as_str()) {
            continue;
        }
        out.push((depth, t));
        for child in tasks.iter().rev().filter(|c| parent(c).as_deref() == Some(t.id.as_str())) {
            stack.push((depth + 1, child));
        }
    }
    // A dependency cycle (refused by `plan`, but the state can say anything): shown flat.
    out.extend(tasks.iter().filter(|t| !seen.contains(t.id.as_str())).map(|t| (0, t)));
    out
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
