//! What the team learned about each performer: `stats/performers/<name>.toml`.
//!
//! Every terminal outcome of a task counts for the performer of its last attempt, by the
//! task's kind and each of its languages (or none): merged (and whether first time), the
//! reworks it took, blocked, reverted, and what the merged tasks cost (the cost of all their
//! attempts, when it is known: [`ledger::task_cost`]). Routing reads the success rate and the
//! cost per merged task from here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::budget::ledger;
use super::{Task, TaskKind};

/// Counts for one kind and language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub merged: u32,
    pub first_time: u32,
    pub reworks: u32,
    pub blocked: u32,
    pub reverted: u32,
    /// What the merged tasks whose cost is known cost, in millionths of a dollar (an integer,
    /// so clones add it up exactly when `sync` merges their records).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub cost_micro_usd: u64,
    /// How many merged tasks `cost_micro_usd` is the cost of.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub costed: u32,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

impl Counts {
    /// Results that stood, and results that ended.
    pub fn successes_of(&self) -> (u32, u32) {
        (self.merged.saturating_sub(self.reverted), self.merged + self.blocked)
    }

    /// Count the cost of one merged task.
    fn add_cost(&mut self, usd: f64) {
        // Rounded to a millionth of a dollar; a cost that is not a finite amount is not counted.
        if usd.is_finite() && usd >= 0.0 {
            self.cost_micro_usd = self.cost_micro_usd.saturating_add((usd * 1e6).round() as u64);
            self.costed += 1;
        }
    }
}

/// A terminal outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Merged,
    Blocked,
    Reverted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformerStats {
    pub format: u32,
    pub performer: String,
    /// Keyed `<kind>` or `<kind>/<language>`.
    #[serde(default)]
    pub by: BTreeMap<String, Counts>,
    /// Set by the store on every write; see [`crate::model::clock`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<crate::model::clock::SyncMeta>,
}

impl PerformerStats {
    pub fn new(performer: &str) -> PerformerStats {
        PerformerStats {
            format: super::FORMAT as u32,
            performer: performer.to_owned(),
            by: BTreeMap::new(),
            sync: None,
        }
    }

    /// The keys a task counts under.
    pub fn keys(kind: TaskKind, languages: &[String]) -> Vec<String> {
        if languages.is_empty() {
            vec![kind.as_str().to_owned()]
        } else {
            languages.iter().map(|l| format!("{}/{l}", kind.as_str())).collect()
        }
    }

    /// Count `outcome` of `task`.
    pub fn record(&mut self, task: &Task, outcome: Outcome) {
        let attempts = u32::try_from(task.attempts.len()).unwrap_or(u32::MAX);
        let cost = ledger::task_cost(task);
        for key in Self::keys(task.kind, &task.languages) {
            let c = self.by.entry(key).or_default();
            match outcome {
                Outcome::Merged => {
                    c.merged += 1;
                    c.first_time += u32::from(attempts <= 1);
                    c.reworks += attempts.saturating_sub(1);
                    if let Some(usd) = cost {
                        c.add_cost(usd);
                    }
                }
                Outcome::Blocked => c.blocked += 1,
                Outcome::Reverted => c.reverted += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TaskStatus;

    #[test]
    fn a_merged_task_counts_its_cost_only_when_it_is_known() {
        let mut task = crate::model::task::sample(TaskStatus::Merged);
        let mut first = crate::model::task::sample_attempt("p");
        (first.input_tokens, first.cost_usd) = (Some(1000), Some(0.25));
        let mut second = first.clone();
        second.cost_usd = Some(0.5);
        task.attempts = vec![first, second];
        let mut stats = PerformerStats::new("p");
        stats.record(&task, Outcome::Merged);
        task.attempts[1].cost_usd = None;
        stats.record(&task, Outcome::Merged);
        stats.record(&task, Outcome::Blocked);
        for c in stats.by.values() {
            assert_eq!((c.merged, c.costed, c.cost_micro_usd), (2, 1, 750_000), "{c:?}");
        }
        let text = toml::to_string(&PerformerStats::new("q")).expect("stats serialise");
        assert!(!text.contains("cost"), "no cost learned, no keys written:\n{text}");
    }
}
