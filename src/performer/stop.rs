//! Stopping one running attempt from outside its run (`git maestro task stop`, the board's
//! `s`): a request file `<git-common-dir>/maestro/stop/<run-id>` that the run's performer
//! watcher checks as it checks Ctrl-C (see [`super::invoke::launch`]). The attempt then ends
//! `interrupted`, the task `ready`; a `git maestro run` leaves it waiting for a person instead
//! of starting it again. The run removes the file when its attempt is recorded.

use std::path::{Path, PathBuf};

use crate::model::lease::Liveness;
use crate::model::{DecisionKind, TaskStatus};
use crate::store::{self, Store};

/// The reason recorded on an attempt a person stopped.
pub const REASON: &str = "stopped by a person (`git maestro task stop`)";

/// Where a stop of run `run` is requested.
pub fn file(common_dir: &Path, run: &str) -> PathBuf {
    common_dir.join("maestro/stop").join(run)
}

/// Whether someone asked run `run` to stop.
pub fn requested(common_dir: &Path, run: &str) -> bool {
    file(common_dir, run).exists()
}

/// Forget the request for run `run` (its attempt is recorded).
pub fn clear(common_dir: &Path, run: &str) {
    let _ = std::fs::remove_file(file(common_dir, run));
}

/// The run asked to stop.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Requested {
    pub task: String,
    pub run: String,
    /// The process that holds the lease, as `pid N on host`.
    pub holder: String,
}

/// Why no stop was requested.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error("{task} is {status}, not running: there is nothing to stop")]
    NotRunning { task: String, status: TaskStatus },
    #[error("{task} is running on another machine ({holder}); a stop is asked of runs on this one only")]
    Elsewhere { task: String, holder: String },
    #[error("{task} is marked running, but the run that held it ({holder}) is gone")]
    Gone { task: String, holder: String },
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("cannot write the stop request: {0}")]
    Io(#[from] std::io::Error),
}

/// Ask the live run holding `score/task` on this machine to stop its attempt, and record the
/// request as the person's decision.
pub fn request(store: &Store, score: &str, task: &str) -> Result<Requested, StopError> {
    let t = store::task(&store.view()?, score, task)?;
    let address = t.address();
    let lease = match (&t.lease, t.status) {
        (Some(lease), TaskStatus::Running) => lease.clone(),
        _ => return Err(StopError::NotRunning { task: address, status: t.status }),
    };
    let holder = lease.origin.to_string();
    match crate::kernel::Leases::of(store)?.liveness(&t, store.session.now()) {
        Liveness::Live => {}
        Liveness::Foreign => return Err(StopError::Elsewhere { task: address, holder }),
        Liveness::Dead => return Err(StopError::Gone { task: address, holder }),
    }
    let path = file(store.repo.common_dir(), &lease.run);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, format!("{}\n", store.session.actor))?;
    let actor = store.session.actor.clone();
    let summary = format!("stop of {address} (run {}) requested", lease.run);
    let _recorded = store.transact(&format!("stop {address}"), |tx| {
        let d = store::new_decision(tx, DecisionKind::Assignment, summary.clone(), &actor).about(score, Some(task));
        store::append_decision(tx, &d)
    })?;
    Ok(Requested { task: address, run: lease.run, holder })
}
