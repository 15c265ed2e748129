//! The warm worktree pool: finished task worktrees kept for the next task, so a new task's
//! worktree is a move and a checkout of the files that differ, not a checkout of every file
//! (ignored build output stays warm too).
//!
//! - `gc` parks a finished task's worktree here instead of removing it (see
//!   [`super::prune::prune_one`]) while the pool holds fewer than its cap (`[worktrees] pool`
//!   of trusted config, 4 by default, 0 turns the pool off): its HEAD is detached (its branch
//!   is free again) and it moves to `<root>/.pool/<n>`, beside the task worktrees
//!   (`<root>/<score>/<task>`), so that both moves are renames within one file system. `run`
//!   parks each task's worktree the same way right after its merge, while there is room
//!   ([`super::prune::park_merged`]), so its next task starts from it.
//! - `task run` takes an entry for a task that has no worktree ([`take`]): it moves to the
//!   task's usual path and checks out the task's commit, rewriting only the files that differ.
//! - `worktrees prune` empties the pool ([`drain`]).
//!
//! Nothing unsaved is ever pooled, reused or removed: a worktree with a tracked or staged
//! change, an untracked file that is not ignored, or a HEAD no ref reaches is left where it is
//! and reported. Both moves are intents recorded in the state ([`Effect::ParkWorktree`],
//! [`Effect::ReuseWorktree`]), so a crash mid-move is completed by the next writing command.
//! One lock file serializes everything that picks an entry.

use std::path::{Path, PathBuf};

use super::KernelError;
use super::prune::{Action, Pruned};
use crate::git::{Repo, WorktreeHead};
use crate::model::intent::{Effect, Step};
use crate::store::Store;

/// The pool's directory in a worktree root: no Score can have this name (an id starts with a
/// letter or a digit).
pub const DIR: &str = ".pool";

/// The pool of the worktree root that the task worktree at `path` (`<root>/<score>/<task>`) is
/// in. Not under `.git`: the repository and the worktree root can be on different file
/// systems, where a move would fail.
fn dir_beside(path: &Path) -> Option<PathBuf> {
    Some(path.parent()?.parent()?.join(DIR))
}

/// The lock held while an entry is chosen and its move recorded.
pub struct PoolLock {
    _file: std::fs::File,
}

fn lock(dir: &Path) -> std::io::Result<PoolLock> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::File::options().create(true).truncate(false).write(true).open(dir.join(".lock"))?;
    file.lock()?;
    Ok(PoolLock { _file: file })
}

/// The entries of the pool at `dir`, `<dir>/<n>`, in order of `n`.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut numbered: Vec<(u64, PathBuf)> = read
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path())))
        .filter(|(_, p): &(u64, PathBuf)| p.is_dir())
        .collect();
    numbered.sort();
    numbered.into_iter().map(|(_, p)| p).collect()
}

/// Whether the pool beside the task worktree at `path` holds `cap` entries already.
pub fn is_full(path: &Path, cap: usize) -> bool {
    dir_beside(path).is_none_or(|dir| entries(&dir).len() >= cap)
}

/// A free place in the pool for one more worktree, with the lock held, when the pool holds
/// fewer than `cap` entries and the worktree at `path` holds nothing unsaved. `seen_clean`: the
/// caller has just found it without uncommitted changes, so only its HEAD is checked.
pub fn slot(
    repo: &Repo,
    path: &Path,
    cap: usize,
    seen_clean: bool,
) -> Result<Option<(PoolLock, PathBuf)>, KernelError> {
    let Some(dir) = dir_beside(path).filter(|_| cap > 0) else { return Ok(None) };
    let held = lock(&dir)?;
    let entries = entries(&dir);
    if entries.len() >= cap {
        return Ok(None);
    }
    let unsaved = if seen_clean { repo.unsaved_head(path)? } else { repo.unsaved(path)? };
    if unsaved.is_some() {
        return Ok(None);
    }
    let taken: Vec<u64> = entries.iter().filter_map(|p| p.file_name()?.to_str()?.parse().ok()).collect();
    let free = (0..).find(|n| !taken.contains(n)).unwrap_or_default();
    Ok(Some((held, dir.join(free.to_string()))))
}

