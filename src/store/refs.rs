//! The one mover of refs. Every branch and ref git-maestro moves (the state ref, integration
//! branches, targets, task branches, keep refs, sync's remote-tracking refs) goes through
//! [`Store::move_ref`]: a compare-and-swap with one policy for locks in the way.
//!
//! The policy: a lock held by a live writer (git packing refs, another maestro process) goes
//! within moments, so it is waited for, with backoff, up to [`BUSY_WAIT`]. A lock older than
//! [`lock::STALE_AFTER`] while no git-maestro writer is alive was left by a killed process: it
//! is removed, with a notice, and the move is tried again. Anything else is [`Error::Busy`].

use std::time::{Duration, Instant};

use super::{Error, Result, Store, lock};
use crate::git::{CasError, ObjectId, RefUpdate, WorktreeCommit};

/// How long a move waits for a busy lock before giving up.
pub const BUSY_WAIT: Duration = Duration::from_secs(2);

/// What a move did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    Yes,
    /// The ref was not at the expected value: someone moved it meanwhile.
    Conflict,
}

impl Store {
    /// Move `name` from `expected` (`None`: must not exist) to `new`, with a reflog line.
    /// `new = None` deletes the ref, which must still be at `expected`.
    pub fn move_ref(
        &self,
        name: &str,
        expected: Option<ObjectId>,
        new: impl Into<Option<ObjectId>>,
        why: &str,
    ) -> Result<Moved> {
        let update = RefUpdate { name, expected, new: new.into(), log_message: why };
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match self.repo.cas_update(&update, self.session.signature(), self.session.now().as_second()) {
                Ok(()) => return Ok(Moved::Yes),
                Err(CasError::Conflict { .. }) => return Ok(Moved::Conflict),
                Err(CasError::Other(e)) => return Err(e.into()),
                Err(CasError::Busy { lock }) => {
                    if let Some(notice) = self.recover_lock(&lock) {
                        self.notice(notice);
                        continue;
                    }
                    if started.elapsed() + pause > BUSY_WAIT {
                        return Err(Error::Busy { lock, attempts: 1 });
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
            }
        }
    }

    /// Create `refs/heads/<branch>` at `base` unless it exists; returns its tip.
    pub fn ensure_branch(&self, branch: &str, base: ObjectId) -> Result<ObjectId> {
        let name = format!("refs/heads/{branch}");
        if let Some(tip) = self.repo.read_ref(&name)? {
            return Ok(tip);
        }
        match self.move_ref(&name, None, base, "maestro: create task branch")? {
            Moved::Yes => Ok(base),
            // Someone created it meanwhile: use theirs.
            Moved::Conflict => self.repo.read_ref(&name)?.ok_or_else(|| {
                crate::git::Error::Ref(format!("{name} was created and removed again while creating it")).into()
            }),
        }
    }

    /// Commit every change in the worktree at `path` (staged, unstaged, untracked; `skip` left
    /// out) on its checked-out branch, and reset its index to the new tree. No changes, no
    /// commit.
    pub fn commit_worktree(&self, path: &std::path::Path, skip: &[&str], message: &str) -> Result<WorktreeCommit> {
        let (time, identity) = (self.session.now().as_second(), self.session.signature());
        let snap = self.repo.snapshot_worktree(path, skip, message, identity, time)?;
        if let Some(commit) = snap.commit {
            if self.move_ref(&snap.branch, snap.parent, commit, "maestro: commit task worktree")? == Moved::Conflict {
                return Err(
                    crate::git::Error::Ref(format!("{} moved while its worktree was committed", snap.branch)).into()
                );
            }
            let changed: Vec<String> = snap.paths.iter().cloned().chain(skip.iter().map(|p| (*p).to_owned())).collect();
            self.repo.reset_index(path, commit, &changed)?;
        }
        Ok(snap)
    }

    /// Remove `lock` if it is stale: old enough, and no git-maestro writer alive but us.
    pub(super) fn recover_lock(&self, lock: &std::path::Path) -> Option<String> {
        if lock::age(lock)? < lock::STALE_AFTER {
            return None;
        }
        if !self.holds_writer() && lock::writer_alive(self.repo.common_dir()) {
            return None;
        }
        lock::remove_stale(lock)
    }

    /// Record a notice for the user (a stale lock removed, an effect settled), reported with
    /// the next transaction's outcome.
    pub fn notice(&self, line: String) {
        self.notices.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line);
    }

    pub(super) fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut *self.notices.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}
