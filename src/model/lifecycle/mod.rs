//! The lifecycle kernel (DESIGN.md §12.1): the one owner of every change of status.
//!
//! Each event (start, finish, a verdict, merge, conflict, revert, rework, block, release, plan
//! and landing approval, land, …) is a function from the records it concerns and the event to
//! the new records, or a typed [`Refusal`] with a hint. Every guard lives here: the plan is
//! approved, the dependencies are merged, a lease is live, a task is not merged twice, a
//! landing approval names the integration tip being landed. `run` and the single commands call
//! the same functions, so the step-by-step path and the loop cannot disagree.
//!
//! Readiness is derived: a pending task whose dependencies are merged (and past their
//! checkpoints) may be started by any command; nothing has to write `ready` first.
//!
//! Pure: no I/O. Callers pass the time, and facts such as a lease's liveness, in.

use jiff::Timestamp;

mod handover;
mod pr;
mod rework;
mod score;

pub use handover::{answer_handover, deliver_handover, expire_handover, handover_is_late, may_deliver_handover};
pub use pr::{PrNext, after_sendback, blocked_by_pr, sent_back, spent};
pub use rework::{
    FreshBranch, SentBack, UNCHANGED_REWORK, attempts_used, fresh_branch, post_merge_failed, sent_back_results,
};
pub use score::{
    ScoreApproval, approve_score, can_land, fail_score, finish_score, landed, settle_status, start_score, undo_land,
};

use super::clock::Hlc;
use super::lease::{Lease, Liveness};
use super::score::ScoreTransitionError;
use super::task::{Attempt, AttemptOutcome, Claim, TaskError};
use super::{Score, ScoreStatus, Task, TaskStatus};

/// Why an event cannot happen. Every refusal names what to do instead ([`Refusal::hint`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the plan of {score} is not approved yet")]
    PlanNotApproved { score: String },
    #[error("{task} waits for {}", .deps.join(", "))]
    NotReady { task: String, deps: Vec<String> },
    #[error("{task} is {status}: its result waits for approval or merge")]
    HasResult { task: String, status: TaskStatus },
    #[error("{task} is merged; roll it back first to redo it")]
    AlreadyMerged { task: String },
    #[error("{task} is being run by {holder}")]
    Running { task: String, holder: String },
    #[error("{task} is claimed by {holder} on another machine")]
    ClaimedElsewhere { task: String, holder: String },
    #[error("{task} is {status}; only a submitted result can be {verb}")]
    NotSubmitted { task: String, status: TaskStatus, verb: &'static str },
    #[error("{task} is {status}; only an approved task can be merged")]
    NotApproved { task: String, status: TaskStatus },
    #[error("{task} is {status}; only a merged task can be rolled back")]
    NotMerged { task: String, status: TaskStatus },
    #[error("{score} cannot land yet: {} not merged", .active.join(", "))]
    Unfinished { score: String, active: Vec<String> },
    #[error("{score} has nothing merged to land")]
    NothingMerged { score: String },
    #[error("landing {score} needs Score-level approval")]
    LandingNotApproved { score: String },
    #[error("the landing approval of {score} is for an older integration tip ({approved}); it moved since")]
    LandingStale { score: String, approved: String },
    #[error("landing {score} at this integration tip is already approved")]
    AlreadyApproved { score: String },
    #[error("{score} is {status}")]
    ScoreClosed { score: String, status: ScoreStatus },
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error(transparent)]
    Score(#[from] ScoreTransitionError),
}

