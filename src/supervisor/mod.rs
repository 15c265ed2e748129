//! The per-run supervisor: git-maestro re-executed (`git maestro supervise`, hidden) around
//! every command run on a task's behalf (performers, checks), so nothing the command started
//! outlives its run (DESIGN §13, "Process containment").
//!
//! The supervisor
//! 1. asks to be stopped when the process that started it dies, and becomes the child
//!    subreaper, so descendants that `setsid` or double-fork are reparented to it rather than
//!    to init;
//! 2. spawns the command with the stdio, directory and environment it was given, from a thread
//!    that first confined itself to the run's [`crate::sandbox::Policy`], so the command and all
//!    it starts inherit the sandbox while the supervisor itself stays free to clean up;
//! 4. waits for the command's exit, its timeout, or a stop (SIGTERM, SIGINT or SIGHUP, and the
//!    death of its parent);
//! 5. kills every remaining descendant, scanning `/proc` until none is left;
//! 6. writes a [`Report`] to the file it was given, and exits with the command's status.
//!
//! It prints nothing: its stdout and stderr belong to the command. The parent side is
//! [`crate::performer::runner`]. It uses no `unsafe` (the crate forbids it): `rustix` wraps the
//! `prctl`s, and the stop signals are the interrupt flag of [`crate::git`].

mod procfs;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How often the supervisor looks at the clock and the stop flag; the command's exit is seen at
/// once ([`pause`]).
const POLL: Duration = Duration::from_millis(10);
/// Scans of `/proc` before the supervisor gives up on a descendant that keeps forking.
const KILL_ROUNDS: usize = 1000;

/// What to supervise.
#[derive(Debug, Clone)]
pub struct Supervision {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Wall-clock limit from the start of the command.
    pub timeout: Duration,
    /// Where the [`Report`] goes.
    pub report: PathBuf,
    /// The process that started the supervisor; if it is gone already, the run stops at once.
    pub parent: Option<u32>,
    /// What the command may write and connect to.
    pub sandbox: crate::sandbox::Policy,
}

/// How the supervised command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum End {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it.
    Signalled(i32),
    /// It ran past its timeout and was killed.
    TimedOut,
    /// The supervisor was told to stop (a signal, or its parent's death) and killed it.
    Stopped,
    /// It could not be started: the spawn error.
    NotStarted { kind: String, message: String },
}

/// What the supervisor tells the process that started it, as TOML in the report file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub end: End,
    /// Descendants that were still alive when the run ended and had to be killed.
    pub killed: u32,
    /// Whether some descendant could not be killed (it kept forking past every scan).
    #[serde(default)]
    pub survivors: bool,
    /// How far the sandbox was enforced; `None` when the command never started.
    #[serde(default)]
    pub sandbox: Option<crate::sandbox::Level>,
}

impl Report {
    /// The exit code the supervisor ends with: the command's own code, 128 + signal, 124 on
    /// timeout, 130 when stopped, 127 when the command could not start.
    pub fn exit_code(&self) -> u8 {
        match &self.end {
            End::Exited(c) => (*c & 0xff) as u8,
            End::Signalled(s) => (128 + (*s & 0x7f)) as u8,
            End::TimedOut => 124,
            End::Stopped => 130,
            End::NotStarted { .. } => 127,
        }
    }

    /// Read the report the supervisor wrote to `path`.
    pub fn read(path: &std::path::Path) -> std::io::Result<Report> {
        let text = std::fs::read_to_string(path)?;
        toml::from_str(&text).map_err(std::io::Error::other)
    }

    fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        let text = toml::to_string(self).map_err(std::io::Error::other)?;
        // Written whole, then renamed: the parent never reads half a report.
        crate::files::replace(path, text.as_bytes())
    }
}

