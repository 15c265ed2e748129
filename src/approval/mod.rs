//! Approval and integration: verdicts on results, and merging approved tasks into the Score's
//! integration branch (DESIGN.md §6).
//!
//! Every verdict is a decision record. Merges happen in memory through gix (no checkout) and
//! move `maestro/<score>/integration` by compare-and-swap; a conflict moves nothing and records
//! the paths on the task.

mod agent;
mod chain;
mod forecast;
mod gh;
mod land;
mod pr;
mod pr_feedback;
mod rollback;
pub mod share;

pub use chain::{ChainContext, ChainError, ChainOutcome, run_chain};
pub use forecast::{
    ForecastConflict, ScopeOverlap, conflicts, forecast, forecast_between, forecast_sides, globs_overlap,
    interface_warnings, is_active, open_overlaps, scope_overlaps,
};
pub use land::{Landed, land};
pub use pr::{LandingPr, PrOpened, PrState, land_with_pr, open_task_pr};
pub use pr_feedback::{sendbacks, spent_performers};
pub use rollback::{RolledBack, rollback};

use crate::git::{self, MergeResult, ObjectId};
use crate::model::branches::task_branch;
use crate::model::intent::{Effect, Step};
pub use crate::model::lifecycle::ScoreApproval;
use crate::model::stats::Outcome;
use crate::model::{DecisionKind, Score, Task, TaskStatus, lifecycle};
use crate::store::{self, Store, layout};