impl Refusal {
    /// The next command to run, where there is one.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Refusal::PlanNotApproved { score } => format!("run `git maestro approve {score}` first"),
            Refusal::NotReady { task, .. } => {
                format!("run the tasks it depends on first (`git maestro status`), then `git maestro task run {task}`")
            }
            Refusal::HasResult { task, .. } => {
                format!("review it with `git maestro task review {task}`, or `git maestro reject {task} -m <why>`")
            }
            Refusal::AlreadyMerged { task } => format!("run `git maestro rollback {task}` to undo the merge"),
            Refusal::Running { task, .. } => {
                format!("wait for that run, or stop it; then `git maestro task run {task}`")
            }
            Refusal::ClaimedElsewhere { .. } => "run `git maestro sync` to see where it stands".into(),
            Refusal::NotSubmitted { task, .. } => format!("run it first: `git maestro task run {task}`"),
            Refusal::NotApproved { task, .. } => format!("approve it first: `git maestro approve {task}`"),
            Refusal::NotMerged { .. } => "see `git maestro status`".into(),
            Refusal::Unfinished { score, .. } => format!("run `git maestro run {score}` to finish its tasks"),
            Refusal::NothingMerged { score } => format!("run `git maestro run {score}` first"),
            Refusal::LandingNotApproved { score } | Refusal::LandingStale { score, .. } => {
                format!(
                    "review the integration branch, then run `git maestro approve {score}`, or land it through a \
                     pull request: `git maestro land {score} --pr`"
                )
            }
            Refusal::AlreadyApproved { score } => format!("run `git maestro land {score}`"),
            Refusal::ScoreClosed { .. } | Refusal::Task(_) | Refusal::Score(_) => return None,
        })
    }
}

/// Statuses a task is reworked from: its last result was not accepted, or was reverted.
const REWORK: [TaskStatus; 5] =
    [TaskStatus::Failed, TaskStatus::Rejected, TaskStatus::Conflict, TaskStatus::Blocked, TaskStatus::Reverted];

/// The dependencies of `task` that are not merged yet (or whose checkpoint is not released).
pub fn waiting_for(task: &Task, tasks: &[Task]) -> Vec<String> {
    task.deps
        .iter()
        .filter(|d| {
            !tasks
                .iter()
                .find(|t| &t.id == *d)
                .is_some_and(|t| t.status == TaskStatus::Merged && (!t.checkpoint || t.checkpoint_released()))
        })
        .cloned()
        .collect()
}

/// Whether `task` may start now: the plan is approved, its dependencies are merged, it has no
/// result waiting, and no live run holds it. `lease` is the liveness of its current lease.
pub fn can_start(score: &Score, tasks: &[Task], task: &Task, lease: Liveness) -> Result<(), Refusal> {
    if score.status == ScoreStatus::Draft {
        return Err(Refusal::PlanNotApproved { score: score.id.clone() });
    }
    match task.status {
        TaskStatus::Submitted | TaskStatus::Approved => {
            return Err(Refusal::HasResult { task: task.address(), status: task.status });
        }
        TaskStatus::Merged => return Err(Refusal::AlreadyMerged { task: task.address() }),
        TaskStatus::Running if lease != Liveness::Dead => {
            let holder = task.claim.as_ref().map_or_else(String::new, |c| c.holder.clone());
            let holder = match (&task.lease, lease) {
                (Some(l), Liveness::Foreign) => format!("{holder} on {}", l.origin.host),
                _ => holder,
            };
            return Err(Refusal::Running { task: task.address(), holder });
        }
        _ => {}
    }
    let deps = waiting_for(task, tasks);
    if !deps.is_empty() {
        return Err(Refusal::NotReady { task: task.address(), deps });
    }
    Ok(())
}

/// A run that is about to start.
pub struct Start<'a> {
    pub holder: &'a str,
    pub clone: &'a str,
    pub op: &'a str,
    pub clock: Hlc,
    pub attempt: Attempt,
    pub lease: Lease,
}

