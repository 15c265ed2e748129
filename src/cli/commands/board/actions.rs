//! The board's actions that run outside its drawing loop: a retry (`git maestro task run` as a
//! child process, detached from the terminal), a merge (`git maestro merge`, the same way), a
//! stop (`task stop`'s request) and a shell in the task's worktree.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::cli::context::Context;
use crate::cli::error::CommandError;
use crate::cli::ui::field;
use crate::model::TaskStatus;
use crate::store::Store;

/// The first line of an error, for the status line.
pub fn said(e: CommandError) -> String {
    e.render().lines().next().unwrap_or_default().to_owned()
}

/// What a child started from the board does: the same command as by hand.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// `git maestro task run score/task`.
    Retry,
    /// `git maestro merge score/task`, post-merge checks included.
    Merge,
}

impl Job {
    /// The command's words before the task's address.
    fn command(self) -> &'static [&'static str] {
        match self {
            Job::Retry => &["task", "run"],
            Job::Merge => &["merge"],
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Job::Retry => "retry",
            Job::Merge => "merge",
        }
    }
}

/// Children started from the board (retries, merges), until they end: the board keeps drawing
/// while they work.
#[derive(Default)]
pub struct Jobs {
    running: Vec<Running>,
}

struct Running {
    job: Job,
    address: String,
    child: Child,
    log: PathBuf,
}

impl Jobs {
    /// Start `git maestro task run score/task` for a task whose status lets it start; what to
    /// show.
    pub fn retry(&mut self, ctx: &Context, store: &Store, score: &str, task: &str) -> String {
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
        self.start(ctx, store, Job::Retry, score, task)
    }

    /// Start `git maestro merge score/task`; what to show. The command says whether the task
    /// can be merged, at its end.
    pub fn merge(&mut self, ctx: &Context, store: &Store, score: &str, task: &str) -> String {
        self.start(ctx, store, Job::Merge, score, task)
    }

    fn start(&mut self, ctx: &Context, store: &Store, job: Job, score: &str, task: &str) -> String {
        let address = format!("{score}/{task}");
        if let Some(r) = self.running.iter().find(|r| r.address == address) {
            return format!("a {} of {address} is already running", r.job.noun());
        }
        match spawn(ctx, store, job, score, task) {
            Ok((child, log)) => {
                self.running.push(Running { job, address: address.clone(), child, log });
                match job {
                    Job::Retry => format!("started retry of {address}"),
                    Job::Merge => format!("merging {address}\u{2026}"),
                }
            }
            Err(e) => format!("cannot start a {} of {address}: {e}", job.noun()),
        }
    }

    /// The children that ended since the last call, as messages.
    pub fn ended(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        self.running.retain_mut(|r| match r.child.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                out.push(ended(r, status));
                false
            }
            Err(e) => {
                out.push(format!("{} of {}: {e}", r.job.noun(), r.address));
                false
            }
        });
        out
    }
}

/// What to show of a child that ended: a merge's result line (`<score>/<task>  merged  …`;
/// a line saying the Score is done may follow it, which the board shows anyway), or its last
/// line (its error); a retry's exit; where its output is.
fn ended(r: &Running, status: std::process::ExitStatus) -> String {
    let how = status.code().map_or_else(|| status.to_string(), |c| format!("exit {c}"));
    let text = std::fs::read_to_string(&r.log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let result = format!("{}  merged  ", r.address);
    let line = lines.iter().find(|l| l.starts_with(&result)).or(lines.last()).map(|l| field(l).into_owned());
    match (r.job, line) {
        (Job::Merge, Some(last)) if status.success() => last,
        (Job::Merge, Some(last)) => {
            format!("merge of {} failed ({how}): {last}; its output is in {}", r.address, r.log.display())
        }
        (job, _) => {
            format!("{} of {} ended ({how}); its output is in {}", job.noun(), r.address, r.log.display())
        }
    }
}

/// `git maestro <job> score/task` in its own process group, its input empty and its output
/// in `<git-common-dir>/maestro/logs/board/<score>/<task>-<time>.log` (`-merge-` for a merge).
fn spawn(ctx: &Context, store: &Store, job: Job, score: &str, task: &str) -> std::io::Result<(Child, PathBuf)> {
    use std::os::unix::process::CommandExt as _;
    let dir = store.repo.common_dir().join("maestro/logs/board").join(score);
    std::fs::create_dir_all(&dir)?;
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.fZ").to_string();
    let kind = if job == Job::Merge { "-merge" } else { "" };
    let log = dir.join(format!("{task}{kind}-{stamp}.log"));
    let out = std::fs::File::create(&log)?;
    let child = Command::new(std::env::current_exe()?)
        .args(job.command())
        .arg(format!("{score}/{task}"))
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
