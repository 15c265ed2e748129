//! Landing: bringing a Score's integration branch into its target branch.
//!
//! Needs Score-level approval given after the last merge into the integration branch.
//! Fast-forwards when it can, otherwise writes a merge commit. A target checked out in a clean
//! worktree is updated there with `git merge --ff-only` (DESIGN.md §1: git refreshes checked-out
//! worktrees); a dirty one is refused.

use super::{ApprovalError, integration_branch, landing_summary};
use crate::git::{CasError, MergeResult, ObjectId, RefUpdate};
use crate::model::{DecisionKind, ScoreStatus};
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
    let view = store.view()?;
    let score = store::score(&view, score_id)?;
    let integration = format!("refs/heads/{}", integration_branch(score_id));
    let tip = repo.read_ref(&integration)?.ok_or_else(|| ApprovalError::NoBranch(integration.clone()))?;
    // The approval must be newer than the last merge or revert: decisions sort by time.
    let decisions = store::decisions(&view)?;
    let last_change = decisions.iter().rposition(|d| {
        d.score.as_deref() == Some(score_id) && matches!(d.kind, DecisionKind::Merge | DecisionKind::Rollback)
    });
    let approved = decisions.iter().enumerate().any(|(i, d)| {
        d.kind == DecisionKind::Approval
            && d.score.as_deref() == Some(score_id)
            && d.task.is_none()
            && d.summary == landing_summary(&d.actor, score_id)
            && last_change.is_none_or(|c| i > c)
    });
    if !approved {
        return Err(ApprovalError::LandNotApproved(score_id.to_owned()));
    }
    let target = format!("refs/heads/{}", score.target);
    let old = repo.read_ref(&target)?.ok_or_else(|| ApprovalError::NoTarget(score.target.clone()))?;
    let identity = (store.session.actor.as_str(), store.session.email.as_str());
    let now = store.session.now().as_second();
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
                (repo.write_commit(tree, &[old, tip], &message, identity, now)?, false)
            }
        }
    };
    match repo.worktree_with_branch(&target)? {
        Some(worktree) => {
            if !crate::git::modified_paths(&worktree)?.is_empty() {
                return Err(ApprovalError::DirtyTarget { branch: score.target.clone(), worktree });
            }
            repo.fast_forward_checkout(&worktree, new)?;
        }
        None => {
            let update = RefUpdate { name: &target, expected: Some(old), new, log_message: "maestro: land" };
            match repo.cas_update(&update, identity, now) {
                Ok(()) => {}
                Err(CasError::Conflict { .. } | CasError::Busy { .. }) => return Err(ApprovalError::Moved(target)),
                Err(CasError::Other(e)) => return Err(e.into()),
            }
        }
    }
    let actor = store.session.actor.clone();
    let _written = store.transact(&format!("land {score_id}"), |tx| {
        let mut s = store::score(tx, score_id)?;
        if s.status.can_become(ScoreStatus::Landed) {
            s.transition(ScoreStatus::Landed, tx.now)?;
            tx.put(&layout::score_file(score_id), &s)?;
        }
        let summary = format!("landed {score_id} on {} at {}", score.target, new.to_hex_with_len(12));
        let mut d = store::new_decision(tx, DecisionKind::Merge, summary, &actor).about(score_id, None);
        decision.clone_into(&mut d.id);
        d.commit = Some(new.to_string());
        store::append_decision(tx, &d)?;
        Ok::<_, ApprovalError>(())
    })?;
    Ok(Landed { target: score.target, commit: new.to_string(), fast_forward })
}