/// Start a run of `task`: claim it, move it to `running`, open the attempt and take the lease.
/// A task whose previous run died is taken over (its attempt is recorded as interrupted).
/// A task whose last result conflicted starts on a fresh branch (see [`fresh_branch`]);
/// its conflicts are cleared. The Score runs while a task does (`score::task_started`).
/// Returns whether the claim is new (an assignment decision is due).
pub fn start(
    score: &mut Score,
    tasks: &[Task],
    task: &mut Task,
    lease: Liveness,
    run: Start<'_>,
    now: Timestamp,
) -> Result<bool, Refusal> {
    can_start(score, tasks, task, lease)?;
    if task.status == TaskStatus::Running {
        interrupt(task, "its run stopped without recording an outcome (the process died)", now);
    }
    if let Some(claim) = &task.claim
        && claim.clone.as_deref().is_some_and(|c| c != run.clone)
        && !REWORK.contains(&task.status)
    {
        return Err(Refusal::ClaimedElsewhere { task: task.address(), holder: claim.holder.clone() });
    }
    if REWORK.contains(&task.status) || task.status == TaskStatus::Pending {
        let someone_else = |c: &Claim| c.holder != run.holder || c.clone.as_deref() != Some(run.clone);
        if REWORK.contains(&task.status) && task.claim.as_ref().is_some_and(someone_else) {
            // The claim of a finished run: whoever runs the rework, on whichever clone, takes
            // it over.
            task.claim = None;
        }
        task.transition(TaskStatus::Ready, now)?;
    }
    let claimed = task.claim(run.holder, Some(run.clone), run.op, run.clock, now)?;
    if task.status == TaskStatus::Ready {
        task.transition(TaskStatus::Assigned, now)?;
    }
    task.transition(TaskStatus::Running, now)?;
    task.passed.clear();
    task.conflicts.clear();
    task.attempts.push(run.attempt);
    task.lease = Some(run.lease);
    score::task_started(score, now)?;
    Ok(claimed)
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    Submitted,
    Failed(String),
    Interrupted(String),
    /// git-maestro stopped it at a budget cap: the task waits for a person to raise it.
    OverBudget(String),
}

/// Close the attempt `run` and move the task on: `submitted`, `failed`, `blocked` (over
/// budget), or back to `ready` (interrupted, claim dropped). The lease ends. An attempt a sync already ended (another
/// machine's claim won) is left as it is. Returns the attempt's index.
pub fn finish(task: &mut Task, run: &str, end: RunEnd, now: Timestamp) -> Option<usize> {
    let at = task.attempts.iter().rposition(|a| a.run == run)?;
    if task.lease.as_ref().is_some_and(|l| l.run == run) {
        task.lease = None;
    }
    if task.attempts[at].outcome != AttemptOutcome::Running {
        return Some(at);
    }
    let (status, outcome, reason) = match end {
        RunEnd::Submitted => (TaskStatus::Submitted, AttemptOutcome::Submitted, None),
        RunEnd::Failed(why) => (TaskStatus::Failed, AttemptOutcome::Failed, Some(why)),
        RunEnd::Interrupted(why) => (TaskStatus::Ready, AttemptOutcome::Interrupted, Some(why)),
        RunEnd::OverBudget(why) => (TaskStatus::Blocked, AttemptOutcome::Budget, Some(why)),
    };
    if task.status == TaskStatus::Running {
        task.status = status;
        task.updated = now;
    }
    // A failed rework is still a rework: the reason it was sent back stays for the next run
    // (see [`sent_back_results`]); `run` may replace it with the failure.
    if status == TaskStatus::Ready {
        task.claim = None;
    } else if status != TaskStatus::Failed {
        task.rework = None;
    }
    let attempt = &mut task.attempts[at];
    attempt.ended = Some(now);
    attempt.outcome = outcome;
    attempt.reason = reason;
    Some(at)
}

/// End every running attempt of `task` as interrupted, drop its lease and claim, and make it
/// ready again: its run is gone.
pub fn interrupt(task: &mut Task, why: &str, now: Timestamp) {
    for a in task.attempts.iter_mut().filter(|a| a.outcome == AttemptOutcome::Running) {
        a.outcome = AttemptOutcome::Interrupted;
        a.reason = Some(why.to_owned());
        a.ended = Some(now);
    }
    if task.status == TaskStatus::Running {
        task.status = TaskStatus::Ready;
        task.updated = now;
    }
    task.lease = None;
    task.claim = None;
}

/// Release a claim (`task release`). A running task is released only when its run is gone;
/// one whose result waits or is merged keeps the claim of who made it.
pub fn release(task: &mut Task, holder: Option<&str>, lease: Liveness, now: Timestamp) -> Result<bool, Refusal> {
    match task.status {
        TaskStatus::Submitted | TaskStatus::Approved => {
            Err(Refusal::HasResult { task: task.address(), status: task.status })
        }
        TaskStatus::Merged => Err(Refusal::AlreadyMerged { task: task.address() }),
        TaskStatus::Running if lease != Liveness::Dead => {
            let holder = task.claim.as_ref().map_or_else(String::new, |c| c.holder.clone());
            Err(Refusal::Running { task: task.address(), holder })
        }
        TaskStatus::Running => {
            interrupt(task, "released: its run was gone", now);
            Ok(true)
        }
        _ => Ok(task.release(holder, now)?),
    }
}

