//! Landing: bringing a Score's integration branch into its target branch.
//!
//! Needs a landing approval of the very integration tip being landed (a structured field on
//! the Score; any merge or revert since voids it), and every task merged or reverted.
//! Fast-forwards when it can, otherwise writes a merge commit. A target checked out in a clean
//! worktree is updated there with `git merge --ff-only` (DESIGN.md §1: git refreshes checked-out
//! worktrees); a dirty one is refused. The move is an intent recorded with the landing, so a
//! crash in between is completed by the next command.

use super::{ApprovalError, integration_branch};
use crate::git::{MergeResult, ObjectId};
use crate::model::intent::{Effect, Step};
use crate::model::{DecisionKind, lifecycle};
use crate::store::{self, Store, layout};

/// What a landing did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Landed {
    pub target: String,
    pub commit: String,
    pub fast_forward: bool,
}

/// Land `score_id` on its target. `merged_remotely` is the remote target's tip when a landing
/// pull request was merged there: if it holds the integration tip and descends from the local
/// target, the target fast-forwards to it, so local and remote agree.
pub fn land(store: &Store, score_id: &str, merged_remotely: Option<ObjectId>) -> Result<Landed, ApprovalError> {
    let repo = &store.repo;
    // It reads both branches before its write: first the moves a stopped process left due.
    store.settle_stopped()?;
    let (score, tasks) = store::score_with_tasks(&store.view()?, score_id)?;
    let integration = format!("refs/heads/{}", integration_branch(score_id));
    let tip = repo.read_ref(&integration)?;
    // The lifecycle speaks first: before any merge there is no integration branch yet.
    lifecycle::can_land(&score, &tasks, &tip.map(|t| t.to_string()).unwrap_or_default())?;
    let tip = tip.ok_or_else(|| super::missing_integration(store, score_id))?;
    let target = format!("refs/heads/{}", score.target);
    let old = repo.read_ref(&target)?.ok_or_else(|| ApprovalError::NoTarget(score.target.clone()))?;
    // The land decision's id, named by the merge commit when there is one.
    let decision = store.session.new_id();
    let remote = match merged_remotely {
        Some(r) if repo.is_ancestor(tip, r)? && repo.is_ancestor(old, r)? => Some(r),
        _ => None,
    };
    let (new, fast_forward) = if let Some(remote) = remote {
        (remote, true)
    } else if repo.is_ancestor(old, tip)? {
        (tip, true)
    } else {
        match repo.merge_commits(old, tip)? {
            MergeResult::Conflicts(paths) => {
                return Err(ApprovalError::LandConflict { score: score_id.to_owned(), paths });
            }
            MergeResult::Clean(tree) => {
                let message = format!(
                    "Land {score_id}: {}\n\nMaestro-Score: {score_id}\nMaestro-Decision: {decision}\n",
                    score.title
                );
                let identity = (store.session.actor.as_str(), store.session.email.as_str());
                (repo.write_commit(tree, &[old, tip], &message, identity, store.session.now().as_second())?, false)
            }
        }
    };
    let effect = match repo.worktree_with_branch(&target)? {
        Some(worktree) => {
            if !crate::git::modified_paths(&worktree)?.is_empty() {
                return Err(ApprovalError::DirtyTarget { branch: score.target.clone(), worktree });
            }
            let worktree = worktree.display().to_string();
            Effect::RefreshCheckout { name: target.clone(), worktree, old: old.to_string(), new: new.to_string() }
        }
        None => Effect::MoveRef { name: target.clone(), old: Some(old.to_string()), new: new.to_string() },
    };
    let actor = store.session.actor.clone();
    let _written = store.transact(&format!("land {score_id}"), |tx| {
        if repo.read_ref(&target)? != Some(old) {
            return Err(ApprovalError::Moved(target.clone()));
        }
        let (mut s, tasks) = store::score_with_tasks(tx, score_id)?;
        let before = s.status;
        lifecycle::landed(&mut s, &tasks, &tip.to_string(), &new.to_string(), tx.now)?;
        tx.put(&layout::score_file(score_id), &s)?;
        let summary = format!("landed {score_id} on {} at {}", score.target, new.to_hex_with_len(12));
        let mut d = store::new_decision(tx, DecisionKind::Merge, summary, &actor).about(score_id, None);
        decision.clone_into(&mut d.id);
        d.commit = Some(new.to_string());
        store::append_decision(tx, &d)?;
        tx.intend(format!("land {score_id}"), Step::Land { score: score_id.to_owned(), before }, vec![effect.clone()])?;
        Ok::<_, ApprovalError>(())
    })?;
    Ok(Landed { target: score.target, commit: new.to_string(), fast_forward })
}