/// Why an approval step or a merge could not happen.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("{task} is {status}; only a submitted result can have a pull request")]
    NotSubmitted { task: String, status: TaskStatus },
    #[error("{}", match .wanted {
        Some(w) => format!("no remote named {w:?}"),
        None if .remotes.is_empty() => "this repository has no remote to push to".to_owned(),
        None => "several remotes are configured; say which one to use".to_owned(),
    })]
    NoRemote { wanted: Option<String>, remotes: Vec<String> },
    #[error("{0}")]
    PullRequest(String),
    #[error("reverting {task} conflicts with later changes in: {}", .paths.join(", "))]
    RevertConflict { task: String, paths: Vec<String> },
    #[error("{branch} is checked out in {} with uncommitted changes", .worktree.display())]
    DirtyTarget { branch: String, worktree: std::path::PathBuf },
    #[error("merging {score} into its target conflicts in: {}", .paths.join(", "))]
    LandConflict { score: String, paths: Vec<String> },
    #[error("check {0:?} is not defined in trusted config")]
    UnknownCheck(String),
    #[error("cannot run a check: {0}")]
    Check(String),
    #[error("{0} does not exist")]
    NoBranch(String),
    #[error("{branch} was cleaned up by gc: its tip {tip} is archived under {archive}")]
    Archived { branch: String, tip: String, archive: String },
    #[error("the Score's target branch {0:?} does not exist")]
    NoTarget(String),
    #[error("{branch} is checked out in a worktree; git-maestro never moves a checked-out branch")]
    CheckedOut { branch: String },
    #[error("{task}'s result is already in {branch}: merging it would change nothing")]
    AlreadyIntegrated { task: String, branch: String },
    #[error("{0} moved while merging; run the command again")]
    Moved(String),
    #[error(transparent)]
    Refused(#[from] lifecycle::Refusal),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Task(#[from] crate::model::TaskError),
    #[error(transparent)]
    Score(#[from] crate::model::score::ScoreTransitionError),
    #[error(transparent)]
    Git(#[from] git::Error),
}

/// Why the integration branch of `score_id` is missing: `gc` archived it, or there is none.
pub(crate) fn missing_integration(store: &Store, score_id: &str) -> ApprovalError {
    let branch = crate::model::branches::integration_branch(score_id);
    match store.archived_integration(score_id) {
        Ok(Some(tip)) => {
            ApprovalError::Archived { branch, tip: tip.to_string(), archive: Store::archive_ref(score_id) }
        }
        Ok(None) => ApprovalError::NoBranch(format!("refs/heads/{branch}")),
        Err(e) => e.into(),
    }
}

/// The scratch worktree a reviewer of `task` works in, beside the task worktrees under `root`.
/// Scratch worktrees are detached and reset on every use; their names have a dot, which no
/// task id has.
pub fn review_worktree(root: &std::path::Path, score: &str, task: &str) -> std::path::PathBuf {
    root.join(score).join(format!("{task}.review"))
}

/// The scratch worktree the Score's post-merge checks run in.
pub fn integration_worktree(root: &std::path::Path, score: &str) -> std::path::PathBuf {
    root.join(score).join("integration.post-merge")
}

pub use crate::model::branches::integration_branch;

/// A human verdict on a submitted task: approve, or reject with a reason. Returns the task.
///
/// The rules are the lifecycle's ([`lifecycle::human_verdict`]): an approval at a `human` step
/// with more steps after it records the step as passed; anywhere else it decides outright.
/// Approving a merged checkpoint task lets its dependants start.
pub fn review(store: &Store, score: &str, task: &str, approve: bool, message: &str) -> Result<Task, ApprovalError> {
    let actor = store.session.actor.clone();
    let verb = if approve { "approve" } else { "reject" };
    let outcome = store.transact(&format!("{verb} {score}/{task}"), |tx| {
        let mut t = store::task(tx, score, task)?;
        let steps = t.approval.clone().unwrap_or(store::score(tx, score)?.approval);
        lifecycle::human_verdict(&mut t, &steps, approve, tx.now)?;
        tx.put(&layout::task_file(score, task), &t)?;
        let kind = if approve { DecisionKind::Approval } else { DecisionKind::Rejection };
        let summary = format!("{actor} {verb}d {score}/{task}");
        let mut d = store::new_decision(tx, kind, summary, &actor).about(score, Some(task));
        d.rationale = crate::model::redact::redact(message);
        store::append_decision(tx, &d)?;
        Ok::<_, ApprovalError>(t)
    })?;
    Ok(outcome.value)
}

/// Score-level approval: a draft's plan, or afterwards, landing the integration branch at its
/// current tip. `actor` is who approves (a person, or `pr` for a pull request's verdict).
pub fn approve_score(
    store: &Store,
    score: &str,
    actor: &str,
    message: &str,
) -> Result<(Score, ScoreApproval), ApprovalError> {
    let outcome = store.transact(&format!("approve {score}"), |tx| {
        // Read after the settling of this write: a merge's branch move may have been due.
        let tip = store.repo.read_ref(&format!("refs/heads/{}", integration_branch(score)))?.map(|c| c.to_string());
        let (mut s, tasks) = store::score_with_readable_tasks(tx, score)?;
        let decision = tx.new_id();
        let which = lifecycle::approve_score(&mut s, &tasks, tip.as_deref(), actor, &decision, tx.now)?;
        tx.put(&layout::score_file(score), &s)?;
        let summary = match which {
            ScoreApproval::Plan => format!("{actor} approved the plan of {score}"),
            ScoreApproval::Landing => {
                format!("{actor} approved landing {score} at {}", tip.as_deref().map_or("", |t| &t[..12]))
            }
        };
        let mut d = store::new_decision(tx, DecisionKind::Approval, summary, actor).about(score, None);
        d.id = decision;
        d.commit = tip.clone().filter(|_| which == ScoreApproval::Landing);
        d.rationale = crate::model::redact::redact(message);
        store::append_decision(tx, &d)?;
        Ok::<_, ApprovalError>((s, which))
    })?;
    Ok(outcome.value)
}

/// What [`integrate`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Integrated {
    /// Merged; the integration branch points at `commit`.
    Merged { commit: String },
    /// Conflicted; nothing moved, the task is `conflict` with these paths.
    Conflict { paths: Vec<String> },
    /// Merged, then reverted because a post-merge check failed; the task went back for rework
    /// with the check's output, or was blocked, out of attempts (`sent_back`).
    Reverted { merge: String, revert: String, reason: String, sent_back: lifecycle::SentBack },
}

/// What post-merge checks need: trusted config, where the integration worktree lives, the
/// environment checks run with, and the supervisor binary.
pub struct PostMerge<'a> {
    pub config: &'a crate::config::Config,
    pub worktree: std::path::PathBuf,
    pub env: Vec<(String, String)>,
    /// This git-maestro binary, which supervises the checks.
    pub maestro_exe: std::path::PathBuf,
}