/// A verdict on the submitted result of `run`: approved (every step passed) or rejected.
/// `passed` records the steps passed so far when the chain goes on.
pub fn verdict(
    task: &mut Task,
    approve: Option<bool>,
    passed: Option<&[String]>,
    now: Timestamp,
) -> Result<(), Refusal> {
    if task.status != TaskStatus::Submitted {
        let verb = if approve == Some(false) { "rejected" } else { "approved" };
        return Err(Refusal::NotSubmitted { task: task.address(), status: task.status, verb });
    }
    if let Some(approve) = approve {
        task.transition(if approve { TaskStatus::Approved } else { TaskStatus::Rejected }, now)?;
    }
    if let Some(passed) = passed {
        task.passed = passed.to_vec();
    }
    task.updated = now;
    Ok(())
}

/// What a person's `approve <score>/<task>` or `reject` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HumanVerdict {
    /// The merged checkpoint task's dependants may start.
    CheckpointReleased,
    /// The `human` step passed; later steps of the chain still run.
    StepPassed,
    /// The task is approved or rejected outright.
    Decided,
}

/// A person's verdict. An approval at a `human` step with more steps after it records the step
/// as passed; anywhere else it decides outright (a person may always vouch for a result).
pub fn human_verdict(
    task: &mut Task,
    steps: &[String],
    approve: bool,
    now: Timestamp,
) -> Result<HumanVerdict, Refusal> {
    if approve && task.checkpoint && task.status == TaskStatus::Merged && !task.checkpoint_released() {
        task.passed.push(super::task::CHECKPOINT.to_owned());
        task.updated = now;
        return Ok(HumanVerdict::CheckpointReleased);
    }
    let done = task.steps_passed(steps);
    let human = steps[done..].iter().position(|s| s == "human").map(|k| done + k);
    match human {
        Some(k) if approve && task.status == TaskStatus::Submitted && k + 1 < steps.len() => {
            verdict(task, None, Some(&steps[..=k]), now)?;
            Ok(HumanVerdict::StepPassed)
        }
        _ => {
            verdict(task, Some(approve), None, now)?;
            Ok(HumanVerdict::Decided)
        }
    }
}

/// Before a merge: the task must be approved.
pub fn can_merge(task: &Task) -> Result<(), Refusal> {
    match task.status {
        TaskStatus::Approved => Ok(()),
        TaskStatus::Merged => Err(Refusal::AlreadyMerged { task: task.address() }),
        status => Err(Refusal::NotApproved { task: task.address(), status }),
    }
}

/// The approved task is merged as `commit`. Any landing approval of its Score is for an
/// older tip now.
pub fn merged(score: &mut Score, task: &mut Task, commit: &str, now: Timestamp) -> Result<(), Refusal> {
    can_merge(task)?;
    task.transition(TaskStatus::Merged, now)?;
    task.merge_commit = Some(commit.to_owned());
    task.conflicts.clear();
    score.landing = None;
    Ok(())
}

/// The approved task conflicts with the integration branch in `paths`.
pub fn conflicted(task: &mut Task, paths: &[String], now: Timestamp) -> Result<(), Refusal> {
    can_merge(task)?;
    task.transition(TaskStatus::Conflict, now)?;
    task.conflicts = paths.to_vec();
    Ok(())
}

/// Merged tasks among `tasks` that depend on `task`, directly or through others.
pub fn merged_dependants(task: &str, tasks: &[Task]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut frontier = vec![task.to_owned()];
    while let Some(id) = frontier.pop() {
        let next: Vec<String> =
            tasks.iter().filter(|t| t.deps.contains(&id) && !found.contains(&t.id)).map(|t| t.id.clone()).collect();
        found.extend(next.iter().cloned());
        frontier.extend(next);
    }
    tasks.iter().filter(|t| found.contains(&t.id) && t.status == TaskStatus::Merged).map(|t| t.id.clone()).collect()
}

