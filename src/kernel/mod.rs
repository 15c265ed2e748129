//! The lifecycle's runtime side: what needs the state, git and this host together.
//!
//! [`crate::model::lifecycle`] decides every transition from records alone; `store` writes
//! them and applies their git effects. This module supplies the facts the lifecycle needs from
//! the outside world (is a lease's process alive?) and the recoveries that combine all three:
//! a dead run's lease, worktree pruning under leases, and the invariants `doctor` checks.

pub mod prune;

use jiff::Timestamp;

use crate::model::Task;
use crate::model::lease::Liveness;
use crate::store::Store;
use crate::store::origin::{self, LEASE_STALE_AFTER};

/// How the run holding `task` looks from this clone at `now`. A task held by another clone
/// without a lease (written before leases) counts as held there.
pub fn liveness(task: &Task, clone: &str, now: Timestamp) -> Liveness {
    match &task.lease {
        Some(lease) => origin::lease_liveness(Some(lease), now, LEASE_STALE_AFTER),
        None if task.claimed_elsewhere(clone) => Liveness::Foreign,
        None => Liveness::Dead,
    }
}

/// Why a kernel operation stopped.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The worktree must stay (a run or a result holds it).
    #[error("kept: {0}")]
    Kept(String),
    #[error(transparent)]
    Refused(#[from] crate::model::lifecycle::Refusal),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Git(#[from] crate::git::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Recover `score/task` from a run that is gone (its lease is dead and the caller holds the
/// task's run lock): the work left in its worktree is committed on the task branch (staged
/// work too), and the task is released with `why`, its attempt recorded as interrupted.
pub fn recover(store: &Store, score: &str, task: &str, why: &str) -> Result<bool, KernelError> {
    let branch = crate::performer::task_run::task_branch(score, task);
    let path = store.repo.worktree_with_branch(&format!("refs/heads/{branch}"))?;
    let mut kept = None;
    if let Some(path) = path
        && !crate::git::dirty_paths(&path)?.is_empty()
    {
        let message = format!("Work left by a run that stopped\n\nMaestro-Score: {score}\nMaestro-Task: {task}\n");
        kept = store.commit_worktree(&path, &[], &message)?.commit;
        if let Some(commit) = kept {
            store.keep(commit)?;
        }
    }
    let clone = store.clone_id()?;
    let actor = store.session.actor.clone();
    let outcome = store.transact(&format!("recover {score}/{task}"), |tx| {
        let mut t = crate::store::task(tx, score, task)?;
        if t.status != crate::model::TaskStatus::Running || liveness(&t, &clone, tx.now) == Liveness::Foreign {
            return Ok::<_, KernelError>(false);
        }
        let reason = match kept {
            Some(c) => format!("{why}; its work was committed as {}", c.to_hex_with_len(12)),
            None => why.to_owned(),
        };
        crate::model::lifecycle::interrupt(&mut t, &reason, tx.now);
        tx.put(&crate::store::layout::task_file(score, task), &t)?;
        let summary = format!("{score}/{task} released: {reason}");
        let d = crate::store::new_decision(tx, crate::model::DecisionKind::Assignment, summary, &actor)
            .about(score, Some(task));
        crate::store::append_decision(tx, &d)?;
        Ok(true)
    })?;
    Ok(outcome.value)
}
