//! Decision records: the append-only log of who decided what, and why.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What a decision was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionKind {
    Assignment,
    Approval,
    Rejection,
    Merge,
    Rollback,
    Design,
    Handover,
    Lesson,
    Plan,
}

impl DecisionKind {
    /// Every kind name, for help text and errors.
    pub const NAMES: &[&str] =
        &["assignment", "approval", "rejection", "merge", "rollback", "design", "handover", "lesson", "plan"];

    /// Parse a kind name.
    pub fn parse(name: &str) -> Option<DecisionKind> {
        Some(match name {
            "assignment" => DecisionKind::Assignment,
            "approval" => DecisionKind::Approval,
            "rejection" => DecisionKind::Rejection,
            "merge" => DecisionKind::Merge,
            "rollback" => DecisionKind::Rollback,
            "design" => DecisionKind::Design,
            "handover" => DecisionKind::Handover,
            "lesson" => DecisionKind::Lesson,
            "plan" => DecisionKind::Plan,
            _ => return None,
        })
    }

    /// The name used in files and output.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// What a check run showed, kept with the verdict it supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The check's name in trusted config.
    pub check: String,
    /// `0`, `1`, `signal 9`, `timeout`.
    pub exit: String,
    pub duration_ms: u64,
    /// The git blob id of the full output (stdout then stderr), which stays in the local logs.
    pub digest: String,
    /// The end of the output.
    pub tail: String,
}

/// A decision as stored at `decisions/<aa>/<bb>/<id>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub format: u32,
    pub id: String,
    pub kind: DecisionKind,
    pub summary: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rationale: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<String>,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The commit it made or names: a merge, a revert, a landing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The operation that recorded it (the `Maestro-Op` trailer of its state commit).
    pub op: String,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
    /// For a verdict by a reviewer agent: who reviewed whose work, and what it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
}

/// An agent's review of another performer's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    pub reviewer: String,
    pub reviewer_vendor: String,
    /// The performer of the reviewed attempt.
    pub author: String,
    pub author_vendor: String,
    /// Whether reviewer and author come from different vendors.
    pub cross_vendor: bool,
    pub approve: bool,
    pub reasons: Vec<String>,
}

impl Decision {
    /// A decision with the required fields; set `rationale`, `score` and `task` as needed.
    pub fn new(id: String, kind: DecisionKind, summary: String, actor: String, op: String, at: Timestamp) -> Decision {
        Decision {
            format: crate::model::FORMAT as u32,
            id,
            kind,
            summary,
            rationale: String::new(),
            alternatives: Vec::new(),
            actor,
            score: None,
            task: None,
            commit: None,
            op,
            at,
            evidence: Vec::new(),
            review: None,
        }
    }

    /// About a Score, and optionally one of its tasks.
    pub fn about(mut self, score: &str, task: Option<&str>) -> Decision {
        self.score = Some(score.to_owned());
        self.task = task.map(str::to_owned);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for name in DecisionKind::NAMES {
            assert_eq!(DecisionKind::parse(name).map(DecisionKind::as_str), Some(*name));
        }
        assert_eq!(DecisionKind::parse("vibes"), None);
    }
}
