//! Performers: finding their binaries, probing their versions, and running them.

pub mod adapter;
mod attempt_end;
pub mod claude;
pub mod codex;
pub mod confine;
pub mod gemini;
pub mod invoke;
mod live;
pub mod meter;
mod perform;
pub mod prompt;
pub mod requirements;
mod restart;
pub mod runner;
pub mod setup;
pub mod shell;
pub mod stop;
pub mod task_run;
pub mod transcript;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `--version` may take before the probe gives up. Node CLIs start slowly on a busy
/// machine (Gemini took over 10 s on two loaded cores), and a missed probe leaves the attempt
/// without its CLI version.
pub const VERSION_PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Resolve a configured command to an executable file as a shell would, without running it: a
/// path with a `/` (or starting with `~/`, the home directory) relative to `base` (the main
/// checkout, where `.maestro/config.toml` lives), a bare name through `PATH` (empty and relative
/// entries are skipped: they would depend on the current directory).
pub fn resolve(command: &str, base: &Path) -> Result<PathBuf, Unresolved> {
    if command.trim().is_empty() {
        return Err(Unresolved::Empty);
    }
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    let path = match command.strip_prefix("~/") {
        Some(rest) => home().map(|h| h.join(rest)),
        None if command.contains('/') => {
            let candidate = Path::new(command);
            Some(if candidate.is_absolute() {
                candidate.to_owned()
            } else {
                base.join(candidate.strip_prefix("./").unwrap_or(candidate))
            })
        }
        None => None,
    };
    if let Some(path) = path {
        return match std::fs::metadata(&path) {
            Err(_) => Err(Unresolved::Missing(path)),
            Ok(m) if !m.is_file() => Err(Unresolved::NotAFile(path)),
            Ok(_) if !is_executable(&path) => Err(Unresolved::NotExecutable(path)),
            Ok(_) => Ok(path),
        };
    }
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).filter(|d| d.is_absolute()).collect())
        .unwrap_or_default();
    if let Some(found) = dirs.iter().map(|d| d.join(command)).find(|p| is_executable(p)) {
        return Ok(found);
    }
    // A file of that name that cannot run explains more than "not found".
    match dirs.iter().map(|d| d.join(command)).find(|p| p.is_file()) {
        Some(path) => Err(Unresolved::NotExecutable(path)),
        None => Err(Unresolved::NotOnPath(command.to_owned())),
    }
}

/// [`resolve`], for callers that only need the file.
pub fn locate(command: &str, base: &Path) -> Option<PathBuf> {
    resolve(command, base).ok()
}

/// Why a configured command does not resolve to a program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    #[error("no command is configured")]
    Empty,
    #[error("{0} is not on PATH")]
    NotOnPath(String),
    #[error("{} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("{} is not a file", .0.display())]
    NotAFile(PathBuf),
    #[error("{} is not executable", .0.display())]
    NotExecutable(PathBuf),
}

impl Unresolved {
    /// What to do about it.
    pub fn hint(&self, performer: &str) -> String {
        match self {
            Unresolved::NotExecutable(path) => format!("make it executable: `chmod +x {}`", path.display()),
            _ => format!(
                "install it, or set `command` in [performers.{performer}] of .maestro/config.toml \
                 (a bare name is looked up on PATH, a relative path starts at the main checkout)"
            ),
        }
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// The longest failure reason kept on an attempt, in characters; a reason is one line.
pub const REASON_CHARS: usize = 2000;
/// How much of the end of a failed run's stderr goes into its reason, in characters.
const STDERR_CAUSE_CHARS: usize = 800;

/// `text` cut to `max` characters, with `…` where it was cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        format!("{}…", text.chars().take(max.saturating_sub(1)).collect::<String>())
    } else {
        text.to_owned()
    }
}

