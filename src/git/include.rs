//! `.worktreeinclude`: which ignored files of the main checkout a new worktree gets a copy of.
//!
//! The file sits at the root of the main checkout and uses `.gitignore` syntax (parsed by gix's
//! own ignore parser). A file is copied when a pattern includes it (or a directory above it)
//! *and* git ignores it there: tracked files are in every worktree already, and untracked files
//! that are not ignored are someone's work in progress, not configuration.
//!
//! Containment: the walk starts at the main checkout and never leaves it. It never follows a
//! symbolic link: a matching link is skipped with a reason (copying it could point the new
//! worktree at anything), and a linked directory is not entered. Nested repositories are not
//! entered either. A pattern with a `..` component would name a place outside the checkout:
//! it is refused with its line, and nothing is copied. A leading `/` anchors a pattern at the
//! root, as in `.gitignore`; it never names an absolute path.
//!
//! A pattern without a slash (`.env`) is looked for in every directory, ignored ones such as
//! `node_modules/` included; an anchored one (`/.env`, `config/*.json`) only walks the
//! directories it can match in.

use std::path::{Path, PathBuf};

use gix::bstr::{BStr, ByteSlice};
use gix::glob::pattern::Case;

use super::{GixContext, Result};

/// The name of the file, at the root of the main checkout.
pub const FILE_NAME: &str = ".worktreeinclude";

/// What `.worktreeinclude` selects in a main checkout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncludePlan {
    /// Files to copy, relative to the checkout, `/`-separated, sorted.
    pub files: Vec<String>,
    /// Matching entries left out, with why (a symbolic link).
    pub skipped: Vec<(String, String)>,
    /// Patterns refused, with their line and why; a plan with any is not to be applied.
    pub refused: Vec<String>,
    /// How many patterns the file holds.
    pub patterns: usize,
}

/// Read `<main>/.worktreeinclude` and find what it selects; `None` when there is no such file.
pub fn plan_includes(main: &Path) -> Result<Option<IncludePlan>> {
    let file = main.join(FILE_NAME);
    let bytes = match std::fs::symlink_metadata(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(super::Error::Io { context: format!("cannot read {}", file.display()), source }),
        Ok(meta) if !meta.is_file() => {
            let refused = vec![format!("{FILE_NAME} is not a regular file (a symbolic link?); it is not read")];
            return Ok(Some(IncludePlan { refused, ..IncludePlan::default() }));
        }
        Ok(_) => std::fs::read(&file)
            .map_err(|source| super::Error::Io { context: format!("cannot read {}", file.display()), source })?,
    };
    let mut plan = IncludePlan { refused: escaping_patterns(&bytes), ..IncludePlan::default() };
    let mut search = gix::ignore::Search::default();
    search
        .add_patterns_buffer(&bytes, file.clone(), None, gix::ignore::search::Ignore::default())
        .map_err(|source| super::Error::Io { context: format!("cannot parse {}", file.display()), source })?;
    plan.patterns = search.patterns.iter().map(|l| l.patterns.len()).sum();
    if !plan.refused.is_empty() || plan.patterns == 0 {
        return Ok(Some(plan));
    }
    let repo = super::Repo::open_worktree(main)?;
    let index = repo.index_or_empty().ctx(|| format!("cannot read the index of {}", main.display()))?;
    let mut excludes = repo
        .excludes(&index, None, gix::worktree::stack::state::ignore::Source::WorktreeThenIdMappingIfNotSkipped)
        .ctx(|| format!("cannot read the ignore rules of {}", main.display()))?;
    let literal: Vec<Option<String>> = search
        .patterns
        .iter()
        .flat_map(|l| &l.patterns)
        .filter(|m| !m.pattern.is_negative())
        .map(|m| anchored_prefix(&m.pattern))
        .collect();
    let mut walk = Walk { main, search: &search, literal: &literal, plan: &mut plan };
    walk.dir("", false, &mut |rel, is_dir| {
        let tracked = index.entry_by_path(rel.as_bytes().as_bstr()).is_some();
        let mode = if is_dir { gix::index::entry::Mode::DIR } else { gix::index::entry::Mode::FILE };
        let ignored = excludes
            .at_path(rel, Some(mode))
            .ctx(|| format!("cannot match {rel} against the ignore rules"))
            .map(|p| p.is_excluded())?;
        Ok(ignored && !tracked)
    })?;
    plan.files.sort();
    Ok(Some(plan))
}

