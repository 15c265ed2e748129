//! `git maestro init`

use std::path::Path;

use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::hooks::{self, HookInstall, HookPaths};
use crate::store::Initialized;

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Only install (or repair) the pre-push verifier
    #[arg(long)]
    pub hooks: bool,
}

/// The files `init` copies into `.maestro/`, from this repository's `.maestro-template/`.
const TEMPLATE: &[(&str, &str)] = &[("config.toml", include_str!("../../../.maestro-template/config.toml"))];

#[derive(Serialize)]
struct Report {
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<Vec<FileReport>>,
    hook: HookInstall,
    /// What was undone of an older install that a hook manager broke.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    repaired: Vec<String>,
}

#[derive(Serialize)]
struct FileReport {
    path: String,
    action: &'static str,
}

pub fn cmd_init(ctx: &Context, args: &InitArgs) -> CommandResult {
    let store = ctx.store()?;
    if args.hooks {
        let (hook, repaired) = hooks::install_pre_push(&HookPaths::of(&store.repo))?;
        return print(ctx, Report { state: None, files: None, hook, repaired }, store.repo.workdir());
    }
    let outcome = store.initialize()?;
    for notice in &outcome.notices {
        ctx.ui.warn(notice);
    }
    let state = match outcome.value {
        Initialized::Created => "created",
        Initialized::AlreadyThere => "kept",
    };
    // Trusted config is read from the main checkout's .maestro/ (never from a linked worktree,
    // which may be an agent's), so that is where it goes from any worktree.
    let files = match (store.repo.main_workdir(), store.repo.workdir()) {
        (Some(main), Some(here)) => copy_template(&main, here)?,
        _ => Vec::new(),
    };
    let (hook, repaired) = hooks::install_pre_push(&HookPaths::of(&store.repo))?;
    // Man pages make `git maestro --help` work; without them everything else still does.
    if let Err(e) = super::install_man::install_if_missing() {
        ctx.ui.warn(format!("could not write the man pages: {e}"));
        ctx.ui.hint("run `git maestro install-man --dir <a directory on your MANPATH>`");
    }
    print(ctx, Report { state: Some(state), files: Some(files), hook, repaired }, store.repo.workdir())?;
    if state == "created" {
        ctx.ui.status("Next: describe work in a Score file, then `git maestro plan --from score.toml`.");
    }
    Ok(())
}

/// Print the report; `workdir` is the work tree `init` ran in.
fn print(ctx: &Context, report: Report, workdir: Option<&Path>) -> CommandResult {
    if ctx.ui.json {
        ctx.ui.json(&report)?;
        return Ok(());
    }
    if let Some(state) = report.state {
        ctx.ui.line(format!("{state:<8} refs/maestro/state"))?;
    }
    for f in report.files.iter().flatten() {
        ctx.ui.line(format!("{:<8} {}", f.action, f.path))?;
    }
    for r in &report.repaired {
        ctx.ui.status(format!("Repaired: {r}."));
    }
    match &report.hook {
        HookInstall::Installed { path } => ctx.ui.line(format!("{:<8} {}", "created", path.display()))?,
        HookInstall::AlreadyInstalled { path } => ctx.ui.line(format!("{:<8} {}", "kept", path.display()))?,
        HookInstall::Added { path } => ctx.ui.line(format!(
            "{:<8} {} (a line that runs the verifier where git-maestro is installed)",
            "added",
            path.display()
        ))?,
        HookInstall::Chained { path, previous } => ctx.ui.line(format!(
            "{:<8} {} (your previous hook now runs from {})",
            "chained",
            path.display(),
            previous.display()
        ))?,
    }
    // A line in a file of the work tree only lasts once committed (a checkout would drop it).
    if let HookInstall::Added { path } = &report.hook
        && let Some(rel) = workdir.and_then(|w| path.strip_prefix(w).ok())
    {
        ctx.ui.status(format!(
            "Next: commit {}; the line does nothing for anyone without git-maestro installed.",
            rel.display()
        ));
    }
    Ok(())
}

/// Copy the template files into `main`'s `.maestro/` when they do not exist yet; never
/// overwrite. Paths are shown relative to `here` when `here` is the main checkout.
fn copy_template(main: &Path, here: &Path) -> CommandResult<Vec<FileReport>> {
    let dir = main.join(".maestro");
    let same = std::fs::canonicalize(main).ok() == std::fs::canonicalize(here).ok();
    let mut out = Vec::new();
    for (name, content) in TEMPLATE {
        let path = dir.join(name);
        let shown = if same { format!(".maestro/{name}") } else { path.display().to_string() };
        if path.exists() {
            out.push(FileReport { path: shown, action: "kept" });
            continue;
        }
        std::fs::create_dir_all(&dir)?;
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
