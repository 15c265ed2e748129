//! The process runner every adapter uses.
//!
//! - the prompt goes on stdin, and stdin is always set (a CLI waiting on a terminal hangs);
//! - the working directory is the task worktree, and the environment is built explicitly;
//! - the child leads its own process group; on timeout, cancellation, or when the child exits,
//!   the whole group is killed, so no helper process outlives the run;
//! - stdout and stderr stream to transcript files as they come; memory holds only tails.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

/// How much of each stream is kept in memory for summaries.
const TAIL_BYTES: usize = 16 * 1024;
/// Longest stdout line handed to the adapter's parser; the transcript keeps all of it.
const MAX_LINE_BYTES: usize = 1024 * 1024;

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
}

/// Run `spec`, handing each stdout line to `on_line`, until it exits, times out, or `cancel`
/// becomes `true`.
pub async fn run(
    spec: &ProcessSpec,
    mut on_line: impl FnMut(&str),
    mut cancel: watch::Receiver<bool>,
) -> std::io::Result<ProcessOutcome> {
    if let Some(dir) = spec.transcript.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let mut transcript = tokio::fs::File::create(&spec.transcript).await?;
    let stderr_path = spec.transcript.with_extension("stderr");
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&spec.program)
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
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
    let stderr = child.stderr.take();
    let stderr_task = tokio::spawn(async move {
        let mut tail = Vec::new();
        let Some(mut stderr) = stderr else { return String::new() };
        let mut file = tokio::fs::File::create(&stderr_path).await.ok();
        let mut buf = vec![0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            if let Some(f) = file.as_mut() {
                let _ = f.write_all(&buf[..n]).await;
            }
            keep_tail(&mut tail, &buf[..n]);
        }
        // tokio writes files in the background: without a flush the bytes may land after the
        // run returns, and a reader of the transcript would miss them.
        if let Some(f) = file.as_mut() {
            let _ = f.flush().await;
        }
        String::from_utf8_lossy(&tail).into_owned()
    });
    let mut stdout = child.stdout.take().map(BufReader::new);
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let mut line = Vec::new();
    let mut stdout_bytes = 0u64;
    let mut exit: Option<Exit> = None;
    let mut stdout_open = stdout.is_some();
    while exit.is_none() || stdout_open {
        tokio::select! {
            read = async { stdout.as_mut().expect("open while stdout_open").read_until(b'\n', &mut line).await }, if stdout_open => {
                match read {
                    Ok(0) | Err(_) => stdout_open = false,
                    Ok(n) => {
                        stdout_bytes += n as u64;
                        transcript.write_all(&line).await?;
                        let text = String::from_utf8_lossy(&line[..line.len().min(MAX_LINE_BYTES)]);
                        on_line(text.trim_end_matches(['\n', '\r']));
                        line.clear();
                    }
                }
            }
            status = child.wait(), if exit.is_none() => {
                let status = status?;
                exit = Some(match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
                    (Some(code), _) => Exit::Code(code),
                    (None, Some(sig)) => Exit::Signal(sig),
                    (None, None) => Exit::Signal(0),
                });
                // Helpers the child left running would keep stdout open: end them.
                kill_group(pid);
            }
            _ = tokio::time::sleep_until(deadline), if exit.is_none() => {
                kill_group(pid);
                let _ = child.wait().await;
                exit = Some(Exit::TimedOut);
            }
            changed = cancel.changed(), if exit.is_none() => {
                if changed.is_err() || *cancel.borrow() {
                    kill_group(pid);
                    let _ = child.wait().await;
                    exit = Some(Exit::Cancelled);
                }
            }
        }
    }
    transcript.flush().await?;
    let _ = feeder.await;
    let stderr_tail = stderr_task.await.unwrap_or_default();
    Ok(ProcessOutcome { exit: exit.unwrap_or(Exit::Signal(0)), duration: started.elapsed(), stdout_bytes, stderr_tail })
}

fn keep_tail(tail: &mut Vec<u8>, more: &[u8]) {
    tail.extend_from_slice(more);
    if tail.len() > TAIL_BYTES {
        tail.drain(..tail.len() - TAIL_BYTES);
    }
}

/// SIGKILL the process group led by `pid`. An already empty group is fine.
fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) else { return };
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(script: &str, timeout: Duration) -> ProcessSpec {
        let dir = std::env::temp_dir().join(format!("maestro-runner-{}-{}", std::process::id(), fastrand::u32(..)));
        std::fs::create_dir_all(&dir).expect("create the test directory");
        ProcessSpec {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            cwd: dir.clone(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            stdin: b"the prompt\n".to_vec(),
            timeout,
            transcript: dir.join("run.jsonl"),
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime").block_on(f)
    }

    #[test]
    fn prompt_in_lines_out_exit_code_and_transcript() {
        let spec = spec("read p; echo \"got $p\"; echo two; echo oops >&2; exit 3", Duration::from_secs(10));
        let (_tx, rx) = watch::channel(false);
        let mut lines = Vec::new();
        let out = block_on(run(&spec, |l| lines.push(l.to_owned()), rx)).expect("the command runs");
        assert_eq!(out.exit, Exit::Code(3));
        assert_eq!(lines, ["got the prompt", "two"]);
        assert_eq!(out.stderr_tail, "oops\n");
        assert_eq!(
            std::fs::read_to_string(&spec.transcript).expect("the transcript was written"),
            "got the prompt\ntwo\n"
        );
    }

    #[test]
    fn a_hang_is_killed_with_its_whole_group() {
        // The child starts a grandchild that would outlive it, then hangs.
        let spec = spec("sleep 300 & echo $! > grandchild.pid; sleep 300", Duration::from_millis(300));
        let (_tx, rx) = watch::channel(false);
        let out = block_on(run(&spec, |_| {}, rx)).expect("the command runs");
        assert_eq!(out.exit, Exit::TimedOut);
        let pid = std::fs::read_to_string(spec.cwd.join("grandchild.pid")).expect("the grandchild wrote its pid");
        std::thread::sleep(Duration::from_millis(100));
        let alive = std::path::Path::new(&format!("/proc/{}", pid.trim())).exists()
            && !std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default().contains(") Z ");
        assert!(!alive, "grandchild {pid} outlived the run");
    }

    #[test]
    fn cancellation_stops_the_run() {
        let spec = spec("sleep 300", Duration::from_secs(60));
        let (tx, rx) = watch::channel(false);
        let out = block_on(async {
            let cancel = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                tx.send(true).expect("the runner still listens");
            });
            let out = run(&spec, |_| {}, rx).await;
            cancel.await.expect("the cancel task finishes");
            out
        })
        .expect("the command runs");
        assert_eq!(out.exit, Exit::Cancelled);
    }
}
