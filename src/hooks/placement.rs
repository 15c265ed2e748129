//! Where the pre-push verifier belongs in this repository: who owns the hooks directory.

use std::path::{Path, PathBuf};

use crate::git::Repo;

/// Where an existing hook is moved so the shim can chain to it.
pub const CHAINED_SUFFIX: &str = ".maestro-chained";

/// A line only our shim contains, to recognise it.
pub(super) const SHIM_MARKER: &str = "git-maestro pre-push shim";

/// A text only the verifier line contains, to recognise it.
pub(super) const LINE_MARKER: &str = "# git-maestro pre-push verifier";

/// The line `init` adds to a user's hook script (husky's `.husky/pre-push`, a tracked
/// `core.hooksPath` script). Without git-maestro on PATH it does nothing and succeeds, so the
/// script behaves for a teammate exactly as before. With it, it reads the refs git sends on
/// stdin, runs the verifier (a refusal stops the script with its status), and gives the refs
/// back as stdin to the rest of the script.
pub const VERIFIER_LINE: &str = concat!(
    r#"if command -v git-maestro >/dev/null 2>&1; then maestro_refs=$(cat); "#,
    r#"printf '%s\n' "$maestro_refs" | git-maestro hook pre-push "$@" || exit $?; "#,
    r#"maestro_tmp=$(mktemp) && printf '%s\n' "$maestro_refs" >"$maestro_tmp" && exec <"$maestro_tmp"; "#,
    r#"rm -f "$maestro_tmp"; fi "#,
    "# git-maestro pre-push verifier (does nothing where git-maestro is not installed)",
);

/// The paths that decide where the verifier goes.
#[derive(Debug, Clone)]
pub struct HookPaths {
    /// The hooks directory git uses (`core.hooksPath`, including `git -c`, else `.git/hooks`).
    pub hooks_dir: PathBuf,
    /// The work tree hooks run in, if any.
    pub workdir: Option<PathBuf>,
    /// Where `init` records the file it installed the verifier in.
    pub record: PathBuf,
}

impl HookPaths {
    /// The paths of `repo`, as git itself resolves them.
    pub fn of(repo: &Repo) -> HookPaths {
        HookPaths {
            hooks_dir: repo.hooks_dir(),
            workdir: repo.workdir().map(Path::to_owned),
            record: repo.common_dir().join("maestro").join("pre-push-hook"),
        }
    }

    /// The file `init` recorded, if it ever installed the verifier.
    pub fn recorded(&self) -> Option<PathBuf> {
        let text = std::fs::read_to_string(&self.record).ok()?;
        Some(PathBuf::from(text.trim_end_matches('\n'))).filter(|p| !p.as_os_str().is_empty())
    }
}

/// Who owns the hooks directory, and so where the verifier goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// husky 9: `core.hooksPath` is `<dir>/_`, which husky regenerates; its runner calls the
    /// user's `<dir>/pre-push`, which gets the verifier line.
    Husky { runner_dir: PathBuf, script: PathBuf },
    /// A hooks directory inside the work tree whose `pre-push` is a shell script (or absent):
    /// the script gets the verifier line, so a tracked file is edited, never moved.
    Script { script: PathBuf },
    /// The shim at `path`, chaining to a hook moved aside beside it. `path` is `pre-push`, or
    /// `pre-push.legacy` under the pre-commit framework's hook.
    Shim { path: PathBuf },
}

impl Placement {
    /// Decide from what is on disk.
    pub fn detect(paths: &HookPaths) -> Placement {
        let dir = &paths.hooks_dir;
        let hook = dir.join("pre-push");
        if dir.file_name().is_some_and(|n| n == "_")
            && dir.join("h").is_file()
            && let Some(root) = dir.parent()
        {
            return Placement::Husky { runner_dir: dir.clone(), script: root.join("pre-push") };
        }
        if is_pre_commit_hook(&hook) {
            return Placement::Shim { path: dir.join("pre-push.legacy") };
        }
        let in_tree = paths.workdir.as_deref().is_some_and(|w| inside(dir, w));
        if in_tree && !has_shim(&hook) && (!hook.exists() || is_shell_script(&hook)) {
            return Placement::Script { script: hook };
        }
        Placement::Shim { path: hook }
    }

