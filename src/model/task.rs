//! A task of a Score and its lifecycle (DESIGN.md §4).
//!
//! ```text
//! pending -> ready -> assigned -> running -> submitted -> approved -> merged -> reverted
//!              ^         |           |          |            |                     |
//!              |         +-- failed (attempt recorded) ------+--> ready (retry) | blocked
//!              +--------------- rejected | conflict | reverted (rework carries the reason)
//! running -> blocked   (a budget reached: a person raises it, then it is ready again)
//! ```
//!
//! Every change of status goes through [`Task::transition`], which refuses anything not on the
//! diagram with a typed error; which change happens when is decided by
//! [`crate::model::lifecycle`] alone. Claims are separate from status so a pending task can be
//! reserved.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::clock::Hlc;

/// Where a task is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskStatus {
    Pending,
    Ready,
    Assigned,
    Running,
    Submitted,
    Approved,
    Merged,
    Failed,
    Rejected,
    Conflict,
    Blocked,
    Reverted,
}

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TaskStatus; 12] = [
        TaskStatus::Pending,
        TaskStatus::Ready,
        TaskStatus::Assigned,
        TaskStatus::Running,
        TaskStatus::Submitted,
        TaskStatus::Approved,
        TaskStatus::Merged,
        TaskStatus::Failed,
        TaskStatus::Rejected,
        TaskStatus::Conflict,
        TaskStatus::Blocked,
        TaskStatus::Reverted,
    ];

    /// The name used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Ready => "ready",
            TaskStatus::Assigned => "assigned",
            TaskStatus::Running => "running",
            TaskStatus::Submitted => "submitted",
            TaskStatus::Approved => "approved",
            TaskStatus::Merged => "merged",
            TaskStatus::Failed => "failed",
            TaskStatus::Rejected => "rejected",
            TaskStatus::Conflict => "conflict",
            TaskStatus::Blocked => "blocked",
            TaskStatus::Reverted => "reverted",
        }
    }

    /// Whether the lifecycle allows `self -> to`.
    pub fn can_become(self, to: TaskStatus) -> bool {
        use TaskStatus::*;
        matches!(
            (self, to),
            (Pending, Ready)
                | (Ready, Assigned)
                | (Assigned, Ready | Running)
                | (Running, Submitted | Failed | Ready | Blocked)
                | (Submitted, Approved | Rejected | Failed)
                | (Approved, Merged | Conflict | Failed)
                | (Failed | Rejected | Conflict | Reverted, Ready | Blocked)
                | (Blocked, Ready)
                | (Merged, Reverted)
        )
    }

    /// Statuses in which the task can no longer be claimed.
    pub fn is_closed(self) -> bool {
        matches!(self, TaskStatus::Merged | TaskStatus::Reverted | TaskStatus::Blocked)
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of work a task is; performers declare the kinds they take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    Plan,
    Interface,
    Implement,
    Test,
    Refactor,
    Review,
    Docs,
    Debug,
}

impl TaskKind {
    /// Every kind, for validation messages.
    pub const NAMES: &[&str] = &["plan", "interface", "implement", "test", "refactor", "review", "docs", "debug"];

    /// The name used in files and output.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Parse a kind name.
    pub fn parse(name: &str) -> Option<TaskKind> {
        Some(match name {
            "plan" => TaskKind::Plan,
            "interface" => TaskKind::Interface,
            "implement" => TaskKind::Implement,
            "test" => TaskKind::Test,
            "refactor" => TaskKind::Refactor,
            "review" => TaskKind::Review,
            "docs" => TaskKind::Docs,
            "debug" => TaskKind::Debug,
            _ => return None,
        })
    }
}

/// Who holds a task, since when, and the operation that claimed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub holder: String,
    pub since: Timestamp,
    pub op: String,
    /// The hybrid time of the claim.
    #[serde(default)]
    pub clock: Hlc,
    /// The clone (machine) that made it; its runs never touch a task another clone holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone: Option<String>,
}

impl Claim {
    /// Whether this claim wins over `other` when two machines made both: the earlier by
    /// hybrid time, then by op id.
    pub fn precedes(&self, other: &Claim) -> bool {
        (self.clock, &self.op) < (other.clock, &other.op)
    }
}