/// Before a rollback: the task must be merged.
pub fn can_revert(task: &Task) -> Result<(), Refusal> {
    if task.status != TaskStatus::Merged {
        return Err(Refusal::NotMerged { task: task.address(), status: task.status });
    }
    Ok(())
}

/// The merged task's merge is reverted. A landed Score is no longer what its target holds:
/// it goes back to `running` (or `rolled-back` when `whole`), to be landed again.
pub fn reverted(score: &mut Score, task: &mut Task, whole: bool, now: Timestamp) -> Result<(), Refusal> {
    can_revert(task)?;
    task.transition(TaskStatus::Reverted, now)?;
    score.landing = None;
    let to = if whole { ScoreStatus::RolledBack } else { ScoreStatus::Running };
    if score.status != to && matches!(score.status, ScoreStatus::Running | ScoreStatus::Done | ScoreStatus::Landed) {
        score.transition(to, now)?;
    }
    Ok(())
}

/// Send a task whose result was not accepted (or was reverted) back for another attempt, with
/// the reason for the next prompt. Its claim is dropped so routing may pick another performer.
pub fn rework(task: &mut Task, reason: &str, now: Timestamp) -> Result<(), Refusal> {
    if !REWORK.contains(&task.status) || task.status == TaskStatus::Blocked {
        return Err(
            TaskError::InvalidTransition { task: task.address(), from: task.status, to: TaskStatus::Ready }.into()
        );
    }
    task.transition(TaskStatus::Ready, now)?;
    task.claim = None;
    task.rework = Some(reason.to_owned());
    task.passed.clear();
    Ok(())
}

/// Whether `task` was blocked by a budget stop (its last attempt ended `budget`).
pub fn blocked_by_budget(task: &Task) -> bool {
    task.status == TaskStatus::Blocked && task.attempts.last().is_some_and(|a| a.outcome == AttemptOutcome::Budget)
}

/// A person raised the budget that blocked `task`: it is ready to go on, the next run told why
/// it was stopped (and resuming the agent's session where the adapter can).
pub fn unblock_for_budget(task: &mut Task, why: &str, now: Timestamp) -> Result<bool, Refusal> {
    if !blocked_by_budget(task) {
        return Ok(false);
    }
    task.transition(TaskStatus::Ready, now)?;
    task.claim = None;
    task.rework = Some(why.to_owned());
    Ok(true)
}

/// A task out of attempts is blocked for a person. A person's next run of it starts afresh:
/// it is held to no earlier reason.
pub fn block(task: &mut Task, now: Timestamp) -> Result<(), Refusal> {
    task.transition(TaskStatus::Blocked, now)?;
    task.rework = None;
    Ok(())
}

/// A pending task whose dependencies are merged becomes ready (what `run` shows).
pub fn ready(tasks: &[Task], task: &mut Task, now: Timestamp) -> Result<bool, Refusal> {
    if task.status != TaskStatus::Pending || !waiting_for(task, tasks).is_empty() {
        return Ok(false);
    }
    task.transition(TaskStatus::Ready, now)?;
    Ok(true)
}

/// Undo a step whose git effect could not happen (its ref had moved elsewhere): the records
/// go back to what they were before the step. `task` and `score` are the current records.
pub fn undo_merge(task: &mut Task, now: Timestamp) {
    if task.status == TaskStatus::Merged {
        task.status = TaskStatus::Approved;
        task.merge_commit = None;
        task.updated = now;
    }
}

/// Undo a revert whose branch move did not happen. A task the revert sent back (a failed
/// post-merge check made it `ready` with a rework reason, or `blocked`) is merged again too:
/// the intent is settled before any other write, so the task is as the revert left it.
pub fn undo_revert(task: &mut Task, now: Timestamp) {
    let sent_back = matches!(task.status, TaskStatus::Ready | TaskStatus::Blocked) && task.merge_commit.is_some();
    if task.status == TaskStatus::Reverted || sent_back {
        task.status = TaskStatus::Merged;
        task.rework = None;
        task.updated = now;
    }
}

#[cfg(test)]
mod tests;
