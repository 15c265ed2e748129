//! Reading a pull request through GitHub's CLI, `gh` 2.x: its state, head and latest reviews
//! (`gh pr view --json`), its checks (`gh pr checks --json`), the log of a failed Actions run
//! (`gh run view --log-failed`) and its inline review comments (`gh api`).
//!
//! Only what the `pr` approval step needs is parsed; unknown fields are ignored, so newer `gh`
//! releases keep working. `gh` missing or not logged in is a [`GhError`] the step turns into a
//! wait with a hint, never a failure of the task.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

/// Why `gh` gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GhError {
    #[error("`gh` (GitHub CLI) is not on PATH")]
    Missing,
    #[error("`gh` is not logged in: {0}")]
    NotLoggedIn(String),
    #[error("{0}")]
    Failed(String),
}

impl GhError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            GhError::Missing => "install GitHub CLI 2.x (https://cli.github.com) and run `gh auth login`",
            GhError::NotLoggedIn(_) => "run `gh auth login` (or set GH_TOKEN)",
            GhError::Failed(_) => "check the pull request and `gh` by hand, then run the command again",
        }
    }
}

/// `gh pr view --json state,reviewDecision,headRefOid,latestReviews`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrView {
    /// OPEN, CLOSED or MERGED.
    #[serde(default)]
    pub state: String,
    /// APPROVED, CHANGES_REQUESTED, REVIEW_REQUIRED, or empty.
    #[serde(default)]
    pub review_decision: Option<String>,
    #[serde(default)]
    pub head_ref_oid: String,
    #[serde(default)]
    pub latest_reviews: Vec<PrReview>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Login {
    #[serde(default)]
    pub login: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Oid {
    #[serde(default)]
    pub oid: String,
}

/// One review, as `latestReviews` lists them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PrReview {
    #[serde(default)]
    pub author: Login,
    #[serde(default)]
    pub body: String,
    /// APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING.
    #[serde(default)]
    pub state: String,
    /// The commit it reviewed.
    #[serde(default)]
    pub commit: Option<Oid>,
}

/// One check of `gh pr checks --json name,state,bucket,link,workflow`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PrCheck {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub state: String,
    /// pass, fail, pending, skipping or cancel.
    #[serde(default)]
    pub bucket: String,
    #[serde(default)]
    pub link: String,
    #[serde(default)]
    pub workflow: String,
}

impl PrCheck {
    /// The Actions run id in the check's link (`…/actions/runs/<id>/job/<job>`).
    pub fn run_id(&self) -> Option<&str> {
        let rest = self.link.split("/actions/runs/").nth(1)?;
        let id = rest.split('/').next()?;
        (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
    }
}

/// One inline review comment (`GET /repos/{owner}/{repo}/pulls/{n}/comments`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReviewComment {
    #[serde(default)]
    pub id: u64,
    #[serde(default)]
    pub path: String,
    /// The line in the current diff; `None` once outdated.
    #[serde(default)]
    pub line: Option<u64>,
    #[serde(default)]
    pub original_line: Option<u64>,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub user: Login,
    #[serde(default)]
    pub commit_id: String,
    #[serde(default)]
    pub original_commit_id: String,
}

/// `gh`, run in `dir`.
pub struct Gh {
    program: PathBuf,
    dir: PathBuf,
}

impl Gh {
    /// `gh` from `PATH`, or [`GhError::Missing`].
    pub fn locate(dir: &Path) -> Result<Gh, GhError> {
        let program = crate::performer::locate("gh", Path::new(".")).ok_or(GhError::Missing)?;
        Ok(Gh { program, dir: dir.to_owned() })
    }

