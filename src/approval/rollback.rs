//! Rollback: reverting merges on the integration branch, never rewriting history.
//!
//! A task's merge is undone by a three-way merge whose base is the merge commit's tree, ours
//! the tip's tree and theirs the merge's first parent's tree; later merges of other tasks stay.
//! Rolling back a Score reverts all its merges, newest first, and moves the branch once.

use super::{ApprovalError, integration_branch};
use crate::git::{CasError, MergeResult, ObjectId, RefUpdate};
use crate::model::{DecisionKind, ScoreStatus, Task, TaskStatus};
use crate::store::{self, Store, layout};

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RolledBack {
    /// The tasks reverted, newest merge first.
    pub tasks: Vec<String>,
    /// The new tip of the integration branch.
    pub commit: String,
}

/// Revert the merge of `task`, or with `None` every merge of the Score.
pub fn rollback(store: &Store, score_id: &str, task: Option<&str>) -> Result<RolledBack, ApprovalError> {
    let repo = &store.repo;
    let view = store.view()?;
    let score = store::score(&view, score_id)?;
    let branch = integration_branch(score_id);
    let integration = format!("refs/heads/{branch}");
    let tip = repo.read_ref(&integration)?.ok_or_else(|| ApprovalError::NoBranch(integration.clone()))?;
    if repo.checked_out_refs()?.contains(&integration) {
        return Err(ApprovalError::CheckedOut { branch });
    }
    let mut merged: Vec<(Task, ObjectId)> = Vec::new();
    for t in store::tasks(&view, &score)? {
        if task.is_some_and(|id| id != t.id) {
            continue;
        }
        match (t.status, t.merge_commit.as_deref().map(|c| ObjectId::from_hex(c.as_bytes()))) {
            (TaskStatus::Merged, Some(Ok(commit))) => merged.push((t, commit)),
            _ if task.is_some() => return Err(ApprovalError::NotMerged { task: t.address(), status: t.status }),
            _ => {}
        }
    }
    if let Some(id) = task
        && merged.is_empty()
    {
        return Err(store::Error::TaskNotFound { score: score_id.to_owned(), task: id.to_owned() }.into());
    }
    // Newest first: by position on the integration branch's first-parent line.
    let line = first_parent_line(store, tip)?;
    merged.sort_by_key(|(_, commit)| line.iter().position(|c| c == commit).unwrap_or(usize::MAX));
    let identity = (store.session.actor.as_str(), store.session.email.as_str());
    let now = store.session.now().as_second();
    let mut current = tip;
    // Each revert commit names its rollback decision.
    let decisions: Vec<String> = merged.iter().map(|_| store.session.new_id()).collect();
    for ((t, merge), decision) in merged.iter().zip(&decisions) {
        let info = repo.commit_info(*merge)?;
        let before =
            *info.parents.first().ok_or_else(|| ApprovalError::NoBranch(format!("the first parent of {merge}")))?;
        let tree = match repo.merge_trees(info.tree, repo.commit_tree(current)?, repo.commit_tree(before)?)? {
            MergeResult::Clean(tree) => tree,
            MergeResult::Conflicts(paths) => return Err(ApprovalError::RevertConflict { task: t.address(), paths }),
        };
        let message = format!(
            "Revert {}: {}\n\nThis reverts merge {merge}.\n\nMaestro-Score: {score_id}\nMaestro-Task: {}\n\
             Maestro-Decision: {decision}\n",
            t.address(),
            t.title,
            t.id
        );
        current = repo.write_commit(tree, &[current], &message, identity, now)?;
    }
    let update = RefUpdate { name: &integration, expected: Some(tip), new: current, log_message: "maestro: rollback" };
    match repo.cas_update(&update, identity, now) {
        Ok(()) => {}
        Err(CasError::Conflict { .. } | CasError::Busy { .. }) => return Err(ApprovalError::Moved(integration)),
        Err(CasError::Other(e)) => return Err(e.into()),
    }
    let ids: Vec<String> = merged.iter().map(|(t, _)| t.id.clone()).collect();
    let actor = store.session.actor.clone();
    let whole = task.is_none();
    let _written = store.transact(
        &format!("roll back {}", if whole { score_id.to_owned() } else { format!("{score_id}/{}", ids[0]) }),
        |tx| {
            for (id, decision) in ids.iter().zip(&decisions) {
                let mut t = store::task(tx, score_id, id)?;
                t.transition(TaskStatus::Reverted, tx.now)?;
                tx.put(&layout::task_file(score_id, id), &t)?;
                store::record_outcome(tx, &t, crate::model::stats::Outcome::Reverted)?;
                let summary = format!("reverted {score_id}/{id} on {}", integration_branch(score_id));
                let mut d = store::new_decision(tx, DecisionKind::Rollback, summary, &actor).about(score_id, Some(id));
                decision.clone_into(&mut d.id);
                store::append_decision(tx, &d)?;
            }
            let mut s = store::score(tx, score_id)?;
            if whole && s.status.can_become(ScoreStatus::RolledBack) {
                s.transition(ScoreStatus::RolledBack, tx.now)?;
                tx.put(&layout::score_file(score_id), &s)?;
            }
            Ok::<_, ApprovalError>(())
        },
    )?;
    Ok(RolledBack { tasks: merged.iter().map(|(t, _)| t.address()).collect(), commit: current.to_string() })
}

/// The first-parent line from `tip`, newest first.
fn first_parent_line(store: &Store, tip: ObjectId) -> Result<Vec<ObjectId>, ApprovalError> {
    let mut line = vec![tip];
    let mut current = tip;
    while let Some(parent) = store.repo.commit_info(current)?.parents.first().copied() {
        line.push(parent);
        current = parent;
    }
    Ok(line)
}
