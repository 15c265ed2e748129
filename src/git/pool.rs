//! The git side of the warm worktree pool: moving a linked worktree to another path (its
//! admin dir stays, its `gitdir` file follows), detaching and attaching its HEAD, and checking
//! out another commit by rewriting only the files that differ between the two trees.
//!
//! Every step is idempotent, so a step cut short by a crash is completed by doing it again:
//! a move whose directory already moved only relinks; a checkout whose HEAD still names the
//! old commit diffs and writes again (HEAD is written last); a HEAD already at the target or
//! attached to a branch is left alone. Policy (which worktree may be pooled, the cap) is the
//! kernel's.

use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind;

use super::{Error, GixContext, Repo, Result};

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// Where a linked worktree's HEAD stands, read from its admin dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorktreeHead {
    Detached(ObjectId),
    /// Attached to this full ref name.
    Branch(String),
}

/// The file in a linked worktree's admin dir naming the branch its HEAD was detached from.
const DETACHED_FROM: &str = "maestro-detached-from";

impl Repo {
    /// The admin dir of the linked worktree at `path`, from its `.git` file, accepted only
    /// inside this repository's `worktrees/` (a redirected link is refused).
    pub fn linked_admin(&self, path: &Path) -> Result<PathBuf> {
        let link = path.join(".git");
        let text = std::fs::read_to_string(&link).map_err(io(format!("cannot read {}", link.display())))?;
        let admin = text.trim_end().strip_prefix("gitdir: ").map(PathBuf::from);
        let inside = |a: &Path| {
            let parent = a.parent().and_then(|p| std::fs::canonicalize(p).ok());
            let ours = std::fs::canonicalize(self.common_dir().join("worktrees")).ok();
            parent.is_some() && parent == ours && a.join("HEAD").is_file()
        };
        match admin {
            Some(a) if a.is_absolute() && inside(&a) => Ok(a),
            _ => Err(Error::UnsupportedFormat(format!("{} is no linked worktree of this repository", link.display()))),
        }
    }

    /// The HEAD of the linked worktree at `path`.
    pub fn worktree_head(&self, path: &Path) -> Result<WorktreeHead> {
        let file = self.linked_admin(path)?.join("HEAD");
        let text = std::fs::read_to_string(&file).map_err(io(format!("cannot read {}", file.display())))?;
        let text = text.trim_end();
        if let Some(name) = text.strip_prefix("ref: ") {
            return Ok(WorktreeHead::Branch(name.to_owned()));
        }
        ObjectId::from_hex(text.as_bytes())
            .map(WorktreeHead::Detached)
            .map_err(|_| Error::UnsupportedFormat(format!("{} holds no commit", file.display())))
    }

    /// Detach the HEAD of the worktree at `path` at the commit it names, so its branch is free.
    /// The branch it left is noted in the worktree's admin dir ([`Repo::detached_from`]).
    pub fn detach_worktree(&self, path: &Path) -> Result<ObjectId> {
        let admin = self.linked_admin(path)?;
        let (branch, commit) = match self.worktree_head(path)? {
            WorktreeHead::Detached(id) => return Ok(id),
            WorktreeHead::Branch(name) => {
                let commit = self.read_ref(&name)?.ok_or_else(|| Error::Ref(format!("{name} does not exist")))?;
                (name, commit)
            }
        };
        write_atomic(&admin.join(DETACHED_FROM), format!("{branch}\n").as_bytes())?;
        write_atomic(&admin.join("HEAD"), format!("{commit}\n").as_bytes())?;
        Ok(commit)
    }

    /// The branch [`Repo::detach_worktree`] last detached the worktree at `path` from: a hint
    /// of where its HEAD is saved (the branch may have moved since), `None` when there is none.
    pub fn detached_from(&self, path: &Path) -> Option<String> {
        let text = std::fs::read_to_string(self.linked_admin(path).ok()?.join(DETACHED_FROM)).ok()?;
        Some(text.trim_end().to_owned()).filter(|name| name.starts_with("refs/"))
    }

    /// Attach the HEAD of the worktree at `path` to `branch` (short name). Its files must
    /// already match the branch's tip.
    pub fn attach_worktree(&self, path: &Path, branch: &str) -> Result<()> {
        let admin = self.linked_admin(path)?;
        write_atomic(&admin.join("HEAD"), format!("ref: refs/heads/{branch}\n").as_bytes())
    }

