//! Reading and writing objects: blobs at a path, tree edits, commits. Never touches HEAD, the
//! index or any working tree. Every object write goes through [`retry_transient`], so a
//! concurrent `git gc`, `git repack` or `git prune` does not fail it.

use std::time::{Duration, Instant};

use gix::ObjectId;
use gix::objs::tree::EntryKind;

use super::{Error, GixContext, Repo, Result};

/// Blob sizes a [`Repo`] remembers at most (a few MiB); then it starts again.
const SIZES_KEPT: usize = 65_536;
/// How long, and how often, an object write is tried while the object store is in flux.
const RETRY_FOR: Duration = Duration::from_secs(2);
const MAX_ATTEMPTS: u32 = 12;

/// Run `write`, and run it again after a short pause while it fails the way a concurrent
/// `git gc`, `git repack` or `git prune` makes a loose-object write fail: they remove every
/// empty fan-out directory `objects/xx/` they visit, and one can go between gix creating it and
/// renaming the new object into it ("Could not persist loose object"). Each attempt recreates
/// the fan-out directory, as every gix write does. Bounded by [`RETRY_FOR`] and
/// [`MAX_ATTEMPTS`]; then the last error is returned. `write` must be safe to repeat.
pub(super) fn retry_transient<T>(mut write: impl FnMut() -> Result<T>) -> Result<T> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    let mut attempt = 1;
    loop {
        match write() {
            Err(e) if is_transient(&e) && attempt < MAX_ATTEMPTS && started.elapsed() + pause < RETRY_FOR => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(250));
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// Whether `e` is a filesystem error that a housekeeping git process can cause and undo: a
/// path that vanished or was replaced under us. A full disk or a read-only store is not.
fn is_transient(e: &Error) -> bool {
    use std::io::ErrorKind as K;
    let Error::Gix { source, .. } = e else { return false };
    source.iter_errors().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| matches!(io.kind(), K::NotFound | K::AlreadyExists | K::Interrupted | K::ResourceBusy))
    })
}

/// What `log` needs from a commit.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub id: ObjectId,
    pub tree: ObjectId,
    pub parents: Vec<ObjectId>,
    /// Seconds since the epoch, committer time.
    pub time: i64,
    pub message: String,
}

/// A pending edit of a tree: upserts and removals of blobs by slash-separated path, written
/// bottom-up on [`TreeEdit::write`]. Only the trees on changed paths are read and rewritten, and
/// nothing else is looked at (gix's tree editor checks that every entry of a rewritten tree
/// exists, one `stat` each: 10,000 for a write in a 10,000-task Score), so the cost of a write
/// grows with the depth and fan-out of the path, not with the size of the state. The entries
/// kept come from trees read here and the new ones were just written, so all exist. Each new
/// name is validated as it is set; a kept entry is written as it was.
pub struct TreeEdit<'repo> {
    repo: &'repo gix::Repository,
    base: Option<ObjectId>,
    root: Dir,
}

/// The edits below one directory, by entry name: a new entry, a removal, or edits inside a
/// subdirectory.
#[derive(Default)]
struct Dir(std::collections::BTreeMap<Vec<u8>, Edit>);

enum Edit {
    Set(EntryKind, ObjectId),
    Remove,
    Inside(Dir),
}

impl<'repo> TreeEdit<'repo> {
    fn new(repo: &'repo gix::Repository, base: Option<ObjectId>) -> Result<Self> {
        Ok(TreeEdit { repo, base, root: Dir::default() })
    }

    /// Write `data` as a blob and place it at `path`, creating intermediate trees.
    pub fn upsert_blob(&mut self, path: &str, data: &[u8]) -> Result<()> {
        self.upsert(path, EntryKind::Blob, data)
    }

    /// Write `data` as a blob and place it at `path` with `kind` (plain, executable, symlink).
    pub fn upsert(&mut self, path: &str, kind: EntryKind, data: &[u8]) -> Result<()> {
        let context = || format!("cannot write the blob for '{path}'");
        let id = retry_transient(|| super::loose::write(self.repo, gix::objs::Kind::Blob, data, context))?;
        self.set(path, Edit::Set(kind, id))
    }