/// Copy the planned files from `main` into `worktree`, creating directories; a file already
/// in the worktree is left as it is. Returns the paths copied.
pub fn copy_includes(main: &Path, worktree: &Path, plan: &IncludePlan) -> std::io::Result<Vec<String>> {
    let mut copied = Vec::new();
    for rel in &plan.files {
        let (from, to) = (main.join(rel), worktree.join(rel));
        // Checked again here: the checkout may have changed since the walk.
        if !std::fs::symlink_metadata(&from)?.is_file() || std::fs::symlink_metadata(&to).is_ok() {
            continue;
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&from, &to)?;
        copied.push(rel.clone());
    }
    Ok(copied)
}

/// Lines whose pattern has a `..` component: they would reach outside the checkout.
fn escaping_patterns(bytes: &[u8]) -> Vec<String> {
    let mut refused = Vec::new();
    for (n, line) in bytes.lines().enumerate() {
        let text = line.to_str_lossy();
        let pattern = text.trim().trim_start_matches('!');
        if pattern.is_empty() || text.starts_with('#') {
            continue;
        }
        if pattern.split('/').any(|c| c == "..") || pattern.starts_with('~') {
            refused.push(format!(
                "{FILE_NAME}:{}: {:?} reaches outside the repository; patterns name files inside the main \
                 checkout only",
                n + 1,
                text.trim()
            ));
        }
    }
    refused
}

/// For a pattern with a slash inside it, the literal part before its first wildcard (e.g.
/// `config/` for `config/*.json`): only directories on that path can hold a match. `None` for a
/// pattern that can match at any depth.
fn anchored_prefix(p: &gix::glob::Pattern) -> Option<String> {
    use gix::glob::pattern::Mode;
    if p.mode.contains(Mode::NO_SUB_DIR) && !p.mode.contains(Mode::ABSOLUTE) {
        return None;
    }
    let text = p.text.to_str_lossy();
    let text = text.trim_start_matches('/');
    let end = text.find(['*', '?', '[', '\\']).unwrap_or(text.len());
    Some(text[..end].to_owned())
}

struct Walk<'a> {
    main: &'a Path,
    search: &'a gix::ignore::Search,
    /// Per pattern, [`anchored_prefix`].
    literal: &'a [Option<String>],
    plan: &'a mut IncludePlan,
}

