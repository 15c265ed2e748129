//! Diffs in memory: the files that differ between two trees, and their line hunks through
//! imara-diff (`gix::diff::blob`, with git's slider heuristics), rendered as a unified diff.

use std::ops::Range;

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::diff::blob::unified_diff::{ConsumeBinaryHunk, ContextSize};
use gix::diff::blob::{Algorithm, InternedInput, UnifiedDiff, diff_with_slider_heuristics};

use super::{GixContext, Repo, Result};

/// Files larger than this are diffed as binary (not read line by line).
const MAX_TEXT_BYTES: u64 = 8 << 20;

/// How a file changed between two trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    Added,
    Deleted,
    Modified,
    Renamed { from: String },
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    pub path: String,
    pub change: FileChange,
    previous: Option<ObjectId>,
    current: Option<ObjectId>,
}

/// The lines of `before` replaced by lines of `after`, 0-based and end-exclusive. A pure
/// insertion has an empty `before` range at the line it goes before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    pub before: Range<u32>,
    pub after: Range<u32>,
}

/// Whether `data` looks binary, as git decides: a NUL in the first 8000 bytes.
fn is_binary(data: &[u8]) -> bool {
    data[..data.len().min(8000)].contains(&0)
}

impl Repo {
    /// The files (blobs and symlinks; not trees or submodules) that differ from `old` to `new`,
    /// both tree ids, with renames as the repository's config detects them.
    pub fn diff_trees(&self, old: ObjectId, new: ObjectId) -> Result<Vec<FileDiff>> {
        let find = |id: ObjectId| self.inner.find_tree(id).ctx(|| format!("cannot read tree {id}"));
        let (old_tree, new_tree) = (find(old)?, find(new)?);
        let changes =
            self.inner.diff_tree_to_tree(&old_tree, &new_tree, None).ctx(|| format!("cannot diff {old} and {new}"))?;
        use gix::object::tree::diff::ChangeDetached as C;
        let mut out = Vec::new();
        for change in changes {
            if change.entry_mode().is_tree() || change.entry_mode().is_commit() {
                continue;
            }
            let path = change.location().to_str_lossy().into_owned();
            let (kind, previous, current) = match &change {
                C::Addition { id, .. } => (FileChange::Added, None, Some(*id)),
                C::Deletion { id, .. } => (FileChange::Deleted, Some(*id), None),
                C::Modification { previous_id, id, .. } => (FileChange::Modified, Some(*previous_id), Some(*id)),
                C::Rewrite { source_location, source_id, id, .. } => {
                    let from = source_location.to_str_lossy().into_owned();
                    (FileChange::Renamed { from }, Some(*source_id), Some(*id))
                }
            };
            out.push(FileDiff { path, change: kind, previous, current });
        }
        Ok(out)
    }

