//! Making a new worktree ready before anything runs in it: the ignored files
//! `.worktreeinclude` selects are copied from the main checkout, then the setup commands of
//! trusted config (`[setup]`, and the repository's own that it imports) run in it, supervised
//! and confined as checks are ([`super::shell`]).
//!
//! What setup creates or changes is the worktree's *baseline*, not the task's result: its paths
//! and content ids are recorded, and a commit of the worktree leaves out every recorded path
//! whose content is still the same ([`unchanged_baseline`]). A file the performer changes after
//! setup is committed as usual. Paths that were already dirty before setup and that setup
//! left alone are never part of the baseline.
//!
//! Setup runs once per worktree. The record lives under `<common>/maestro/setup/` (which no
//! confined run may write) with a token that is also written into the worktree's admin dir: a
//! worktree removed and made again has a new admin dir without the token, so it is set up
//! again. A setup that fails leaves a record of what it changed so far, not marked done: the
//! next run sets up again and counts those files as setup's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::runner::Exit;
use super::shell::{self, Shell};
use crate::config::{Import, Setup};
use crate::git::{self, Repo};

/// Bytes of a failed setup's output told in the reason.
const TAIL_BYTES: usize = 1500;
/// The largest imported file read.
const MAX_IMPORT_BYTES: u64 = 256 * 1024;
/// The token file in the worktree's admin dir.
const TOKEN_FILE: &str = "maestro-setup";

/// One setup command and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Command {
    /// `[setup] run` (with its config file), or the imported file.
    pub origin: String,
    pub run: String,
    /// The repository file it was imported from.
    #[serde(skip)]
    pub import: Option<Import>,
}

/// Why a worktree could not be made ready; told as the failed attempt's reason.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{}", .0.join("; "))]
    Refused(Vec<String>),
    #[error("setup failed: {0}")]
    Import(String),
    #[error("setup ({origin}) failed with exit {exit}; the end of its output:\n{tail}")]
    Failed { origin: String, exit: String, tail: String },
    #[error("setup ({origin}) did not finish within {timeout}; it and every process it started were killed")]
    TimedOut { origin: String, timeout: String },
    #[error("setup was interrupted")]
    Interrupted,
    #[error("cannot prepare the worktree: {0}")]
    Io(String),
}

impl From<std::io::Error> for SetupError {
    fn from(e: std::io::Error) -> Self {
        SetupError::Io(e.to_string())
    }
}

impl From<git::Error> for SetupError {
    fn from(e: git::Error) -> Self {
        SetupError::Io(e.to_string())
    }
}

/// A worktree to make ready.
pub struct Prepare<'a> {
    pub repo: &'a Repo,
    pub setup: &'a Setup,
    pub worktree: &'a Path,
    /// The environment commands inherit (PATH, HOME, the port block's variables, …).
    pub env: &'a [(String, String)],
    /// This git-maestro binary, which supervises the commands.
    pub maestro_exe: &'a Path,
    /// Where the commands' output goes (`setup-<n>.log`).
    pub log_dir: PathBuf,
}

/// What making a worktree ready did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Files copied from the main checkout.
    pub copied: Vec<String>,
    /// Matching entries not copied, with why.
    pub skipped: Vec<(String, String)>,
    /// The commands run, by origin.
    pub ran: Vec<String>,
}

/// Make `p.worktree` ready if it was not yet; `None` when it was (or nothing is configured).
pub fn ensure(p: &Prepare<'_>) -> Result<Option<Prepared>, SetupError> {
    let main = p.repo.main_workdir();
    let includes = main.as_deref().is_some_and(|m| std::fs::symlink_metadata(m.join(git::INCLUDE_FILE)).is_ok());
    if !includes && p.setup.run.is_none() && p.setup.import.is_empty() {
        return Ok(None);
    }
    let Some(admin) = git::WorktreeLinks::read(p.repo, p.worktree).map(|l| l.admin_dir().to_owned()) else {
        return Ok(None);
    };
    let record_path = record_path(p.repo, p.worktree)?;
    let token_now = std::fs::read_to_string(admin.join(TOKEN_FILE)).unwrap_or_default();
    let earlier = read_record(&record_path).filter(|r| !token_now.is_empty() && r.token == token_now.trim());
    if earlier.as_ref().is_some_and(|r| r.done) {
        return Ok(None);
    }
    let plan = main.as_deref().map(git::plan_includes).transpose()?.flatten();
    let commands = commands(p.setup, main.as_deref())?;
    if let Some(plan) = &plan
        && !plan.refused.is_empty()
    {
        return Err(SetupError::Refused(plan.refused.clone()));
    }
    let mut record = Record {
        format: 1,
        worktree: p.worktree.display().to_string(),
        token: format!("{:016x}", fastrand::u64(..)),
        done: false,
        baseline: Vec::new(),
    };
    std::fs::write(admin.join(TOKEN_FILE), &record.token)?;
    // What was dirty before, minus what an earlier, failed setup made: setup's own doing is
    // what it changes from here.
    let setup_made: Vec<String> = earlier.map(|r| r.baseline.into_iter().map(|b| b.path).collect()).unwrap_or_default();
    let before: Vec<Baseline> =
        snapshot(p.repo, p.worktree)?.into_iter().filter(|b| !setup_made.contains(&b.path)).collect();
    let result = run_all(p, main.as_deref(), plan.as_ref(), &commands);
    record.baseline = snapshot(p.repo, p.worktree)?.into_iter().filter(|b| !before.contains(b)).collect();
    record.done = result.is_ok();
    write_record(&record_path, &record)?;
    result.map(Some)
}

