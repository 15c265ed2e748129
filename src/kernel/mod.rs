//! The lifecycle's runtime side: what needs the state, git and this host together.
//!
//! [`crate::model::lifecycle`] decides every transition from records alone; `store` writes
//! them and applies their git effects. This module supplies the facts the lifecycle needs from
//! the outside world (is a lease's process alive?) and the recoveries that combine all three:
//! a dead run's lease, worktree pruning under leases, and the invariants `doctor` checks.

pub mod invariants;

use jiff::Timestamp;

use crate::model::Task;
use crate::model::lease::Liveness;
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
