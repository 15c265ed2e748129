//! Rework: what a task sent back needs for its next attempt.
//!
//! - A failed post-merge check reverts the task's merge and sends the task back with the
//!   check's output ([`post_merge_failed`]), or blocks it once it has used its attempts.
//! - The next run of a task whose branch cannot simply go on starts from the integration tip
//!   ([`fresh_branch`]): a conflicted result is redone there, and a reverted one starts from its
//!   own change re-applied on the tip, so that its next merge brings the whole change again.
//! - A rework must change something ([`sent_back_results`]): a run sent back with a reason
//!   whose result is one the task already had is refused.
//!
//! Pure, as the rest of the lifecycle.

use jiff::Timestamp;

use super::{Refusal, block, rework};
use crate::model::task::{AttemptOutcome, TaskError};
use crate::model::{Task, TaskStatus};

/// Finished runs of `task`: attempts that were not interrupted (what `max_attempts` counts).
pub fn attempts_used(task: &Task) -> usize {
    task.attempts.iter().filter(|a| !matches!(a.outcome, AttemptOutcome::Interrupted | AttemptOutcome::Running)).count()
}

/// Where a task whose merge a failed post-merge check reverted went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SentBack {
    /// Ready again, with the check's output as the rework reason.
    Rework,
    /// Out of attempts: blocked for a person.
    Blocked,
}

/// A post-merge check failed and the merge of the (now `reverted`) task was reverted: the task
/// goes back for rework with `reason` (the check and its output) for the next prompt, or is
/// blocked when it has used `max_attempts` runs.
pub fn post_merge_failed(
    task: &mut Task,
    reason: &str,
    max_attempts: u32,
    now: Timestamp,
) -> Result<SentBack, Refusal> {
    if task.status != TaskStatus::Reverted {
        return Err(
            TaskError::InvalidTransition { task: task.address(), from: task.status, to: TaskStatus::Ready }.into()
        );
    }
    if attempts_used(task) >= max_attempts as usize {
        block(task, now)?;
        task.claim = None;
        return Ok(SentBack::Blocked);
    }
    rework(task, reason, now)?;
    Ok(SentBack::Rework)
}

/// How the next run of a task starts its branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreshBranch {
    /// On its branch as it is.
    Keep,
    /// From the integration tip: its last result conflicted with the integration branch, so
    /// building on it would conflict again.
    FromTip,
    /// From the integration tip with the change of its reverted merge `merge` re-applied (the
    /// revert of the revert): a result merged and then reverted, whose branch the integration
    /// branch already holds. Building on the old tip would make the next merge bring only the
    /// new commits, since the revert stays.
    Reapply { merge: String },
}

/// How the next run of `task` starts its branch. Checked before [`super::start`], which clears
/// the conflicts. Whether a `Reapply` is still due (the branch may have been restarted already
/// by an earlier run) is for the caller to see on the branch: only a branch the integration
/// branch holds whole is restarted, unless the task conflicted.
pub fn fresh_branch(task: &Task) -> FreshBranch {
    let reverted = task.merge_commit.clone().filter(|_| task.status != TaskStatus::Merged);
    match reverted {
        Some(merge) => FreshBranch::Reapply { merge },
        None if !task.conflicts.is_empty() => FreshBranch::FromTip,
        None => FreshBranch::Keep,
    }
}

/// The results a rework of `task` must differ from, newest last: when the task was sent back
/// with a reason (`rework`), the result that was sent back (its last submitted attempt) and
/// what each finished attempt after it left. Empty when the run is no rework: a first run, a
/// retry after a failure with no result, or a run a person asked for after a rollback (a
/// person's rollback is no verdict on the result). Call it on the task as the run started:
/// its last attempt is the running one.
pub fn sent_back_results(task: &Task) -> Vec<String> {
    if task.rework.is_none() {
        return Vec::new();
    }
    let earlier = &task.attempts[..task.attempts.len().saturating_sub(1)];
    let Some(result) = earlier.iter().rposition(|a| a.outcome == AttemptOutcome::Submitted) else {
        return Vec::new();
    };
    earlier[result..]
        .iter()
        .filter(|a| a.outcome != AttemptOutcome::Interrupted)
        .filter_map(|a| a.commit.clone())
        .collect()
}

