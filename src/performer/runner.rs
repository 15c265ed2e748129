//! The process runner every adapter and check uses.
//!
//! - the prompt goes on stdin, and stdin is always set (a CLI waiting on a terminal hangs);
//! - the working directory is the task worktree, and the environment is built explicitly;
//! - the command runs under the per-run supervisor ([`crate::supervisor`], this binary
//!   re-executed): at the command's exit, its timeout, or a cancellation, the supervisor kills
//!   every process the command started, `setsid` and double-forked ones included;
//! - stdout and stderr stream to transcript files as they come, each kept under the cap with
//!   its newest lines ([`super::transcript`]); memory holds only tails;
//! - reading ends with the run, not at end of file: once the supervisor has exited, what is
//!   left in the pipes is read for at most [`DRAIN`].

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

use super::transcript::CappedFile;
use crate::supervisor::{End, Report};

/// How much of each stream is kept in memory for summaries.
const TAIL_BYTES: usize = 16 * 1024;
/// Longest stdout line handed to the adapter's parser, and the most of a line held in memory:
/// a longer line goes to the transcript in pieces of this size, and the parser sees its first.
const MAX_LINE_BYTES: usize = 1024 * 1024;
/// How long output is still read after the run ended. Nothing of the run is alive then, so the
/// pipes are at end of file at once; this only bounds a process that escaped the supervisor.
const DRAIN: Duration = Duration::from_secs(1);
/// How long the supervisor gets, past the timeout or after being told to stop, before it is
/// killed itself.
const GRACE: Duration = Duration::from_secs(10);

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    /// The complete environment of the child; nothing is inherited.
    pub env: Vec<(String, String)>,
    pub stdin: Vec<u8>,
    pub timeout: Duration,
    /// stdout goes here; stderr beside it with `.stderr` appended.
    pub transcript: PathBuf,
    /// The git-maestro binary that supervises the run (`git maestro supervise`).
    pub supervisor: PathBuf,
    /// What the command may write and connect to.
    pub sandbox: crate::sandbox::Policy,
    /// Values (API keys, tokens) that must never reach a transcript: replaced as it is written.
    pub secrets: Vec<String>,
    /// The largest the transcript and the stderr log grow, in bytes; the oldest lines go first.
    pub transcript_max: u64,
}

/// Where the stderr of the run whose stdout goes to `transcript` is written.
pub fn stderr_log(transcript: &std::path::Path) -> PathBuf {
    transcript.with_extension("stderr")
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    TimedOut,
    Cancelled,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "{c}"),
            Exit::Signal(s) => write!(f, "signal {s}"),
            Exit::TimedOut => f.write_str("timeout"),
            Exit::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// What the runner saw.
#[derive(Debug, Clone)]
pub struct ProcessOutcome {
    pub exit: Exit,
    pub duration: Duration,
    pub stdout_bytes: u64,
    pub stderr_tail: String,
    /// Processes the command left running, which the supervisor killed when the run ended.
    pub killed: u32,
    /// How far the sandbox was enforced (`None`: unknown, the supervisor died).
    pub sandbox: Option<crate::sandbox::Level>,
}

