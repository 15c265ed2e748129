//! Reconciling a Score's tasks with the rules, from the state alone: which pending tasks are
//! ready, which failed results go back for rework and which are blocked, and when the Score is
//! done. Every decision is written through a transaction; nothing is kept in memory, so a
//! crashed run resumes from whatever the state says.

use super::ConductorError;
use crate::approval::integration_branch;
use crate::git::RefUpdate;
use crate::model::handover::Delivery;
use crate::model::{AttemptOutcome, DecisionKind, Score, ScoreStatus, Task, TaskStatus};
use crate::performer::task_run::task_branch;
use crate::store::{self, Store, layout};

/// Whether `task` may start: every dependency merged, and past its checkpoint if it has one.
pub fn deps_done(task: &Task, tasks: &[Task]) -> bool {
    task.deps.iter().all(|d| {
        tasks
            .iter()
            .find(|t| &t.id == d)
            .is_some_and(|t| t.status == TaskStatus::Merged && (!t.checkpoint || t.checkpoint_released()))
    })
}

/// Finished runs of `task`: attempts that were not interrupted.
pub fn attempts_used(task: &Task) -> usize {
    task.attempts.iter().filter(|a| !matches!(a.outcome, AttemptOutcome::Interrupted | AttemptOutcome::Running)).count()
}

/// Performers whose run of `task` failed, to route around.
pub fn failed_performers(task: &Task) -> Vec<String> {
    let mut out: Vec<String> =
        task.attempts.iter().filter(|a| a.outcome == AttemptOutcome::Failed).map(|a| a.performer.clone()).collect();
    out.dedup();
    out
}

/// Apply the rules to every task not being worked on (`busy`). Returns whether anything was
/// written.
pub fn reconcile(store: &Store, score: &Score, tasks: &[Task], busy: &[String]) -> Result<bool, ConductorError> {
    let mut wrote = false;
    for task in tasks.iter().filter(|t| !busy.contains(&t.id)) {
        match task.status {
            TaskStatus::Pending if deps_done(task, tasks) => {
                set_status(store, task, TaskStatus::Ready, None)?;
                wrote = true;
            }
            TaskStatus::Failed | TaskStatus::Rejected | TaskStatus::Conflict => {
                if attempts_used(task) >= score.max_attempts as usize {
                    let why = format!("blocked after {} attempts: {}", attempts_used(task), why_not(store, task)?);
                    set_status(store, task, TaskStatus::Blocked, Some(why))?;
                } else {
                    rework(store, score, task)?;
                }
                wrote = true;
            }
            _ => {}
        }
    }
    let all_merged = tasks.iter().all(|t| t.status == TaskStatus::Merged);
    if all_merged && score.status == ScoreStatus::Running {
        let _written = store.transact(&format!("{} is done", score.id), |tx| {
            let mut s = store::score(tx, &score.id)?;
            if s.status == ScoreStatus::Running {
                s.transition(ScoreStatus::Done, tx.now)?;
                tx.put(&layout::score_file(&score.id), &s)?;
            }
            Ok::<_, ConductorError>(())
        })?;
        wrote = true;
    }
    Ok(wrote)
}

/// Why the task's last result was not accepted.
fn why_not(store: &Store, task: &Task) -> Result<String, ConductorError> {
    Ok(match task.status {
        TaskStatus::Failed => format!(
            "the last run failed: {}",
            task.attempts.last().and_then(|a| a.reason.as_deref()).unwrap_or("no reason recorded")
        ),
        TaskStatus::Conflict => format!(
            "the result conflicted with {} in: {}. It now starts again from the current integration branch; \
             redo the change there",
            integration_branch(&task.score),
            task.conflicts.join(", ")
        ),
        _ => {
            let decisions = store::decisions(&store.view()?)?;
            let last = decisions.iter().rev().find(|d| {
                d.kind == DecisionKind::Rejection
                    && d.task.as_deref() == Some(&task.id)
                    && d.score.as_deref() == Some(&task.score)
            });
            match last {
                Some(d) => format!("{} rejected it: {}", d.actor, d.rationale),
                None => "it was rejected".to_owned(),
            }
        }
    })
}

/// Send the task back for another attempt with the reason in its prompt. Its claim is dropped
/// so routing may pick another performer. A conflicted task's branch restarts from the
/// integration tip (its old result is kept under `refs/maestro/keep/`).
fn rework(store: &Store, score: &Score, task: &Task) -> Result<(), ConductorError> {
    let reason = why_not(store, task)?;
    if task.status == TaskStatus::Conflict {
        restart_branch(store, score, task)?;
    }
    let (score_id, id) = (task.score.as_str(), task.id.as_str());
    let _written = store.transact(&format!("rework {score_id}/{id}"), |tx| {
        let mut t = store::task(tx, score_id, id)?;
        if !matches!(t.status, TaskStatus::Failed | TaskStatus::Rejected | TaskStatus::Conflict) {
            return Ok(());
        }
        t.transition(TaskStatus::Ready, tx.now)?;
        t.claim = None;
        t.rework = Some(reason.clone());
        t.passed.clear();
        tx.put(&layout::task_file(score_id, id), &t)?;
        // The next performer gets a handover packet with the reason and what was tried.
        let actor = store.session.actor.clone();
        crate::memory::handover::create(tx, score_id, Some(task), Delivery::Pull, None, &reason, &actor)?;
        Ok::<_, ConductorError>(())
    })?;
    Ok(())
}

fn restart_branch(store: &Store, score: &Score, task: &Task) -> Result<(), ConductorError> {
    let repo = &store.repo;
    let branch = format!("refs/heads/{}", task_branch(&score.id, &task.id));
    let integration = format!("refs/heads/{}", integration_branch(&score.id));
    let (Some(old), Some(tip)) = (repo.read_ref(&branch)?, repo.read_ref(&integration)?) else { return Ok(()) };
    store.keep(old)?;
    let identity = (store.session.actor.as_str(), store.session.email.as_str());
    let update =
        RefUpdate { name: &branch, expected: Some(old), new: tip, log_message: "maestro: restart after a conflict" };
    repo.cas_update(&update, identity, store.session.now().as_second())
        .map_err(|e| ConductorError::Other(e.to_string()))?;
    if let Some(worktree) = repo.worktree_with_branch(&branch)? {
        repo.reset_checkout(&worktree, tip)?;
    }
    Ok(())
}

/// Move the task to `status`, with a decision saying why when there is a reason.
fn set_status(store: &Store, task: &Task, status: TaskStatus, why: Option<String>) -> Result<(), ConductorError> {
    let (score_id, id) = (task.score.as_str(), task.id.as_str());
    let actor = store.session.actor.clone();
    let _written = store.transact(&format!("{score_id}/{id} is {status}"), |tx| {
        let mut t = store::task(tx, score_id, id)?;
        if t.status != task.status {
            return Ok(());
        }
        t.transition(status, tx.now)?;
        tx.put(&layout::task_file(score_id, id), &t)?;
        if status == TaskStatus::Blocked {
            store::record_outcome(tx, &t, crate::model::stats::Outcome::Blocked)?;
        }
        if let Some(why) = &why {
            let mut d =
                store::new_decision(tx, DecisionKind::Rejection, format!("{score_id}/{id} is {status}"), &actor)
                    .about(score_id, Some(id));
            d.rationale.clone_from(why);
            store::append_decision(tx, &d)?;
        }
        Ok::<_, ConductorError>(())
    })?;
    Ok(())
}