/// Copy the included files, then run each command in turn; the first failure stops.
fn run_all(
    p: &Prepare<'_>,
    main: Option<&Path>,
    plan: Option<&git::IncludePlan>,
    commands: &[Command],
) -> Result<Prepared, SetupError> {
    let mut prepared = Prepared::default();
    if let (Some(main), Some(plan)) = (main, plan) {
        prepared.copied = git::copy_includes(main, p.worktree, plan)?;
        prepared.skipped.clone_from(&plan.skipped);
    }
    for (n, command) in commands.iter().enumerate() {
        let mut env = p.env.to_vec();
        env.extend(command_env(command.import, main, p.worktree, p.env));
        let ran = shell::run(
            p.repo,
            Shell {
                command: &command.run,
                worktree: p.worktree,
                env,
                timeout: Duration::from_secs(p.setup.timeout),
                transcript: p.log_dir.join(format!("setup-{}.log", n + 1)),
                supervisor: p.maestro_exe,
                sandbox: p.setup.sandbox,
                writable: p.setup.writable.clone(),
                run_id: format!("setup-{:08x}", fastrand::u32(..)),
                interruptible: true,
            },
        )?;
        let origin = command.origin.clone();
        match ran.exit {
            Exit::Code(0) if ran.relinked.is_empty() => prepared.ran.push(origin),
            Exit::Code(_) | Exit::Signal(_) => {
                let exit = match ran.exit {
                    _ if !ran.relinked.is_empty() => format!("0, but it redirected {}", ran.relinked.join(", ")),
                    other => other.to_string(),
                };
                let tail = crate::model::redact::redact(ran.tail(TAIL_BYTES).trim_end());
                return Err(SetupError::Failed { origin, exit, tail });
            }
            Exit::TimedOut => {
                let timeout = format!("{}s", p.setup.timeout);
                return Err(SetupError::TimedOut { origin, timeout });
            }
            Exit::Cancelled => return Err(SetupError::Interrupted),
        }
    }
    Ok(prepared)
}

/// The variables a command gets besides the inherited ones: `MAESTRO_WORKTREE` and
/// `MAESTRO_MAIN_CHECKOUT`, and for an imported command what its own tool would set.
fn command_env(
    import: Option<Import>,
    main: Option<&Path>,
    worktree: &Path,
    env: &[(String, String)],
) -> Vec<(String, String)> {
    let main = main.map(|m| m.display().to_string()).unwrap_or_default();
    let wt = worktree.display().to_string();
    let port = env.iter().find(|(k, _)| k == "MAESTRO_PORT").map(|(_, v)| v.clone()).unwrap_or_default();
    let name = worktree.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut vars = vec![("MAESTRO_WORKTREE", wt.clone()), ("MAESTRO_MAIN_CHECKOUT", main.clone())];
    match import {
        Some(Import::Conductor) => vars.extend([
            ("CONDUCTOR_ROOT_PATH", main),
            ("CONDUCTOR_WORKSPACE_PATH", wt),
            ("CONDUCTOR_WORKSPACE_NAME", name),
            ("CONDUCTOR_PORT", port),
        ]),
        Some(Import::Codex) => vars.extend([("CODEX_SOURCE_TREE_PATH", main), ("CODEX_WORKTREE_PATH", wt)]),
        None => {}
    }
    vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The setup commands, in the order they run: the imported files' (as `import` lists them),
/// then `[setup] run`. Imported files are read from the main checkout; one that is missing or
/// declares no setup adds nothing, one that cannot be parsed is an error.
pub fn commands(setup: &Setup, main: Option<&Path>) -> Result<Vec<Command>, SetupError> {
    let mut commands = Vec::new();
    for &import in &setup.import {
        let Some(main) = main else { continue };
        let path = main.join(import.path());
        let bad = |why: String| SetupError::Import(format!("{} (imported by [setup]): {why}", import.path()));
        let text = match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(bad(e.to_string())),
            Ok(meta) if !meta.is_file() => return Err(bad("not a regular file".into())),
            Ok(meta) if meta.len() > MAX_IMPORT_BYTES => return Err(bad(format!("{} bytes is too large", meta.len()))),
            Ok(_) => std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?,
        };
        let run = match import {
            Import::Conductor => {
                let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
                match &value["scripts"]["setup"] {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s.clone()),
                    _ => return Err(bad("scripts.setup is not a string".into())),
                }
            }
            Import::Codex => {
                let value: toml::Table = toml::from_str(&text).map_err(|e| bad(e.message().to_owned()))?;
                match value.get("setup").and_then(|s| s.get("script")) {
                    None => None,
                    Some(toml::Value::String(s)) => Some(s.clone()),
                    Some(_) => return Err(bad("setup.script is not a string".into())),
                }
            }
        };
        if let Some(run) = run.filter(|r| !r.trim().is_empty()) {
            commands.push(Command { origin: import.path().to_owned(), run, import: Some(import) });
        }
    }
    if let Some(run) = &setup.run {
        let origin =
            if setup.source.is_empty() { "[setup] run".into() } else { format!("[setup] run in {}", setup.source) };
        commands.push(Command { origin, run: run.clone(), import: None });
    }
    Ok(commands)
}

