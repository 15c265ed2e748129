//! Pull requests: the `pr` approval step of a task, and landing a Score with `--pr`.
//!
//! Opening pushes the branch with `git push` (never forced) and, when `gh` is on `PATH`, opens
//! the PR with `gh pr create`. A landing PR's verdict comes from `gh pr view --json
//! reviewDecision,state` for a PR with a URL; otherwise (and for any PR without `gh`) from
//! fetching the remote's base branch and finding the pushed branch merged into it, as happens
//! when someone merges it there with plain git. A task's PR is read by `pr_feedback.rs`: its
//! checks and reviews, which can send the result back for rework.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jiff::Timestamp;

use super::{ApprovalError, integration_branch};
use crate::git::{ObjectId, Repo};
use crate::model::PullRequest;
use crate::model::branches::task_branch;
use crate::store::{self, Store, layout};

/// What a pull request says now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum PrState {
    Approved { how: String },
    Rejected { reason: String },
    Pending { how: String },
}

/// What opening (or refreshing) a pull request did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PrOpened {
    pub pr: PullRequest,
    /// Whether this call pushed (false: the remote already had this commit).
    pub pushed: bool,
    /// Why `gh` could not open the PR, when it is installed but failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gh_error: Option<String>,
}

/// `gh` on `PATH`, if installed.
fn gh() -> Option<PathBuf> {
    crate::performer::locate("gh", Path::new("."))
}

/// The remote to use: `wanted`, else `origin`, else the only one.
pub fn pick_remote(repo: &Repo, wanted: Option<&str>) -> Result<String, ApprovalError> {
    let remotes = repo.remote_names();
    match wanted {
        Some(w) if remotes.iter().any(|r| r == w) => Ok(w.to_owned()),
        Some(w) => Err(ApprovalError::NoRemote { wanted: Some(w.to_owned()), remotes }),
        None if remotes.iter().any(|r| r == "origin") => Ok("origin".into()),
        None if remotes.len() == 1 => Ok(remotes[0].clone()),
        None => Err(ApprovalError::NoRemote { wanted: None, remotes }),
    }
}

/// Push `branch` (at `head`) to `remote` and open a PR into `base`, unless `existing` already
/// covers this commit. Keeps the existing PR's URL when pushing a newer result to it.
fn open(
    repo: &Repo,
    existing: Option<&PullRequest>,
    remote: &str,
    (branch, base, head): (&str, &str, ObjectId),
    (title, body): (&str, &str),
    now: Timestamp,
) -> Result<PrOpened, ApprovalError> {
    if let Some(pr) = existing.filter(|pr| pr.remote == remote && pr.head == head) {
        return Ok(PrOpened { pr: pr.clone(), pushed: false, gh_error: None });
    }
    repo.push(remote, &format!("refs/heads/{branch}:refs/heads/{branch}"))?;
    let mut url = existing.filter(|pr| pr.remote == remote).and_then(|pr| pr.url.clone());
    let mut gh_error = None;
    if url.is_none()
        && let Some(gh) = gh()
    {
        let args = ["pr", "create", "--head", branch, "--base", base, "--title", title, "--body", body];
        match run_gh(&gh, repo, &args) {
            Ok(out) => url = out.lines().rev().find(|l| l.starts_with("http")).map(str::to_owned),
            Err(e) => gh_error = Some(e),
        }
    }
    let pr = PullRequest {
        remote: remote.to_owned(),
        branch: branch.to_owned(),
        base: base.to_owned(),
        head: head.to_string(),
        url,
        opened: existing.map_or(now, |pr| pr.opened),
    };
    Ok(PrOpened { pr, pushed: true, gh_error })
}

