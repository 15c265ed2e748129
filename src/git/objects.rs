//! Reading and writing objects: blobs at a path, tree edits, commits. Never touches HEAD, the
//! index or any working tree.

use gix::ObjectId;
use gix::objs::tree::EntryKind;

use super::{Error, GixContext, Repo, Result};

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
/// bottom-up on [`TreeEdit::write`]. Only the trees on changed paths are rewritten, so the cost
/// of a write grows with the depth and fan-out of the path, not with the size of the state.
pub struct TreeEdit<'repo> {
    editor: gix::object::tree::Editor<'repo>,
    repo: &'repo gix::Repository,
}

impl<'repo> TreeEdit<'repo> {
    /// Write `data` as a blob and place it at `path`, creating intermediate trees.
    pub fn upsert_blob(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let id = self.repo.write_blob(data).ctx(|| format!("cannot write the blob for '{path}'"))?;
        self.editor.upsert(path, EntryKind::Blob, id).ctx(|| format!("cannot place '{path}' in the tree"))?;
        Ok(())
    }

    /// Write `data` as a blob and place it at `path` with `kind` (plain, executable, symlink).
    pub fn upsert(&mut self, path: &str, kind: EntryKind, data: &[u8]) -> Result<()> {
        let id = self.repo.write_blob(data).ctx(|| format!("cannot write the blob for '{path}'"))?;
        self.editor.upsert(path, kind, id).ctx(|| format!("cannot place '{path}' in the tree"))?;
        Ok(())
    }

    /// Place an existing object at `path`: a tree when `is_tree`, else a plain blob.
    pub fn place(&mut self, path: &str, is_tree: bool, id: ObjectId) -> Result<()> {
        let kind = if is_tree { EntryKind::Tree } else { EntryKind::Blob };
        self.editor.upsert(path, kind, id).ctx(|| format!("cannot place '{path}' in the tree"))?;
        Ok(())
    }

    /// Remove `path`; removing a missing path is not an error. Emptied trees disappear.
    pub fn remove(&mut self, path: &str) -> Result<()> {
        self.editor.remove(path).ctx(|| format!("cannot remove '{path}' from the tree"))?;
        Ok(())
    }

    /// Write every changed tree and return the new root.
    pub fn write(mut self) -> Result<ObjectId> {
        let id = self.editor.write().ctx(|| "cannot write the tree".into())?;
        Ok(id.detach())
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

    /// Read a blob by id with the same header-first size check as [`Repo::read_blob`].
    pub fn read_blob_by_id(&self, id: ObjectId, path: &str, limit: u64) -> Result<Vec<u8>> {
        let header = self.inner.find_header(id).ctx(|| format!("cannot read the header of '{path}'"))?;
        if header.size() > limit {
            return Err(Error::TooLarge { path: path.to_owned(), id, size: header.size(), limit });
        }
        let blob = self.inner.find_blob(id).ctx(|| format!("cannot read '{path}'"))?;
        Ok(blob.detach().data)
    }

    /// The entries of the directory `path` in `tree` (empty path: the root), as
    /// `(name, is_tree, id)`. A missing directory lists as empty.
    pub fn list_dir(&self, tree: ObjectId, path: &str) -> Result<Vec<(String, bool, ObjectId)>> {
        let root = self.inner.find_tree(tree).ctx(|| format!("cannot read tree {tree}"))?;
        let dir = if path.is_empty() {
            root
        } else {
            match root.lookup_entry_by_path(path).ctx(|| format!("cannot look up '{path}'"))? {
                Some(entry) if entry.mode().is_tree() => {
                    let id = entry.object_id();
                    self.inner.find_tree(id).ctx(|| format!("cannot read tree '{path}'"))?
                }
                _ => return Ok(Vec::new()),
            }
        };
        let decoded = dir.decode().ctx(|| format!("cannot decode tree '{path}'"))?;
        Ok(decoded.entries.iter().map(|e| (e.filename.to_string(), e.mode.is_tree(), e.oid.to_owned())).collect())
    }

    /// Start editing `tree`, or an empty tree when `None`.
    pub fn edit_tree(&self, tree: Option<ObjectId>) -> Result<TreeEdit<'_>> {
        let base = match tree {
            Some(id) => self.inner.find_tree(id).ctx(|| format!("cannot read tree {id}"))?,
            None => self.inner.empty_tree(),
        };
        let editor = base.edit().ctx(|| "cannot start a tree edit".into())?;
        Ok(TreeEdit { editor, repo: &self.inner })
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
        let id = self.inner.write_object(&commit).ctx(|| "cannot write the commit".into())?;
        Ok(id.detach())
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
        Ok(self.merge_base(ancestor, descendant)? == Some(ancestor))
    }
}