/// How one run of a performer on a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptOutcome {
    Running,
    Submitted,
    Failed,
    Interrupted,
    /// Stopped by git-maestro because it spent a budget ([`crate::model::budget`]).
    Budget,
}

impl AttemptOutcome {
    /// The name used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Running => "running",
            AttemptOutcome::Submitted => "submitted",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Interrupted => "interrupted",
            AttemptOutcome::Budget => "budget",
        }
    }
}

/// One run of a performer on a task: the medium-term record of what was tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    pub run: String,
    pub performer: String,
    pub adapter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter_version: Option<String>,
    pub started: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Timestamp>,
    pub outcome: AttemptOutcome,
    /// Why it failed, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The exit status as text: `0`, `1`, `signal 9`, `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The model the performer used, as its CLI reported it (else as configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Input tokens read fresh; cache reads and writes are counted apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    /// Output tokens, reasoning included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Dollars: the CLI's own figure where it gives one, else tokens × the configured price;
    /// `None` is unknown (no price for the model), never 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// The agent's own session id, for resuming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The commit holding the result on the task branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The performer's last message, shortened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Files changed outside the task's worktree during the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outside_writes: Vec<String>,
}

/// A task as stored at `scores/<score>/tasks/<task>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub format: u32,
    pub id: String,
    pub score: String,
    pub title: String,
    pub kind: TaskKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    #[serde(default)]
    pub spec: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acceptance: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub checkpoint: bool,
    pub status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// Paths that conflicted when merging into the integration branch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    /// The merge commit on the integration branch, once merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_commit: Option<String>,
    /// Why the last result was not accepted, for the next run's prompt (cleared once a run
    /// finishes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rework: Option<String>,
    /// The approval steps the current result has passed, in chain order (cleared by a new run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passed: Vec<String>,
    /// The lease of the run working in the task's worktree, while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<super::lease::Lease>,
    /// The pull request of the `pr` approval step, once opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr: Option<super::PullRequest>,
    pub updated: Timestamp,
    /// Set by the store on every write; see [`crate::model::clock`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<crate::model::clock::SyncMeta>,
}

/// The step a person passes (`git maestro approve`) to let a merged checkpoint task's
/// dependants start.
pub const CHECKPOINT: &str = "checkpoint";

/// A refused change to a task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    #[error("task {task} cannot go from {from} to {to}")]
    InvalidTransition { task: String, from: TaskStatus, to: TaskStatus },
    #[error("task {task} is already claimed by {holder} (since {since})")]
    AlreadyClaimed { task: String, holder: String, since: Timestamp },
    #[error("task {task} is claimed by {holder}, not by {requested}")]
    NotHolder { task: String, holder: String, requested: String },
    #[error("task {task} is {status} and can no longer be claimed")]
    Closed { task: String, status: TaskStatus },
    #[error("task {task} is running; it cannot be released until its run ends")]
    Running { task: String },
}

impl Attempt {
    /// A run of `performer` (through `adapter`, at `adapter_version`) that starts now.
    pub fn start(
        run: &str,
        performer: &str,
        adapter: &str,
        adapter_version: Option<String>,
        now: Timestamp,
    ) -> Attempt {
        Attempt {
            run: run.to_owned(),
            performer: performer.to_owned(),
            adapter: adapter.to_owned(),
            adapter_version,
            started: now,
            ended: None,
            outcome: AttemptOutcome::Running,
            reason: None,
            exit: None,
            duration_ms: None,
            model: None,
            input_tokens: None,
            cache_read_tokens: None,
            cache_write_tokens: None,
            output_tokens: None,
            cost_usd: None,
            session: None,
            commit: None,
            summary: None,
            outside_writes: Vec::new(),
        }
    }
}

impl Task {
    /// `score/task`, as users write it.
    pub fn address(&self) -> String {
        format!("{}/{}", self.score, self.id)
    }

    /// How many of the approval `steps` the current result has passed: its record, if it is
    /// a prefix of the chain (a chain changed since starts over).
    pub fn steps_passed(&self, steps: &[String]) -> usize {
        if steps.starts_with(&self.passed) { self.passed.len() } else { 0 }
    }

    /// Whether a person released this checkpoint task's dependants.
    pub fn checkpoint_released(&self) -> bool {
        self.passed.iter().any(|p| p == CHECKPOINT)
    }

