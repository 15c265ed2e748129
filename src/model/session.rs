//! The short-term memory of one run: `sessions/<score>/<a>/<b>/<task>/<run>.toml`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A progress note an agent reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub at: Timestamp,
    pub text: String,
}

/// What one run of a performer remembers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSession {
    pub format: u32,
    pub run: String,
    pub score: String,
    pub task: String,
    pub performer: String,
    /// The agent CLI's own session id, for resuming it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Subtasks the agent found and has not finished, top last (carried into the next run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<Note>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
    /// The agent's last word on where it stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Note>,
    /// Set by the store on every write; see [`crate::model::clock`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<crate::model::clock::SyncMeta>,
}

impl RunSession {
    /// An empty session record for `run`.
    pub fn new(run: &str, score: &str, task: &str, performer: &str) -> RunSession {
        RunSession {
            format: crate::model::FORMAT as u32,
            run: run.to_owned(),
            score: score.to_owned(),
            task: task.to_owned(),
            performer: performer.to_owned(),
            session: None,
            stack: Vec::new(),
            notes: Vec::new(),
            status: None,
            sync: None,
        }
    }
}
