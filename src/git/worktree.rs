//! Linked worktrees for tasks: create one on a branch, commit everything in it, list, remove.
//!
//! The orchestrator owns git: after a performer exits, [`Repo::commit_worktree`] records the
//! full state of the worktree (modified, deleted and untracked files, symlinks and exec bits,
//! ignored files excluded) on the worktree's branch. It works when the agent's sandbox made
//! `.git` read-only, because it runs in maestro's process, outside the sandbox.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::ObjectId;
use gix::objs::tree::EntryKind;
use gix::status::index_worktree::Item;

use super::{Error, GixContext, Repo, Result};

/// A linked worktree of the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorktreeInfo {
    pub path: PathBuf,
    /// The branch checked out, without `refs/heads/`; `None` when detached.
    pub branch: Option<String>,
    pub head: Option<ObjectId>,
    pub locked: bool,
    /// Its admin directory, `<common>/worktrees/<id>`, as the repository records it.
    pub admin: PathBuf,
}

/// A commit of a worktree's whole state, written but not yet on its branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorktreeCommit {
    /// The new commit, or `None` when the worktree had no changes.
    pub commit: Option<ObjectId>,
    /// The paths that changed, sorted.
    pub paths: Vec<String>,
    /// The branch checked out (full name) and its tip the commit builds on.
    pub branch: String,
    pub parent: Option<ObjectId>,
}