/// Merge the approved task `score/task` into the Score's integration branch (created from the
/// target's tip on first use), then run the Score's post-merge checks in a detached integration
/// worktree. A failing check reverts the merge at once and, in the same transaction, records
/// why and sends the task back for rework with the check's output (see
/// [`lifecycle::post_merge_failed`]); its next run starts from its change re-applied on the
/// integration tip.
pub fn integrate(
    store: &Store,
    score_id: &str,
    task_id: &str,
    post: &PostMerge<'_>,
) -> Result<Integrated, ApprovalError> {
    // Sharing the branch with a remote, or settling a move a stopped merge left due, may move
    // it meanwhile: then merge again on the new tip.
    let mut moved = 0;
    let merge = loop {
        match merge_task(store, score_id, task_id) {
            Ok(Ok(merge)) => break merge,
            Ok(Err(paths)) => return Ok(Integrated::Conflict { paths }),
            Err(ApprovalError::Moved(_)) if moved < 3 => moved += 1,
            Err(e) => return Err(e),
        }
    };
    let integrated = Integrated::Merged { commit: merge.to_string() };
    let view = store.view()?;
    let (score, task) = (store::score(&view, score_id)?, store::task(&view, score_id, task_id)?);
    if score.post_merge_checks.is_empty() {
        return Ok(integrated);
    }
    store.repo.detached_worktree_at(&post.worktree, merge)?;
    // The integration worktree gets its own ports, and its setup when it is new; a setup that
    // fails leaves the merge unchecked, so it is reverted as a failing check would be.
    let logs = store.repo.common_dir().join("maestro/logs").join(score_id).join(task_id);
    let (_ports, env) = match crate::performer::setup::ready(
        &store.repo,
        &post.config.setup,
        &post.worktree,
        &post.env,
        &post.maestro_exe,
        logs,
    ) {
        Ok(ready) => ready,
        Err(why) => {
            let failed = check_failed(&task, format!("post-merge {why}"), Vec::new());
            return revert_failed(store, (score_id, task_id), merge, failed);
        }
    };
    let mut evidence = Vec::new();
    for name in &score.post_merge_checks {
        let check = post.config.checks.get(name).ok_or_else(|| ApprovalError::UnknownCheck(name.clone()))?;
        let e =
            chain::run_check(&store.repo, &task, check, &post.worktree, &env, &post.maestro_exe).map_err(
                |e| match e {
                    ChainError::Approval(a) => a,
                    other => ApprovalError::Check(other.to_string()),
                },
            )?;
        let failed = e.exit != "0";
        evidence.push(e);
        if failed {
            let exit = evidence.last().map_or("?".to_owned(), |e| e.exit.clone());
            let failed = check_failed(&task, format!("post-merge check {name} failed (exit {exit})"), evidence);
            return revert_failed(store, (score_id, task_id), merge, failed);
        }
    }
    Ok(integrated)
}

/// What a failed post-merge check (or setup) of `task` says, for the decision and the rework.
fn check_failed(
    task: &Task,
    summary: String,
    evidence: Vec<crate::model::decision::Evidence>,
) -> rollback::CheckFailed {
    let tail = evidence.last().map_or("", |e| e.tail.as_str());
    let mut rework = format!(
        "{summary} once {} was merged into {}, so its merge was reverted. This run starts from that change \
         applied again on the integration branch (where it still applies): fix what the check reports.",
        task.address(),
        integration_branch(&task.score)
    );
    if !tail.trim().is_empty() {
        rework.push_str(&format!("\nThe end of the check's output:\n{tail}"));
    }
    rollback::CheckFailed { summary, rework, evidence }
}

/// Revert the merge `merge` of a task whose post-merge checks failed (or could not run), and
/// send the task back with why, in one transaction.
fn revert_failed(
    store: &Store,
    (score_id, task_id): (&str, &str),
    merge: ObjectId,
    failed: rollback::CheckFailed,
) -> Result<Integrated, ApprovalError> {
    let reverted = rollback::revert_merges(store, score_id, Some(task_id), false, Some(&failed))?;
    let sent_back = reverted.sent_back.unwrap_or(lifecycle::SentBack::Rework);
    Ok(Integrated::Reverted { merge: merge.to_string(), revert: reverted.commit, reason: failed.summary, sent_back })
}

