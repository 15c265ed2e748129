//! Restarting a task's branch before a run, as [`lifecycle::fresh_branch`] decides: from the
//! integration tip (a conflicted result), or from the integration tip with the change of the
//! task's reverted merge re-applied (a result merged, then reverted).
//!
//! The branch move and the worktree reset are effects recorded in the claiming transaction
//! (DESIGN.md §12.2) and applied by the store, so a crash leaves the step to be settled by the
//! next writing command. The branch's old tip is kept under `refs/maestro/keep/` first, and
//! the re-applying commit is written before the transaction that names it. A worktree with
//! uncommitted changes (someone is working in it) is never reset: the branch is left as it is.

use super::task_run::{RunError, task_branch};
use crate::git::{self, MergeResult, ObjectId};
use crate::model::branches::integration_branch;
use crate::model::intent::Effect;
use crate::model::lifecycle::FreshBranch;
use crate::model::{Task, lifecycle};
use crate::store::Store;

/// A restart to record: the effects, and the commit that re-applies the task's reverted change
/// (when there is one) — the result a rework must change.
pub(super) struct Restart {
    pub(super) effects: Vec<Effect>,
    pub(super) reapplied: Option<ObjectId>,
}

/// The restart `task`'s next run needs, if any. `run` is the run id the re-applying commit
/// names in its `Maestro-Run` trailer (it is that run's starting point).
pub(super) fn restart(store: &Store, task: &Task, run: &str) -> Result<Option<Restart>, RunError> {
    let fresh = lifecycle::fresh_branch(task);
    if fresh == FreshBranch::Keep {
        return Ok(None);
    }
    let repo = &store.repo;
    let branch = format!("refs/heads/{}", task_branch(&task.score, &task.id));
    let integration = format!("refs/heads/{}", integration_branch(&task.score));
    let (Some(old), Some(tip)) = (repo.read_ref(&branch)?, repo.read_ref(&integration)?) else { return Ok(None) };
    let (new, reapplied) = match &fresh {
        FreshBranch::Keep => return Ok(None),
        FreshBranch::FromTip => (tip, None),
        FreshBranch::Reapply { merge } => {
            // A branch with work the integration branch lacks was restarted already (or has
            // a rework in progress): it goes on, unless it conflicted.
            if task.conflicts.is_empty() && !repo.is_ancestor(old, tip)? {
                return Ok(None);
            }
            match reapply(store, task, merge, tip, run)? {
                Some(commit) => (commit, Some(commit)),
                None => (tip, None),
            }
        }
    };
    if old == new {
        return Ok(None);
    }
    let worktree = repo.worktree_with_branch(&branch)?;
    if let Some(path) = &worktree
        && path.exists()
        && !git::dirty_paths(path)?.is_empty()
    {
        return Ok(None);
    }
    store.keep(old)?;
    let mut effects = vec![Effect::MoveRef { name: branch, old: Some(old.to_string()), new: new.to_string() }];
    if let Some(worktree) = worktree {
        effects.push(Effect::ResetWorktree { path: worktree.display().to_string(), commit: new.to_string() });
    }
    Ok(Some(Restart { effects, reapplied }))
}

/// A commit on `tip` that re-applies the change of the task's merge `merge`; `None` when that
/// change is on `tip` already, conflicts with it, or the merge commit is not here (the rework
/// then starts from `tip` alone, as a conflicted one does).
fn reapply(store: &Store, task: &Task, merge: &str, tip: ObjectId, run: &str) -> Result<Option<ObjectId>, RunError> {
    let repo = &store.repo;
    let Some(merge) = ObjectId::from_hex(merge.as_bytes()).ok().filter(|m| repo.has_object(*m)) else {
        return Ok(None);
    };
    let tree = match repo.reapply_merge(merge, tip)? {
        MergeResult::Clean(tree) if tree != repo.commit_tree(tip)? => tree,
        MergeResult::Clean(_) | MergeResult::Conflicts(_) => return Ok(None),
    };
    let message = format!(
        "Reapply {}: {}\n\nThe change of its merge {merge}, reverted on {}, applied again as the start of \
         its rework.\n\nMaestro-Score: {}\nMaestro-Task: {}\nMaestro-Run: {run}\n",
        task.address(),
        task.title,
        integration_branch(&task.score),
        task.score,
        task.id,
    );
    let identity = (store.session.actor.as_str(), store.session.email.as_str());
    Ok(Some(repo.write_commit(tree, &[tip], &message, identity, store.session.now().as_second())?))
}