    /// Move the linked worktree at `from` to `to` (not yet existing), then point its admin dir
    /// at the new place. Done again after a crash: a worktree already at `to` is only relinked.
    pub fn move_worktree(&self, from: &Path, to: &Path) -> Result<()> {
        if !to.exists() {
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(io(format!("cannot create {}", parent.display())))?;
            }
            std::fs::rename(from, to).map_err(io(format!(
                "cannot move the worktree {} to {}",
                from.display(),
                to.display()
            )))?;
        }
        let admin = self.linked_admin(to)?;
        let gitdir = format!("{}\n", to.join(".git").display());
        if std::fs::read_to_string(admin.join("gitdir")).ok().as_deref() != Some(gitdir.as_str()) {
            write_atomic(&admin.join("gitdir"), gitdir.as_bytes())?;
        }
        Ok(())
    }

    /// Why the worktree at `path` holds something unsaved, if it does: a tracked, staged or
    /// untracked (not ignored) change, or a HEAD commit that no ref reaches. Only a worktree
    /// without any may be pooled, reused or removed.
    pub fn unsaved(&self, path: &Path) -> Result<Option<String>> {
        let dirty = super::dirty_paths(path)?;
        if !dirty.is_empty() {
            let shown: Vec<&str> = dirty.iter().take(3).map(String::as_str).collect();
            return Ok(Some(format!("it has uncommitted changes or untracked files ({})", shown.join(", "))));
        }
        self.unsaved_head(path)
    }

    /// Why the HEAD of the worktree at `path` is unsaved, if it is: it names no commit that a
    /// ref reaches.
    pub fn unsaved_head(&self, path: &Path) -> Result<Option<String>> {
        let head = match self.worktree_head(path)? {
            WorktreeHead::Detached(id) => id,
            WorktreeHead::Branch(name) => match self.read_ref(&name)? {
                Some(_) => return Ok(None),
                None => return Ok(Some(format!("its branch {name} has no commit"))),
            },
        };
        // A parked worktree's HEAD is most often still where the branch it left points: looking
        // there first spares reading every ref.
        let left = self.detached_from(path).map(|branch| self.read_ref(&branch)).transpose()?.flatten();
        if left != Some(head) && !self.reachable_from_refs(head)? {
            return Ok(Some(format!("its HEAD {} is on no ref", head.to_hex_with_len(12))));
        }
        Ok(None)
    }

    /// Whether `commit` is reachable from a ref of the repository (branches, tags, maestro's
    /// keep and archive refs, …).
    pub fn reachable_from_refs(&self, commit: ObjectId) -> Result<bool> {
        let refs = self.inner.references().ctx(|| "cannot read the refs".into())?;
        // Most often a ref names it: compare what the refs name before reading any object
        // (peeling a ref reads the object it names, to see whether it is a tag).
        let mut all = Vec::new();
        for r in refs.all().ctx(|| "cannot read the refs".into())? {
            let Ok(r) = r else { continue };
            if r.target().try_id() == Some(commit.as_ref()) {
                return Ok(true);
            }
            all.push(r);
        }
        for mut r in all {
            let Ok(tip) = r.peel_to_id() else { continue };
            if tip.detach() == commit || self.is_ancestor(commit, tip.detach()).unwrap_or(false) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Check out `commit` detached in the linked worktree at `path`, rewriting only the files
    /// that differ from the commit its HEAD names, and the index to match. A HEAD already at
    /// `commit`, or attached to a branch (a later step took over), is left as it is.
    pub fn checkout_detached(&self, path: &Path, commit: ObjectId) -> Result<()> {
        let old = match self.worktree_head(path)? {
            WorktreeHead::Detached(id) if id != commit => id,
            _ => return Ok(()),
        };
        let (old_tree, new_tree) = (self.commit_tree(old)?, self.commit_tree(commit)?);
        let (removed, written) = self.rewrite_files(path, old_tree, new_tree)?;
        // Its index matched the old tree (a pooled worktree holds nothing unsaved), or already
        // the new one (a crash after the index was written): either way only these paths differ.
        let changed: Vec<String> = removed.into_iter().chain(written.iter().cloned()).collect();
        self.patch_index(path, new_tree, &changed, &written)?;
        write_atomic(&self.linked_admin(path)?.join("HEAD"), format!("{commit}\n").as_bytes())
    }

    /// Make the files of `path` go from `old` to `new` (trees): deletions first, then writes.
    /// Returns the paths removed and the paths written.
    fn rewrite_files(&self, path: &Path, old: ObjectId, new: ObjectId) -> Result<(Vec<String>, Vec<String>)> {
        let find = |id: ObjectId| self.inner.find_tree(id).ctx(|| format!("cannot read tree {id}"));
        let options = gix::diff::Options::default().with_rewrites(None);
        let changes = self
            .inner
            .diff_tree_to_tree(&find(old)?, &find(new)?, options)
            .ctx(|| format!("cannot diff {old} and {new}"))?;
        use gix::object::tree::diff::ChangeDetached as C;
        let (mut gone, mut put) = (Vec::new(), Vec::new());
        for change in changes {
            let location = change.location().to_str_lossy().into_owned();
            match change {
                C::Deletion { entry_mode, .. } if !entry_mode.is_tree() && !entry_mode.is_commit() => {
                    gone.push(location)
                }
                C::Addition { entry_mode, id, .. } | C::Modification { entry_mode, id, .. }
                    if !entry_mode.is_tree() && !entry_mode.is_commit() =>
                {
                    put.push((location, entry_mode.kind(), id));
                }
                _ => {}
            }
        }
        for rela in &gone {
            if leading_non_dir(path, rela).is_some() {
                continue;
            }
            remove_file(&path.join(rela))?;
            prune_empty_dirs(path, rela);
        }
        for (rela, kind, id) in &put {
            clear_leading_path(path, rela)?;
            self.write_entry(&path.join(rela), *kind, *id)?;
        }
        Ok((gone, put.into_iter().map(|(p, ..)| p).collect()))
    }

    /// Write blob `id` at `file` as a file (exec bit per `kind`) or a symlink.
    fn write_entry(&self, file: &Path, kind: EntryKind, id: ObjectId) -> Result<()> {
        let object = self.inner.find_object(id).ctx(|| format!("cannot read blob {id}"))?;
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(io(format!("cannot create {}", parent.display())))?;
        }
        if std::fs::symlink_metadata(file).is_ok_and(|m| m.is_dir()) {
            std::fs::remove_dir_all(file).map_err(io(format!("cannot remove {}", file.display())))?;
        } else {
            remove_file(file)?;
        }
        if kind == EntryKind::Link {
            let target = std::ffi::OsStr::from_bytes(&object.data);
            return std::os::unix::fs::symlink(target, file).map_err(io(format!("cannot link {}", file.display())));
        }
        use std::os::unix::fs::OpenOptionsExt;
        let mode = if kind == EntryKind::BlobExecutable { 0o777 } else { 0o666 };
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(file)
            .map_err(io(format!("cannot write {}", file.display())))?;
        std::io::Write::write_all(&mut out, &object.data).map_err(io(format!("cannot write {}", file.display())))
    }
}

