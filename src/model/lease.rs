//! Worktree leases (DESIGN.md §12.3): a running task's worktree belongs to one run.
//!
//! A lease is live on its own host while its process runs (same pid, same start time).
//! Elsewhere it is "held by <host>" until its heartbeat is older than the configured limit.
//! Nothing removes or reuses a worktree under a live lease.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::origin::Origin;

/// The lease of a task's worktree by one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lease {
    pub run: String,
    pub origin: Origin,
    pub started: Timestamp,
    /// Renewed while the run goes on; other hosts judge the lease by it.
    pub heartbeat: Timestamp,
}

/// How a lease looks from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Its process runs on this host.
    Live,
    /// Made on another host, with a recent heartbeat: held there.
    Foreign,
    /// Its process is gone, or another host's heartbeat is stale.
    Dead,
}