    /// Whether the task has nothing to show beyond its status: pending, ready, reverted, or
    /// merged (a checkpoint: released), with no conflict a sync set aside. `status` lists only
    /// the tasks that are not quiet of a big Score.
    pub fn is_quiet(&self) -> bool {
        let settled = match self.status {
            TaskStatus::Pending | TaskStatus::Ready | TaskStatus::Reverted => true,
            TaskStatus::Merged => !self.checkpoint || self.checkpoint_released(),
            _ => false,
        };
        settled && self.sync.iter().all(|s| s.conflicts.is_empty())
    }

    /// Move to `to` if the lifecycle allows it.
    pub fn transition(&mut self, to: TaskStatus, now: Timestamp) -> Result<(), TaskError> {
        if !self.status.can_become(to) {
            return Err(TaskError::InvalidTransition { task: self.address(), from: self.status, to });
        }
        self.status = to;
        self.updated = now;
        Ok(())
    }

    /// Claim the task for `holder`. Claiming a task you already hold changes nothing and
    /// returns `false`. A ready task becomes assigned; a pending one stays pending, reserved.
    pub fn claim(
        &mut self,
        holder: &str,
        clone: Option<&str>,
        op: &str,
        clock: Hlc,
        now: Timestamp,
    ) -> Result<bool, TaskError> {
        if let Some(claim) = &self.claim {
            if claim.holder == holder && claim.clone.as_deref() == clone {
                return Ok(false);
            }
            return Err(TaskError::AlreadyClaimed {
                task: self.address(),
                holder: claim.holder.clone(),
                since: claim.since,
            });
        }
        if self.status.is_closed() {
            return Err(TaskError::Closed { task: self.address(), status: self.status });
        }
        if self.status == TaskStatus::Ready {
            self.transition(TaskStatus::Assigned, now)?;
        }
        self.claim = Some(Claim {
            holder: holder.to_owned(),
            since: now,
            op: op.to_owned(),
            clock,
            clone: clone.map(str::to_owned),
        });
        self.updated = now;
        Ok(true)
    }

    /// Whether another clone (another machine) holds the claim on this task.
    pub fn claimed_elsewhere(&self, clone: &str) -> bool {
        self.claim.as_ref().and_then(|c| c.clone.as_deref()).is_some_and(|c| c != clone)
    }

    /// Release the claim. With `holder`, only that holder may release. An unclaimed task changes
    /// nothing and returns `false`. An assigned task goes back to ready.
    pub fn release(&mut self, holder: Option<&str>, now: Timestamp) -> Result<bool, TaskError> {
        let Some(claim) = &self.claim else {
            return Ok(false);
        };
        if let Some(requested) = holder
            && requested != claim.holder
        {
            return Err(TaskError::NotHolder {
                task: self.address(),
                holder: claim.holder.clone(),
                requested: requested.to_owned(),
            });
        }
        if self.status == TaskStatus::Running {
            return Err(TaskError::Running { task: self.address() });
        }
        if self.status == TaskStatus::Assigned {
            self.transition(TaskStatus::Ready, now)?;
        }
        self.claim = None;
        self.updated = now;
        Ok(true)
    }
}

/// A minimal task `s/t` for tests.
#[cfg(test)]
pub(crate) fn sample(status: TaskStatus) -> Task {
    Task {
        format: 1,
        id: "t".into(),
        score: "s".into(),
        title: "T".into(),
        kind: TaskKind::Implement,
        languages: vec![],
        spec: String::new(),
        acceptance: vec![],
        scope: vec![],
        deps: vec![],
        checks: vec![],
        performer: None,
        approval: None,
        checkpoint: false,
        status,
        claim: None,
        attempts: vec![],
        conflicts: vec![],
        merge_commit: None,
        rework: None,
        passed: Vec::new(),
        lease: None,
        pr: None,
        updated: Timestamp::UNIX_EPOCH,
        sync: None,
    }
}

