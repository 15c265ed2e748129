//! `git maestro init`

use std::path::Path;

use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::hooks::{self, HookInstall};
use crate::store::Initialized;

/// Set up git-maestro in this repository
///
/// Creates the state ref refs/maestro/state, copies the configuration template into .maestro/
/// without overwriting your files, and installs the pre-push hook (chained to any existing
/// one). It also writes the man pages beside the binary when they are missing (see
/// `git maestro install-man`). Running it again changes nothing.
#[derive(Debug, clap::Args)]
pub struct InitArgs {}

/// The files `init` copies into `.maestro/`, from this repository's `.maestro-template/`.
const TEMPLATE: &[(&str, &str)] = &[("config.toml", include_str!("../../../.maestro-template/config.toml"))];

#[derive(Serialize)]
struct Report {
    state: &'static str,
    files: Vec<FileReport>,
    hook: HookInstall,
}

#[derive(Serialize)]
struct FileReport {
    path: String,
    action: &'static str,
}

pub fn cmd_init(ctx: &Context, _args: &InitArgs) -> CommandResult {
    let store = ctx.store()?;
    let outcome = store.initialize()?;
    for notice in &outcome.notices {
        ctx.ui.warn(notice);
    }
    let state = match outcome.value {
        Initialized::Created => "created",
        Initialized::AlreadyThere => "kept",
    };
    let files = match store.repo.workdir() {
        Some(workdir) => copy_template(&workdir.join(".maestro"))?,
        None => Vec::new(),
    };
    let hook = hooks::install_pre_push(&store.repo.hooks_dir()).map_err(|e| {
        CommandError::user("hook-install", e.to_string())
            .hint("move the existing hooks aside, or install the shim from hooks/pre-push by hand")
    })?;
    // Man pages make `git maestro --help` work; without them everything else still does.
    if let Err(e) = super::install_man::install_if_missing() {
        ctx.ui.warn(format!("could not write the man pages: {e}"));
        ctx.ui.hint("run `git maestro install-man --dir <a directory on your MANPATH>`");
    }
    let report = Report { state, files, hook };
    if ctx.ui.json {
        ctx.ui.json(&report)?;
        return Ok(());
    }
    ctx.ui.line(format!("{:<8} refs/maestro/state", report.state))?;
    for f in &report.files {
        ctx.ui.line(format!("{:<8} {}", f.action, f.path))?;
    }
    match &report.hook {
        HookInstall::Installed { path } => ctx.ui.line(format!("{:<8} {}", "created", path.display()))?,
        HookInstall::AlreadyInstalled { path } => ctx.ui.line(format!("{:<8} {}", "kept", path.display()))?,
        HookInstall::Chained { path, previous } => ctx.ui.line(format!(
            "{:<8} {} (your previous hook now runs from {})",
            "chained",
            path.display(),
            previous.display()
        ))?,
    }
    if state == "created" {
        ctx.ui.status("Next: describe work in a Score file, then `git maestro plan --from score.toml`.");
    }
    Ok(())
}

/// Copy the template files that do not exist yet; never overwrite.
fn copy_template(dir: &Path) -> CommandResult<Vec<FileReport>> {
    let mut out = Vec::new();
    for (name, content) in TEMPLATE {
        let path = dir.join(name);
        let shown = format!(".maestro/{name}");
        if path.exists() {
            out.push(FileReport { path: shown, action: "kept" });
            continue;
        }
        std::fs::create_dir_all(dir)?;
        // Create-new: if someone writes the file meanwhile, theirs wins.
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                std::io::Write::write_all(&mut f, content.as_bytes())?;
                out.push(FileReport { path: shown, action: "created" });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                out.push(FileReport { path: shown, action: "kept" })
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}