/// Merge the task; `Ok(Err(paths))` when it conflicts (recorded on the task).
///
/// The merge commit is written first (an object no ref names yet); then one transaction
/// records the task as merged *and* the intent to move the integration branch, which the store
/// applies at once. A crash at any point leaves either nothing or a recorded step whose branch
/// move the next command completes: the state and the branch never disagree.
fn merge_task(store: &Store, score_id: &str, task_id: &str) -> Result<Result<ObjectId, Vec<String>>, ApprovalError> {
    let repo = &store.repo;
    let view = store.view()?;
    let (score, task) = (store::score(&view, score_id)?, store::task(&view, score_id, task_id)?);
    lifecycle::can_merge(&task)?;
    let task_ref = format!("refs/heads/{}", task_branch(score_id, task_id));
    let tip = repo.read_ref(&task_ref)?.ok_or_else(|| ApprovalError::NoBranch(task_ref.clone()))?;
    let integration = format!("refs/heads/{}", integration_branch(score_id));
    if repo.checked_out_refs()?.contains(&integration) {
        return Err(ApprovalError::CheckedOut { branch: integration_branch(score_id) });
    }
    // The merge decision's id goes into the merge commit's trailers.
    let decision = store.session.new_id();
    let current = repo.read_ref(&integration)?;
    let base = match current {
        Some(c) => c,
        None => repo
            .read_ref(&format!("refs/heads/{}", score.target))?
            .ok_or_else(|| ApprovalError::NoTarget(score.target.clone()))?,
    };
    if current.is_some() && repo.is_ancestor(tip, base)? {
        return Err(ApprovalError::AlreadyIntegrated { task: task.address(), branch: integration_branch(score_id) });
    }
    let merge = match repo.merge_commits(base, tip)? {
        MergeResult::Conflicts(paths) => Err(paths),
        MergeResult::Clean(tree) => {
            let message = format!(
                "Merge {score_id}/{task_id}: {}\n\nMaestro-Score: {score_id}\nMaestro-Task: {task_id}\n\
                 Maestro-Decision: {decision}\n",
                task.title
            );
            let identity = (store.session.actor.as_str(), store.session.email.as_str());
            Ok(repo.write_commit(tree, &[base, tip], &message, identity, store.session.now().as_second())?)
        }
    };
    crate::failpoint::hit("merge:before-record");
    let actor = store.session.actor.clone();
    let _written = store.transact(&format!("merge {score_id}/{task_id}"), |tx| {
        // Someone (a sync, another merge) moved the branch since: merge again on the new tip.
        if repo.read_ref(&integration)? != current {
            return Err(ApprovalError::Moved(integration.clone()));
        }
        let (mut s, mut t) = (store::score(tx, score_id)?, store::task(tx, score_id, task_id)?);
        let summary = match &merge {
            Ok(commit) => {
                lifecycle::merged(&mut s, &mut t, &commit.to_string(), tx.now)?;
                store::record_outcome(tx, &t, Outcome::Merged)?;
                if current.is_none() {
                    s.base = Some(base.to_string());
                }
                let why = format!("merge {score_id}/{task_id}");
                let effect = Effect::MoveRef {
                    name: integration.clone(),
                    old: current.map(|c| c.to_string()),
                    new: commit.to_string(),
                };
                tx.intend(why, Step::Merge { score: score_id.into(), task: task_id.into() }, vec![effect])?;
                format!(
                    "merged {score_id}/{task_id} into {} as {}",
                    integration_branch(score_id),
                    commit.to_hex_with_len(12)
                )
            }
            Err(paths) => {
                lifecycle::conflicted(&mut t, paths, tx.now)?;
                format!("{score_id}/{task_id} conflicts with {} in {}", integration_branch(score_id), paths.join(", "))
            }
        };
        tx.put(&layout::task_file(score_id, task_id), &t)?;
        if merge.is_ok() {
            // The last task merged: the Score is done.
            let merged = store::every_task_merged(tx, &s)?;
            lifecycle::finish_score(&mut s, merged, tx.now)?;
            tx.put(&layout::score_file(score_id), &s)?;
        }
        let mut d = store::new_decision(tx, DecisionKind::Merge, summary, &actor).about(score_id, Some(task_id));
        decision.clone_into(&mut d.id);
        d.commit = merge.as_ref().ok().map(ToString::to_string);
        store::append_decision(tx, &d)?;
        Ok::<_, ApprovalError>(())
    })?;
    Ok(merge)
}
