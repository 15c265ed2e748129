//! Running the `[notify] command` of trusted config (never anything from the state): `sh -c
//! <command>`, with one event as a line of JSON on stdin, its output discarded, killed after
//! its timeout. Each command runs on a thread of its own, so a slow one never holds the
//! watcher up; what went wrong comes back as [`Notifier::problems`].

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::config::notify::Notify;

/// Sends needs-you events to the notify command, if there is one.
pub struct Notifier {
    notify: Option<Notify>,
    problems: (mpsc::Sender<String>, mpsc::Receiver<String>),
    running: std::cell::RefCell<Vec<std::thread::JoinHandle<()>>>,
}

impl Notifier {
    pub fn new(notify: Option<Notify>) -> Notifier {
        Notifier { notify, problems: mpsc::channel(), running: Default::default() }
    }

    /// Run the notify command with `event` on stdin, in the background.
    pub fn send<T: serde::Serialize>(&self, event: &T) {
        let Some(notify) = self.notify.clone() else { return };
        let Ok(value) = serde_json::to_value(event) else { return };
        let line = format!("{}\n", crate::cli::json::public(value));
        let problems = self.problems.0.clone();
        let handle = std::thread::spawn(move || {
            if let Err(problem) = run(&notify, line.as_bytes()) {
                let _ = problems.send(format!("the notify command ({}) {problem}", notify.source));
            }
        });
        let mut running = self.running.borrow_mut();
        running.retain(|h| !h.is_finished());
        running.push(handle);
    }

    /// What went wrong since the last call, one line each.
    pub fn problems(&self) -> Vec<String> {
        self.problems.1.try_iter().collect()
    }

    /// Wait for the commands still running (each ends by its timeout at the latest).
    pub fn finish(&self) {
        for handle in self.running.borrow_mut().drain(..) {
            let _ = handle.join();
        }
    }
}

fn run(notify: &Notify, input: &[u8]) -> Result<(), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&notify.command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so a timeout stops whatever it started too.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is fine.
        let _ = stdin.write_all(input);
    }
    let status = wait(&mut child, Duration::from_secs(notify.timeout))?;
    if status.success() { Ok(()) } else { Err(format!("failed: {status}")) }
}

fn wait(child: &mut Child, timeout: Duration) -> Result<std::process::ExitStatus, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("could not be waited for: {e}"))? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            if let Some(group) = rustix::process::Pid::from_raw(child.id().cast_signed()) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("took more than {}s and was stopped", timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
