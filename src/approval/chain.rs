//! Running a task's approval chain up to its first step that waits for someone.
//!
//! Steps run in order and the first rejection stops the chain. `checks` runs the task's named
//! checks (commands from trusted config only; a Score names checks, never commands) in the
//! task's worktree and records the evidence. `agent:<performer>` asks a reviewer agent for a
//! verdict (see `agent.rs`). `human` and `pr` wait: the chain stops there and
//! `git maestro approve` (or the PR) gives the verdict. A chain with no waiting step approves
//! the task when every step passed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ApprovalError;
use super::pr_feedback::PrStep;
use crate::config::Config;
use crate::git::{ObjectId, Repo};
use crate::model::{DecisionKind, Evidence, Review, Task, TaskStatus};
use crate::performer::runner::Exit;
use crate::performer::setup;
use crate::performer::shell::{self, Shell};
use crate::store::{self, Store, layout};

/// Bytes of check output kept in the state as evidence.
const TAIL_BYTES: usize = 2000;

/// Where the chain stopped.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum ChainOutcome {
    /// Every step passed; the task is approved.
    Approved { evidence: Vec<Evidence> },
    /// A step rejected the result; the task is rejected with `reason`.
    Rejected { step: String, reason: String, evidence: Vec<Evidence> },
    /// The chain waits at `step` (a person, or a pull request), for the reason `why`.
    Waiting { step: String, why: String, evidence: Vec<Evidence> },
}

/// Why a step cannot run at all (as opposed to rejecting).
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("{task} is {status}; only a submitted result goes through approval")]
    NotSubmitted { task: String, status: TaskStatus },
    #[error("check {0:?} is not defined in trusted config")]
    UnknownCheck(String),
    #[error("the approval step {0:?} is not available yet")]
    Unsupported(String),
    #[error("no performer named {0:?} is configured to review")]
    UnknownReviewer(String),
    #[error("`agent:auto` found no performer other than the author to review")]
    NoReviewer,
    #[error("reviewer {name}: {command} not found")]
    ReviewerUnavailable { name: String, command: String },
    #[error("{0} was run again while it was being reviewed; review the new result")]
    Changed(String),
    #[error("the review was interrupted; nothing was recorded")]
    Interrupted,
    #[error("{task}'s result is not in this repository: {branch} is on the machine that ran it")]
    ResultElsewhere { task: String, branch: String },
    #[error("{task}'s result is gone: its branch {branch} was deleted")]
    ResultGone { task: String, branch: String, commit: Option<String> },
    #[error(transparent)]
    Approval(#[from] ApprovalError),
    #[error("cannot run a step: {0}")]
    Io(#[from] std::io::Error),
}

impl From<store::Error> for ChainError {
    fn from(e: store::Error) -> Self {
        ChainError::Approval(e.into())
    }
}

impl From<crate::model::TaskError> for ChainError {
    fn from(e: crate::model::TaskError) -> Self {
        ChainError::Approval(e.into())
    }
}

impl From<crate::git::Error> for ChainError {
    fn from(e: crate::git::Error) -> Self {
        ChainError::Approval(e.into())
    }
}

/// What the steps need beyond the state.
pub struct ChainContext<'a> {
    pub config: &'a Config,
    /// Where this repository's worktrees live: a task's is `<root>/<score>/<task>`.
    pub worktree_root: PathBuf,
    /// The environment checks and reviewers inherit.
    pub env: Vec<(String, String)>,
    /// This git-maestro binary, for a reviewer's MCP server and the supervisor of checks.
    pub maestro_exe: PathBuf,
}

/// One step's verdict, recorded as a decision.
pub(super) struct StepVerdict {
    pub approve: bool,
    pub actor: String,
    pub summary: String,
    pub rationale: String,
    pub evidence: Vec<Evidence>,
    pub review: Option<Review>,
}

/// Why the result of `task`, whose branch `branch` is not here, cannot be checked out: it was
/// made on another machine (sync fetches only a remote-tracking ref of it), or made here and
/// its branch was deleted since. Then its commit, if it is still here, restores the branch.
fn missing_result(store: &Store, task: &Task, branch: String) -> ChainError {
    let here = store.existing_clone_id();
    if !task.claim.as_ref().is_some_and(|c| c.clone.is_some() && c.clone == here) {
        return ChainError::ResultElsewhere { task: task.address(), branch };
    }
    let commit = task
        .attempts
        .last()
        .and_then(|a| a.commit.clone())
        .filter(|c| ObjectId::from_hex(c.as_bytes()).is_ok_and(|id| store.repo.has_object(id)));
    ChainError::ResultGone { task: task.address(), branch, commit }
}