/// The paths of `worktree` that setup made and that still hold what setup left: a commit of
/// the worktree leaves them out. Empty when the worktree was never set up.
pub fn unchanged_baseline(repo: &Repo, worktree: &Path) -> Vec<String> {
    let Some(admin) = git::WorktreeLinks::read(repo, worktree).map(|l| l.admin_dir().to_owned()) else {
        return Vec::new();
    };
    let token = std::fs::read_to_string(admin.join(TOKEN_FILE)).unwrap_or_default();
    let Some(record) = record_path(repo, worktree).ok().and_then(|p| read_record(&p)) else { return Vec::new() };
    if token.trim().is_empty() || record.token != token.trim() {
        return Vec::new();
    }
    record.baseline.into_iter().filter(|b| content_id(repo, &worktree.join(&b.path)) == b.id).map(|b| b.path).collect()
}

/// What one worktree's setup did, kept under `<common>/maestro/setup/`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    format: u32,
    worktree: String,
    /// Also in the worktree's admin dir while that worktree exists.
    token: String,
    /// Whether setup finished.
    done: bool,
    #[serde(default)]
    baseline: Vec<Baseline>,
}

/// A path setup changed and the content it left there (`""`: deleted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Baseline {
    path: String,
    id: String,
}

fn record_path(repo: &Repo, worktree: &Path) -> Result<PathBuf, SetupError> {
    let key = repo.blob_id(worktree.display().to_string().as_bytes())?;
    Ok(repo.common_dir().join("maestro/setup").join(format!("{key}.toml")))
}

fn read_record(path: &Path) -> Option<Record> {
    toml::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn write_record(path: &Path, record: &Record) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = toml::to_string(record).map_err(std::io::Error::other)?;
    crate::files::replace(path, text.as_bytes())
}

/// Every path that differs from HEAD (untracked included, ignored not), with its content id.
fn snapshot(repo: &Repo, worktree: &Path) -> Result<Vec<Baseline>, SetupError> {
    Ok(git::dirty_paths(worktree)?
        .into_iter()
        .map(|path| Baseline { id: content_id(repo, &worktree.join(&path)), path })
        .collect())
}

/// The blob id of a file or of a link's target (`link:` first), `""` when it is missing.
fn content_id(repo: &Repo, path: &Path) -> String {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return String::new() };
    let (prefix, id) = if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).map(|t| t.into_os_string().into_encoded_bytes());
        ("link:", target.ok().and_then(|t| repo.blob_id(&t).ok()))
    } else if meta.is_file() {
        // Hashed as read: setup may leave files of any size.
        (if is_executable(&meta) { "x:" } else { "" }, repo.file_blob_id(path).ok())
    } else {
        return "other".into();
    };
    match id {
        Some(id) => format!("{prefix}{id}"),
        None => "unreadable".into(),
    }
}

fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

/// For a run in `worktree`: lease its port block (held until the block drops) and make it ready
/// if it is new. Returns the block and `base_env` with the block's variables, or why the run
/// cannot start there.
pub fn ready(
    repo: &Repo,
    setup: &Setup,
    worktree: &Path,
    base_env: &[(String, String)],
    maestro_exe: &Path,
    log_dir: PathBuf,
) -> Result<(crate::kernel::ports::PortBlock, Vec<(String, String)>), String> {
    let ports =
        crate::kernel::ports::lease(worktree).map_err(|e| format!("cannot lease ports for the worktree: {e}"))?;
    let mut env = base_env.to_vec();
    env.extend(ports.env());
    let prepare = Prepare { repo, setup, worktree, env: &env, maestro_exe, log_dir };
    ensure(&prepare).map_err(|e| e.to_string())?;
    Ok((ports, env))
}