impl Walk<'_> {
    /// Walk `rel` (a directory, `""` for the root); `within` when an include pattern matched a
    /// directory above. `ignored` says whether a path is ignored and untracked.
    fn dir(&mut self, rel: &str, within: bool, ignored: &mut dyn FnMut(&str, bool) -> Result<bool>) -> Result<()> {
        let dir: PathBuf = if rel.is_empty() { self.main.to_owned() } else { self.main.join(rel) };
        let read = std::fs::read_dir(&dir)
            .map_err(|source| super::Error::Io { context: format!("cannot read {}", dir.display()), source })?;
        let mut entries: Vec<_> = read.filter_map(std::result::Result::ok).collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let Ok(name) = entry.file_name().into_string() else { continue };
            if rel.is_empty() && name == ".git" {
                continue;
            }
            let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let Ok(kind) = entry.file_type() else { continue };
            let included = within || self.includes(&path, kind.is_dir());
            if kind.is_symlink() {
                if included && ignored(&path, false)? {
                    let why = "a symbolic link: never copied, so no worktree points outside".to_owned();
                    self.plan.skipped.push((path, why));
                }
            } else if kind.is_dir() {
                // A nested repository is its own; its files are not ours to copy.
                if !entry.path().join(".git").exists() && (included || self.may_hold_match(&path)) {
                    self.dir(&path, included, ignored)?;
                }
            } else if kind.is_file() && included && ignored(&path, false)? {
                self.plan.files.push(path);
            }
        }
        Ok(())
    }

    fn includes(&self, rel: &str, is_dir: bool) -> bool {
        let rel: &BStr = rel.as_bytes().as_bstr();
        self.search
            .pattern_matching_relative_path(rel, Some(is_dir), Case::Sensitive)
            .is_some_and(|m| !m.pattern.is_negative())
    }

    /// Whether some pattern could match below directory `rel`.
    fn may_hold_match(&self, rel: &str) -> bool {
        let dir = format!("{rel}/");
        self.literal.iter().any(|prefix| match prefix {
            None => true,
            Some(p) => p.starts_with(&dir) || dir.starts_with(p.as_str()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    /// A checkout with ignored files at several depths, a tracked file its `.gitignore` would
    /// ignore, an untracked file, a nested repository and a symbolic link.
    fn checkout() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        super::super::Repo::init(root).expect("init");
        write(root, ".gitignore", "*.env\nbuild/\nnode_modules/\n");
        for rel in ["a.env", "sub/b.env", "build/out.bin", "node_modules/x/y.env", "tracked.env", "nested/n.env"] {
            write(root, rel, rel);
        }
        write(root, "notes.txt", "mine");
        std::fs::create_dir_all(root.join("nested/.git")).expect("a nested repository");
        std::os::unix::fs::symlink("/etc/hostname", root.join("link.env")).expect("symlink");
        let status = std::process::Command::new("git")
            .args(["add", "-f", "tracked.env", ".gitignore"])
            .current_dir(root)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .expect("git add");
        assert!(status.success());
        dir
    }

    #[test]
    fn only_ignored_untracked_matches_inside_the_checkout_are_selected() {
        let dir = checkout();
        write(dir.path(), FILE_NAME, "# what a worktree needs\n*.env\n!sub/b.env\n/build/\nnotes.txt\n");
        let plan = plan_includes(dir.path()).expect("plan").expect("the file exists");
        assert!(plan.refused.is_empty(), "{plan:?}");
        assert_eq!(plan.files, ["a.env", "build/out.bin", "node_modules/x/y.env"], "{plan:?}");
        let skipped: Vec<&str> = plan.skipped.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(skipped, ["link.env"], "a symbolic link is skipped with a reason");

        let into = tempfile::tempdir().expect("temp dir");
        write(into.path(), "a.env", "already here");
        let copied = copy_includes(dir.path(), into.path(), &plan).expect("copy");
        assert_eq!(copied, ["build/out.bin", "node_modules/x/y.env"], "a file already there is left alone");
        assert_eq!(std::fs::read_to_string(into.path().join("a.env")).expect("a.env"), "already here");
        assert_eq!(
            std::fs::read_to_string(into.path().join("node_modules/x/y.env")).expect("y"),
            "node_modules/x/y.env"
        );
    }

    #[test]
    fn patterns_that_reach_outside_are_refused_with_their_line_and_nothing_is_selected() {
        let dir = checkout();
        write(dir.path(), FILE_NAME, "a.env\n../secret.env\n!x/../../y\n~/.env\n/etc/passwd\n");
        let plan = plan_includes(dir.path()).expect("plan").expect("the file exists");
        assert_eq!(plan.refused.len(), 3, "{plan:?}");
        assert!(plan.refused[0].starts_with(".worktreeinclude:2: \"../secret.env\" reaches outside"), "{plan:?}");
        assert!(plan.refused[1].starts_with(".worktreeinclude:3:"), "{plan:?}");
        assert!(plan.refused[2].starts_with(".worktreeinclude:4:"), "{plan:?}");
        assert!(plan.files.is_empty(), "a plan with a refused pattern selects nothing");
        assert!(plan_includes(&dir.path().join("sub")).expect("no file").is_none());
    }

    #[test]
    fn an_anchored_pattern_walks_only_the_directories_it_can_match_in() {
        let patterns =
            gix::ignore::Search::from_overrides(["/config/*.json", "/.env", "**/x.env", "cache"], Default::default());
        let literal: Vec<Option<String>> =
            patterns.patterns.iter().flat_map(|l| &l.patterns).map(|m| anchored_prefix(&m.pattern)).collect();
        assert_eq!(literal[0].as_deref(), Some("config/"));
        assert_eq!(literal[1].as_deref(), Some(".env"));
        assert_eq!(literal[2].as_deref(), Some(""), "a leading ** matches at any depth");
        assert_eq!(literal[3], None, "a pattern without a slash matches at any depth");
        let mut plan = IncludePlan::default();
        let only = [literal[0].clone(), literal[1].clone()];
        let walk = Walk { main: Path::new("/"), search: &patterns, literal: &only, plan: &mut plan };
        assert!(walk.may_hold_match("config"));
        assert!(!walk.may_hold_match("node_modules"), "nothing anchored can match below it");
        assert!(walk.may_hold_match("config/deep"), "past the literal part the walk goes on (it may match there)");
    }
}