fn run_gh(gh: &Path, repo: &Repo, args: &[&str]) -> Result<String, String> {
    let dir = repo.main_workdir().unwrap_or_else(|| repo.common_dir().to_owned());
    let out = Command::new(gh)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", gh.display()))?;
    if !out.status.success() {
        return Err(format!("`gh {}` failed: {}", args[..2].join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The verdict on `pr`, whose branch should now be at `head`.
pub fn state(repo: &Repo, pr: &PullRequest, head: ObjectId) -> Result<PrState, ApprovalError> {
    if pr.head != head {
        return Ok(PrState::Pending {
            how: format!("the pull request shows {}, an older result; push this one first", &pr.head[..12]),
        });
    }
    if let (Some(url), Some(gh)) = (&pr.url, gh()) {
        let out = run_gh(&gh, repo, &["pr", "view", url, "--json", "reviewDecision,state"])
            .map_err(ApprovalError::PullRequest)?;
        let v: serde_json::Value = serde_json::from_str(&out)
            .map_err(|e| ApprovalError::PullRequest(format!("cannot read `gh pr view` output: {e}")))?;
        let (decision, state) = (v["reviewDecision"].as_str().unwrap_or(""), v["state"].as_str().unwrap_or(""));
        return Ok(match (state, decision) {
            ("MERGED", _) => PrState::Approved { how: format!("{url} was merged") },
            (_, "APPROVED") => PrState::Approved { how: format!("{url} was approved") },
            (_, "CHANGES_REQUESTED") => PrState::Rejected { reason: format!("changes were requested on {url}") },
            ("CLOSED", _) => PrState::Rejected { reason: format!("{url} was closed without merging") },
            _ => PrState::Pending { how: format!("{url} waits for review") },
        });
    }
    let tracking = format!("refs/remotes/{}/{}", pr.remote, pr.base);
    repo.fetch(&pr.remote, &format!("+refs/heads/{}:{tracking}", pr.base))?;
    let remote_base = repo.read_ref(&tracking)?.ok_or_else(|| ApprovalError::NoBranch(tracking.clone()))?;
    Ok(if repo.is_ancestor(head, remote_base)? {
        PrState::Approved { how: format!("{} is merged into {}/{}", pr.branch, pr.remote, pr.base) }
    } else {
        PrState::Pending { how: format!("{} is not merged into {}/{} yet", pr.branch, pr.remote, pr.base) }
    })
}

/// Push the submitted task's branch and open its pull request into the Score's target.
pub fn open_task_pr(store: &Store, score: &str, task: &str, remote: Option<&str>) -> Result<PrOpened, ApprovalError> {
    let repo = &store.repo;
    // The branch it pushes must be where the state says, as a stopped process may have left it.
    store.settle_stopped()?;
    let remote = pick_remote(repo, remote)?;
    let view = store.view()?;
    let (s, t) = (store::score(&view, score)?, store::task(&view, score, task)?);
    if t.status != crate::model::TaskStatus::Submitted {
        return Err(ApprovalError::NotSubmitted { task: t.address(), status: t.status });
    }
    let branch = task_branch(score, task);
    let head =
        repo.read_ref(&format!("refs/heads/{branch}"))?.ok_or_else(|| ApprovalError::NoBranch(branch.clone()))?;
    let body = format!("{}\n\nOpened by git-maestro for task {}.", t.spec.trim(), t.address());
    let title = format!("{}: {}", t.address(), t.title);
    let opened = open(repo, t.pr.as_ref(), &remote, (&branch, &s.target, head), (&title, &body), store.session.now())?;
    let pr = opened.pr.clone();
    let _written = store.transact(&format!("open a pull request for {score}/{task}"), |tx| {
        let mut t = store::task(tx, score, task)?;
        t.pr = Some(pr.clone());
        tx.put(&layout::task_file(score, task), &t)
    })?;
    Ok(opened)
}

/// Push the Score's integration branch and open its pull request into the target.
pub fn open_landing_pr(store: &Store, score: &str, remote: Option<&str>) -> Result<PrOpened, ApprovalError> {
    let repo = &store.repo;
    // The integration branch must hold every merge recorded, one a stopped merge left due too.
    store.settle_stopped()?;
    let remote = pick_remote(repo, remote)?;
    let s = store::score(&store.view()?, score)?;
    let branch = integration_branch(score);
    let head =
        repo.read_ref(&format!("refs/heads/{branch}"))?.ok_or_else(|| ApprovalError::NoBranch(branch.clone()))?;
    let body = format!("{}\n\nOpened by git-maestro to land Score {score}.", s.requirement.trim());
    let title = format!("Land {score}: {}", s.title);
    let opened = open(repo, s.pr.as_ref(), &remote, (&branch, &s.target, head), (&title, &body), store.session.now())?;
    let pr = opened.pr.clone();
    let _written = store.transact(&format!("open a landing pull request for {score}"), |tx| {
        let mut s = store::score(tx, score)?;
        s.pr = Some(pr.clone());
        tx.put(&layout::score_file(score), &s)
    })?;
    Ok(opened)
}

/// What `land --pr` did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum LandingPr {
    /// The integration branch was pushed and its PR opened (or given a newer tip); landing
    /// waits for it.
    Opened {
        pr: PullRequest,
        #[serde(skip_serializing_if = "Option::is_none")]
        gh_error: Option<String>,
    },
    /// The PR has no verdict yet.
    Waiting { pr: PullRequest, how: String },
    /// The PR was approved or merged, which was recorded as the landing approval; then the
    /// Score landed.
    Landed { pr: PullRequest, how: String, landed: super::Landed },
}

/// Land `score` through a pull request from its integration branch to its target: open it
/// first, and on a later call land once it is approved (or merged on the remote).
pub fn land_with_pr(store: &Store, score: &str, remote: Option<&str>) -> Result<LandingPr, ApprovalError> {
    let repo = &store.repo;
    store.settle_stopped()?;
    let s = store::score(&store.view()?, score)?;
    let branch = integration_branch(score);
    let tip = repo.read_ref(&format!("refs/heads/{branch}"))?.ok_or_else(|| ApprovalError::NoBranch(branch.clone()))?;
    let current = s.pr.filter(|pr| pr.head == tip && remote.is_none_or(|r| r == pr.remote));
    let Some(pr) = current else {
        let opened = open_landing_pr(store, score, remote)?;
        return Ok(LandingPr::Opened { pr: opened.pr, gh_error: opened.gh_error });
    };
    let how = match state(repo, &pr, tip)? {
        PrState::Pending { how } => return Ok(LandingPr::Waiting { pr, how }),
        PrState::Rejected { reason } => return Err(ApprovalError::PullRequest(reason)),
        PrState::Approved { how } => how,
    };
    match super::approve_score(store, score, "pr", &how) {
        // Approved at this tip already (an earlier `land --pr` stopped after approving).
        Ok(_) | Err(ApprovalError::Refused(crate::model::lifecycle::Refusal::AlreadyApproved { .. })) => {}
        Err(e) => return Err(e),
    }
    let merged_remotely = match pr.url {
        None => repo.read_ref(&format!("refs/remotes/{}/{}", pr.remote, pr.base))?,
        Some(_) => None,
    };
    let landed = super::land(store, score, merged_remotely)?;
    Ok(LandingPr::Landed { pr, how, landed })
}
