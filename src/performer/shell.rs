//! Running one shell command from trusted config in a worktree, supervised and confined: a
//! check, or a worktree's setup. The supervisor kills the command's whole process tree when it
//! ends, times out or is interrupted (DESIGN §13); the sandbox is the one checks get (the
//! worktree and the run's own directories writable, the network left alone).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::confine::Confinement;
use super::runner::{self, Exit, ProcessSpec};
use crate::git::Repo;

/// One command to run.
pub struct Shell<'a> {
    /// The `sh -c` script.
    pub command: &'a str,
    pub worktree: &'a Path,
    /// The complete environment, before the sandbox's own variables.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// stdout goes here, stderr beside it (see [`runner::stderr_log`]).
    pub transcript: PathBuf,
    /// This git-maestro binary, which supervises the command.
    pub supervisor: &'a Path,
    pub sandbox: crate::sandbox::Mode,
    /// What a confined command may write besides the worktree.
    pub writable: Vec<PathBuf>,
    /// Names the run's private directories.
    pub run_id: String,
    /// Stop it (as `Exit::Cancelled`) on Ctrl-C. A check is not: its verdict would be a failure.
    pub interruptible: bool,
}

/// How it went.
#[derive(Debug)]
pub struct Ran {
    pub exit: Exit,
    pub duration: Duration,
    /// stdout, then stderr.
    pub output: Vec<u8>,
    /// Link files of the worktree the command redirected (put back since).
    pub relinked: Vec<String>,
}

impl Ran {
    /// The last `bytes` (about) of the output, as text.
    pub fn tail(&self, bytes: usize) -> String {
        let text = String::from_utf8_lossy(&self.output);
        let start = text.char_indices().rev().nth(bytes).map_or(0, |(i, _)| i);
        text[start..].to_owned()
    }
}

/// Run `shell` to its end. An error means it could not be started or its sandbox not undone.
pub fn run(repo: &Repo, shell: Shell<'_>) -> std::io::Result<Ran> {
    let confinement = Confinement::prepare(repo, shell.sandbox, shell.worktree, &shell.run_id, shell.writable, None)?;
    let mut env = shell.env;
    env.extend(confinement.env.iter().cloned());
    let spec = ProcessSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), shell.command.to_owned()],
        cwd: shell.worktree.to_owned(),
        env,
        stdin: Vec::new(),
        timeout: shell.timeout,
        transcript: shell.transcript.clone(),
        supervisor: shell.supervisor.to_owned(),
        sandbox: confinement.policy.clone(),
        secrets: Vec::new(),
        transcript_max: crate::config::TRANSCRIPT_MAX_DEFAULT,
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (stop, cancel) = tokio::sync::watch::channel(false);
    let interruptible = shell.interruptible;
    let out = rt.block_on(async move {
        let watcher = tokio::spawn(async move {
            while interruptible && !crate::git::interrupted() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if interruptible {
                let _ = stop.send(true);
            } else {
                // Keep the sender: a dropped one would read as a cancellation.
                std::future::pending::<()>().await;
            }
        });
        let out = runner::run(&spec, |_| {}, cancel).await;
        watcher.abort();
        out
    });
    let aftermath = confinement.finish(repo).map_err(std::io::Error::other)?;
    let out = out?;
    let mut output = std::fs::read(&shell.transcript).unwrap_or_default();
    output.extend(std::fs::read(runner::stderr_log(&shell.transcript)).unwrap_or_default());
    Ok(Ran { exit: out.exit, duration: out.duration, output, relinked: aftermath.relinked })
}