impl Repo {
    /// Add a linked worktree at `path` with `branch` checked out. The parent directories are
    /// created; `path` itself must not exist.
    pub fn add_worktree(&self, path: &Path, branch: &str) -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| Error::Io { context: format!("cannot create {}", parent.display()), source })?;
        }
        let name: gix::refs::FullName =
            format!("refs/heads/{branch}").try_into().map_err(|e: gix::validate::reference::name::Error| {
                Error::Gix { context: format!("invalid branch {branch}"), source: gix::Error::from_error(e) }
            })?;
        let interrupt = AtomicBool::new(false);
        self.inner
            .add_worktree(path, gix::worktree::add::Head::Attached(name), gix::progress::Discard, &interrupt)
            .ctx(|| format!("cannot add a worktree for {branch} at {}", path.display()))?;
        Ok(())
    }

    /// Every linked worktree (not the main checkout).
    pub fn worktrees(&self) -> Result<Vec<WorktreeInfo>> {
        let mut out = Vec::new();
        for proxy in self.inner.worktrees().ctx(|| "cannot list worktrees".into())? {
            let locked = proxy.is_locked();
            let admin = proxy.git_dir().to_owned();
            let Ok(path) = proxy.base() else { continue };
            let (branch, head) = match proxy.into_repo_with_possibly_inaccessible_worktree() {
                Ok(repo) => match repo.head() {
                    Ok(head) => {
                        (head.referent_name().map(|n| n.shorten().to_string()), head.id().map(|id| id.detach()))
                    }
                    Err(_) => (None, None),
                },
                Err(_) => (None, None),
            };
            out.push(WorktreeInfo { path, branch, head, locked, admin });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The admin directory (`<common>/worktrees/<id>`) of the linked worktree at `path`, as the
    /// repository records it (not as the worktree's own `.git` file says).
    pub fn worktree_admin_dir(&self, path: &Path) -> Result<Option<PathBuf>> {
        let Ok(canonical) = std::fs::canonicalize(path) else { return Ok(None) };
        for proxy in self.inner.worktrees().ctx(|| "cannot list worktrees".into())? {
            if proxy.base().ok().and_then(|b| std::fs::canonicalize(b).ok()).as_ref() == Some(&canonical) {
                return Ok(Some(proxy.git_dir().to_owned()));
            }
        }
        Ok(None)
    }

    /// Remove the linked worktree at `path`, discarding whatever it holds. Callers commit or
    /// archive first.
    pub fn remove_worktree(&self, path: &Path) -> Result<()> {
        self.inner
            .remove_worktree(path, gix::worktree::remove::Force::DiscardChanges, gix::progress::Discard)
            .ctx(|| format!("cannot remove the worktree at {}", path.display()))
    }

    /// Write a commit of every change in the worktree at `path` on top of its checked-out
    /// branch, leaving the untracked files `skip` (relative paths) out. No changes, no commit.
    /// The branch does not move: the caller moves it (`Store::commit_worktree`), then calls
    /// [`Repo::reset_index`].
    pub fn snapshot_worktree(
        &self,
        path: &Path,
        skip: &[&str],
        message: &str,
        identity: (&str, &str),
        time: i64,
    ) -> Result<WorktreeCommit> {
        // A killed confined run may have left its links redirected and what it staged in its
        // own object directory.
        if let Some(links) = super::WorktreeLinks::read(self, path) {
            links.restore()?;
        }
        self.import_run_objects()?;
        let wt = Repo::open_worktree(path)?;
        let head = wt.head().ctx(|| "cannot read the worktree's HEAD".into())?;
        let branch = head.referent_name().map(|n| n.as_bstr().to_string()).ok_or_else(|| {
            Error::UnsupportedFormat(format!("the worktree at {} has a detached HEAD", path.display()))
        })?;
        let parent = head.id().map(|id| id.detach());
        let base_tree = match parent {
            Some(c) => Some(self.commit_tree(c)?),
            None => None,
        };
        let mut paths = changed_paths(&wt, true)?;
        paths.retain(|p| !skip.contains(&p.as_str()));
        let none = |paths| WorktreeCommit { commit: None, paths, branch: branch.clone(), parent };
        if paths.is_empty() {
            return Ok(none(paths));
        }
        // What is staged, when it differs from both HEAD and the files: committed first, so
        // a staged version the file no longer has is kept too (as `git stash` keeps it).
        let staged = self.staged_tree(&wt, base_tree, &paths)?;
        let mut edit = self.edit_tree(base_tree)?;
        for rela in &paths {
            let file = path.join(rela);
            match std::fs::symlink_metadata(&file) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => edit.remove(rela)?,
                Err(source) => return Err(Error::Io { context: format!("cannot read {}", file.display()), source }),
                Ok(meta) if meta.file_type().is_symlink() => {
                    let target = std::fs::read_link(&file)
                        .map_err(|source| Error::Io { context: format!("cannot read {}", file.display()), source })?;
                    edit.upsert(rela, EntryKind::Link, target.as_os_str().as_encoded_bytes())?;
                }
                // Streamed: a performer may leave files of any size.
                Ok(meta) => {
                    let kind = if is_executable(&meta) { EntryKind::BlobExecutable } else { EntryKind::Blob };
                    edit.upsert_file(rela, kind, &file)?;
                }
            }
        }
        let tree = edit.write()?;
        let mut parents: Vec<ObjectId> = parent.into_iter().collect();
        if staged != base_tree
            && staged != Some(tree)
            && let Some(staged) = staged
        {
            let subject = format!("Staged, then changed on disk: {message}");
            parents = vec![self.write_commit(staged, &parents, &subject, identity, time)?];
        }
        if Some(tree) == base_tree && parents.first() == parent.as_ref() {
            return Ok(none(Vec::new()));
        }
        let commit = self.write_commit(tree, &parents, message, identity, time)?;
        Ok(WorktreeCommit { commit: Some(commit), paths, branch, parent })
    }

    /// The tree of HEAD (`base`) with the index's versions of `paths`.
    fn staged_tree(&self, wt: &gix::Repository, base: Option<ObjectId>, paths: &[String]) -> Result<Option<ObjectId>> {
        let index = wt.index_or_empty().ctx(|| "cannot read the worktree's index".into())?;
        let mut edit = self.edit_tree(base)?;
        for rela in paths {
            let entry = index.entry_by_path(rela.as_str().into());
            match entry.and_then(|e| Some((e.mode.to_tree_entry_mode()?.kind(), e.id))) {
                Some((EntryKind::Commit, _)) => {}
                Some((kind, id)) => edit.place_kind(rela, kind, id)?,
                None => edit.remove(rela)?,
            }
        }
        Ok(Some(edit.write()?))
    }

    /// The first commit of a new repository (the demo's project): every file of the worktree at
    /// `path`, on its unborn branch.
    pub fn commit_first(&self, path: &Path, message: &str, identity: (&str, &str), time: i64) -> Result<ObjectId> {
        let snap = self.snapshot_worktree(path, &[], message, identity, time)?;
        let commit = snap.commit.ok_or_else(|| Error::Ref(format!("{} has no files to commit", path.display())))?;
        let update =
            super::RefUpdate { name: &snap.branch, expected: None, new: Some(commit), log_message: "commit (initial)" };
        self.cas_update(&update, identity, time).map_err(|e| Error::Ref(e.to_string()))?;
        self.reset_index(path, commit, &snap.paths)?;
        Ok(commit)
    }

    /// Reset the index of the worktree at `path` to the tree of `commit`, after its branch
    /// moved there from the commit [`Repo::snapshot_worktree`] started from (the files already
    /// match it). `changed`: the paths the snapshot found changed, and those it left out; only
    /// their entries can differ. The other entries keep their stat data, and the changed ones
    /// take it from disk, so the next status is a stat per file, not a read of every file.
    pub fn reset_index(&self, path: &Path, commit: ObjectId, changed: &[String]) -> Result<()> {
        self.patch_index(path, self.commit_tree(commit)?, changed, &[])
    }
}

