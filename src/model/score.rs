//! A Score: the plan of one requirement, and its lifecycle.
//!
//! ```text
//! draft -> approved -> running -> done | failed | rolled-back ; done | rolled-back -> landed
//! landed | done | rolled-back -> running   (a rollback or rework after landing or finishing)
//! ```

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Where a Score is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreStatus {
    Draft,
    Approved,
    Running,
    Done,
    Failed,
    RolledBack,
    Landed,
}

impl ScoreStatus {
    /// The name used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreStatus::Draft => "draft",
            ScoreStatus::Approved => "approved",
            ScoreStatus::Running => "running",
            ScoreStatus::Done => "done",
            ScoreStatus::Failed => "failed",
            ScoreStatus::RolledBack => "rolled-back",
            ScoreStatus::Landed => "landed",
        }
    }

    /// Whether the lifecycle allows `self -> to`.
    pub fn can_become(self, to: ScoreStatus) -> bool {
        use ScoreStatus::*;
        matches!(
            (self, to),
            (Draft, Approved)
                | (Approved, Running)
                | (Running, Done | Failed | RolledBack | Landed)
                | (Failed, Running)
                | (Done, Landed | RolledBack | Running)
                | (RolledBack, Landed | Running)
                | (Landed, Running | RolledBack)
        )
    }
}

impl std::fmt::Display for ScoreStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who approves: a person, or nobody (automatic). Used for plans, and for knowledge entries
/// agents propose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanApproval {
    #[default]
    Human,
    Auto,
}

impl PlanApproval {
    /// The name used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanApproval::Human => "human",
            PlanApproval::Auto => "auto",
        }
    }
}

/// What the scheduler does with tasks whose scopes overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictPolicy {
    Serialize,
    Warn,
}

impl ConflictPolicy {
    /// The name used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictPolicy::Serialize => "serialize",
            ConflictPolicy::Warn => "warn",
        }
    }
}

/// A Score as stored at `scores/<score>/score.toml`. Its tasks are stored beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Score {
    pub format: u32,
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub requirement: String,
    pub target: String,
    pub plan_approval: PlanApproval,
    /// Whether knowledge entries proposed by this Score's agents need a person to accept them.
    #[serde(default)]
    pub kb_approval: PlanApproval,
    pub approval: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_merge_checks: Vec<String>,
    pub conflict_policy: ConflictPolicy,
    pub max_attempts: u32,
    /// The caps the Score sets for itself (they only tighten trusted config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<super::budget::score::ScoreBudget>,
    /// What people raised its budget by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raises: Vec<super::budget::score::Raise>,
    pub status: ScoreStatus,
    /// Task ids in the order the user wrote them.
    pub tasks: Vec<String>,
    /// The commit the integration branch started from, once it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The landing approval in force: a person approved landing the integration branch at
    /// this tip. Any later merge or revert moves the tip, so the approval no longer applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landing: Option<LandingApproval>,
    /// The last landing: the integration tip that was landed and the target's new tip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed: Option<Landed>,
    /// The pull request from the integration branch to the target, for landing with `--pr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr: Option<super::PullRequest>,
    pub created: Timestamp,
    pub updated: Timestamp,
    /// Set by the store on every write; see [`crate::model::clock`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<crate::model::clock::SyncMeta>,
}

/// A person's approval to land the integration branch at one tip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandingApproval {
    pub actor: String,
    pub at: Timestamp,
    /// The approval decision.
    pub decision: String,
    /// The integration tip approved.
    pub integration: String,
}

/// What a landing did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Landed {
    /// The integration tip landed.
    pub integration: String,
    /// The target's tip after landing (the integration tip itself when fast-forwarded).
    pub commit: String,
    pub at: Timestamp,
}

/// A refused change to a Score.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("score {score} cannot go from {from} to {to}")]
pub struct ScoreTransitionError {
    pub score: String,
    pub from: ScoreStatus,
    pub to: ScoreStatus,
}

impl Score {
    /// Move to `to` if the lifecycle allows it.
    pub fn transition(&mut self, to: ScoreStatus, now: Timestamp) -> Result<(), ScoreTransitionError> {
        if !self.status.can_become(to) {
            return Err(ScoreTransitionError { score: self.id.clone(), from: self.status, to });
        }
        self.status = to;
        self.updated = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_must_be_approved_before_it_runs() {
        use ScoreStatus::*;
        assert!(!Draft.can_become(Running));
        assert!(Draft.can_become(Approved));
        assert!(Approved.can_become(Running));
        assert!(Done.can_become(Landed));
        assert!(!Landed.can_become(Draft));
    }
}
