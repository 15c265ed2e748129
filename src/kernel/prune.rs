//! Pruning task worktrees under their leases, never losing work.
//!
//! Each task worktree is handled on its own, under the task's run lock (so no `task run` of it
//! can start meanwhile on this machine), with the state read afresh:
//! - a task whose run is live (here or on another host) keeps its worktree;
//! - a task whose result waits for review or merge (`submitted`, `approved`) keeps its
//!   worktree until it is merged or released: `task review` runs its checks there;
//! - a dead run's lease is recovered first: its work is committed and the task released;
//! - anything else is committed (staged and unstaged work, untracked files), archived under
//!   `refs/maestro/keep/<sha>` unless it is merged, and removed through an intent recorded in
//!   the state, so a crash mid-removal is completed by the next command. With room in the
//!   warm pool (`gc` only), a worktree that holds nothing unsaved is parked there instead.
//!
//! `worktrees prune` also empties the pool.

use std::path::{Path, PathBuf};

use super::try_run_lock;
use super::{KernelError, recover};
use crate::git::ObjectId;
use crate::model::intent::{Effect, Step};
use crate::model::lease::Liveness;
use crate::model::{Task, TaskStatus};
use crate::store::{self, Store};

/// What prune did with one worktree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Removed,
    Archived,
    /// Parked in the warm worktree pool (see [`super::pool`]) instead of removed.
    Pooled,
    Kept,
}

/// One worktree's fate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pruned {
    /// `score/task`, or the scratch worktree's name.
    pub task: String,
    pub path: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tip: Option<String>,
    pub reason: String,
}

/// Prune the task worktrees (and scratch worktrees) under `root`, and empty the worktree
/// pool; with `dry_run`, only say what would be done.
pub fn prune(store: &Store, root: &Path, dry_run: bool) -> Result<Vec<Pruned>, KernelError> {
    let mut report = Vec::new();
    for info in store.repo.worktrees()? {
        let Some(branch) = info.branch.as_deref() else { continue };
        let parts: Vec<&str> = branch.split('/').collect();
        let ["maestro", score, "tasks", task] = parts[..] else { continue };
        report.push(prune_one(store, (score, task), &info.path, dry_run, 0)?);
    }
    report.extend(super::pool::drain(store, root, dry_run)?);
    // Scratch worktrees (reviews, post-merge checks) hold nothing: they are reset on every use.
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    for info in store.repo.worktrees()? {
        let Ok(rel) = info.path.strip_prefix(&root) else { continue };
        let name = rel.display().to_string();
        if info.branch.is_some() || !name.contains('.') || rel.starts_with(super::pool::DIR) {
            continue;
        }
        if !dry_run {
            store.repo.remove_worktree(&info.path)?;
        }
        let path = info.path.display().to_string();
        report.push(Pruned {
            task: name,
            path,
            action: Action::Removed,
            tip: None,
            reason: "a scratch worktree".into(),
        });
    }
    Ok(report)
}

/// Prune the worktree of `score/task_id` at `path`; with room in a pool of `pool` entries, park
/// it there instead of removing it.
pub fn prune_one(
    store: &Store,
    (score, task_id): (&str, &str),
    path: &Path,
    dry_run: bool,
    pool: usize,
) -> Result<Pruned, KernelError> {
    let address = format!("{score}/{task_id}");
    let kept = |reason: String| Pruned {
        task: address.clone(),
        path: path.display().to_string(),
        action: Action::Kept,
        tip: None,
        reason,
    };
    let Some(_lock) = try_run_lock(store.repo.common_dir(), score, task_id)? else {
        return Ok(kept("a run of its task holds it right now".into()));
    };
    // Another prune may have removed it since it was listed, under this same lock.
    if !path.exists() {
        let path = path.display().to_string();
        return Ok(Pruned {
            task: address,
            path,
            action: Action::Removed,
            tip: None,
            reason: "removed meanwhile".into(),
        });
    }
    let leases = super::Leases::of(store)?;
    let task = store::task(&store.view()?, score, task_id).ok();
    if let Some(t) = &task {
        if let Some(why) = keeps_worktree(t, &leases, store.session.now()) {
            return Ok(kept(why));
        }
        if t.status == TaskStatus::Running && !dry_run {
            // We hold its run lock: the run that leased it is gone.
            recover(store, score, task_id, "its run was gone when its worktree was pruned")?;
        }
    }
    let dirty = !crate::git::dirty_paths(path)?.is_empty();
    let mut tip = store.repo.read_ref(&format!("refs/heads/maestro/{score}/tasks/{task_id}"))?;
    if dirty && !dry_run {
        let message =
            format!("Uncommitted work kept by worktree prune\n\nMaestro-Score: {score}\nMaestro-Task: {task_id}\n");
        tip = store.commit_worktree(path, &[], &message)?.commit.or(tip);
    }
    let merged = !dirty && tip.is_some_and(|t| merged_into_score(store, score, t).unwrap_or(false));
    let (mut action, mut reason) = match (merged, dirty) {
        (true, _) => (Action::Removed, "merged and clean".to_owned()),
        (false, true) => (Action::Archived, "it had uncommitted changes, now committed".to_owned()),
        (false, false) => (Action::Archived, "not merged yet".to_owned()),
    };
    if !dry_run {
        if let (Action::Archived, Some(t)) = (&action, tip) {
            store.keep(t)?;
        }
        let slot = super::pool::slot(&store.repo, path, pool, !dirty)?;
        let effect = match &slot {
            Some((_, at)) => Effect::ParkWorktree { path: path.display().to_string(), pool: at.display().to_string() },
            None => Effect::RemoveWorktree { path: path.display().to_string() },
        };
        let notices = match remove(store, (score, task_id), effect) {
            Err(KernelError::Kept(why)) => return Ok(kept(why)),
            other => other?,
        };
        if let Some((_, at)) = slot.filter(|(_, at)| at.exists()) {
            (action, reason) = (Action::Pooled, format!("{reason}; parked in the worktree pool at {}", at.display()));
        }
        // Such as why the pool could not take it.
        for notice in notices {
            reason = format!("{reason}; {notice}");
        }
    }
    Ok(Pruned { task: address, path: path.display().to_string(), action, tip: tip.map(|t| t.to_string()), reason })
}

