//! The board's actions that run outside its drawing loop: a retry (`git maestro task run` as a
//! child process, detached from the terminal), a stop (`task stop`'s request), a shell in the
//! task's worktree, and a merge (`git maestro merge`'s code).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::cli::context::Context;
use crate::cli::error::CommandError;
use crate::model::TaskStatus;
use crate::store::Store;

/// The first line of an error, for the status line.
pub fn said(e: CommandError) -> String {
    e.render().lines().next().unwrap_or_default().to_owned()
}

/// Retries started from the board, until they end.
#[derive(Default)]
pub struct Retries {
    running: Vec<(String, Child, PathBuf)>,
}

impl Retries {
    /// Start `git maestro task run score/task` for a task whose status lets it start; what to
    /// show.
    pub fn start(&mut self, ctx: &Context, store: &Store, score: &str, task: &str) -> String {
        let address = format!("{score}/{task}");
        let status = match store.view().and_then(|v| crate::store::task(&v, score, task)) {
            Ok(t) => t.status,
            Err(e) => return said(e.into()),
        };
        use TaskStatus as S;
        if !matches!(status, S::Failed | S::Rejected | S::Conflict | S::Blocked | S::Ready) {
            return format!(
                "{address} is {status}: only a failed, rejected, conflict, blocked or ready task can be retried"
            );
        }
        if self.running.iter().any(|(a, ..)| a == &address) {
            return format!("a retry of {address} is already running");
        }
        match spawn(ctx, store, score, task) {
            Ok((child, log)) => {
                self.running.push((address.clone(), child, log));
                format!("started retry of {address}")
            }
            Err(e) => format!("cannot start a retry of {address}: {e}"),
        }
    }

    /// The retries that ended since the last call, as messages.
    pub fn ended(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        self.running.retain_mut(|(address, child, log)| match child.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                let how = status.code().map_or_else(|| status.to_string(), |c| format!("exit {c}"));
                out.push(format!("retry of {address} ended ({how}); its output is in {}", log.display()));
                false
            }
            Err(e) => {
                out.push(format!("retry of {address}: {e}"));
                false
            }
        });
        out
    }
}

/// `git maestro task run score/task` in its own process group, its input empty and its output
/// in `<git-common-dir>/maestro/logs/board/<score>/<task>-<time>.log`.
fn spawn(ctx: &Context, store: &Store, score: &str, task: &str) -> std::io::Result<(Child, PathBuf)> {
    use std::os::unix::process::CommandExt as _;
    let dir = store.repo.common_dir().join("maestro/logs/board").join(score);
    std::fs::create_dir_all(&dir)?;
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.fZ").to_string();
    let log = dir.join(format!("{task}-{stamp}.log"));
    let out = std::fs::File::create(&log)?;
    let child = Command::new(std::env::current_exe()?)
        .args(["task", "run", &format!("{score}/{task}")])
        .current_dir(ctx.dir())
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()?;
    Ok((child, log))
}

/// Ask the run holding `score/task` to stop, as `git maestro task stop` does.
pub fn stop(store: &Store, score: &str, task: &str) -> String {
    match crate::performer::stop::request(store, score, task) {
        Ok(r) => format!("asked run {} of {} to stop", r.run, r.task),
        Err(e) => said(e.into()),
    }
}

/// `$SHELL` (or `sh`) in the task's worktree, on the terminal; what to show after.
pub fn shell(store: &Store, score: &str, task: &str) -> String {
    let worktree = match super::super::task::worktree_root(store) {
        Ok(root) => root.join(score).join(task),
        Err(e) => return said(e),
    };
    if !worktree.is_dir() {
        return format!("{score}/{task} has no worktree here ({})", worktree.display());
    }
    let shell = std::env::var_os("SHELL").filter(|s| !s.is_empty()).unwrap_or_else(|| "sh".into());
    match Command::new(&shell).current_dir(&worktree).status() {
        Ok(s) => format!("shell in {score}/{task} ended ({s})"),
        Err(e) => format!("cannot run {}: {e}", shell.to_string_lossy()),
    }
}

/// Merge `score/task` as `git maestro merge` does.
pub fn merge(ctx: &Context, store: &Store, score: &str, task: &str) -> String {
    let merge = &super::super::merge::integrate;
    match merge(ctx, store, score, task).and_then(|o| super::super::merge::merged(score, task, o)) {
        Ok(commit) => format!("{score}/{task}  merged  {}", &commit[..12.min(commit.len())]),
        Err(e) => said(e),
    }
}