/// Run the chain of the submitted task `score/task`, up to its first waiting step. Each step's
/// verdict is a decision; the last one (or the first rejection) also moves the task.
pub fn run_chain(
    store: &Store,
    ctx: &ChainContext<'_>,
    score: &str,
    task_id: &str,
) -> Result<ChainOutcome, ChainError> {
    // Its steps read the task and integration branches: first the moves a stopped process
    // left due.
    store.settle_stopped()?;
    let view = store.view()?;
    let s = store::score(&view, score)?;
    let task = store::task(&view, score, task_id)?;
    if task.status != TaskStatus::Submitted {
        return Err(ChainError::NotSubmitted { task: task.address(), status: task.status });
    }
    let worktree = ctx.worktree_root.join(score).join(task_id);
    if !worktree.exists() {
        // Pruned, or lost: the result is on the task branch; check it out again for the checks.
        let branch = crate::model::branches::task_branch(score, task_id);
        if store.repo.read_ref(&format!("refs/heads/{branch}"))?.is_none() {
            return Err(missing_result(store, &task, branch));
        }
        store.repo.repair_task_worktree(&worktree, &branch, &worktree.with_extension("broken"))?;
        store.repo.add_worktree(&worktree, &branch)?;
    }
    let steps = task.approval.clone().unwrap_or(s.approval);
    // Steps this result already passed (before a person approved, say) are not run again.
    let done = task.steps_passed(&steps);
    let mut evidence = Vec::new();
    for (i, step) in steps.iter().enumerate().skip(done) {
        let verdict = match step.as_str() {
            "checks" => run_checks(store, ctx, &task, &worktree)?,
            "human" => {
                let why =
                    format!("a person to approve or reject it with `git maestro approve|reject {}`", task.address());
                mark_passed(store, &task, &steps[..i])?;
                return Ok(ChainOutcome::Waiting { step: step.clone(), why, evidence });
            }
            "pr" => match super::pr_feedback::step(store, ctx, &task)? {
                PrStep::Verdict(verdict) => Some(*verdict),
                PrStep::Waiting(why) => {
                    mark_passed(store, &task, &steps[..i])?;
                    return Ok(ChainOutcome::Waiting { step: step.clone(), why, evidence });
                }
                PrStep::SentBack(reason) => return Ok(ChainOutcome::Rejected { step: step.clone(), reason, evidence }),
            },
            other => match other.strip_prefix("agent:") {
                Some(who) => Some(super::agent::review(store, ctx, &task, who)?),
                None => return Err(ChainError::Unsupported(other.to_owned())),
            },
        };
        let Some(verdict) = verdict else { continue };
        evidence.extend(verdict.evidence.iter().cloned());
        if !verdict.approve {
            record(store, &task, None, &verdict, Some(TaskStatus::Rejected))?;
            let reason = verdict.rationale;
            return Ok(ChainOutcome::Rejected { step: step.clone(), reason, evidence });
        }
        if i + 1 == steps.len() {
            record(store, &task, Some(&steps[..=i]), &verdict, Some(TaskStatus::Approved))?;
            return Ok(ChainOutcome::Approved { evidence });
        }
        record(store, &task, Some(&steps[..=i]), &verdict, None)?;
    }
    // The chain is empty, or ends with a step that had nothing to run.
    let verdict = StepVerdict {
        approve: true,
        actor: "checks".into(),
        summary: format!("approved {}: every approval step passed", task.address()),
        rationale: String::new(),
        evidence: Vec::new(),
        review: None,
    };
    record(store, &task, None, &verdict, Some(TaskStatus::Approved))?;
    Ok(ChainOutcome::Approved { evidence })
}

/// Record that the result passed `steps` (the chain reached the step after them), when steps
/// with nothing to run left that unrecorded.
fn mark_passed(store: &Store, task: &Task, steps: &[String]) -> Result<(), ChainError> {
    if task.passed == steps {
        return Ok(());
    }
    let (score, id) = (task.score.as_str(), task.id.as_str());
    let _written = store.transact(&format!("approval steps of {score}/{id}"), |tx| {
        let mut t = store::task(tx, score, id)?;
        if t.status == TaskStatus::Submitted
            && t.attempts.last().map(|a| &a.run) == task.attempts.last().map(|a| &a.run)
        {
            t.passed = steps.to_vec();
            tx.put(&layout::task_file(score, id), &t)?;
        }
        Ok::<_, ChainError>(())
    })?;
    Ok(())
}