/// Park the worktree of the task `score/task_id`, just merged, in the pool when it has room: what
/// `run` does after each merge, so that its next task's worktree is a move and a checkout of
/// the files that differ rather than of every file. Without room (or with a pool of 0) the
/// worktree stays for `gc`, as before. Whether it was parked.
pub fn park_merged(
    store: &Store,
    (score, task_id): (&str, &str),
    path: &Path,
    pool: usize,
) -> Result<bool, KernelError> {
    if pool == 0 || !path.exists() || super::pool::is_full(path, pool) {
        return Ok(false);
    }
    Ok(prune_one(store, (score, task_id), path, false, pool)?.action == Action::Pooled)
}

/// Why `task`'s worktree must stay, if it must.
fn keeps_worktree(task: &Task, leases: &super::Leases, now: jiff::Timestamp) -> Option<String> {
    match task.status {
        TaskStatus::Running => match leases.liveness(task, now) {
            // Live here, yet its run lock was free: the lease's process is not a run of it.
            Liveness::Live | Liveness::Dead => None,
            Liveness::Foreign => {
                let host = task.lease.as_ref().map_or("another machine", |l| l.origin.host.as_str());
                Some(format!("its task is running on {host}"))
            }
        },
        TaskStatus::Submitted | TaskStatus::Approved => {
            Some(format!("its result is {} and waits for review or merge", task.status))
        }
        _ => None,
    }
}

/// Remove or park the worktree through an intent (`effect`), re-checking under the state lock
/// that its task did not start or submit meanwhile.
fn remove(store: &Store, (score, task_id): (&str, &str), effect: Effect) -> Result<Vec<String>, KernelError> {
    let leases = super::Leases::of(store)?;
    let written = store.transact(&format!("prune the worktree of {score}/{task_id}"), |tx| {
        if let Ok(t) = store::task(tx, score, task_id)
            && let Some(why) = keeps_worktree(&t, &leases, tx.now)
        {
            return Err(KernelError::Kept(why));
        }
        let step = Step::Prune { score: score.to_owned(), task: task_id.to_owned() };
        tx.intend(format!("prune the worktree of {score}/{task_id}"), step, vec![effect.clone()])?;
        Ok(())
    })?;
    Ok(written.notices)
}

/// Whether `tip` is in the Score's integration branch or its target.
fn merged_into_score(store: &Store, score: &str, tip: ObjectId) -> Result<bool, KernelError> {
    let target = store::score(&store.view()?, score).map(|s| s.target).ok();
    let candidates =
        [Some(format!("refs/heads/maestro/{score}/integration")), target.map(|t| format!("refs/heads/{t}"))];
    for name in candidates.into_iter().flatten() {
        if let Some(head) = store.repo.read_ref(&name)?
            && store.repo.is_ancestor(tip, head)?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The path of the task worktree `score/task` under `root`.
pub fn task_worktree(root: &Path, score: &str, task: &str) -> PathBuf {
    root.join(score).join(task)
}
