//! Long-term knowledge: `knowledge/<aa>/<bb>/<id>.toml`.
//!
//! An entry is accepted when a person adds it or accepts an agent's proposal. A retired entry,
//! or one another entry supersedes, stays in history but is never retrieved.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KnowledgeStatus {
    /// Proposed by an agent, waiting for a person (or the Score's policy) to accept it.
    Proposed,
    Accepted,
    Retired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Knowledge {
    pub format: u32,
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Files or globs it is about.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Where it came from: `person:<actor>`, `agent:<performer>`, `decision:<id>`.
    pub source: String,
    /// 0 to 1.
    pub confidence: f64,
    /// The entry this one replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    /// The entry that replaced this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    pub status: KnowledgeStatus,
    pub created: Timestamp,
    pub updated: Timestamp,
    /// Set by the store on every write; see [`crate::model::clock`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<crate::model::clock::SyncMeta>,
}

impl Knowledge {
    /// Whether retrieval may return it: accepted, and not superseded.
    pub fn is_live(&self) -> bool {
        self.status == KnowledgeStatus::Accepted && self.superseded_by.is_none()
    }
}