fn remove_file(file: &Path) -> Result<()> {
    match std::fs::remove_file(file) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(Error::Io { context: format!("cannot remove {}", file.display()), source: e })
        }
        _ => Ok(()),
    }
}

/// The first directory on the way to `rela` under `root` that is a symlink or a file, if any:
/// writing through it would land outside the worktree, or fail.
fn leading_non_dir(root: &Path, rela: &str) -> Option<PathBuf> {
    let mut at = root.to_owned();
    let parts: Vec<&str> = rela.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Some(at),
            Err(_) => return None,
        }
    }
    None
}

/// Remove whatever is not a real directory on the way to `rela` under `root` (a symlink or a
/// file an earlier tree or an ignored file left there), as `git checkout` does, so a write
/// never follows a link out of the worktree.
fn clear_leading_path(root: &Path, rela: &str) -> Result<()> {
    while let Some(blocker) = leading_non_dir(root, rela) {
        remove_file(&blocker)?;
    }
    Ok(())
}

/// Remove the directories of `rela` under `root` that its deletion left empty.
fn prune_empty_dirs(root: &Path, rela: &str) {
    let mut dir = Path::new(rela).parent();
    while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
        if std::fs::remove_dir(root.join(d)).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Replace `file` with `data` in one rename.
fn write_atomic(file: &Path, data: &[u8]) -> Result<()> {
    crate::files::replace(file, data).map_err(io(format!("cannot write {}", file.display())))
}
