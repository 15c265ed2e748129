//! Git hooks: installing the pre-push shim, and the pre-push verifier behind it.
//!
//! The shim is chained, never overwriting: an existing hook is moved aside and called after
//! maestro's check with the same arguments and stdin.

mod pre_push;

pub use pre_push::{PushedRef, Refusal, parse_pre_push_input, verify_pre_push, verify_sync_push};

use std::path::{Path, PathBuf};

/// The shim `init` installs (`hooks/pre-push` in this repository).
pub const PRE_PUSH_SHIM: &str = include_str!("../../hooks/pre-push");
/// A line only our shim contains, to recognise it.
const MARKER: &str = "git-maestro pre-push shim";
/// Where an existing hook is moved so the shim can chain to it.
pub const CHAINED_SUFFIX: &str = ".maestro-chained";

/// What installing the hook did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum HookInstall {
    Installed {
        path: PathBuf,
    },
    /// An existing hook was moved aside and is now called by the shim.
    Chained {
        path: PathBuf,
        previous: PathBuf,
    },
    AlreadyInstalled {
        path: PathBuf,
    },
}

/// Errors while installing hooks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot install {}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} exists and so does {}; cannot chain a second time", .hook.display(), .chained.display())]
    ChainTaken { hook: PathBuf, chained: PathBuf },
}

/// Whether the pre-push shim is installed in `hooks_dir`.
pub fn is_installed(hooks_dir: &Path) -> bool {
    std::fs::read_to_string(hooks_dir.join("pre-push")).is_ok_and(|s| s.contains(MARKER))
}

/// Install the pre-push shim into `hooks_dir`, chaining to any hook already there.
pub fn install_pre_push(hooks_dir: &Path) -> Result<HookInstall, Error> {
    let path = hooks_dir.join("pre-push");
    let io = |source| Error::Io { path: path.clone(), source };
    if is_installed(hooks_dir) {
        return Ok(HookInstall::AlreadyInstalled { path });
    }
    std::fs::create_dir_all(hooks_dir).map_err(io)?;
    let chained = hooks_dir.join(format!("pre-push{CHAINED_SUFFIX}"));
    let previous = if path.exists() {
        if chained.exists() {
            return Err(Error::ChainTaken { hook: path, chained });
        }
        std::fs::rename(&path, &chained).map_err(io)?;
        Some(chained)
    } else {
        None
    };
    // Write beside and rename, so a crash never leaves a half-written hook.
    let tmp = hooks_dir.join("pre-push.maestro-tmp");
    std::fs::write(&tmp, PRE_PUSH_SHIM).map_err(io)?;
    make_executable(&tmp).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(match previous {
        Some(previous) => HookInstall::Chained { path, previous },
        None => HookInstall::Installed { path },
    })
}

#[cfg(unix)]
fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> std::io::Result<()> {
    Ok(())
}
