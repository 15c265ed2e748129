//! Reconciling a Score's tasks with the rules, from the state alone: which pending tasks are
//! ready, which failed results go back for rework and which are blocked, and when the Score is
//! done. Every decision is written through a transaction; nothing is kept in memory, so a
//! crashed run resumes from whatever the state says.

use super::ConductorError;
use crate::kernel::sendback;
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
            _ if sendback::due(task) => {
                let why = sendback::reason(&store.view()?, task)?;
                if attempts_used(task) >= score.max_attempts as usize {
                    let why = format!("blocked after {} attempts: {why}", attempts_used(task));
                    set_status(store, task, TaskStatus::Blocked, Some(why))?;
                } else {
                    rework(store, task, &why)?;
                }
                wrote = true;
            }
            _ => {}
        }
    }
    let all_merged = tasks.iter().all(|t| t.status == TaskStatus::Merged);
    if all_merged && score.status == ScoreStatus::Running {
        // Its last merge finished it, unless that merge came from elsewhere (a sync).
        let written = store.transact(&format!("{} is done", score.id), |tx| {
            let mut s = store::score(tx, &score.id)?;
            let merged = store::every_task_merged(tx, &s)?;
            if lifecycle::finish_score(&mut s, merged, tx.now)? {
                tx.put(&layout::score_file(&score.id), &s)?;
            }
            Ok::<_, ConductorError>(())
        })?;
        wrote |= written.commit.is_some();
    }
    Ok(wrote)
}

/// Send the task back for another attempt with `reason` in its prompt
/// ([`sendback::send_back`]). (A conflicted task's next run restarts its branch from the
/// integration tip: see [`lifecycle::fresh_branch`].)
fn rework(store: &Store, task: &Task, reason: &str) -> Result<(), ConductorError> {
    let (score_id, id) = (task.score.as_str(), task.id.as_str());
    let actor = store.session.actor.clone();
    let _written = store.transact(&format!("rework {score_id}/{id}"), |tx| {
        let mut t = store::task(tx, score_id, id)?;
        if t.status != task.status {
            return Ok(());
        }
        sendback::send_back::<ConductorError>(tx, &mut t, reason, &actor)?;
        tx.put(&layout::task_file(score_id, id), &t)?;
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
