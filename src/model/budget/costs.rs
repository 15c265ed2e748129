//! What the recorded attempts used and cost, grouped by one key (`git maestro costs`).
//!
//! Read from the task records alone, so every clone that synced shows the same figures:
//!
//! - every attempt counts in the row of its own key (its task's Score, its task, its
//!   performer, its model or `unknown`, the local day it started): its tokens, its cost when
//!   known, and whether a budget stopped it;
//! - an attempt that used tokens without a known cost (a model without a price) is counted as
//!   unknown, never as $0;
//! - a merged task counts in the row of its last attempt; its cost is that of all its attempts
//!   ([`ledger::task_cost`]), and the cost per merged task of a row is the mean over its merged
//!   tasks whose cost is known.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::{Usage, ledger};
use crate::model::{Attempt, AttemptOutcome, Task, TaskStatus};

/// What the rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Score,
    Task,
    Performer,
    Model,
    Day,
}

/// The model of an attempt that recorded none.
pub const UNKNOWN_MODEL: &str = "unknown";

impl By {
    /// The name used in options and output.
    pub fn as_str(self) -> &'static str {
        match self {
            By::Score => "score",
            By::Task => "task",
            By::Performer => "performer",
            By::Model => "model",
            By::Day => "day",
        }
    }

    /// The row of attempt `a` of `task`: a task is named by its address `<score>/<task>`, a day
    /// as `2026-11-30`.
    fn key(self, task: &Task, a: &Attempt) -> String {
        match self {
            By::Score => task.score.clone(),
            By::Task => task.address(),
            By::Performer => a.performer.clone(),
            By::Model => a.model.clone().unwrap_or_else(|| UNKNOWN_MODEL.to_owned()),
            By::Day => ledger::local_day(a.started).to_string(),
        }
    }

    /// Whether rows keep the order the state lists them in (Scores, and tasks within their
    /// Score), rather than sorting by key.
    fn keeps_order(self) -> bool {
        matches!(self, By::Score | By::Task)
    }
}

/// The figures of one row (or of all).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub attempts: u32,
    /// Attempts a budget stopped (outcome `budget`).
    pub budget_stops: u32,
    pub usage: Usage,
    /// Dollars of the attempts whose cost is known.
    pub known_usd: f64,
    pub known_cost_attempts: u32,
    /// Attempts that used tokens without a known cost.
    pub unknown_cost_attempts: u32,
    pub merged_tasks: u32,
    /// Merged tasks whose cost is known, and what they cost together.
    pub costed_merged_tasks: u32,
    pub merged_usd: f64,
}

impl Row {
    /// The dollars of the attempts whose cost is known; `None` when no attempt's is.
    pub fn cost(&self) -> Option<f64> {
        (self.known_cost_attempts > 0).then_some(self.known_usd)
    }

    /// The mean cost of the merged tasks whose cost is known; `None` when there is none.
    pub fn cost_per_merged_task(&self) -> Option<f64> {
        (self.costed_merged_tasks > 0).then(|| self.merged_usd / f64::from(self.costed_merged_tasks))
    }

    fn add_attempt(&mut self, a: &Attempt) {
        let usage = ledger::usage_of(a);
        self.attempts += 1;
        self.budget_stops += u32::from(a.outcome == AttemptOutcome::Budget);
        self.usage = self.usage.plus(&usage);
        match a.cost_usd {
            Some(c) => {
                self.known_usd += c;
                self.known_cost_attempts += 1;
            }
            None if usage.total() > 0 => self.unknown_cost_attempts += 1,
            None => {}
        }
    }

    fn add_merged(&mut self, cost: Option<f64>) {
        self.merged_tasks += 1;
        if let Some(c) = cost {
            self.costed_merged_tasks += 1;
            self.merged_usd += c;
        }
    }
}

/// The rows, each with its key, and the total.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Costs {
    pub rows: Vec<(String, Row)>,
    pub total: Row,
}