    /// Write the regular file `file` as a blob and place it at `path` with `kind`. A large file
    /// is streamed into the object store (deflated and hashed as it is read, into a temporary
    /// object renamed into place), never held in memory whole.
    pub fn upsert_file(&mut self, path: &str, kind: EntryKind, file: &std::path::Path) -> Result<()> {
        let id = retry_transient(|| super::stream::write_file_blob(self.repo, file, path))?;
        self.set(path, Edit::Set(kind, id))
    }

    /// Place an existing object at `path`: a tree when `is_tree`, else a plain blob.
    pub fn place(&mut self, path: &str, is_tree: bool, id: ObjectId) -> Result<()> {
        self.place_kind(path, if is_tree { EntryKind::Tree } else { EntryKind::Blob }, id)
    }

    /// Place an existing object at `path` with `kind`.
    pub fn place_kind(&mut self, path: &str, kind: EntryKind, id: ObjectId) -> Result<()> {
        self.set(path, Edit::Set(kind, id))
    }

    /// Remove `path`; removing a missing path is not an error. Emptied trees disappear.
    pub fn remove(&mut self, path: &str) -> Result<()> {
        self.set(path, Edit::Remove)
    }

    fn set(&mut self, path: &str, edit: Edit) -> Result<()> {
        let parts: Vec<&str> = path.split('/').collect();
        if let Some(bad) = parts
            .iter()
            .find(|p| gix::validate::path::component(p.as_bytes().into(), None, Default::default()).is_err())
        {
            return Err(Error::BadName(format!("{path} ({bad:?})")));
        }
        let (last, dirs) = parts.split_last().unwrap_or((&"", &[]));
        let mut dir = &mut self.root;
        for part in dirs {
            let slot = dir.0.entry(part.as_bytes().to_vec()).or_insert_with(|| Edit::Inside(Dir::default()));
            if !matches!(slot, Edit::Inside(_)) {
                *slot = Edit::Inside(Dir::default());
            }
            let Edit::Inside(inner) = slot else { unreachable!("just made a directory") };
            dir = inner;
        }
        dir.0.insert(last.as_bytes().to_vec(), edit);
        Ok(())
    }

    /// Write every changed tree and return the new root.
    pub fn write(mut self) -> Result<ObjectId> {
        let root = std::mem::take(&mut self.root);
        let tree = self.write_dir(self.base, root, "")?;
        match tree {
            Some(id) => Ok(id),
            None => self.write_tree(gix::objs::Tree::empty()),
        }
    }

    /// Write the tree `base` with `edits` applied; `None` when it ends up empty.
    fn write_dir(&self, base: Option<ObjectId>, edits: Dir, at: &str) -> Result<Option<ObjectId>> {
        let mut tree = match base {
            Some(id) => {
                let t = self.repo.find_tree(id).ctx(|| format!("cannot read tree '{at}'"))?;
                let decoded: gix::objs::Tree = t.decode().ctx(|| format!("cannot decode tree '{at}'"))?.into();
                decoded
            }
            None => gix::objs::Tree::empty(),
        };
        // An entry replaced by one of the same kind (a tree by a tree, a blob by a blob) keeps
        // its place in git's order; only other changes call for sorting again.
        let mut sorted = true;
        for (name, edit) in edits.0 {
            let pos = tree.entries.iter().position(|e| e.filename.as_slice() == name.as_slice());
            let new = match edit {
                Edit::Set(kind, id) => Some((kind, id)),
                Edit::Remove => None,
                Edit::Inside(dir) => {
                    let sub = pos.map(|i| &tree.entries[i]).filter(|e| e.mode.is_tree()).map(|e| e.oid);
                    let path = format!("{at}{}/", String::from_utf8_lossy(&name));
                    self.write_dir(sub, dir, &path)?.map(|id| (EntryKind::Tree, id))
                }
            };
            match (pos, new) {
                (Some(i), Some((kind, oid))) if tree.entries[i].mode.is_tree() == (kind == EntryKind::Tree) => {
                    tree.entries[i].mode = kind.into();
                    tree.entries[i].oid = oid;
                }
                (pos, new) => {
                    if let Some(i) = pos {
                        tree.entries.remove(i);
                    }
                    if let Some((kind, oid)) = new {
                        tree.entries.push(gix::objs::tree::Entry { mode: kind.into(), filename: name.into(), oid });
                        sorted = false;
                    }
                }
            }
        }
        if tree.entries.is_empty() {
            return Ok(None);
        }
        if !sorted {
            tree.entries.sort();
        }
        self.write_tree(tree).map(Some)
    }