/// A finished attempt by `performer` for tests.
#[cfg(test)]
pub(crate) fn sample_attempt(performer: &str) -> Attempt {
    let mut a = Attempt::start("r", performer, "command", None, Timestamp::UNIX_EPOCH);
    a.ended = Some(Timestamp::UNIX_EPOCH);
    a.outcome = AttemptOutcome::Submitted;
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: TaskStatus) -> Task {
        sample(status)
    }

    #[test]
    fn only_settled_tasks_without_a_sync_conflict_are_quiet() {
        use TaskStatus::*;
        for (status, quiet) in [(Pending, true), (Ready, true), (Reverted, true), (Merged, true), (Running, false)] {
            assert_eq!(task(status).is_quiet(), quiet, "{status}");
        }
        let mut waiting = task(Merged);
        waiting.checkpoint = true;
        assert!(!waiting.is_quiet(), "a checkpoint waits for its release");
        waiting.passed.push(CHECKPOINT.into());
        assert!(waiting.is_quiet());
        let mut conflicted = task(Ready);
        let conflict = crate::model::clock::SyncConflict {
            field: "title".into(),
            kept: "\"a\"".into(),
            lost: "\"b\"".into(),
            lost_op: "op".into(),
        };
        conflicted.sync = Some(crate::model::clock::SyncMeta {
            clock: Default::default(),
            op: "op".into(),
            conflicts: vec![conflict],
        });
        assert!(!conflicted.is_quiet(), "a sync conflict is shown");
    }

    #[test]
    fn the_happy_path_is_allowed() {
        let mut t = task(TaskStatus::Pending);
        use TaskStatus::*;
        for to in [Ready, Assigned, Running, Submitted, Approved, Merged, Reverted] {
            t.transition(to, Timestamp::UNIX_EPOCH).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn transitions_off_the_diagram_are_typed_errors() {
        use TaskStatus::*;
        let mut t = task(Pending);
        let err = t.transition(Merged, Timestamp::UNIX_EPOCH).unwrap_err();
        assert_eq!(err, TaskError::InvalidTransition { task: "s/t".into(), from: Pending, to: Merged });
        assert_eq!(t.status, Pending, "a refused transition changes nothing");
        // Every terminal-ish status only leaves along the diagram.
        assert!(!Merged.can_become(Ready));
        assert!(Reverted.can_become(Ready), "rework after a revert");
        assert!(Failed.can_become(Blocked));
        let allowed = TaskStatus::ALL
            .iter()
            .flat_map(|a| TaskStatus::ALL.map(|b| (*a, b)))
            .filter(|(a, b)| a.can_become(*b))
            .count();
        assert!(Running.can_become(Blocked), "a budget stop");
        assert!(Reverted.can_become(Blocked), "a revert by a failed post-merge check, out of attempts");
        assert_eq!(allowed, 24, "the diagram has 24 edges; update this test when it changes");
    }

    #[test]
    fn a_claim_names_the_current_holder_to_the_loser() {
        let now = Timestamp::UNIX_EPOCH;
        let mut t = task(TaskStatus::Ready);
        assert_eq!(t.claim("alice", None, "op1", Hlc::default(), now), Ok(true));
        assert_eq!(t.status, TaskStatus::Assigned);
        assert_eq!(t.claim("alice", None, "op2", Hlc::default(), now), Ok(false), "re-claiming is a no-op");
        match t.claim("bob", None, "op3", Hlc::default(), now) {
            Err(TaskError::AlreadyClaimed { holder, .. }) => assert_eq!(holder, "alice"),
            other => panic!("expected AlreadyClaimed, got {other:?}"),
        }
        assert!(matches!(t.release(Some("bob"), now), Err(TaskError::NotHolder { .. })));
        assert_eq!(t.release(Some("alice"), now), Ok(true));
        assert_eq!(t.status, TaskStatus::Ready);
        assert_eq!(t.release(None, now), Ok(false));
    }

    #[test]
    fn pending_tasks_can_be_reserved_but_closed_ones_cannot() {
        let now = Timestamp::UNIX_EPOCH;
        let mut t = task(TaskStatus::Pending);
        assert_eq!(t.claim("alice", None, "op", Hlc::default(), now), Ok(true));
        assert_eq!(t.status, TaskStatus::Pending);
        let mut m = task(TaskStatus::Merged);
        assert!(matches!(m.claim("alice", None, "op", Hlc::default(), now), Err(TaskError::Closed { .. })));
        let mut r = task(TaskStatus::Running);
        r.claim = Some(Claim { holder: "a".into(), since: now, op: "o".into(), clock: Hlc::default(), clone: None });
        assert!(matches!(r.release(None, now), Err(TaskError::Running { .. })));
    }
}