/// Run `spec`, handing each stdout line to `on_line`, until it exits, times out, or `cancel`
/// becomes `true`. An error means the command could not be started at all.
pub async fn run(
    spec: &ProcessSpec,
    mut on_line: impl FnMut(&str),
    mut cancel: watch::Receiver<bool>,
) -> std::io::Result<ProcessOutcome> {
    if let Some(dir) = spec.transcript.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let mut out = Stdout {
        transcript: CappedFile::create(&spec.transcript, spec.transcript_max)?,
        line: Vec::new(),
        continued: false,
        longest_secret: spec.secrets.iter().map(String::len).max().unwrap_or(0),
        bytes: 0,
    };
    let stderr_path = stderr_log(&spec.transcript);
    let report_path = spec.transcript.with_extension("supervisor.toml");
    let _ = tokio::fs::remove_file(&report_path).await;
    let started = Instant::now();
    let mut child = supervised(spec, &report_path).spawn()?;
    let pid = child.id();
    let mut stdin = child.stdin.take();
    let prompt = spec.stdin.clone();
    let feeder = tokio::spawn(async move {
        if let Some(stdin) = stdin.as_mut() {
            // A child that exits without reading its prompt closes the pipe; that is its business.
            let _ = stdin.write_all(&prompt).await;
            let _ = stdin.shutdown().await;
        }
    });
    let (ended_tx, ended) = watch::channel(false);
    let stderr = child.stderr.take();
    let stderr_task = tokio::spawn(read_stderr(stderr, stderr_path.clone(), spec.transcript_max, ended));
    let mut stdout = child.stdout.take().map(BufReader::new);
    let mut kill_at = tokio::time::Instant::now() + spec.timeout + GRACE;
    let mut drain_until = None;
    let mut status: Option<std::process::ExitStatus> = None;
    let (mut cancelled, mut killed_supervisor) = (false, false);
    let mut stdout_open = stdout.is_some();
    // The supervisor stops on SIGTERM: it kills the run and reports.
    let stop = |kill_at: &mut tokio::time::Instant| {
        signal(pid, rustix::process::Signal::TERM);
        *kill_at = (*kill_at).min(tokio::time::Instant::now() + GRACE);
    };
    while status.is_none() || stdout_open {
        tokio::select! {
            read = async {
                let reader = stdout.as_mut().expect("open while stdout_open");
                reader.take(MAX_LINE_BYTES as u64).read_until(b'\n', &mut out.line).await
            }, if stdout_open => {
                match read {
                    Ok(0) | Err(_) => stdout_open = false,
                    Ok(n) => {
                        out.took(n, &spec.secrets, &mut on_line)?;
                        // A stop asked for by what the line said takes effect now, before the
                        // command can go on (a budget reached).
                        if !cancelled && *cancel.borrow() {
                            stop(&mut kill_at);
                            cancelled = true;
                        }
                    }
                }
            }
            waited = child.wait(), if status.is_none() => {
                status = Some(waited?);
                drain_until = Some(tokio::time::Instant::now() + DRAIN);
                let _ = ended_tx.send(true);
            }
            // The supervisor enforces the timeout; this only ends a supervisor that does not.
            _ = tokio::time::sleep_until(kill_at), if status.is_none() && !killed_supervisor => {
                signal(pid, rustix::process::Signal::KILL);
                killed_supervisor = true;
            }
            changed = cancel.changed(), if status.is_none() && !cancelled => {
                if changed.is_err() || *cancel.borrow() {
                    stop(&mut kill_at);
                    cancelled = true;
                }
            }
            _ = tokio::time::sleep_until(drain_until.unwrap_or(kill_at)), if drain_until.is_some() => break,
        }
    }
    out.rest(&spec.secrets)?;
    feeder.abort();
    let mut stderr_tail = stderr_task.await.unwrap_or_default().into_bytes();
    scrub(&mut stderr_tail, &spec.secrets);
    let stderr_tail = String::from_utf8_lossy(&stderr_tail).into_owned();
    scrub_file(&stderr_path, &spec.secrets).await;
    let report = Report::read(&report_path).ok();
    let _ = tokio::fs::remove_file(&report_path).await;
    let killed = report.as_ref().map_or(0, |r| r.killed);
    let sandbox = report.as_ref().and_then(|r| r.sandbox);
    let exit = exit(report.map(|r| r.end), cancelled, killed_supervisor, status)?;
    Ok(ProcessOutcome { exit, duration: started.elapsed(), stdout_bytes: out.bytes, stderr_tail, killed, sandbox })
}

/// `spec`'s command under its supervisor (`git maestro supervise`), which writes its report to
/// `report`.
fn supervised(spec: &ProcessSpec, report: &std::path::Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(&spec.supervisor);
    command
        .arg("supervise")
        .arg("--timeout-ms")
        .arg(spec.timeout.as_millis().to_string())
        .arg("--report")
        .arg(report)
        .arg("--parent")
        .arg(std::process::id().to_string())
        .args(sandbox_args(&spec.sandbox))
        .arg("--")
        .arg(&spec.program)
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: a Ctrl-C at the terminal reaches this process, which stops the run.
        .process_group(0)
        .kill_on_drop(true);
    command
}

/// The command's stdout as it is read: the line being read, and the transcript it goes to.
struct Stdout {
    transcript: CappedFile,
    line: Vec<u8>,
    /// Whether `line` continues a line longer than [`MAX_LINE_BYTES`].
    continued: bool,
    /// The longest of the secrets to scrub.
    longest_secret: usize,
    bytes: u64,
}

impl Stdout {
    /// `n` more bytes were read into `line`: scrubbed, shown to `on_line` (the first piece of
    /// a long line), and written to the transcript.
    fn took(&mut self, n: usize, secrets: &[String], on_line: &mut impl FnMut(&str)) -> std::io::Result<()> {
        let line = &mut self.line;
        self.bytes += n as u64;
        scrub(line, secrets);
        if !self.continued {
            let text = String::from_utf8_lossy(&line[..line.len().min(MAX_LINE_BYTES)]);
            on_line(text.trim_end_matches(['\n', '\r']));
        }
        self.continued = !line.ends_with(b"\n");
        // Of a piece of a longer line, what could start a secret that the next piece ends
        // stays, to be scrubbed with it.
        let held = if self.continued { line.len().min(self.longest_secret.saturating_sub(1)) } else { 0 };
        self.transcript.write(&line[..line.len() - held])?;
        line.drain(..line.len() - held);
        Ok(())
    }

    /// What is left of the last line once reading ended.
    fn rest(&mut self, secrets: &[String]) -> std::io::Result<()> {
        if !self.line.is_empty() {
            scrub(&mut self.line, secrets);
            self.transcript.write(&self.line)?;
        }
        Ok(())
    }
}