    fn write_tree(&self, tree: gix::objs::Tree) -> Result<ObjectId> {
        retry_transient(|| super::loose::write_object(self.repo, &tree, || "cannot write the tree".into()))
    }
}

impl Repo {
    /// The id `data` has (or would have) as a blob in this repository, without writing it.
    pub fn blob_id(&self, data: &[u8]) -> Result<ObjectId> {
        gix::objs::compute_hash(self.inner.object_hash(), gix::objs::Kind::Blob, data).ctx(|| "cannot hash".into())
    }

    /// The tree of `commit`.
    pub fn commit_tree(&self, commit: ObjectId) -> Result<ObjectId> {
        let commit = self.inner.find_commit(commit).ctx(|| format!("cannot read commit {commit}"))?;
        Ok(commit.tree_id().ctx(|| "cannot decode the commit".into())?.detach())
    }

    /// Read the blob at `path` in `tree`, refusing before reading it if the object header says it
    /// is larger than `limit` bytes. `None` if nothing is at that path.
    pub fn read_blob(&self, tree: ObjectId, path: &str, limit: u64) -> Result<Option<(ObjectId, Vec<u8>)>> {
        let tree_obj = self.inner.find_tree(tree).ctx(|| format!("cannot read tree {tree}"))?;
        let Some(entry) = tree_obj.lookup_entry_by_path(path).ctx(|| format!("cannot look up '{path}'"))? else {
            return Ok(None);
        };
        if !entry.mode().is_blob() {
            return Err(Error::NotABlob(path.to_owned()));
        }
        let id = entry.object_id();
        self.read_blob_by_id(id, path, limit).map(|data| Some((id, data)))
    }

    /// Read a blob by id with the same header-first size check as [`Repo::read_blob`]. A blob
    /// read before has its size known and its data most often in gix's object cache, so
    /// reading it again does not touch the object store.
    pub fn read_blob_by_id(&self, id: ObjectId, path: &str, limit: u64) -> Result<Vec<u8>> {
        let known = self.sizes.borrow().get(&id).copied();
        let size = match known {
            Some(size) => size,
            None => self.inner.find_header(id).ctx(|| format!("cannot read the header of '{path}'"))?.size(),
        };
        if size > limit {
            return Err(Error::TooLarge { path: path.to_owned(), id, size, limit });
        }
        let blob = self.inner.find_blob(id).ctx(|| format!("cannot read '{path}'"))?;
        let mut sizes = self.sizes.borrow_mut();
        if sizes.len() >= SIZES_KEPT {
            sizes.clear();
        }
        sizes.insert(id, size);
        Ok(blob.detach().data)
    }

    /// The entries of the directory `path` in `tree` (empty path: the root), as
    /// `(name, is_tree, id)`. A missing directory lists as empty.
    pub fn list_dir(&self, tree: ObjectId, path: &str) -> Result<Vec<(String, bool, ObjectId)>> {
        self.list(tree, path, false)
    }

    /// [`Repo::list_dir`] of a tree that may hold only trees and plain or executable blobs with
    /// names git accepts (the state): any other entry (a symlink, a submodule, a name such as
    /// `..` or one holding `/`) is refused with its path.
    pub fn list_data_dir(&self, tree: ObjectId, path: &str) -> Result<Vec<(String, bool, ObjectId)>> {
        self.list(tree, path, true)
    }

