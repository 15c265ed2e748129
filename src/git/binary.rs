//! The `git` binary: only for what DESIGN.md §1 reserves for it (push, fetch, housekeeping,
//! refreshing a checked-out worktree) and for reporting its version.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{Error, Result};

/// A parsed `git --version`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GitVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl std::fmt::Display for GitVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl GitVersion {
    /// The oldest git maestro supports: worktree and push features it relies on exist since 2.25.
    pub const MINIMUM: GitVersion = GitVersion { major: 2, minor: 25, patch: 0 };

    fn parse(text: &str) -> Option<GitVersion> {
        let rest = text.trim().strip_prefix("git version ")?;
        let mut parts = rest.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
        Some(GitVersion {
            major: parts.next()?.parse().ok()?,
            minor: parts.next()?.parse().ok()?,
            patch: parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
        })
    }
}

/// Run `git --version`. A missing binary or an unparseable answer is an error naming the problem.
pub fn git_version() -> Result<GitVersion> {
    let output = Command::new("git")
        .arg("--version")
        .output()
        .map_err(|e| Error::Binary(format!("cannot run `git --version`: {e}")))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(Error::Binary(format!("`git --version` failed: {}", output.status)));
    }
    GitVersion::parse(&text).ok_or_else(|| Error::Binary(format!("cannot parse `git --version` output: {text:?}")))
}

/// Run `git -C <dir> <args>` with stdin closed; its stdout, or an error quoting its stderr.
pub(super) fn run_git(dir: &Path, args: &[&str]) -> Result<String> {
    output(Command::new("git").arg("-C").arg(dir).args(args), dir, args)
}

/// Run git on a task worktree a confined run may have written (DESIGN §13): `GIT_DIR`,
/// `GIT_COMMON_DIR` and `GIT_WORK_TREE` pinned to `admin` (the admin dir the repository
/// records, [`super::Repo::worktree_admin_dir`]), so a redirected `.git` file is not followed,
/// and no hook or fsmonitor of anyone's runs.
pub(super) fn run_git_pinned(repo: &super::Repo, worktree: &Path, admin: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(worktree)
        .args(["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"])
        .args(args)
        .env("GIT_DIR", admin)
        .env("GIT_COMMON_DIR", repo.common_dir())
        .env("GIT_WORK_TREE", worktree);
    output(&mut cmd, worktree, args)
}

fn output(cmd: &mut Command, dir: &Path, args: &[&str]) -> Result<String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| Error::Binary(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "`git {}` in {} failed: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl super::Repo {
    /// The configured remotes' names.
    pub fn remote_names(&self) -> Vec<String> {
        self.inner.remote_names().iter().map(|n| n.to_string()).collect()
    }

    /// `git push <remote> <refspec>`, never forced: a rejected push is an error. Run from the
    /// worktree's top, as git itself resolves a relative remote URL.
    pub fn push(&self, remote: &str, refspec: &str) -> Result<()> {
        run_git(self.workdir().unwrap_or(self.common_dir()), &["push", "--quiet", remote, refspec]).map(drop)
    }

    /// `git fetch <remote> <refspec>`.
    pub fn fetch(&self, remote: &str, refspec: &str) -> Result<()> {
        self.fetch_all(remote, &[refspec.to_owned()])
    }

    /// One `git fetch <remote> <refspec>...`: a single round trip for all of them.
    pub fn fetch_all(&self, remote: &str, refspecs: &[String]) -> Result<()> {
        let dir = self.workdir().unwrap_or(self.common_dir());
        // No `gc --auto` or maintenance: a sync fetches every second in a run, and their
        // ref packing would hold locks on the refs a sync moves next.
        let mut args = vec!["-c", "gc.auto=0", "-c", "maintenance.auto=false", "fetch", "--quiet"];
        args.extend(["--no-write-fetch-head", remote]);
        args.extend(refspecs.iter().map(String::as_str));
        run_git(dir, &args).map(drop)
    }

    /// [`Repo::fetch_all`] where the first refspec names one ref that may not exist there:
    /// `Ok(false)` when the remote has no such ref (the other refspecs are fetched alone then).
    pub fn fetch_if_present(&self, remote: &str, refspecs: &[String]) -> Result<bool> {
        match self.fetch_all(remote, refspecs) {
            Ok(()) => Ok(true),
            Err(Error::Failed(message)) if message.contains("couldn't find remote ref") => {
                if refspecs.len() > 1 {
                    self.fetch_all(remote, &refspecs[1..])?;
                }
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// `git push --porcelain --no-verify <remote> <refspec>`, never forced: for callers that
    /// ran the pre-push checks themselves. `Ok(false)` when the remote rejected it because its
    /// ref moved (not a fast-forward); other failures are errors.
    pub fn push_if_fast_forward(&self, remote: &str, refspec: &str) -> Result<bool> {
        Ok(self.push_fast_forwards(remote, &[refspec.to_owned()])?.is_empty())
    }

    /// [`Repo::push_if_fast_forward`] of several refspecs in one push. Returns the remote refs
    /// it rejected because they moved; other refusals are errors.
    pub fn push_fast_forwards(&self, remote: &str, refspecs: &[String]) -> Result<Vec<String>> {
        if refspecs.is_empty() {
            return Ok(Vec::new());
        }
        let dir = self.workdir().unwrap_or(self.common_dir());
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["push", "--porcelain", "--no-verify", remote])
            .args(refspecs)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Binary(format!("cannot run `git push`: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("`git push {remote} {}`", refspecs.join(" "));
        // Porcelain: `<flag>\t<from>:<to>\t<summary>`; `!` is a rejection.
        let mut moved = Vec::new();
        for line in stdout.lines().filter(|l| l.starts_with('!')) {
            // The remote's ref moved: before we sent (`fetch first`, `non-fast-forward`), or
            // while its receive-pack held the ref lock (`failed to update ref`).
            if !["non-fast-forward", "fetch first", "failed to update ref"].iter().any(|m| line.contains(m)) {
                return Err(Error::Failed(format!("{what} was refused: {}{}", line.trim(), hook_output(&stderr))));
            }
            let to = line.split('\t').nth(1).and_then(|r| r.rsplit(':').next()).unwrap_or_default();
            moved.push(to.to_owned());
        }
        if moved.is_empty() && !out.status.success() {
            return Err(Error::Failed(format!("{what} failed: {}", stderr.trim())));
        }
        Ok(moved)
    }
}

/// What a refusing hook printed, for the error.
fn hook_output(stderr: &str) -> String {
    let text = stderr.trim();
    if text.is_empty() { String::new() } else { format!("\n{text}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_and_vendor_versions() {
        assert_eq!(GitVersion::parse("git version 2.47.3\n"), Some(GitVersion { major: 2, minor: 47, patch: 3 }));
        assert_eq!(
            GitVersion::parse("git version 2.39.5 (Apple Git-154)"),
            Some(GitVersion { major: 2, minor: 39, patch: 5 })
        );
        assert_eq!(GitVersion::parse("git version 2.45.windows.1").map(|v| v.minor), Some(45));
        assert_eq!(GitVersion::parse("hg 6.0"), None);
    }
}