/// Errors of the supervisor itself (not of the command it runs).
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    #[error("cannot become the child subreaper")]
    Subreaper(#[source] std::io::Error),
    #[error("cannot wait for the supervised command")]
    Wait(#[source] std::io::Error),
    #[error("cannot write the supervisor report {0}")]
    Report(PathBuf, #[source] std::io::Error),
}

/// Run `what` under supervision, as described in the module doc, and return the report it also
/// wrote. `stopped` is polled: when it turns true the run stops.
pub fn supervise(what: &Supervision, stopped: &dyn Fn() -> bool) -> Result<Report, SuperviseError> {
    // The parent dying must end the run too: a SIGTERM then raises the stop flag.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM));
    let orphaned =
        what.parent.is_some_and(|p| rustix::process::getppid().is_none_or(|pp| pp.as_raw_nonzero().get() as u32 != p));
    let me = rustix::process::getpid();
    rustix::process::set_child_subreaper(Some(me)).map_err(|e| SuperviseError::Subreaper(e.into()))?;
    let (end, sandbox) = if orphaned { (End::Stopped, None) } else { run(what, stopped)? };
    let (killed, survivors) = procfs::kill_descendants(KILL_ROUNDS);
    let report = Report { end, killed: killed.len() as u32, survivors, sandbox };
    report.write(&what.report).map_err(|e| SuperviseError::Report(what.report.clone(), e))?;
    Ok(report)
}

/// Spawn the command, confined, from a thread of its own: Landlock confines the calling thread
/// and what it spawns, and the supervisor must stay free to write its report.
fn spawn_confined(what: &Supervision) -> Result<(std::process::Child, crate::sandbox::Level), End> {
    let (program, args, policy) = (what.program.clone(), what.args.clone(), what.sandbox.clone());
    let spawned = std::thread::spawn(move || {
        let level = crate::sandbox::confine_this_thread(&policy)
            .map_err(|e| End::NotStarted { kind: "unsupported".into(), message: e.to_string() })?;
        match Command::new(&program).args(&args).process_group(0).spawn() {
            Ok(child) => Ok((child, level)),
            Err(e) => Err(End::NotStarted { kind: kind_name(e.kind()).into(), message: e.to_string() }),
        }
    })
    .join();
    spawned.unwrap_or_else(|_| {
        Err(End::NotStarted { kind: "other".into(), message: "the spawning thread panicked".into() })
    })
}

/// Spawn the command and wait for its end; the command itself is reaped when this returns.
fn run(what: &Supervision, stopped: &dyn Fn() -> bool) -> Result<(End, Option<crate::sandbox::Level>), SuperviseError> {
    let (mut child, level) = match spawn_confined(what) {
        Ok(spawned) => spawned,
        Err(end) => return Ok((end, None)),
    };
    let deadline = Instant::now() + what.timeout;
    let end = |end| Ok((end, Some(level)));
    let pid = rustix::process::Pid::from_child(&child);
    let exit = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty());
    loop {
        if let Some(status) = child.try_wait().map_err(SuperviseError::Wait)? {
            return end(exited(status));
        }
        let stop = if stopped() {
            End::Stopped
        } else if Instant::now() >= deadline {
            End::TimedOut
        } else {
            pause(exit.as_ref().ok(), POLL.min(deadline.saturating_duration_since(Instant::now())));
            continue;
        };
        // Its group first: most helpers are there; the scan after this finds the rest.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        let _ = child.kill();
        child.wait().map_err(SuperviseError::Wait)?;
        return end(stop);
    }
}

/// Wait up to `most`, or until the command exits when its pidfd `exit` is open: a command
/// that ends at once (most checks) is not kept waiting for the next look at the stop flag. A
/// stop signal ends the wait too (`poll` is never restarted after a signal).
fn pause(exit: Option<&rustix::fd::OwnedFd>, most: Duration) {
    let Some(fd) = exit else { return std::thread::sleep(most) };
    let timeout = rustix::event::Timespec::try_from(most).unwrap_or(rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 });
    let _ = rustix::event::poll(&mut [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)], Some(&timeout));
}

fn exited(status: ExitStatus) -> End {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => End::Exited(code),
        (None, Some(sig)) => End::Signalled(sig),
        (None, None) => End::Signalled(0),
    }
}

/// The spawn errors a caller tells apart; the others are `other`.
fn kind_name(kind: std::io::ErrorKind) -> &'static str {
    match kind {
        std::io::ErrorKind::NotFound => "not-found",
        std::io::ErrorKind::PermissionDenied => "permission-denied",
        _ => "other",
    }
}

/// The [`std::io::ErrorKind`] of a [`End::NotStarted`] kind.
pub fn error_kind(name: &str) -> std::io::ErrorKind {
    match name {
        "not-found" => std::io::ErrorKind::NotFound,
        "permission-denied" => std::io::ErrorKind::PermissionDenied,
        "unsupported" => std::io::ErrorKind::Unsupported,
        _ => std::io::ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_survives_the_report_file() {
        let dir = tempfile::tempdir().expect("create the test directory");
        let ends = [
            End::Exited(3),
            End::Signalled(9),
            End::TimedOut,
            End::Stopped,
            End::NotStarted { kind: "not-found".into(), message: "No such file".into() },
        ];
        for end in ends {
            let report = Report { end, killed: 2, survivors: false, sandbox: Some(crate::sandbox::Level::Full(7)) };
            let path = dir.path().join("report.toml");
            report.write(&path).expect("the report is written");
            assert_eq!(Report::read(&path).expect("the report reads back"), report);
        }
        assert_eq!(Report { end: End::Exited(3), killed: 0, survivors: false, sandbox: None }.exit_code(), 3);
        assert_eq!(Report { end: End::Signalled(9), killed: 0, survivors: false, sandbox: None }.exit_code(), 137);
    }
}