    fn list(&self, tree: ObjectId, path: &str, strict: bool) -> Result<Vec<(String, bool, ObjectId)>> {
        let Some(dir) = self.dir_tree(tree, path)? else { return Ok(Vec::new()) };
        let decoded = dir.decode().ctx(|| format!("cannot decode tree '{path}'"))?;
        let full = |name: &gix::bstr::BStr| if path.is_empty() { name.to_string() } else { format!("{path}/{name}") };
        for e in decoded.entries.iter().filter(|_| strict) {
            if gix::validate::path::component(e.filename, None, Default::default()).is_err() {
                return Err(Error::BadName(full(e.filename)));
            }
            if !e.mode.is_tree() && !e.mode.is_blob() {
                return Err(Error::NotABlob(full(e.filename)));
            }
        }
        Ok(decoded.entries.iter().map(|e| (e.filename.to_string(), e.mode.is_tree(), e.oid.to_owned())).collect())
    }

    /// The first subdirectory of the directory `path` in `tree`, in git's order; `None` when it
    /// has none or is missing. Stops there: nothing after it is decoded.
    pub fn first_subdir(&self, tree: ObjectId, path: &str) -> Result<Option<ObjectId>> {
        let Some(dir) = self.dir_tree(tree, path)? else { return Ok(None) };
        for e in dir.iter() {
            let e = e.ctx(|| format!("cannot decode tree '{path}'"))?;
            if e.mode().is_tree() {
                return Ok(Some(e.oid().to_owned()));
            }
        }
        Ok(None)
    }

    /// The tree of the directory `path` in `tree` (empty path: `tree` itself); `None` when
    /// nothing or a file is there.
    fn dir_tree(&self, tree: ObjectId, path: &str) -> Result<Option<gix::Tree<'_>>> {
        let root = self.inner.find_tree(tree).ctx(|| format!("cannot read tree {tree}"))?;
        if path.is_empty() {
            return Ok(Some(root));
        }
        match root.lookup_entry_by_path(path).ctx(|| format!("cannot look up '{path}'"))? {
            Some(entry) if entry.mode().is_tree() => {
                Ok(Some(self.inner.find_tree(entry.object_id()).ctx(|| format!("cannot read tree '{path}'"))?))
            }
            _ => Ok(None),
        }
    }

    /// Start editing `tree`, or an empty tree when `None`.
    pub fn edit_tree(&self, tree: Option<ObjectId>) -> Result<TreeEdit<'_>> {
        TreeEdit::new(&self.inner, tree)
    }

    /// Write a commit object; no ref moves. `time` is seconds since the epoch, UTC.
    pub fn write_commit(
        &self,
        tree: ObjectId,
        parents: &[ObjectId],
        message: &str,
        (name, email): (&str, &str),
        time: i64,
    ) -> Result<ObjectId> {
        let signature = gix::actor::Signature {
            name: name.into(),
            email: email.into(),
            time: gix::date::Time { seconds: time, offset: 0 },
        };
        let commit = gix::objs::Commit {
            tree,
            parents: parents.iter().copied().collect(),
            author: signature.clone(),
            committer: signature,
            encoding: None,
            message: message.into(),
            extra_headers: Vec::new(),
        };
        retry_transient(|| super::loose::write_object(&self.inner, &commit, || "cannot write the commit".into()))
    }

    /// Decode the parts of a commit that history views need.
    pub fn commit_info(&self, id: ObjectId) -> Result<CommitInfo> {
        let commit = self.inner.find_commit(id).ctx(|| format!("cannot read commit {id}"))?;
        let decoded = commit.decode().ctx(|| format!("cannot decode commit {id}"))?;
        let time = decoded.committer().and_then(|s| s.time()).map(|t| t.seconds).unwrap_or(0);
        Ok(CommitInfo {
            id,
            tree: decoded.tree(),
            parents: decoded.parents().collect(),
            time,
            message: decoded.message.to_string(),
        })
    }

    /// Every commit reachable from `tip`, newest first (by commit time, then topology).
    /// The commits reachable from `tip` but from none of `hidden`, newest first, at most
    /// `limit` of them.
    pub fn new_commits(&self, tip: ObjectId, hidden: &[ObjectId], limit: usize) -> Result<Vec<CommitInfo>> {
        let walk = self
            .inner
            .rev_walk([tip])
            .with_hidden(hidden.iter().copied())
            .all()
            .ctx(|| format!("cannot walk history from {tip}"))?;
        let mut out = Vec::new();
        for info in walk.take(limit) {
            out.push(self.commit_info(info.ctx(|| "cannot walk history".into())?.id)?);
        }
        Ok(out)
    }

    pub fn ancestors(&self, tip: ObjectId) -> Result<Vec<ObjectId>> {
        let walk = self
            .inner
            .rev_walk([tip])
            .sorting(gix::revision::walk::Sorting::ByCommitTime(Default::default()))
            .all()
            .ctx(|| format!("cannot walk history from {tip}"))?;
        let mut out = Vec::new();
        for info in walk {
            out.push(info.ctx(|| "cannot walk history".into())?.id);
        }
        Ok(out)
    }
}