/// The reason a run failed: the adapter's verdict, then what the performer last wrote to
/// stderr (where the CLIs put the real cause: an auth error, a bad flag), in one line. Terminal
/// colour sequences are dropped and other control characters become spaces, so the reason is
/// plain text wherever it is shown.
pub fn failure_reason(verdict: &str, stderr_tail: &str) -> String {
    let lines: Vec<String> = plain(stderr_tail)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    let mut cause = lines.join(" / ");
    let count = cause.chars().count();
    if count > STDERR_CAUSE_CHARS {
        // The end holds the cause: cut the start.
        cause = format!("…{}", cause.chars().skip(count - STDERR_CAUSE_CHARS + 1).collect::<String>());
    }
    let verdict = clip(verdict, REASON_CHARS - STDERR_CAUSE_CHARS - 16);
    if cause.is_empty() { verdict } else { format!("{verdict}; stderr: {cause}") }
}

/// `text` without ANSI escape sequences, its other control characters (but newlines) as spaces.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ parameters… final byte in @..~; anything else: drop ESC and the next char.
                if chars.next_if_eq(&'[').is_some() {
                    for p in chars.by_ref() {
                        if ('@'..='~').contains(&p) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\n' => out.push('\n'),
            c if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Why a version probe failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot run {0}: {1}")]
    Spawn(String, String),
    #[error("`{0} --version` did not answer within {1}s")]
    Timeout(String, u64),
    #[error("`{0} --version` exited with {1}")]
    Failed(String, String),
    #[error("`{0} --version` printed no version: {1:?}")]
    NoVersion(String, String),
}

/// Run `<binary> --version` (stdin closed, a timeout, stderr ignored) and return the first
/// `x.y.z` it prints.
pub fn probe_version(binary: &Path) -> Result<String, ProbeError> {
    let shown = binary.display().to_string();
    // A home of its own: the CLIs write state even for `--version` (Gemini leaves
    // `~/.gemini/projects.json.*.tmp` files), and none of it belongs in the user's.
    let home = std::env::temp_dir().join(format!("maestro-probe-{}-{:08x}", std::process::id(), fastrand::u32(..)));
    let _ = std::fs::create_dir_all(&home);
    let result = probe_in(binary, &shown, &home);
    let _ = std::fs::remove_dir_all(&home);
    result
}

fn probe_in(binary: &Path, shown: &str, home: &Path) -> Result<String, ProbeError> {
    let shown = shown.to_owned();
    let mut child = Command::new(binary)
        .arg("--version")
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| ProbeError::Spawn(shown.clone(), e.to_string()))?;
    let deadline = Instant::now() + VERSION_PROBE_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ProbeError::Timeout(shown, VERSION_PROBE_TIMEOUT.as_secs()));
            }
        }
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    if !status.success() {
        return Err(ProbeError::Failed(shown, status.to_string()));
    }
    parse_version(&out).ok_or_else(|| ProbeError::NoVersion(shown, out.trim().chars().take(80).collect()))
}

/// The first `x.y.z` in `text`: "2.1.330 (Claude Code)", "codex-cli 0.169.0", "0.61.0".
pub fn parse_version(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() >= 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_the_three_clis_parse() {
        assert_eq!(parse_version("2.1.330 (Claude Code)\n").as_deref(), Some("2.1.330"));
        assert_eq!(parse_version("codex-cli 0.169.0\n").as_deref(), Some("0.169.0"));
        assert_eq!(parse_version("0.61.0\n").as_deref(), Some("0.61.0"));
        assert_eq!(parse_version("version 2 of 3"), None);
    }

    #[test]
    fn a_failure_reason_carries_the_end_of_stderr_in_plain_text() {
        let tail = "starting\n\u{1b}[31mError:\u{1b}[0m Invalid auth method\u{7}\n\n  exit 41  \n";
        assert_eq!(
            failure_reason("Gemini exited with 41", tail),
            "Gemini exited with 41; stderr: starting / Error: Invalid auth method / exit 41"
        );
        assert_eq!(failure_reason("exited with status 1", ""), "exited with status 1");
        let long = format!("{}\nlast line", "x".repeat(5000));
        let reason = failure_reason("failed", &long);
        assert!(reason.ends_with("/ last line") && reason.chars().count() < REASON_CHARS, "{reason}");
        assert!(reason.contains("stderr: …x"), "the start of a long stderr is cut, not its end: {reason}");
    }
}
