//! Reconciling a Score's tasks with the rules, from the state alone: which pending tasks are
//! ready, which failed results go back for rework and which are blocked, and when the Score is
//! done. Every decision is written through a transaction; nothing is kept in memory, so a
//! crashed run resumes from whatever the state says.

use super::ConductorError;
use crate::approval::integration_branch;
use crate::model::handover::Delivery;
use crate::model::{AttemptOutcome, DecisionKind, Score, ScoreStatus, Task, TaskStatus, lifecycle};
use crate::store::{self, Store, layout};

/// Whether `task` may start: every dependency merged, and past its checkpoint if it has one.
pub fn deps_done(task: &Task, tasks: &[Task]) -> bool {
    lifecycle::waiting_for(task, tasks).is_empty()
}

pub use lifecycle::attempts_used;

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
                    rework(store, task)?;
                }
                wrote = true;
            }
            _ => {}
        }
    }
    let all_merged = tasks.iter().all(|t| t.status == TaskStatus::Merged);
    if all_merged && score.status == ScoreStatus::Running {
        let _written = store.transact(&format!("{} is done", score.id), |tx| {
            let (mut s, tasks) = store::score_with_readable_tasks(tx, &score.id)?;
            if lifecycle::finish_score(&mut s, &tasks, tx.now)? {
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
/// so routing may pick another performer. (A conflicted task's next run restarts its branch
/// from the integration tip: see [`lifecycle::fresh_branch`].)
fn rework(store: &Store, task: &Task) -> Result<(), ConductorError> {
    let reason = why_not(store, task)?;
    let (score_id, id) = (task.score.as_str(), task.id.as_str());
    let _written = store.transact(&format!("rework {score_id}/{id}"), |tx| {
        let mut t = store::task(tx, score_id, id)?;
        if t.status != task.status {
            return Ok(());
        }
        lifecycle::rework(&mut t, &reason, tx.now)?;
        tx.put(&layout::task_file(score_id, id), &t)?;
        // The next performer gets a handover packet with the reason and what was tried.
        let actor = store.session.actor.clone();
        crate::memory::handover::create(tx, score_id, Some(task), Delivery::Pull, None, &reason, &actor)?;
        Ok::<_, ConductorError>(())
    })?;
    Ok(())
}

/// Move the task to `status`, with a decision saying why when there is a reason.
fn set_status(store: &Store, task: &Task, status: TaskStatus, why: Option<String>) -> Result<(), ConductorError> {
    let (score_id, id) = (task.score.as_str(), task.id.as_str());
    let actor = store.session.actor.clone();
    let _written = store.transact(&format!("{score_id}/{id} is {status}"), |tx| {
        let (_, tasks) = store::score_with_readable_tasks(tx, score_id)?;
        let mut t = store::task(tx, score_id, id)?;
        if t.status != task.status {
            return Ok(());
        }
        match status {
            TaskStatus::Ready => _ = lifecycle::ready(&tasks, &mut t, tx.now)?,
            _ => lifecycle::block(&mut t, tx.now)?,
        }
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