/// The costs of the attempts of `tasks` grouped `by` one key; with `since`, only the attempts
/// started at or after it, and the merged tasks whose last attempt did.
pub fn costs<'a>(tasks: impl IntoIterator<Item = &'a Task>, by: By, since: Option<Timestamp>) -> Costs {
    let mut out = Costs::default();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut row = |rows: &mut Vec<(String, Row)>, key: String| -> usize {
        *index.entry(key.clone()).or_insert_with(|| {
            rows.push((key, Row::default()));
            rows.len() - 1
        })
    };
    let kept = |a: &&Attempt| since.is_none_or(|t| a.started >= t);
    for task in tasks {
        for a in task.attempts.iter().filter(kept) {
            let i = row(&mut out.rows, by.key(task, a));
            out.rows[i].1.add_attempt(a);
            out.total.add_attempt(a);
        }
        let last = task.attempts.last().filter(kept);
        if let (TaskStatus::Merged, Some(last)) = (task.status, last) {
            let cost = ledger::task_cost(task);
            let i = row(&mut out.rows, by.key(task, last));
            out.rows[i].1.add_merged(cost);
            out.total.add_merged(cost);
        }
    }
    if !by.keeps_order() {
        out.rows.sort_by(|a, b| a.0.cmp(&b.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An attempt by `performer` with model `model`, `tokens` input tokens and `cost`.
    fn attempt(performer: &str, model: Option<&str>, at: &str, tokens: u64, cost: Option<f64>) -> Attempt {
        let mut a = Attempt::start("r", performer, "claude", None, at.parse().expect("a valid time"));
        a.outcome = AttemptOutcome::Failed;
        a.model = model.map(str::to_owned);
        a.input_tokens = Some(tokens);
        a.output_tokens = Some(tokens / 10);
        a.cost_usd = cost;
        a
    }

    fn task(score: &str, id: &str, status: TaskStatus, attempts: Vec<Attempt>) -> Task {
        let mut t = crate::model::task::sample(status);
        (t.score, t.id, t.attempts) = (score.to_owned(), id.to_owned(), attempts);
        t
    }

    fn board() -> Vec<Task> {
        const D1: &str = "2026-11-28T12:00:00Z";
        const D2: &str = "2026-11-30T12:00:00Z";
        let mut stopped = attempt("claude", Some("opus"), D2, 500, Some(2.0));
        stopped.outcome = AttemptOutcome::Budget;
        vec![
            task(
                "s",
                "b",
                TaskStatus::Merged,
                vec![attempt("codex", Some("gpt"), D1, 100, None), attempt("claude", Some("opus"), D2, 200, Some(1.0))],
            ),
            task("s", "a", TaskStatus::Merged, vec![attempt("claude", Some("opus"), D1, 300, Some(0.5))]),
            task("s", "c", TaskStatus::Blocked, vec![stopped]),
            task("t", "x", TaskStatus::Merged, vec![attempt("gemini", None, D2, 0, None)]),
        ]
    }

    #[test]
    fn attempts_are_grouped_by_task_in_the_states_order_with_a_total() {
        let c = costs(&board(), By::Task, None);
        let keys: Vec<&str> = c.rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["s/b", "s/a", "s/c", "t/x"], "tasks keep the order the state lists them in");
        let b = &c.rows[0].1;
        assert_eq!((b.attempts, b.usage.input, b.usage.output, b.usage.total()), (2, 300, 30, 330));
        assert_eq!((b.cost(), b.unknown_cost_attempts), (Some(1.0), 1), "an unpriced attempt is unknown, not $0");
        assert_eq!((b.merged_tasks, b.cost_per_merged_task()), (1, None), "its total is unknown");
        assert_eq!(c.rows[1].1.cost_per_merged_task(), Some(0.5));
        assert_eq!(c.rows[2].1.budget_stops, 1);
        let x = &c.rows[3].1;
        assert_eq!((x.cost(), x.unknown_cost_attempts, x.merged_tasks), (None, 0, 1), "no usage: nothing, not $0");
        let t = &c.total;
        assert_eq!((t.attempts, t.budget_stops, t.usage.input, t.unknown_cost_attempts), (5, 1, 1100, 1));
        assert_eq!((t.cost(), t.merged_tasks, t.costed_merged_tasks), (Some(3.5), 3, 1));
    }

    #[test]
    fn a_merged_task_counts_for_the_performer_and_model_of_its_last_attempt() {
        let c = costs(&board(), By::Performer, None);
        let keys: Vec<&str> = c.rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["claude", "codex", "gemini"], "sorted by name");
        let claude = &c.rows[0].1;
        assert_eq!((claude.attempts, claude.merged_tasks, claude.costed_merged_tasks), (3, 2, 1));
        assert_eq!(claude.cost_per_merged_task(), Some(0.5), "s/b's cost is unknown (codex's attempt)");
        assert_eq!((c.rows[1].1.merged_tasks, c.rows[1].1.unknown_cost_attempts), (0, 1));
        let models = costs(&board(), By::Model, None);
        let keys: Vec<&str> = models.rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["gpt", "opus", UNKNOWN_MODEL]);
        assert_eq!(costs(&board(), By::Score, None).rows.len(), 2);
    }

    #[test]
    fn days_are_local_days_and_since_keeps_later_attempts() {
        let c = costs(&board(), By::Day, None);
        let day = |at: &str| ledger::local_day(at.parse().expect("a valid time")).to_string();
        let keys: Vec<String> = c.rows.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, [day("2026-11-28T12:00:00Z"), day("2026-11-30T12:00:00Z")]);
        let since = costs(&board(), By::Task, Some("2026-11-29T00:00:00Z".parse().expect("a valid time")));
        let keys: Vec<&str> = since.rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["s/b", "s/c", "t/x"], "s/a ran before");
        assert_eq!((since.total.attempts, since.total.cost(), since.total.merged_tasks), (3, Some(3.0), 2));
        assert_eq!(since.rows[0].1.unknown_cost_attempts, 0, "codex's attempt on s/b is before --since");
    }
}