    /// Run `gh args`; `ok` lists exit codes besides 0 that still carry an answer on stdout.
    fn run(&self, args: &[&str], ok: &[i32]) -> Result<String, GhError> {
        let out = Command::new(&self.program)
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| GhError::Failed(format!("cannot run {}: {e}", self.program.display())))?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        let code = out.status.code().unwrap_or(-1);
        // gh exits 4 when it needs a login (`gh help exit-codes`).
        if code == 4 || stderr.contains("gh auth login") {
            return Err(GhError::NotLoggedIn(first_line(&stderr)));
        }
        if code != 0 && !ok.contains(&code) {
            return Err(GhError::Failed(format!("`gh {}` failed: {}", args[..2].join(" "), first_line(&stderr))));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The pull request at `url`: state, head, review decision and latest reviews.
    pub fn view(&self, url: &str) -> Result<PrView, GhError> {
        let out = self.run(&["pr", "view", url, "--json", "state,reviewDecision,headRefOid,latestReviews"], &[])?;
        parse(&out, "gh pr view")
    }

    /// The PR's checks; none when GitHub reports none yet.
    pub fn checks(&self, url: &str) -> Result<Vec<PrCheck>, GhError> {
        // Exit 1: a check failed; 8: checks pending. Both still print the JSON.
        match self.run(&["pr", "checks", url, "--json", "name,state,bucket,link,workflow"], &[1, 8]) {
            Ok(out) if out.trim().is_empty() => Ok(Vec::new()),
            Ok(out) => parse(&out, "gh pr checks"),
            Err(GhError::Failed(e)) if e.contains("no checks reported") => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The log of the failed steps of Actions run `run`.
    pub fn failed_log(&self, run: &str) -> Result<String, GhError> {
        self.run(&["run", "view", run, "--log-failed"], &[])
    }

    /// The inline review comments of the PR at `url` (`https://<host>/<owner>/<repo>/pull/<n>`).
    pub fn review_comments(&self, url: &str) -> Result<Vec<ReviewComment>, GhError> {
        let Some((host, path)) = api_path(url) else {
            return Err(GhError::Failed(format!("{url} is not a GitHub pull request address")));
        };
        let out = self.run(&["api", "--hostname", &host, &format!("{path}/comments?per_page=100")], &[])?;
        parse(&out, "gh api")
    }
}

fn first_line(text: &str) -> String {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or("no output").trim().to_owned()
}

fn parse<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, GhError> {
    serde_json::from_str(text).map_err(|e| GhError::Failed(format!("cannot read `{what}` output: {e}")))
}

/// `(host, "repos/<owner>/<repo>/pulls/<n>")` for a pull request's web address.
pub fn api_path(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        [host, owner, repo, "pull", n, ..] if n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() => {
            Some(((*host).to_owned(), format!("repos/{owner}/{repo}/pulls/{n}")))
        }
        _ => None,
    }
}

/// The end of a `gh run view --log-failed` log that matters: its last `lines` lines (at most
/// `bytes` bytes), without the job, step and timestamp columns GitHub puts on every line.
pub fn log_tail(log: &str, lines: usize, bytes: usize) -> String {
    let cleaned: Vec<String> = log.lines().map(strip_columns).collect();
    let start = cleaned.len().saturating_sub(lines);
    let mut tail = cleaned[start..].join("\n");
    if tail.len() > bytes {
        let cut = tail.char_indices().map(|(i, _)| i).find(|i| tail.len() - i <= bytes).unwrap_or(tail.len());
        tail = tail[cut..].to_owned();
    }
    tail
}

/// `job<TAB>step<TAB>2024-01-01T00:00:00.0000000Z text` → `[step] text`.
fn strip_columns(line: &str) -> String {
    let mut cols = line.splitn(3, '\t');
    let (Some(_job), Some(step), Some(rest)) = (cols.next(), cols.next(), cols.next()) else {
        return line.to_owned();
    };
    let text = match rest.split_once(' ') {
        Some((stamp, text)) if stamp.len() >= 20 && stamp.ends_with('Z') && stamp.as_bytes()[4] == b'-' => text,
        _ => rest,
    };
    format!("[{step}] {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pull_request_address_names_its_api_path() {
        assert_eq!(api_path("https://github.com/o/r/pull/7"), Some(("github.com".into(), "repos/o/r/pulls/7".into())));
        assert_eq!(api_path("https://github.com/o/r/issues/7"), None);
    }

    #[test]
    fn the_log_tail_drops_githubs_columns_and_keeps_the_end() {
        let log = "build\tRun tests\t2026-01-01T00:00:00.1234567Z line one\n\
                   build\tRun tests\t2026-01-01T00:00:01.1234567Z error: it broke\n";
        assert_eq!(log_tail(log, 1, 1000), "[Run tests] error: it broke");
        assert_eq!(log_tail(log, 10, 8), "it broke");
        let check = PrCheck { link: "https://github.com/o/r/actions/runs/123/job/456".into(), ..PrCheck::default() };
        assert_eq!(check.run_id(), Some("123"));
    }
}