impl Repo {
    /// Whether the object exists in the object database.
    pub fn has_object(&self, id: ObjectId) -> bool {
        self.inner.has_object(id)
    }

    /// Whether `ancestor` is reachable from `descendant` (or equal to it).
    pub fn is_ancestor(&self, ancestor: ObjectId, descendant: ObjectId) -> Result<bool> {
        if ancestor == descendant {
            return Ok(true);
        }
        // A parent, as for a merge or a commit on top, is one read; the merge base may walk
        // all of `ancestor`'s history before it is sure.
        let commit = self.inner.find_commit(descendant).ctx(|| format!("cannot read commit {descendant}"))?;
        if commit.parent_ids().any(|parent| parent == ancestor) {
            return Ok(true);
        }
        Ok(self.merge_base(ancestor, descendant)? == Some(ancestor))
    }
}

#[cfg(test)]
mod tests {
    //! A fan-out directory that vanishes under a write, as `git prune-packed` leaves it for a
    //! moment, made deterministic: a dangling symlink stands in its place (gix sees that it
    //! exists, then renaming the object into it fails with NotFound) until a thread removes it.

    use std::path::PathBuf;
    use std::thread::JoinHandle;

    use super::*;

    fn repo() -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = Repo::init(dir.path()).expect("init");
        (dir, repo)
    }

    /// Replace the fan-out directory of `id` with a dangling symlink for `gone`.
    fn vanished(repo: &Repo, id: ObjectId, gone: Duration) -> JoinHandle<()> {
        let hex = id.to_hex().to_string();
        let fan_out: PathBuf = repo.inner.common_dir().join("objects").join(&hex[..2]);
        assert!(!fan_out.exists(), "pick content whose fan-out directory {} is not in use yet", fan_out.display());
        std::os::unix::fs::symlink("nowhere", &fan_out).expect("symlink");
        std::thread::spawn(move || {
            std::thread::sleep(gone);
            std::fs::remove_file(&fan_out).expect("the stand-in is still there");
        })
    }

    fn edit(repo: &Repo) -> TreeEdit<'_> {
        let mut edit = repo.edit_tree(None).expect("edit");
        edit.upsert_blob("top.toml", b"top = 1\n").expect("upsert");
        edit.upsert_blob("a/b/deep.toml", b"deep = 1\n").expect("upsert");
        edit.remove("a/gone.toml").expect("remove");
        edit
    }

    fn commit(repo: &Repo, tree: ObjectId) -> Result<ObjectId> {
        repo.write_commit(tree, &[], "state\n", ("t", "t@example.com"), 1_700_000_000)
    }

    #[test]
    fn a_blob_read_again_is_held_to_each_reads_limit() {
        let (_dir, repo) = repo();
        let root = edit(&repo).write().expect("write");
        let read = |limit| repo.read_blob(root, "a/b/deep.toml", limit);
        assert_eq!(read(1024).expect("read").expect("present").1, b"deep = 1\n");
        assert_eq!(repo.sizes.borrow().len(), 1, "its size is remembered");
        let refused = read(4).expect_err("over the limit");
        assert!(matches!(refused, Error::TooLarge { size: 9, limit: 4, .. }), "{refused:?}");
        assert_eq!(read(9).expect("read").expect("present").1, b"deep = 1\n");
    }

    #[test]
    fn writes_wait_for_a_fan_out_directory_that_housekeeping_removed() {
        // The same writes in a quiet repository give the ids to expect.
        let (_quiet_dir, quiet) = repo();
        let root = edit(&quiet).write().expect("write");
        let deepest = quiet.list_dir(root, "a").expect("list")[0].2;
        let commit_id = commit(&quiet, root).expect("commit");
        let blob = quiet.blob_id(b"blob = 1\n").expect("hash");

        let (_dir, repo) = repo();
        let pending = edit(&repo);
        // The first tree written is the deepest; the editor must be replayed, not resumed.
        let back = vanished(&repo, deepest, Duration::from_millis(40));
        assert_eq!(pending.write().expect("the tree write waits"), root, "the retried tree is the same tree");
        back.join().expect("thread");
        let read = repo.read_blob(root, "a/b/deep.toml", 1024).expect("read").expect("present");
        assert_eq!(read.1, b"deep = 1\n");

        let back = vanished(&repo, commit_id, Duration::from_millis(40));
        assert_eq!(commit(&repo, root).expect("the commit write waits"), commit_id);
        back.join().expect("thread");

        let back = vanished(&repo, blob, Duration::from_millis(40));
        let mut more = repo.edit_tree(Some(root)).expect("edit");
        more.upsert_blob("blob.toml", b"blob = 1\n").expect("the blob write waits");
        back.join().expect("thread");
        assert!(repo.has_object(blob));
    }

    #[test]
    fn an_edited_tree_is_the_tree_built_afresh_with_the_same_entries() {
        let (_dir, repo) = repo();
        let mut base = repo.edit_tree(None).expect("edit");
        // `a` as a tree sorts as `a/`, after `a-b` and `a.c`; as a blob, before them. Nothing
        // is added, so no new entry calls for sorting either.
        for path in ["a", "a-b", "a.c", "d/x", "e/y", "f"] {
            base.upsert_blob(path, path.as_bytes()).expect("upsert");
        }
        let base = base.write().expect("write");
        let mut edited = repo.edit_tree(Some(base)).expect("edit");
        edited.remove("a").expect("remove");
        edited.upsert_blob("a/z", b"z").expect("a blob becomes a tree");
        edited.remove("d/x").expect("remove");
        edited.upsert_blob("d", b"d").expect("a tree becomes a blob");
        edited.upsert_blob("e/y", b"y2").expect("replaced in place");
        edited.upsert("f", EntryKind::BlobExecutable, b"f").expect("made executable in place");
        let edited = edited.write().expect("write");

        let mut fresh = repo.edit_tree(None).expect("edit");
        for (path, data) in [("a/z", "z"), ("a-b", "a-b"), ("a.c", "a.c"), ("d", "d"), ("e/y", "y2")] {
            fresh.upsert_blob(path, data.as_bytes()).expect("upsert");
        }
        fresh.upsert("f", EntryKind::BlobExecutable, b"f").expect("upsert");
        assert_eq!(edited, fresh.write().expect("write"));
    }

    #[test]
    fn only_transient_errors_are_retried_and_only_for_a_while() {
        let failure = |kind: std::io::ErrorKind| Error::Gix {
            context: "cannot write".into(),
            source: gix::Error::from_error(std::io::Error::from(kind)),
        };
        let mut calls = 0;
        let full: Result<()> = retry_transient(|| {
            calls += 1;
            Err(failure(std::io::ErrorKind::StorageFull))
        });
        assert!(full.is_err());
        assert_eq!(calls, 1, "a full disk is not waited out");

        let (mut calls, started) = (0, Instant::now());
        let gone: Result<()> = retry_transient(|| {
            calls += 1;
            Err(failure(std::io::ErrorKind::NotFound))
        });
        assert!(gone.is_err(), "a store that stays broken fails in the end");
        assert!(calls > 3 && calls <= MAX_ATTEMPTS, "{calls} attempts");
        assert!(started.elapsed() < RETRY_FOR + Duration::from_millis(500), "{:?}", started.elapsed());
    }
}