    /// The file that runs the verifier once installed.
    pub fn file(&self) -> &Path {
        match self {
            Placement::Husky { script, .. } | Placement::Script { script } => script,
            Placement::Shim { path } => path,
        }
    }

    /// Whether the verifier is in place.
    pub fn installed(&self) -> bool {
        match self {
            Placement::Husky { script, .. } | Placement::Script { script } => has_line(script),
            Placement::Shim { path } => has_shim(path),
        }
    }
}

/// A copy of the pre-commit framework's hook chained behind the shim that pre-commit itself
/// runs as `pre-push.legacy` (left by an older install, once `pre-commit install` ran again):
/// pre-commit refuses to run inside its own legacy hook, so every push would fail.
pub(super) fn nested_pre_commit(placement: &Placement) -> Option<PathBuf> {
    let Placement::Shim { path } = placement else { return None };
    let chained = chained_of(path);
    (path.file_name().is_some_and(|n| n == "pre-push.legacy") && is_pre_commit_hook(&chained)).then_some(chained)
}

/// The file the shim at `path` calls.
pub(super) fn chained_of(path: &Path) -> PathBuf {
    path.with_file_name(format!("pre-push{CHAINED_SUFFIX}"))
}

pub(super) fn has_shim(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|s| s.contains(SHIM_MARKER))
}

pub(super) fn has_line(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|s| s.contains(LINE_MARKER))
}

/// The pre-commit framework's generated hook, which runs `<hook>.legacy` before its own.
pub(super) fn is_pre_commit_hook(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|s| s.contains("File generated by pre-commit"))
}

/// A script `sh` can run with a line added: a shebang naming a POSIX-like shell.
fn is_shell_script(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else { return false };
    let first = text.lines().next().unwrap_or_default();
    let Some(interpreter) = first.strip_prefix("#!") else { return false };
    let mut words = interpreter.split_whitespace();
    let program = words.next().unwrap_or_default();
    let program = if program.ends_with("/env") { words.next().unwrap_or_default() } else { program };
    let name = program.rsplit('/').next().unwrap_or_default();
    matches!(name, "sh" | "bash" | "dash" | "ksh" | "zsh")
}

/// Whether `dir` is inside `workdir` (lexically; both as git resolved them).
fn inside(dir: &Path, workdir: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let dir = canon(dir);
    let workdir = canon(workdir);
    dir.starts_with(&workdir) && !dir.starts_with(workdir.join(".git"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_keeps_a_teammates_hook_unchanged_without_git_maestro() {
        // What the line does when git-maestro is not on PATH: nothing, and it succeeds.
        let script = format!("{VERIFIER_LINE}\nread first\necho \"$first\"\n");
        let out = std::process::Command::new("sh")
            .args(["-e", "-c", &script])
            .env("PATH", "/usr/bin:/bin")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().expect("stdin").write_all(b"refs/heads/main a refs/heads/main b\n")?;
                child.wait_with_output()
            })
            .expect("sh runs");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "refs/heads/main a refs/heads/main b\n");
    }

    #[test]
    fn shell_scripts_are_recognised_by_their_shebang() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cases = [
            ("#!/bin/sh\n", true),
            ("#!/usr/bin/env bash\nexit 0\n", true),
            ("#!/usr/bin/env python3\n", false),
            ("echo hi\n", false),
        ];
        for (i, (text, shell)) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("h{i}"));
            std::fs::write(&path, text).expect("write");
            assert_eq!(is_shell_script(&path), shell, "{text:?}");
        }
    }
}