/// The `checks` step: every check the task names, in order; `None` when it names none.
fn run_checks(
    store: &Store,
    ctx: &ChainContext<'_>,
    task: &Task,
    worktree: &Path,
) -> Result<Option<StepVerdict>, ChainError> {
    if task.checks.is_empty() {
        return Ok(None);
    }
    // Checks get the worktree's own ports; a worktree made again (after a prune) is set up first.
    let logs = store.repo.common_dir().join("maestro/logs").join(&task.score).join(&task.id);
    let (_ports, env) = setup::ready(&store.repo, &ctx.config.setup, worktree, &ctx.env, &ctx.maestro_exe, logs)
        .map_err(ApprovalError::Check)?;
    let mut evidence = Vec::new();
    for name in &task.checks {
        let check = ctx.config.checks.get(name).ok_or_else(|| ChainError::UnknownCheck(name.clone()))?;
        let e = run_check(&store.repo, task, check, worktree, &env, &ctx.maestro_exe)?;
        let failed = e.exit != "0";
        let exit = e.exit.clone();
        evidence.push(e);
        if failed {
            return Ok(Some(StepVerdict {
                approve: false,
                actor: "checks".into(),
                summary: format!("checks rejected {}", task.address()),
                rationale: format!("check {name} failed (exit {exit})"),
                evidence,
                review: None,
            }));
        }
    }
    Ok(Some(StepVerdict {
        approve: true,
        actor: "checks".into(),
        summary: format!("checks passed for {}", task.address()),
        rationale: "every check passed".into(),
        evidence,
        review: None,
    }))
}

pub(super) fn run_check(
    repo: &Repo,
    task: &Task,
    check: &crate::config::Check,
    worktree: &Path,
    env: &[(String, String)],
    maestro_exe: &Path,
) -> Result<Evidence, ChainError> {
    let (name, command, timeout) = (check.name.as_str(), check.run.as_str(), check.timeout);
    let logs = repo.common_dir().join("maestro/logs").join(&task.score).join(&task.id);
    let transcript = logs.join(format!("check-{name}.log"));
    // Checks run code the agent wrote: confined too, with the network left alone.
    let run_id = format!("check-{}-{name}-{:08x}", task.id, fastrand::u32(..));
    let out = shell::run(
        repo,
        Shell {
            command,
            worktree,
            env: env.to_vec(),
            timeout: Duration::from_secs(timeout),
            transcript,
            supervisor: maestro_exe,
            sandbox: check.sandbox,
            writable: check.writable.clone(),
            run_id,
            interruptible: false,
        },
    )?;
    let digest = repo.blob_id(&out.output).map_err(ApprovalError::from)?.to_string();
    Ok(Evidence {
        check: name.to_owned(),
        // A check that redirected its worktree's link to the repository fails, whatever its
        // exit status said.
        exit: match out.exit {
            _ if !out.relinked.is_empty() => format!("outside write: {}", out.relinked.join(", ")),
            Exit::Code(c) => c.to_string(),
            other => other.to_string(),
        },
        duration_ms: out.duration.as_millis() as u64,
        digest,
        tail: crate::model::redact::redact(&out.tail(TAIL_BYTES)),
    })
}

/// Record `verdict` as a decision and, with `status`, move the task, provided it still holds
/// the result the chain started on. An approval passes the steps up to this one.
fn record(
    store: &Store,
    task: &Task,
    passed: Option<&[String]>,
    verdict: &StepVerdict,
    status: Option<TaskStatus>,
) -> Result<(), ChainError> {
    let (score, id) = (task.score.as_str(), task.id.as_str());
    let reviewed = task.attempts.last().map(|a| a.run.clone());
    let _written = store.transact(&format!("approval step of {score}/{id}"), |tx| {
        let mut t = store::task(tx, score, id)?;
        if t.status != TaskStatus::Submitted || t.attempts.last().map(|a| &a.run) != reviewed.as_ref() {
            return Err(ChainError::Changed(t.address()));
        }
        let approve = status.map(|s| s == TaskStatus::Approved);
        crate::model::lifecycle::verdict(&mut t, approve, passed, tx.now).map_err(ApprovalError::from)?;
        tx.put(&layout::task_file(score, id), &t)?;
        let kind = if verdict.approve { DecisionKind::Approval } else { DecisionKind::Rejection };
        let mut d = store::new_decision(tx, kind, verdict.summary.clone(), &verdict.actor).about(score, Some(id));
        d.rationale.clone_from(&verdict.rationale);
        d.evidence.clone_from(&verdict.evidence);
        d.review.clone_from(&verdict.review);
        store::append_decision(tx, &d)?;
        Ok(())
    })?;
    Ok(())
}