/// How the run ended, from the supervisor's report (`None`: it wrote none) and what was seen
/// here. A command the supervisor could not start is an error.
fn exit(
    report: Option<End>,
    cancelled: bool,
    killed_supervisor: bool,
    status: Option<std::process::ExitStatus>,
) -> std::io::Result<Exit> {
    Ok(match report {
        Some(End::NotStarted { kind, message }) => {
            return Err(std::io::Error::new(crate::supervisor::error_kind(&kind), message));
        }
        _ if cancelled => Exit::Cancelled,
        Some(End::Exited(code)) => Exit::Code(code),
        Some(End::Signalled(sig)) => Exit::Signal(sig),
        Some(End::TimedOut) => Exit::TimedOut,
        Some(End::Stopped) => Exit::Cancelled,
        // No report: the supervisor itself died.
        None if killed_supervisor => Exit::TimedOut,
        None => status.map_or(Exit::Signal(0), exit_of),
    })
}

/// Replace every occurrence of each of `secrets` in `bytes` with `[REDACTED]`.
fn scrub(bytes: &mut Vec<u8>, secrets: &[String]) {
    const MARK: &[u8] = b"[REDACTED]";
    for secret in secrets.iter().map(String::as_bytes).filter(|s| s.len() >= 8) {
        let mut from = 0;
        while let Some(at) = bytes[from..].windows(secret.len()).position(|w| w == secret) {
            let at = from + at;
            bytes.splice(at..at + secret.len(), MARK.iter().copied());
            from = at + MARK.len();
        }
    }
}

/// [`scrub`] the file at `path` in place (the stderr log, which is written in chunks).
async fn scrub_file(path: &std::path::Path, secrets: &[String]) {
    let Ok(mut bytes) = tokio::fs::read(path).await else { return };
    let before = bytes.len();
    scrub(&mut bytes, secrets);
    if bytes.len() != before {
        let _ = tokio::fs::write(path, bytes).await;
    }
}

/// The supervisor's arguments for `policy`.
fn sandbox_args(policy: &crate::sandbox::Policy) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["--sandbox".into(), policy.mode.as_str().into()];
    for path in &policy.writable {
        args.extend(["--write".into(), path.into()]);
    }
    if let Some(ports) = &policy.connect_ports {
        args.push("--confine-network".into());
        for port in ports {
            args.extend(["--connect-port".into(), port.to_string().into()]);
        }
    }
    args
}

/// Copy stderr to its file and keep its tail, until end of file or [`DRAIN`] after the run ended.
async fn read_stderr(
    stderr: Option<tokio::process::ChildStderr>,
    path: PathBuf,
    max: u64,
    mut ended: watch::Receiver<bool>,
) -> String {
    let mut tail = Vec::new();
    let Some(mut stderr) = stderr else { return String::new() };
    let mut file = CappedFile::create(&path, max).ok();
    let mut buf = vec![0u8; 8192];
    let mut drain_until: Option<tokio::time::Instant> = None;
    loop {
        let n = tokio::select! {
            read = stderr.read(&mut buf) => match read {
                Ok(n) if n > 0 => n,
                _ => break,
            },
            _ = ended.wait_for(|e| *e), if drain_until.is_none() => {
                drain_until = Some(tokio::time::Instant::now() + DRAIN);
                continue;
            }
            _ = tokio::time::sleep_until(drain_until.unwrap_or_else(tokio::time::Instant::now)), if drain_until.is_some() => break,
        };
        if let Some(f) = file.as_mut() {
            let _ = f.write(&buf[..n]);
        }
        keep_tail(&mut tail, &buf[..n]);
    }
    String::from_utf8_lossy(&tail).into_owned()
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(sig)) => Exit::Signal(sig),
        (None, None) => Exit::Signal(0),
    }
}

fn keep_tail(tail: &mut Vec<u8>, more: &[u8]) {
    tail.extend_from_slice(more);
    if tail.len() > TAIL_BYTES {
        tail.drain(..tail.len() - TAIL_BYTES);
    }
}

/// Send `sig` to the supervisor. One that is gone already is fine.
fn signal(pid: Option<u32>, sig: rustix::process::Signal) {
    let Some(pid) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) else { return };
    let _ = rustix::process::kill_process(pid, sig);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_of_a_secret_is_scrubbed_and_short_values_are_left() {
        let mut text = b"key=sk-secret-value-1; again sk-secret-value-1 and abc".to_vec();
        scrub(&mut text, &["sk-secret-value-1".into(), "abc".into()]);
        assert_eq!(String::from_utf8_lossy(&text), "key=[REDACTED]; again [REDACTED] and abc");
        // A secret inside the mark itself ends too.
        scrub(&mut text, &["REDACTED".into()]);
        assert!(!String::from_utf8_lossy(&text).contains("sk-secret"));
    }
}
