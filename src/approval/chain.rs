//! Running a task's approval chain up to its first step that waits for someone.
//!
//! Steps run in order and the first rejection stops the chain. `checks` runs the task's named
//! checks (commands from trusted config only; a Score names checks, never commands) in the
//! task's worktree and records the evidence. `human` and `pr` wait: the chain stops there and
//! `git maestro approve` (or the PR) gives the verdict. A chain with no waiting step approves
//! the task when every step passed.

use std::path::Path;
use std::time::Duration;

use super::ApprovalError;
use crate::config::Config;
use crate::git::Repo;
use crate::model::{DecisionKind, Evidence, Task, TaskStatus};
use crate::performer::runner::{self, Exit, ProcessSpec};
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
    /// The chain waits at `step` (a person, or a pull request).
    Waiting { step: String, evidence: Vec<Evidence> },
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
    #[error(transparent)]
    Approval(#[from] ApprovalError),
    #[error("cannot run a check: {0}")]
    Io(#[from] std::io::Error),
}

impl From<store::Error> for ChainError {
    fn from(e: store::Error) -> Self {
        ChainError::Approval(e.into())
    }
}

/// Run the chain of `score/task` whose worktree is `worktree`, with `env` for checks.
pub fn run_chain(
    store: &Store,
    config: &Config,
    score: &str,
    task_id: &str,
    worktree: &Path,
    env: &[(String, String)],
) -> Result<ChainOutcome, ChainError> {
    let view = store.view()?;
    let s = store::score(&view, score)?;
    let task = store::task(&view, score, task_id)?;
    if task.status != TaskStatus::Submitted {
        return Err(ChainError::NotSubmitted { task: task.address(), status: task.status });
    }
    let steps = task.approval.clone().unwrap_or(s.approval);
    let mut evidence = Vec::new();
    for step in &steps {
        match step.as_str() {
            "checks" => {
                for name in &task.checks {
                    let check = config.checks.get(name).ok_or_else(|| ChainError::UnknownCheck(name.clone()))?;
                    let e = run_check(&store.repo, &task, name, &check.run, check.timeout, worktree, env)?;
                    let failed = e.exit != "0";
                    evidence.push(e);
                    if failed {
                        let reason =
                            format!("check {name} failed (exit {})", evidence.last().map_or("?", |e| e.exit.as_str()));
                        record(store, &task, false, &reason, &evidence)?;
                        return Ok(ChainOutcome::Rejected { step: step.clone(), reason, evidence });
                    }
                }
            }
            "human" | "pr" => {
                if !evidence.is_empty() {
                    record_evidence(store, &task, &evidence)?;
                }
                return Ok(ChainOutcome::Waiting { step: step.clone(), evidence });
            }
            other => return Err(ChainError::Unsupported(other.to_owned())),
        }
    }
    record(store, &task, true, "every approval step passed", &evidence)?;
    Ok(ChainOutcome::Approved { evidence })
}

pub(super) fn run_check(
    repo: &Repo,
    task: &Task,
    name: &str,
    command: &str,
    timeout: u64,
    worktree: &Path,
    env: &[(String, String)],
) -> Result<Evidence, ChainError> {
    let logs = repo.common_dir().join("maestro/logs").join(&task.score).join(&task.id);
    let transcript = logs.join(format!("check-{name}.log"));
    let spec = ProcessSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), command.to_owned()],
        cwd: worktree.to_owned(),
        env: env.to_vec(),
        stdin: Vec::new(),
        timeout: Duration::from_secs(timeout),
        transcript: transcript.clone(),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (_keep, cancel) = tokio::sync::watch::channel(false);
    let out = rt.block_on(runner::run(&spec, |_| {}, cancel))?;
    let mut output = std::fs::read(&transcript).unwrap_or_default();
    output.extend(std::fs::read(transcript.with_extension("stderr")).unwrap_or_default());
    let digest = repo.blob_id(&output).map_err(ApprovalError::from)?.to_string();
    let text = String::from_utf8_lossy(&output);
    let start = text.char_indices().rev().nth(TAIL_BYTES).map_or(0, |(i, _)| i);
    Ok(Evidence {
        check: name.to_owned(),
        exit: match out.exit {
            Exit::Code(c) => c.to_string(),
            other => other.to_string(),
        },
        duration_ms: out.duration.as_millis() as u64,
        digest,
        tail: crate::model::redact::redact(&text[start..]),
    })
}

/// The verdict of the automatic steps: approve or reject, as a decision with the evidence.
fn record(store: &Store, task: &Task, approve: bool, reason: &str, evidence: &[Evidence]) -> Result<(), ChainError> {
    let (score, id) = (task.score.as_str(), task.id.as_str());
    let _written = store.transact(&format!("approval chain of {score}/{id}"), |tx| {
        let mut t = store::task(tx, score, id)?;
        let (status, kind, verb) = if approve {
            (TaskStatus::Approved, DecisionKind::Approval, "approved")
        } else {
            (TaskStatus::Rejected, DecisionKind::Rejection, "rejected")
        };
        t.transition(status, tx.now)?;
        tx.put(&layout::task_file(score, id), &t)?;
        let mut d =
            store::new_decision(tx, kind, format!("checks {verb} {score}/{id}"), "checks").about(score, Some(id));
        d.rationale = reason.to_owned();
        d.evidence = evidence.to_vec();
        store::append_decision(tx, &d)?;
        Ok::<_, ApprovalError>(())
    })?;
    Ok(())
}

/// Passing evidence before a waiting step, kept as a decision for the person who decides.
fn record_evidence(store: &Store, task: &Task, evidence: &[Evidence]) -> Result<(), ChainError> {
    let (score, id) = (task.score.as_str(), task.id.as_str());
    let _written = store.transact(&format!("checks passed for {score}/{id}"), |tx| {
        let mut d =
            store::new_decision(tx, DecisionKind::Approval, format!("checks passed for {score}/{id}"), "checks")
                .about(score, Some(id));
        d.rationale = "every check passed; waiting for the next approval step".into();
        d.evidence = evidence.to_vec();
        store::append_decision(tx, &d)
    })?;
    Ok(())
}
