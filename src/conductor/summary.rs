//! Where a `run` left its Score: tasks by status, tokens and cost per performer, and what waits.

use std::collections::BTreeMap;

use super::ConductorError;
use crate::model::TaskStatus;
use crate::store::{self, Store};

/// Where the run left things.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub score: String,
    pub score_status: String,
    /// Task ids by status.
    pub tasks: BTreeMap<String, Vec<String>>,
    /// Tokens and cost per performer, over every attempt of the Score.
    pub usage: BTreeMap<String, Usage>,
    /// Tasks waiting for a person or a pull request, with what they wait for.
    pub waiting: Vec<(String, String)>,
    /// Tasks the run stopped on because of an error a person must look at, with the error:
    /// a worker failed, or no performer can take the task.
    pub errors: Vec<(String, String)>,
    /// Records of the Score the run could not use, by path, with why; the Score waits for them.
    pub unusable: Vec<(String, String)>,
    /// Why the run stopped early when a round made no progress, the same way twice.
    pub stuck: Option<String>,
    /// Merged checkpoint tasks holding back their dependants.
    pub checkpoints: Vec<String>,
    pub interrupted: bool,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
    /// Dollars of the attempts whose cost is known.
    pub cost_usd: f64,
    /// Attempts that used tokens of a model without a price.
    pub unknown_cost_attempts: u32,
}

/// The summary of `score_id` as the state holds it now.
pub(super) fn summarize(store: &Store, score_id: &str, interrupted: bool) -> Result<Summary, ConductorError> {
    let view = store.view()?;
    let score = store::score(&view, score_id)?;
    let (tasks, _) = store::readable_tasks(&view, &score)?;
    let mut summary = Summary { score: score_id.to_owned(), interrupted, ..Summary::default() };
    summary.score_status = score.status.to_string();
    for t in &tasks {
        summary.tasks.entry(t.status.to_string()).or_default().push(t.id.clone());
        for a in &t.attempts {
            let u = summary.usage.entry(a.performer.clone()).or_default();
            let used = crate::model::budget::ledger::usage_of(a);
            u.input_tokens += used.input;
            u.cache_read_tokens += used.cache_read;
            u.cache_write_tokens += used.cache_write;
            u.output_tokens += used.output;
            match a.cost_usd {
                Some(c) => u.cost_usd += c,
                None if used.total() > 0 => u.unknown_cost_attempts += 1,
                None => {}
            }
        }
        if t.checkpoint && t.status == TaskStatus::Merged && !t.checkpoint_released() {
            summary.checkpoints.push(t.id.clone());
        }
    }
    Ok(summary)
}