    /// The text of one side of `file`: `None` when binary or too large, empty when absent.
    fn side_text(&self, id: Option<ObjectId>, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(id) = id else { return Ok(Some(Vec::new())) };
        match self.read_blob_by_id(id, path, MAX_TEXT_BYTES) {
            Ok(data) if is_binary(&data) => Ok(None),
            Ok(data) => Ok(Some(data)),
            Err(super::Error::TooLarge { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The line hunks of `file`; `None` when either side is binary.
    pub fn file_hunks(&self, file: &FileDiff) -> Result<Option<Vec<Hunk>>> {
        let from = match &file.change {
            FileChange::Renamed { from } => from.as_str(),
            _ => file.path.as_str(),
        };
        let (Some(before), Some(after)) =
            (self.side_text(file.previous, from)?, self.side_text(file.current, &file.path)?)
        else {
            return Ok(None);
        };
        let input = InternedInput::new(before.as_slice(), after.as_slice());
        let diff = diff_with_slider_heuristics(Algorithm::Histogram, &input);
        Ok(Some(diff.hunks().map(|h| Hunk { before: h.before, after: h.after }).collect()))
    }

    /// The line hunks of the file at `path` from tree `old` to tree `new` (empty when it is
    /// the same); `None` when binary.
    pub fn path_hunks(&self, old: ObjectId, new: ObjectId, path: &str) -> Result<Option<Vec<Hunk>>> {
        let file = FileDiff {
            path: path.to_owned(),
            change: FileChange::Modified,
            previous: self.blob_at(old, path)?,
            current: self.blob_at(new, path)?,
        };
        if file.previous == file.current {
            return Ok(Some(Vec::new()));
        }
        self.file_hunks(&file)
    }

    fn blob_at(&self, tree: ObjectId, path: &str) -> Result<Option<ObjectId>> {
        let tree = self.inner.find_tree(tree).ctx(|| format!("cannot read tree {tree}"))?;
        let entry = tree.lookup_entry_by_path(path).ctx(|| format!("cannot look up '{path}'"))?;
        Ok(entry.filter(|e| e.mode().is_blob_or_symlink()).map(|e| e.object_id()))
    }

    /// The changes from tree `old` to tree `new` as a `git diff`-style unified diff with three
    /// lines of context. Output stops at about `max_bytes`, with a note naming what was left out.
    pub fn unified_diff(&self, old: ObjectId, new: ObjectId, max_bytes: usize) -> Result<String> {
        let files = self.diff_trees(old, new)?;
        let mut out = String::new();
        for (i, file) in files.iter().enumerate() {
            if out.len() >= max_bytes {
                let rest: Vec<&str> = files[i..].iter().map(|f| f.path.as_str()).collect();
                out.push_str(&format!("[diff cut at {max_bytes} bytes; not shown: {}]\n", rest.join(", ")));
                break;
            }
            let from = match &file.change {
                FileChange::Renamed { from } => from.as_str(),
                _ => file.path.as_str(),
            };
            out.push_str(&format!("diff --git a/{from} b/{}\n", file.path));
            match &file.change {
                FileChange::Added => out.push_str("new file\n"),
                FileChange::Deleted => out.push_str("deleted file\n"),
                FileChange::Renamed { from } => out.push_str(&format!("rename from {from}\nrename to {}\n", file.path)),
                FileChange::Modified => {}
            }
            let (Some(before), Some(after)) =
                (self.side_text(file.previous, from)?, self.side_text(file.current, &file.path)?)
            else {
                out.push_str("Binary files differ\n");
                continue;
            };
            if before == after {
                continue;
            }
            let old_name = if file.previous.is_some() { format!("a/{from}") } else { "/dev/null".into() };
            let new_name = if file.current.is_some() { format!("b/{}", file.path) } else { "/dev/null".into() };
            out.push_str(&format!("--- {old_name}\n+++ {new_name}\n"));
            let input = InternedInput::new(before.as_slice(), after.as_slice());
            let diff = diff_with_slider_heuristics(Algorithm::Histogram, &input);
            let hunks =
                UnifiedDiff::new(&diff, &input, ConsumeBinaryHunk::new(Vec::new(), "\n"), ContextSize::symmetrical(3))
                    .consume()
                    .map_err(|source| super::Error::Io {
                        context: format!("cannot render the diff of {}", file.path),
                        source,
                    })?;
            out.push_str(&String::from_utf8_lossy(&hunks));
        }
        Ok(out)
    }

    /// The merge base of two commits, if they share history.
    pub fn merge_base(&self, a: ObjectId, b: ObjectId) -> Result<Option<ObjectId>> {
        let base = self.inner.merge_base(a, b).ctx(|| format!("cannot find the merge base of {a} and {b}"))?;
        Ok(base.map(gix::Id::detach))
    }

    /// [`Repo::merge_base`] of `pair`, walked on a thread of its own while `work` runs on this
    /// one. A walk of a long history reads commits only, which `work` seldom needs; on two
    /// cores the walk then costs no time of its own.
    pub fn merge_base_beside<T>(
        &self,
        pair: Option<(ObjectId, ObjectId)>,
        work: impl FnOnce() -> T,
    ) -> (Result<Option<ObjectId>>, T) {
        let Some((a, b)) = pair else {
            return (Ok(None), work());
        };
        let walker = Repo { inner: self.inner.clone(), sizes: Default::default() };
        std::thread::scope(|scope| {
            let walk = scope.spawn(move || walker.merge_base(a, b));
            let done = work();
            (walk.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), done)
        })
    }
}
