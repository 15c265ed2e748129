//! `git maestro install-man`: man pages generated from the clap definitions.
//!
//! One page per command: `git-maestro.1`, `git-maestro-<command>.1`, and
//! `git-maestro-<group>-<command>.1` for the commands of a group. git turns
//! `git maestro --help` into `man git-maestro`, so the pages must sit where `man` looks without
//! MANPATH: man-db maps each PATH entry `<x>/bin` to `<x>/share/man` (and Debian's
//! manpath.config maps /usr/local/bin the same way), so the default directory is
//! `<dir of the binary>/../share/man/man1`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};

#[derive(Debug, clap::Args)]
pub struct InstallManArgs {
    /// Write the pages into DIR instead (created if needed)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Serialize)]
struct Report {
    dir: PathBuf,
    pages: Vec<String>,
}

pub fn cmd_install_man(ctx: &Context, args: &InstallManArgs) -> CommandResult {
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => default_dir().map_err(|e| {
            CommandError::user("man-dir", format!("cannot tell where this binary lives: {e}"))
                .hint("name the directory: `git maestro install-man --dir ~/.local/share/man/man1`")
        })?,
    };
    let pages = install(&dir).map_err(|e| {
        CommandError::user("man-install", format!("cannot write the man pages into {}: {e}", dir.display()))
            .hint("pick a directory you can write, e.g. `git maestro install-man --dir ~/.local/share/man/man1`")
    })?;
    let report = Report { dir, pages };
    if ctx.ui.json {
        ctx.ui.json(&report)?;
        return Ok(());
    }
    for page in &report.pages {
        ctx.ui.line(report.dir.join(page).display())?;
    }
    ctx.ui.status(format!("Wrote {} man pages; try `git maestro --help`.", report.pages.len()));
    Ok(())
}

/// Install the pages into the default directory when any of them is missing there (a first
/// run, or a newer binary with a new command). Returns the directory when it wrote the pages.
pub fn install_if_missing() -> std::io::Result<Option<PathBuf>> {
    let dir = default_dir()?;
    let pages = pages()?;
    if pages.iter().all(|(name, _)| dir.join(name).exists()) {
        return Ok(None);
    }
    write_pages(&dir, pages)?;
    Ok(Some(dir))
}

/// `<dir of the running binary>/../share/man/man1`.
fn default_dir() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    man_dir_for(&exe)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("{} has no parent", exe.display())))
}

/// The man directory that man-db derives from the PATH entry holding `exe`.
fn man_dir_for(exe: &Path) -> Option<PathBuf> {
    let bin = exe.parent()?;
    // `<bin>/..` is taken literally by man-db; resolve it the same way when the parent exists.
    let prefix = match bin.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => bin.join(".."),
    };
    Some(prefix.join("share").join("man").join("man1"))
}

/// Write every page into `dir`, each through a temporary file and a rename, so a reader (or a
/// second `init` at the same time) never sees half a page. Returns the file names.
fn install(dir: &Path) -> std::io::Result<Vec<String>> {
    write_pages(dir, pages()?)
}

fn write_pages(dir: &Path, pages: Vec<(String, Vec<u8>)>) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut names = Vec::new();
    for (name, text) in pages {
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, &text)?;
        if let Err(e) = std::fs::rename(&tmp, dir.join(&name)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        names.push(name);
    }
    Ok(names)
}

/// Every page as `(file name, roff)`, the root first, hidden commands left out.
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = crate::cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    render(&cmd, &mut out)?;
    Ok(out)
}

fn render(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone()).manual("Git Maestro Manual");
    let mut text = Vec::new();
    man.render(&mut text)?;
    out.push((man.get_filename(), text));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        render(sub, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_directory_is_share_man_beside_the_bin_directory() {
        assert_eq!(
            man_dir_for(Path::new("/opt/tools/bin/git-maestro")),
            Some(PathBuf::from("/opt/tools/share/man/man1"))
        );
    }

    #[test]
    fn there_is_one_page_per_visible_command_named_after_git_s_convention() {
        let pages = pages().expect("the pages render");
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "git-maestro.1");
        for expected in ["git-maestro-init.1", "git-maestro-task-run.1", "git-maestro-install-man.1"] {
            assert!(names.contains(&expected), "{expected} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("hook") || n.contains("__complete")), "hidden commands: {names:?}");
    }
}