/// Why a rework whose result is one of [`sent_back_results`] is refused.
pub const UNCHANGED_REWORK: &str = "the rework changed nothing since the result that was sent back";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::task::{sample, sample_attempt};

    const NOW: Timestamp = Timestamp::UNIX_EPOCH;

    fn attempt(outcome: AttemptOutcome, commit: Option<&str>) -> crate::model::Attempt {
        let mut a = sample_attempt("p");
        a.outcome = outcome;
        a.commit = commit.map(str::to_owned);
        a
    }

    fn reverted(attempts: usize) -> Task {
        let mut t = sample(TaskStatus::Reverted);
        t.merge_commit = Some("m1".into());
        t.attempts = (0..attempts).map(|_| attempt(AttemptOutcome::Submitted, Some("r1"))).collect();
        t
    }

    #[test]
    fn a_failed_post_merge_check_sends_the_task_back_with_its_output() {
        let mut t = reverted(1);
        assert_eq!(post_merge_failed(&mut t, "check test failed: boom", 3, NOW), Ok(SentBack::Rework));
        assert_eq!(t.status, TaskStatus::Ready);
        assert_eq!(t.rework.as_deref(), Some("check test failed: boom"));
        assert!(t.claim.is_none(), "routing may pick another performer");
        assert_eq!(fresh_branch(&t), FreshBranch::Reapply { merge: "m1".into() }, "its change is re-applied");
    }

    #[test]
    fn a_task_out_of_attempts_is_blocked_instead() {
        let mut t = reverted(3);
        assert_eq!(post_merge_failed(&mut t, "boom", 3, NOW), Ok(SentBack::Blocked));
        assert_eq!(t.status, TaskStatus::Blocked);
        assert_eq!(t.rework, None);
    }

    #[test]
    fn a_send_back_whose_revert_did_not_happen_is_undone_with_it() {
        for max in [3, 1] {
            let mut t = reverted(1);
            post_merge_failed(&mut t, "boom", max, NOW).expect("a failed merge is recorded");
            super::super::undo_revert(&mut t, NOW);
            assert_eq!(t.status, TaskStatus::Merged, "the branch still holds the merge");
            assert_eq!(t.rework, None);
        }
    }

    #[test]
    fn only_a_reverted_task_is_sent_back_by_a_post_merge_check() {
        let mut t = sample(TaskStatus::Merged);
        assert!(post_merge_failed(&mut t, "boom", 3, NOW).is_err());
        assert_eq!(t.status, TaskStatus::Merged, "a refusal changes nothing");
    }

    #[test]
    fn a_merged_task_keeps_its_branch_and_a_conflicted_one_starts_from_the_tip() {
        let mut t = sample(TaskStatus::Merged);
        t.merge_commit = Some("m1".into());
        assert_eq!(fresh_branch(&t), FreshBranch::Keep);
        let mut t = sample(TaskStatus::Conflict);
        t.conflicts = vec!["a.txt".into()];
        assert_eq!(fresh_branch(&t), FreshBranch::FromTip);
        assert_eq!(fresh_branch(&sample(TaskStatus::Rejected)), FreshBranch::Keep);
    }

    #[test]
    fn a_rework_must_differ_from_the_result_sent_back_and_what_came_after_it() {
        let mut t = sample(TaskStatus::Running);
        t.attempts = vec![
            attempt(AttemptOutcome::Submitted, Some("old")),
            attempt(AttemptOutcome::Submitted, Some("sent-back")),
            attempt(AttemptOutcome::Interrupted, Some("partial")),
            attempt(AttemptOutcome::Failed, Some("same-again")),
            attempt(AttemptOutcome::Running, None),
        ];
        assert!(sent_back_results(&t).is_empty(), "no reason given: no rework (a person's rollback)");
        t.rework = Some("rejected".into());
        assert_eq!(sent_back_results(&t), ["sent-back", "same-again"]);
        t.attempts = vec![attempt(AttemptOutcome::Failed, Some("x")), attempt(AttemptOutcome::Running, None)];
        assert!(sent_back_results(&t).is_empty(), "a retry after a failure had no result to change");
    }
}
