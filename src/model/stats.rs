//! What the team learned about each performer: `stats/performers/<name>.toml`.
//!
//! Every terminal outcome of a task counts for the performer of its last attempt, by the
//! task's kind and each of its languages (or none): merged (and whether first time), the
//! reworks it took, blocked, reverted. Routing reads the success rate from here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
}

impl Counts {
    /// Results that stood, and results that ended.
    pub fn successes_of(&self) -> (u32, u32) {
        (self.merged.saturating_sub(self.reverted), self.merged + self.blocked)
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
        for key in Self::keys(task.kind, &task.languages) {
            let c = self.by.entry(key).or_default();
            match outcome {
                Outcome::Merged => {
                    c.merged += 1;
                    c.first_time += u32::from(attempts <= 1);
                    c.reworks += attempts.saturating_sub(1);
                }
                Outcome::Blocked => c.blocked += 1,
                Outcome::Reverted => c.reverted += 1,
            }
        }
    }
}
