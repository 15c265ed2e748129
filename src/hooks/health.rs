//! Whether the pre-push verifier is still in place, for `doctor`.

use std::path::PathBuf;

use super::placement::{chained_of, has_shim, nested_pre_commit};
use super::{HookPaths, Placement};

/// The state of the pre-push verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookHealth {
    /// In place, in `path`.
    Installed { path: PathBuf },
    /// Never installed here (`init` has not run, or ran in another clone).
    Missing { path: PathBuf },
    /// `init` installed it, but it is gone: a hook manager or the user replaced the file.
    Overwritten { path: PathBuf, was: PathBuf },
    /// The shim sits in husky's generated directory in place of husky's runner, so the user's
    /// own `script` no longer runs (what an older git-maestro did).
    Unchained { path: PathBuf, script: PathBuf },
    /// A hook moved aside for the shim is left behind: the shim was overwritten and the hook
    /// in `chained` no longer runs.
    Orphaned { path: PathBuf, chained: PathBuf },
    /// The shim runs as the pre-commit framework's `pre-push.legacy` and chains to a copy of
    /// pre-commit's own hook in `chained`, which refuses to run there: every push fails.
    Nested { path: PathBuf, chained: PathBuf },
}

/// Check the verifier for the hooks directory in `paths`.
pub fn health(paths: &HookPaths) -> HookHealth {
    let placement = Placement::detect(paths);
    if let Placement::Husky { runner_dir, script } = &placement {
        let hook = runner_dir.join("pre-push");
        if has_shim(&hook) {
            return HookHealth::Unchained { path: hook, script: script.clone() };
        }
        let chained = chained_of(&hook);
        if chained.exists() && !placement.installed() {
            return HookHealth::Orphaned { path: hook, chained };
        }
    }
    let path = placement.file().to_owned();
    if let Some(chained) = nested_pre_commit(&placement) {
        return HookHealth::Nested { path, chained };
    }
    if placement.installed() {
        return HookHealth::Installed { path };
    }
    let chained = chained_of(&path);
    if matches!(placement, Placement::Shim { .. }) && chained.exists() {
        return HookHealth::Orphaned { path, chained };
    }
    match paths.recorded() {
        Some(was) => HookHealth::Overwritten { path, was },
        None => HookHealth::Missing { path },
    }
}