/// How long an `index.lock` may stand before it is taken for one a killed process left.
const INDEX_LOCK_STALE: std::time::Duration = std::time::Duration::from_secs(5);

/// Write a task worktree's index. A lock file a killed git-maestro left (kill -9 mid-write)
/// would refuse every later write: callers hold the task's run lock, so no other maestro
/// process writes this index, and a lock that stays for [`INDEX_LOCK_STALE`] (a person's `git
/// add` is long done) is removed and the write tried again.
pub(super) fn write_index(index: &mut gix::index::File) -> Result<()> {
    let lock = {
        let mut name = index.path().as_os_str().to_owned();
        name.push(".lock");
        std::path::PathBuf::from(name)
    };
    let waited = std::time::Instant::now();
    loop {
        match index.write(Default::default()) {
            Ok(()) => return Ok(()),
            Err(_) if lock.exists() => {
                let age = std::fs::metadata(&lock).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
                if age.unwrap_or_default() >= INDEX_LOCK_STALE || waited.elapsed() >= INDEX_LOCK_STALE {
                    let _ = std::fs::remove_file(&lock);
                    return index.write(Default::default()).ctx(|| "cannot write the worktree index".into());
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(e).ctx(|| "cannot write the worktree index".into()),
        }
    }
}

/// [`changed_paths`] of the worktree at `path`; with `untracked = false`, only tracked files.
pub(super) fn dirty_paths(path: &Path, untracked: bool) -> Result<Vec<String>> {
    let repo = Repo::open_worktree(path)?;
    let mut paths = changed_paths(&repo, untracked)?;
    paths.sort();
    Ok(paths)
}

/// Paths that differ between `HEAD` and the worktree's files: staged changes (HEAD against the
/// index) and unstaged ones (the index against the files), untracked files included, ignored
/// files and nested repositories excluded. A change that is only staged still counts: its
/// blob is reachable from no ref until it is committed.
fn changed_paths(wt: &gix::Repository, untracked: bool) -> Result<Vec<String>> {
    let mode = if untracked { gix::status::UntrackedFiles::Files } else { gix::status::UntrackedFiles::None };
    let index = wt.index_or_empty().ctx(|| "cannot read the worktree's index".into())?;
    // Nothing is staged when the index's entries make HEAD's tree: hashing them in memory
    // spares reading HEAD's trees, as git's cache of the index's trees does.
    let head = wt.head_tree_id_or_empty().ctx(|| "cannot read the worktree's HEAD".into())?.detach();
    let staged = super::index::tree_id(&index) != Some(head);
    let failed = || "cannot compute the worktree status".to_owned();
    // The status compares the tree and the index just read, not HEAD and the index read again.
    let platform = wt
        .status(gix::progress::Discard)
        .ctx(failed)?
        .index(gix::worktree::IndexPersistedOrInMemory::Persisted(index))
        .head_tree(head)
        .untracked_files(mode)
        .index_worktree_rewrites(None)
        .tree_index_track_renames(gix::status::tree_index::TrackRenames::Disabled)
        .index_worktree_submodules(gix::status::Submodule::Given {
            ignore: gix::submodule::config::Ignore::All,
            check_dirty: false,
        });
    let status: Box<dyn Iterator<Item = _>> = if staged {
        Box::new(platform.into_iter(Vec::new()).ctx(failed)?)
    } else {
        let only = platform.into_index_worktree_iter(Vec::new()).ctx(failed)?;
        Box::new(only.map(|item| item.map(gix::status::Item::IndexWorktree)))
    };
    let mut paths = Vec::new();
    for item in status {
        let item = item.ctx(failed)?;
        let keep = match &item {
            gix::status::Item::TreeIndex(_) => true,
            gix::status::Item::IndexWorktree(item) => match item {
                Item::Modification { .. } => item.summary().is_some(),
                Item::DirectoryContents { entry, .. } => {
                    entry.status == gix::dir::entry::Status::Untracked
                        && matches!(entry.disk_kind, Some(gix::dir::entry::Kind::File | gix::dir::entry::Kind::Symlink))
                }
                Item::Rewrite { .. } => true,
            },
        };
        if keep {
            paths.push(item.location().to_string());
        }
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

/// What [`Repo::repair_task_worktree`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// The worktree is in order.
    Sound,
    /// Its `.git` file was missing and was written again (`git worktree repair`).
    Relinked,
    /// It was no worktree of this repository any more (its admin dir was gone): its files were
    /// moved aside to this path, and a fresh worktree will take its place.
    MovedAside(PathBuf),
    /// Its HEAD was detached or on another branch (at this commit): it is on its branch again,
    /// its files untouched.
    Reattached(Option<ObjectId>),
}

impl Repo {
    /// Make the task worktree at `path` usable again on `branch` without losing a file: a lost
    /// `.git` link is repaired, a worktree git no longer knows is moved aside, and a HEAD an
    /// agent detached or switched is put back on the branch. Nothing at `path`: `Sound`.
    pub fn repair_task_worktree(&self, path: &Path, branch: &str, aside: &Path) -> Result<Repair> {
        if !path.exists() {
            // A worktree removed by hand stays registered until git prunes it, and its branch
            // cannot be checked out again meanwhile.
            if self.worktrees()?.iter().any(|w| !w.path.exists()) {
                super::binary::run_git(self.common_dir(), &["worktree", "prune"])?;
            }
            return Ok(Repair::Sound);
        }
        let canonical = std::fs::canonicalize(path)
            .map_err(|source| Error::Io { context: format!("cannot read {}", path.display()), source })?;
        let registered = self.worktrees()?.into_iter().find(|w| w.path == canonical);
        let Some(info) = registered else {
            std::fs::rename(path, aside)
                .map_err(|source| Error::Io { context: format!("cannot move {} aside", path.display()), source })?;
            return Ok(Repair::MovedAside(aside.to_owned()));
        };
        if !path.join(".git").exists() {
            // From the repository's side: `git worktree repair <path>` needs the `.git` file it
            // would repair to find the repository, and fails (exit 1) when it is missing.
            super::binary::run_git(self.common_dir(), &["worktree", "repair"])?;
            return Ok(Repair::Relinked);
        }
        if info.branch.as_deref() == Some(branch) {
            return Ok(Repair::Sound);
        }
        let to = format!("refs/heads/{branch}");
        super::binary::run_git_pinned(self, path, &info.admin, &["symbolic-ref", "HEAD", &to])?;
        Ok(Repair::Reattached(info.head))
    }
}