/// Make a pooled worktree `score/task`'s worktree at `path`, checked out at `commit` with its
/// HEAD detached (the caller attaches it to the task branch). `false` when the pool has no
/// entry fit for reuse; entries that hold something unsaved are left alone and reported.
pub fn take(
    store: &Store,
    (score, task): (&str, &str),
    path: &Path,
    commit: crate::git::ObjectId,
) -> Result<bool, KernelError> {
    let repo = &store.repo;
    let Some(dir) = dir_beside(path).filter(|d| d.is_dir()) else { return Ok(false) };
    let _held = lock(&dir)?;
    for entry in entries(&dir) {
        match repo.unsaved(&entry) {
            Ok(None) => {}
            Ok(Some(why)) => {
                store.notice(format!("the pooled worktree {} is not reused: {why}", entry.display()));
                continue;
            }
            Err(e) => {
                store.notice(format!("the pooled worktree {} is not reused: {e}", entry.display()));
                continue;
            }
        }
        let why = format!("reuse the pooled worktree {} for {score}/{task}", entry.display());
        let effect = Effect::ReuseWorktree {
            pool: entry.display().to_string(),
            path: path.display().to_string(),
            commit: commit.to_string(),
        };
        let step = Step::Reuse { score: score.to_owned(), task: task.to_owned() };
        let _written = store.transact(&why, |tx| tx.intend(why.clone(), step.clone(), vec![effect.clone()]))?;
        if matches!(repo.worktree_head(path), Ok(WorktreeHead::Detached(c)) if c == commit) {
            return Ok(true);
        }
        // The move or the checkout failed (the notice says why): what reached `path` was
        // clean, so a fresh worktree may take its place.
        if path.exists() {
            repo.remove_worktree(path)?;
        }
        return Ok(false);
    }
    Ok(false)
}

/// Empty the pools of the repository (`worktrees prune`): that of the worktree root `root`, and
/// any other that holds one of its worktrees (parked under a root that `maestro.worktreeRoot`
/// named before). Every entry that holds nothing unsaved is removed.
pub fn drain(store: &Store, root: &Path, dry_run: bool) -> Result<Vec<Pruned>, KernelError> {
    let canonical = |dir: PathBuf| std::fs::canonicalize(&dir).unwrap_or(dir);
    let mut dirs = std::collections::BTreeSet::from([canonical(root.join(DIR))]);
    for info in store.repo.worktrees()? {
        let parent = info.path.parent().filter(|d| d.file_name() == Some(DIR.as_ref()));
        if let Some(dir) = parent.filter(|_| info.branch.is_none()) {
            dirs.insert(canonical(dir.to_owned()));
        }
    }
    let mut out = Vec::new();
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        out.extend(drain_dir(&store.repo, dir, dry_run)?);
    }
    Ok(out)
}

/// Empty the pool at `dir`.
fn drain_dir(repo: &Repo, dir: &Path, dry_run: bool) -> Result<Vec<Pruned>, KernelError> {
    let _held = lock(dir)?;
    let mut out = Vec::new();
    for entry in entries(dir) {
        let name = format!("pool/{}", entry.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
        let path = entry.display().to_string();
        let pruned = |action, reason| Pruned { task: name.clone(), path: path.clone(), action, tip: None, reason };
        let why = match repo.unsaved(&entry) {
            Ok(None) => None,
            Ok(Some(why)) => Some(why),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = why {
            out.push(pruned(Action::Kept, format!("a pooled worktree, kept: {why}")));
            continue;
        }
        if !dry_run {
            repo.remove_worktree(&entry)?;
        }
        out.push(pruned(Action::Removed, "a pooled worktree".into()));
    }
    Ok(out)
}
