//! Reconciling a Score's tasks with the rules, from the state alone: which pending tasks are
//! ready, which failed results go back for rework and which are blocked, and when the Score is
//! done. Every decision is written through a transaction; nothing is kept in memory, so a
//! crashed run resumes from whatever the state says.

use super::ConductorError;
use crate::approval::integration_branch;
use crate::model::handover::Delivery;
use crate::model::intent::{Effect, Step};
use crate::model::{AttemptOutcome, DecisionKind, Score, ScoreStatus, Task, TaskStatus, lifecycle};
use crate::performer::task_run::task_branch;
use crate::store::{self, Store, layout};

/// Whether `task` may start: every dependency merged, and past its checkpoint if it has one.
pub fn deps_done(task: &Task, tasks: &[Task]) -> bool {
    lifecycle::waiting_for(task, tasks).is_empty()
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
            let (mut s, tasks) = store::score_with_tasks(tx, &score.id)?;
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
/// so routing may pick another performer. A conflicted task's branch restarts from the
/// integration tip (its old result is kept under `refs/maestro/keep/`).
fn rework(store: &Store, score: &Score, task: &Task) -> Result<(), ConductorError> {
    let reason = why_not(store, task)?;
    let restart = match task.status {
        TaskStatus::Conflict => restart_branch(store, score, task)?,
        _ => None,
    };
    let (score_id, id) = (task.score.as_str(), task.id.as_str());
    let _written = store.transact(&format!("rework {score_id}/{id}"), |tx| {
        let mut t = store::task(tx, score_id, id)?;
        if t.status != task.status {
            return Ok(());
        }
        lifecycle::rework(&mut t, &reason, tx.now)?;
        tx.put(&layout::task_file(score_id, id), &t)?;
        if let Some(effects) = &restart {
            let step = Step::Restart { score: score_id.to_owned(), task: id.to_owned() };
            tx.intend(format!("restart {score_id}/{id} from {}", integration_branch(score_id)), step, effects.clone())?;
        }
        // The next performer gets a handover packet with the reason and what was tried.
        let actor = store.session.actor.clone();
        crate::memory::handover::create(tx, score_id, Some(task), Delivery::Pull, None, &reason, &actor)?;
        Ok::<_, ConductorError>(())
    })?;
    Ok(())
}

/// The effects that restart a conflicted task's branch from the integration tip: the branch
/// moves, and its worktree (if any) is reset. Its old result is kept first.
fn restart_branch(store: &Store, score: &Score, task: &Task) -> Result<Option<Vec<Effect>>, ConductorError> {
    let repo = &store.repo;
    let branch = format!("refs/heads/{}", task_branch(&score.id, &task.id));
    let integration = format!("refs/heads/{}", integration_branch(&score.id));
    let (Some(old), Some(tip)) = (repo.read_ref(&branch)?, repo.read_ref(&integration)?) else { return Ok(None) };
    store.keep(old)?;
    let mut effects = vec![Effect::MoveRef { name: branch.clone(), old: Some(old.to_string()), new: tip.to_string() }];
    if let Some(worktree) = repo.worktree_with_branch(&branch)? {
        effects.push(Effect::ResetWorktree { path: worktree.display().to_string(), commit: tip.to_string() });
    }
    Ok(Some(effects))
}

/// Move the task to `status`, with a decision saying why when there is a reason.
fn set_status(store: &Store, task: &Task, status: TaskStatus, why: Option<String>) -> Result<(), ConductorError> {
    let (score_id, id) = (task.score.as_str(), task.id.as_str());
    let actor = store.session.actor.clone();
    let _written = store.transact(&format!("{score_id}/{id} is {status}"), |tx| {
        let (_, tasks) = store::score_with_tasks(tx, score_id)?;
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
