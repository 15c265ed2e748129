//! The lifecycle's runtime side: what needs the state, git and this host together.
//!
//! [`crate::model::lifecycle`] decides every transition from records alone; `store` writes
//! them and applies their git effects. This module supplies the facts the lifecycle needs from
//! the outside world (is a lease's process alive?) and the recoveries that combine all three:
//! a dead run's lease, worktree pruning under leases, and the invariants `doctor` checks.

pub mod gc;
pub mod invariants;
pub mod pool;
pub mod ports;
pub mod prune;
pub mod sendback;

use jiff::{SignedDuration, Timestamp};

use crate::model::Task;
use crate::model::lease::Liveness;
use crate::store::Store;
use crate::store::origin::{self, LEASE_STALE_AFTER};

/// How leases look from this clone: its id, and how long another host's lease stays held
/// without a heartbeat (`git config maestro.leaseStale`, e.g. `45m`; 30 minutes by default).
#[derive(Debug, Clone)]
pub struct Leases {
    pub clone: String,
    pub stale_after: SignedDuration,
}

impl Leases {
    /// The lease settings of `store`'s clone.
    pub fn of(store: &Store) -> Result<Leases, crate::store::Error> {
        Ok(Leases::for_clone(store, store.clone_id()?))
    }

    /// The lease settings of `store` as seen by clone `clone` (for reads, which never make a
    /// clone id: "" when there is none, and then nothing here is this clone's).
    pub fn for_clone(store: &Store, clone: String) -> Leases {
        let stale_after = store
            .repo
            .config_string("maestro.leaseStale")
            .and_then(|v| v.parse::<jiff::Span>().ok())
            .and_then(|span| SignedDuration::try_from(span).ok())
            .filter(|d| d.is_positive())
            .unwrap_or(LEASE_STALE_AFTER);
        Leases { clone, stale_after }
    }

    /// How often a run renews its lease: well inside the limit.
    pub fn heartbeat_every(&self) -> SignedDuration {
        self.stale_after / 6
    }

    /// How the run holding `task` looks from this clone at `now`. A task held by another clone
    /// without a lease (written before leases) counts as held there.
    pub fn liveness(&self, task: &Task, now: Timestamp) -> Liveness {
        match &task.lease {
            Some(lease) => origin::lease_liveness(Some(lease), now, self.stale_after),
            None if task.claimed_elsewhere(&self.clone) => Liveness::Foreign,
            None => Liveness::Dead,
        }
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
    let branch = crate::model::branches::task_branch(score, task);
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
    let leases = Leases::of(store)?;
    let actor = store.session.actor.clone();
    let outcome = store.transact(&format!("recover {score}/{task}"), |tx| {
        let mut t = crate::store::task(tx, score, task)?;
        if t.status != crate::model::TaskStatus::Running || leases.liveness(&t, tx.now) == Liveness::Foreign {
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

/// The lock a run holds on its task while it works. The kernel drops it when the process dies,
/// so a `running` task whose lock is free was orphaned by a crash.
pub struct RunLock {
    _file: std::fs::File,
}

/// Take the run lock of `score/task` if no one holds it.
pub fn try_run_lock(common_dir: &std::path::Path, score: &str, task: &str) -> std::io::Result<Option<RunLock>> {
    let path = common_dir.join("maestro/runs").join(score).join(format!("{task}.lock"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::File::options().create(true).truncate(false).write(true).open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(RunLock { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}
