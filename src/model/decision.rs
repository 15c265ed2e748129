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
    /// A person let a Score spend more (`git maestro budget raise`).
    Budget,
}

impl DecisionKind {
    /// Every kind name, for help text and errors.
    pub const NAMES: &[&str] =
        &["assignment", "approval", "rejection", "merge", "rollback", "design", "handover", "lesson", "plan", "budget"];

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
            "budget" => DecisionKind::Budget,
            _ => return None,
        })
    }

    /// The name used in files and output.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Whether only the command that makes this kind of record may write it: approvals and
    /// rejections (`approve`, `reject`, the approval chain), merges and landings (`merge`,
    /// `land`), rollbacks (`rollback`), budget raises (`budget raise`) and assignments (the run
    /// loop). `decide`, on the command
    /// line and over MCP, refuses these kinds, so nobody can forge the records that `land`,
    /// `status` and the pre-push verifier trust.
    pub fn is_system(self) -> bool {
        match self {
            DecisionKind::Assignment
            | DecisionKind::Approval
            | DecisionKind::Rejection
            | DecisionKind::Merge
            | DecisionKind::Rollback
            | DecisionKind::Budget => true,
            DecisionKind::Design | DecisionKind::Handover | DecisionKind::Lesson | DecisionKind::Plan => false,
        }
    }

    /// Whether a task's prompt may recall decisions of this kind (`memory::retrieval`).
    pub fn is_recalled(self) -> bool {
        matches!(self, DecisionKind::Design | DecisionKind::Lesson)
    }

    /// The kinds `decide` may write (the others are [system kinds](Self::is_system)).
    pub fn open_names() -> Vec<&'static str> {
        Self::NAMES.iter().copied().filter(|n| Self::parse(n).is_some_and(|k| !k.is_system())).collect()
    }
}

/// A decision kind `decide` may write, as the command line and the MCP tool name it: a kind
/// that is not a [system kind](DecisionKind::is_system). `landing` is named here only so that
/// asking for it gets the system-kind answer (a landing is recorded as a `merge` by `land`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenKind(DecisionKind);

/// Why a kind name is not an [`OpenKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KindError {
    #[error("unknown decision kind {0:?}")]
    Unknown(String),
    #[error("{0} decisions are recorded only by the command that makes them")]
    System(&'static str),
}

impl OpenKind {
    /// A design decision.
    pub const DESIGN: OpenKind = OpenKind(DecisionKind::Design);
    /// A lesson learned.
    pub const LESSON: OpenKind = OpenKind(DecisionKind::Lesson);

    /// The kind `name` names, if `decide` may write it.
    pub fn parse(name: &str) -> Result<OpenKind, KindError> {
        if name == "landing" {
            return Err(KindError::System("landing"));
        }
        let kind = DecisionKind::parse(name).ok_or_else(|| KindError::Unknown(name.to_owned()))?;
        OpenKind::try_from(kind)
    }

    /// The decision kind.
    pub fn kind(self) -> DecisionKind {
        self.0
    }
}

impl TryFrom<DecisionKind> for OpenKind {
    type Error = KindError;

    fn try_from(kind: DecisionKind) -> Result<OpenKind, KindError> {
        if kind.is_system() { Err(KindError::System(kind.as_str())) } else { Ok(OpenKind(kind)) }
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

/// A decision as stored at `decisions/<a>/<b>/<c>/<id>.toml`.
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

    #[test]
    fn system_kinds_are_not_open() {
        for name in ["approval", "rejection", "merge", "rollback", "assignment", "landing"] {
            assert!(matches!(OpenKind::parse(name), Err(KindError::System(_))), "{name}");
        }
        for name in ["design", "lesson", "plan", "handover"] {
            assert_eq!(OpenKind::parse(name).map(|k| k.kind().as_str()), Ok(name));
        }
        assert_eq!(OpenKind::parse("vibes"), Err(KindError::Unknown("vibes".into())));
        assert_eq!(DecisionKind::open_names(), ["design", "handover", "lesson", "plan"]);
        assert!(!OpenKind::DESIGN.kind().is_system() && !OpenKind::LESSON.kind().is_system());
    }
}
