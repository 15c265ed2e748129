//! Installing the pre-push verifier where [`Placement`] says, idempotently, and undoing what
//! an older install left where a hook manager has since taken over.

use std::path::{Path, PathBuf};

use super::placement::{LINE_MARKER, VERIFIER_LINE, chained_of, has_line, has_shim, nested_pre_commit};
use super::{Error, HookInstall, HookPaths, PRE_PUSH_SHIM, Placement, Repairs};

/// Install the verifier for the hooks directory in `paths`, and record where. Running it again
/// changes nothing; an install that a hook manager overwrote or unchained is repaired.
pub fn install_pre_push(paths: &HookPaths) -> Result<(HookInstall, Repairs), Error> {
    let placement = Placement::detect(paths);
    let mut repairs = Vec::new();
    if let Some(nested) = nested_pre_commit(&placement) {
        std::fs::remove_file(&nested).map_err(io_error(&nested))?;
        repairs.push(format!(
            "removed {}, a copy of the pre-commit framework's hook that it cannot run from its own pre-push.legacy",
            nested.display()
        ));
    }
    let done = match &placement {
        Placement::Husky { runner_dir, script } => {
            undo_shim_in_husky_dir(runner_dir, &mut repairs)?;
            add_line(script, false)?
        }
        Placement::Script { script } => add_line(script, true)?,
        Placement::Shim { path } => install_shim(path, &mut repairs)?,
    };
    record(paths, done.path())?;
    Ok((done, repairs))
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_owned(), source }
}

/// Add the verifier line to a user's script, after its shebang; create the script if absent.
fn add_line(script: &Path, executable: bool) -> Result<HookInstall, Error> {
    let io = io_error(script);
    if has_line(script) {
        return Ok(HookInstall::AlreadyInstalled { path: script.to_owned() });
    }
    let existing = match std::fs::read_to_string(script) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let text = match &existing {
        Some(text) => with_line(text),
        None if executable => format!("#!/bin/sh\n{VERIFIER_LINE}\n"),
        None => format!("{VERIFIER_LINE}\n"),
    };
    if let Some(dir) = script.parent() {
        std::fs::create_dir_all(dir).map_err(&io)?;
    }
    let mode = existing.as_ref().and_then(|_| mode_of(script)).or(executable.then_some(0o755));
    write_atomically(script, &text, mode).map_err(&io)?;
    Ok(HookInstall::Added { path: script.to_owned() })
}

/// `text` with the verifier line after the shebang (or first, without one).
fn with_line(text: &str) -> String {
    debug_assert!(!text.contains(LINE_MARKER));
    match text.split_once('\n') {
        Some((first, rest)) if first.starts_with("#!") => format!("{first}\n{VERIFIER_LINE}\n{rest}"),
        None if text.starts_with("#!") => format!("{text}\n{VERIFIER_LINE}\n"),
        _ => format!("{VERIFIER_LINE}\n{text}"),
    }
}

/// The shim at `path`, with a hook already there moved aside for it to call.
fn install_shim(path: &Path, repairs: &mut Repairs) -> Result<HookInstall, Error> {
    let io = io_error(path);
    if has_shim(path) {
        return Ok(HookInstall::AlreadyInstalled { path: path.to_owned() });
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(&io)?;
    let chained = chained_of(path);
    let previous = if path.exists() {
        if chained.exists() {
            resolve_chain_taken(path, &chained, repairs)?;
        }
        std::fs::rename(path, &chained).map_err(&io)?;
        Some(chained)
    } else {
        None
    };
    write_atomically(path, PRE_PUSH_SHIM, Some(0o755)).map_err(&io)?;
    Ok(match previous {
        Some(previous) => HookInstall::Chained { path: path.to_owned(), previous },
        None => HookInstall::Installed { path: path.to_owned() },
    })
}

/// A hook is at `path` and another was moved aside to `chained` by an earlier install, so
/// something overwrote the shim. When the two are the same hook (a hook manager wrote its hook
/// again), or the one aside is a shim of ours, the old copy goes; two different hooks of the
/// user's are refused, since only they know how to combine them.
fn resolve_chain_taken(path: &Path, chained: &Path, repairs: &mut Repairs) -> Result<(), Error> {
    let same = matches!((std::fs::read(path), std::fs::read(chained)), (Ok(a), Ok(b)) if a == b);
    if !same && !has_shim(chained) {
        return Err(Error::ChainTaken { hook: path.to_owned(), chained: chained.to_owned() });
    }
    std::fs::remove_file(chained).map_err(io_error(chained))?;
    repairs.push(format!(
        "removed {}, an older copy of the hook now in {} (the verifier had been overwritten)",
        chained.display(),
        path.display()
    ));
    Ok(())
}

/// An older git-maestro put the shim into husky's generated directory and moved husky's runner
/// aside, so the user's script no longer ran; a later `npx husky` put the runner back and left
/// the moved copy behind. Either way, husky's runner goes back in place.
fn undo_shim_in_husky_dir(runner_dir: &Path, repairs: &mut Repairs) -> Result<(), Error> {
    let hook = runner_dir.join("pre-push");
    let chained = chained_of(&hook);
    if has_shim(&hook) {
        if chained.exists() {
            std::fs::rename(&chained, &hook).map_err(io_error(&hook))?;
            repairs.push(format!("put husky's runner back in {} (it had been moved aside)", hook.display()));
        } else {
            // husky writes the same two lines for every hook; without them `.husky/pre-push`
            // would not run.
            let runner = "#!/usr/bin/env sh\n. \"$(dirname \"$0\")/h\"";
            write_atomically(&hook, runner, Some(0o755)).map_err(io_error(&hook))?;
            repairs.push(format!("wrote husky's runner back to {}", hook.display()));
        }
    } else if chained.exists() {
        std::fs::remove_file(&chained).map_err(io_error(&chained))?;
        repairs.push(format!("removed {}, left by an older install", chained.display()));
    }
    Ok(())
}

/// Remember the file that runs the verifier, for `doctor`.
fn record(paths: &HookPaths, file: &Path) -> Result<(), Error> {
    let io = io_error(&paths.record);
    if paths.recorded().as_deref() == Some(file) {
        return Ok(());
    }
    if let Some(dir) = paths.record.parent() {
        std::fs::create_dir_all(dir).map_err(&io)?;
    }
    write_atomically(&paths.record, &format!("{}\n", file.display()), None).map_err(&io)
}

/// Write beside and rename, so a crash never leaves a half-written hook.
fn write_atomically(path: &Path, text: &str, mode: Option<u32>) -> std::io::Result<()> {
    let mut tmp = PathBuf::from(path);
    tmp.set_file_name(format!("{}.maestro-tmp", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
    std::fs::write(&tmp, text)?;
    if let Some(mode) = mode {
        set_mode(&tmp, mode)?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode_of(_: &Path) -> Option<u32> {
    None
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_goes_after_the_shebang_or_first() {
        let with = with_line("#!/bin/sh\necho hi\n");
        assert_eq!(with, format!("#!/bin/sh\n{VERIFIER_LINE}\necho hi\n"));
        assert_eq!(with_line("npm test\n"), format!("{VERIFIER_LINE}\nnpm test\n"));
        assert_eq!(with_line("#!/bin/sh"), format!("#!/bin/sh\n{VERIFIER_LINE}\n"));
    }
}
