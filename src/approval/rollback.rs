//! Rollback: reverting merges on the integration branch, never rewriting history.
//!
//! A task's merge is undone by a three-way merge whose base is the merge commit's tree, ours
//! the tip's tree and theirs the merge's first parent's tree; later merges of other tasks stay.
//! Rolling back a Score reverts all its merges, newest first, and moves the branch once.
//!
//! The revert commits are written first; one transaction then records the tasks as reverted
//! and the intent to move the branch, which the store applies (see `store::effects`). After a
//! landing, the target still holds the change: the Score goes back to running (or rolled-back)
//! and the report says to land again.

use super::{ApprovalError, integration_branch};
use crate::git::{MergeResult, ObjectId};
use crate::model::branches::REVERTS;
use crate::model::intent::{Effect, Step};
use crate::model::{DecisionKind, ScoreStatus, Task, TaskStatus, lifecycle};
use crate::store::{self, Store, layout};

/// A failed post-merge check, for the rollback it causes: recorded with the revert, in the
/// same transaction, and the task sent back for rework with it (or blocked, out of attempts).
pub(super) struct CheckFailed {
    /// One line: which check failed, and how.
    pub(super) summary: String,
    /// The rework reason for the next prompt: the check and the end of its output.
    pub(super) rework: String,
    pub(super) evidence: Vec<crate::model::decision::Evidence>,
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RolledBack {
    /// The tasks reverted, newest merge first.
    pub tasks: Vec<String>,
    /// The new tip of the integration branch.
    pub commit: String,
    /// Merged tasks that depend on a reverted one and were left merged (warn about them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependants: Vec<String>,
    /// The target the Score had landed on, which still holds the reverted changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landed_on: Option<String>,
    /// Where a failed post-merge check sent the task (a person's rollback sends it nowhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_back: Option<lifecycle::SentBack>,
}

/// Revert the merge of `task` (and with `with_dependants`, of the merged tasks that depend on
/// it), or with `None` every merge of the Score.
pub fn rollback(
    store: &Store,
    score_id: &str,
    task: Option<&str>,
    with_dependants: bool,
) -> Result<RolledBack, ApprovalError> {
    // The merges to revert must be on the branch, including one a stopped merge left due.
    store.settle_stopped()?;
    revert_merges(store, score_id, task, with_dependants, None)
}

/// [`rollback`], for a task whose post-merge check `failed` when it is given.
pub(super) fn revert_merges(
    store: &Store,
    score_id: &str,
    task: Option<&str>,
    with_dependants: bool,
    failed: Option<&CheckFailed>,
) -> Result<RolledBack, ApprovalError> {
    let repo = &store.repo;
    let view = store.view()?;
    let (score, tasks) = store::score_with_tasks(&view, score_id)?;
    let branch = integration_branch(score_id);
    let integration = format!("refs/heads/{branch}");
    let tip = repo.read_ref(&integration)?.ok_or_else(|| super::missing_integration(store, score_id))?;
    if repo.checked_out_refs()?.contains(&integration) {
        return Err(ApprovalError::CheckedOut { branch });
    }
    let (chosen, dependants) = choose(&tasks, score_id, task, with_dependants)?;
    let mut merged: Vec<(Task, ObjectId)> = Vec::new();
    for t in tasks.iter().filter(|t| chosen.contains(&t.id)) {
        let commit = t.merge_commit.as_deref().and_then(|c| ObjectId::from_hex(c.as_bytes()).ok());
        merged
            .push((t.clone(), commit.ok_or_else(|| ApprovalError::NoBranch(format!("the merge of {}", t.address())))?));
    }
    // Newest first: by position on the integration branch's first-parent line.
    let line = first_parent_line(store, tip)?;
    merged.sort_by_key(|(_, commit)| line.iter().position(|c| c == commit).unwrap_or(usize::MAX));
    // Each revert commit names its rollback decision.
    let decisions: Vec<String> = merged.iter().map(|_| store.session.new_id()).collect();
    let current = revert_all(store, score_id, tip, &merged, &decisions)?;
    let ids: Vec<String> = merged.iter().map(|(t, _)| t.id.clone()).collect();
    let actor = store.session.actor.clone();
    let whole = task.is_none();
    let what = if whole { score_id.to_owned() } else { format!("{score_id}/{}", ids.join(", ")) };
    let landed_on = (score.status == ScoreStatus::Landed).then(|| score.target.clone());
    let written = store.transact(&format!("roll back {what}"), |tx| {
        if repo.read_ref(&integration)? != Some(tip) {
            return Err(ApprovalError::Moved(integration.clone()));
        }
        let mut s = store::score(tx, score_id)?;
        let mut sent_back = None;
        for (id, decision) in ids.iter().zip(&decisions) {
            let mut t = store::task(tx, score_id, id)?;
            lifecycle::reverted(&mut s, &mut t, whole, tx.now)?;
            if let Some(failed) = failed {
                let sent = lifecycle::post_merge_failed(&mut t, &failed.rework, s.max_attempts, tx.now)?;
                check_failed(tx, &t, failed, sent, (&current.to_string(), &actor))?;
                sent_back = Some(sent);
            }
            tx.put(&layout::task_file(score_id, id), &t)?;
            store::record_outcome(tx, &t, crate::model::stats::Outcome::Reverted)?;
            let summary = format!("reverted {score_id}/{id} on {}", integration_branch(score_id));
            let mut d = store::new_decision(tx, DecisionKind::Rollback, summary, &actor).about(score_id, Some(id));
            decision.clone_into(&mut d.id);
            if let Some(target) = &landed_on {
                d.rationale = format!("{target} still holds it: land {score_id} again to bring the revert there");
            }
            store::append_decision(tx, &d)?;
        }
        tx.put(&layout::score_file(score_id), &s)?;
        let effect =
            Effect::MoveRef { name: integration.clone(), old: Some(tip.to_string()), new: current.to_string() };
        let step = Step::Rollback { score: score_id.to_owned(), tasks: ids.clone() };
        tx.intend(format!("roll back {what}"), step, vec![effect])?;
        Ok::<_, ApprovalError>(sent_back)
    })?;
    Ok(RolledBack {
        tasks: merged.iter().map(|(t, _)| t.address()).collect(),
        commit: current.to_string(),
        dependants,
        landed_on,
        sent_back: written.value,
    })
}

/// Record why a post-merge check reverted `task`, with the check's evidence, and where the
/// task went.
fn check_failed(
    tx: &mut store::Tx<'_>,
    task: &Task,
    failed: &CheckFailed,
    sent: lifecycle::SentBack,
    (revert, actor): (&str, &str),
) -> Result<(), ApprovalError> {
    let mut d = store::new_decision(tx, DecisionKind::Rollback, failed.summary.clone(), actor)
        .about(&task.score, Some(&task.id));
    d.rationale = match sent {
        lifecycle::SentBack::Rework => format!("reverted automatically as {revert}; sent back for rework"),
        lifecycle::SentBack::Blocked => {
            store::record_outcome(tx, task, crate::model::stats::Outcome::Blocked)?;
            format!("reverted automatically as {revert}; blocked after {} attempts", lifecycle::attempts_used(task))
        }
    };
    d.evidence = failed.evidence.clone();
    store::append_decision(tx, &d)?;
    Ok(())
}

/// The tasks to revert, and the merged dependants left merged (to warn about).
fn choose(
    tasks: &[Task],
    score_id: &str,
    task: Option<&str>,
    with_dependants: bool,
) -> Result<(Vec<String>, Vec<String>), ApprovalError> {
    let Some(id) = task else {
        let all: Vec<String> = tasks.iter().filter(|t| t.status == TaskStatus::Merged).map(|t| t.id.clone()).collect();
        if all.is_empty() {
            return Err(lifecycle::Refusal::NothingMerged { score: score_id.to_owned() }.into());
        }
        return Ok((all, Vec::new()));
    };
    let t = tasks
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(|| store::Error::TaskNotFound { score: score_id.to_owned(), task: id.to_owned() })?;
    lifecycle::can_revert(t)?;
    let dependants = lifecycle::merged_dependants(id, tasks);
    if with_dependants {
        let mut all = dependants;
        all.push(id.to_owned());
        return Ok((all, Vec::new()));
    }
    Ok((vec![id.to_owned()], dependants.iter().map(|d| format!("{score_id}/{d}")).collect()))
}

/// Write a revert commit for each merge on top of `tip`, in order; the new tip.
fn revert_all(
    store: &Store,
    score_id: &str,
    tip: ObjectId,
    merged: &[(Task, ObjectId)],
    decisions: &[String],
) -> Result<ObjectId, ApprovalError> {
    let mut current = tip;
    for ((t, merge), decision) in merged.iter().zip(decisions) {
        let message = format!(
            "Revert {}: {}\n\n{REVERTS}{merge}.\n\nMaestro-Score: {score_id}\nMaestro-Task: {}\n\
             Maestro-Decision: {decision}\n",
            t.address(),
            t.title,
            t.id
        );
        current = revert(store, current, *merge, &message)?
            .map_err(|paths| ApprovalError::RevertConflict { task: t.address(), paths })?;
    }
    Ok(current)
}

/// Write a commit on top of `tip` that undoes the merge `merge` (relative to its first
/// parent), with `message` (which names the merge after `REVERTS`); the new commit, or the
/// conflicting paths.
pub(super) fn revert(
    store: &Store,
    tip: ObjectId,
    merge: ObjectId,
    message: &str,
) -> Result<Result<ObjectId, Vec<String>>, ApprovalError> {
    let repo = &store.repo;
    let info = repo.commit_info(merge)?;
    let before =
        *info.parents.first().ok_or_else(|| ApprovalError::NoBranch(format!("the first parent of {merge}")))?;
    let tree = match repo.merge_trees(info.tree, repo.commit_tree(tip)?, repo.commit_tree(before)?)? {
        MergeResult::Clean(tree) => tree,
        MergeResult::Conflicts(paths) => return Ok(Err(paths)),
    };
    let identity = (store.session.actor.as_str(), store.session.email.as_str());
    Ok(Ok(repo.write_commit(tree, &[tip], message, identity, store.session.now().as_second())?))
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
