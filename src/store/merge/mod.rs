//! The three-way merge of two states (DESIGN.md §8), as sync uses it.
//!
//! The trees are walked together from the root, and a subtree that is the same on both sides,
//! or unchanged on one side since the merge base, is taken whole without being read, so a
//! merge costs what changed, not what the state holds. Per file:
//! - a record only one side changed is taken from that side (a removal too);
//! - a record one side changed and the other removed is kept: nothing is lost;
//! - a record both sides changed is merged field by field ([`record`]).
//!
//! The result depends only on the three states: `merge(A, B) == merge(B, A)` and
//! `merge(A, A) == A`, so every clone that merges the same states writes the same tree. One
//! rule looks at the sides: of two claims made apart, the one in `theirs` (the remote's,
//! pushed first) wins.

mod record;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Result;
use super::codec::{self, CodecError, MAX_BLOB_BYTES};
use crate::git::{ObjectId, Repo};
use crate::model::handover::Handover;
use crate::model::stats::PerformerStats;
use crate::model::{Knowledge, RunSession, Score, Task};
use record::Kind;

/// How the merged tree differs from ours at one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A merged record.
    Bytes(Vec<u8>),
    /// Their blob or tree, taken as it is.
    Object {
        is_tree: bool,
        id: ObjectId,
    },
    Remove,
}

/// The changes that turn the tree `ours` into the merge of `ours` and `theirs` since `base`.
pub fn merge_trees(
    repo: &Repo,
    base: Option<ObjectId>,
    ours: ObjectId,
    theirs: ObjectId,
) -> Result<Vec<(String, Change)>> {
    let mut out = Vec::new();
    walk(repo, "", base, Some(ours), Some(theirs), &mut out)?;
    Ok(out)
}

type Entry = Option<(bool, ObjectId)>;

/// Merge the directory `dir`, a tree in each of the three states or absent from it.
fn walk(
    repo: &Repo,
    dir: &str,
    base: Option<ObjectId>,
    ours: Option<ObjectId>,
    theirs: Option<ObjectId>,
    out: &mut Vec<(String, Change)>,
) -> Result<()> {
    let list = |tree: Option<ObjectId>| -> Result<BTreeMap<String, (bool, ObjectId)>> {
        let Some(tree) = tree else { return Ok(BTreeMap::new()) };
        Ok(repo.list_data_dir(tree, "")?.into_iter().map(|(name, is_tree, id)| (name, (is_tree, id))).collect())
    };
    let (o, a, b) = (list(base)?, list(ours)?, list(theirs)?);
    let mut names: Vec<&String> = o.keys().chain(a.keys()).chain(b.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (eo, ea, eb): (Entry, Entry, Entry) = (o.get(name).copied(), a.get(name).copied(), b.get(name).copied());
        let path = if dir.is_empty() { name.clone() } else { format!("{dir}/{name}") };
        if ea == eb || eb == eo {
            continue;
        }
        let (sub, x, y) = (tree_of(eo), tree_of(ea), tree_of(eb));
        match (ea, eb) {
            // A directory one side emptied (git keeps no empty tree) while the other changed
            // it: merged entry by entry, so what the first removed stays removed.
            (None, Some((true, _))) | (Some((true, _)), None) if sub.is_some() && ea != eo => {
                walk(repo, &path, sub, x, y, out)?;
            }
            (_, None) => {
                if ea != eo {
                    continue; // changed here, removed there: kept
                }
                out.push((path, Change::Remove));
            }
            (Some((true, _)), Some((true, y))) => {
                if ea == eo {
                    out.push((path, Change::Object { is_tree: true, id: y }));
                } else {
                    walk(repo, &path, sub, x, Some(y), out)?;
                }
            }
            (Some((false, x)), Some((false, y))) if ea != eo => {
                let read = |id: ObjectId| -> Result<Vec<u8>> {
                    match repo.read_blob_by_id(id, &path, MAX_BLOB_BYTES) {
                        Err(crate::git::Error::TooLarge { size, .. }) => {
                            Err(CodecError::TooLarge { path: path.clone(), len: size as usize }.into())
                        }
                        other => Ok(other?),
                    }
                };
                let base = eo.filter(|(is_tree, _)| !*is_tree).map(|(_, id)| read(id)).transpose()?;
                let merged = merge_record(&path, base.as_deref(), &read(x)?, &read(y)?)?;
                if repo.blob_id(&merged)? != x {
                    out.push((path, Change::Bytes(merged)));
                }
            }
            // A file on one side and a directory on the other never happens in the layout;
            // the directory is kept.
            (Some((true, _)), Some((false, _))) if ea != eo => {}
            (_, Some((is_tree, id))) => out.push((path, Change::Object { is_tree, id })),
        }
    }
    Ok(())
}

/// The tree of a directory entry, `None` for a file or no entry.
fn tree_of(entry: Entry) -> Option<ObjectId> {
    entry.filter(|(is_tree, _)| *is_tree).map(|(_, id)| id)
}

/// Merge the record at `path` that both sides changed since `base` (absent when both added
/// it). Both sides must parse; the result is re-encoded through its type, so it parses too.
pub fn merge_record(path: &str, base: Option<&[u8]>, a: &[u8], b: &[u8]) -> Result<Vec<u8>, CodecError> {
    if a == b {
        return Ok(a.to_vec());
    }
    let kind = Kind::of(path);
    if kind == Kind::Fixed {
        // Written once and never changed: two versions mean two writers made it; keep one.
        return Ok(a.max(b).to_vec());
    }
    let table = |bytes: &[u8]| codec::decode::<toml::Table>(path, bytes);
    let base = base.map(table).transpose()?;
    let merged = record::merge_tables(kind, base.as_ref(), &table(a)?, &table(b)?);
    let bytes = codec::encode_table(path, &merged)?;
    match kind {
        Kind::Task => canonical::<Task>(path, &bytes),
        Kind::Score => canonical::<Score>(path, &bytes),
        Kind::Session => canonical::<RunSession>(path, &bytes),
        Kind::Knowledge => canonical::<Knowledge>(path, &bytes),
        Kind::Handover => canonical::<Handover>(path, &bytes),
        Kind::Stats => canonical::<PerformerStats>(path, &bytes),
        Kind::Fixed => Ok(bytes),
    }
}

/// Decode through the record's type and encode again: checks the merge and fixes field order.
fn canonical<T: DeserializeOwned + Serialize>(path: &str, bytes: &[u8]) -> Result<Vec<u8>, CodecError> {
    codec::encode(path, &codec::decode::<T>(path, bytes)?)
}

/// Write the tree `tree` with `changes` applied.
pub fn apply(repo: &Repo, tree: ObjectId, changes: &[(String, Change)]) -> Result<ObjectId> {
    let mut edit = repo.edit_tree(Some(tree))?;
    for (path, change) in changes {
        match change {
            Change::Bytes(bytes) => edit.upsert_blob(path, bytes)?,
            Change::Object { is_tree, id } => edit.place(path, *is_tree, *id)?,
            Change::Remove => edit.remove(path)?,
        }
    }
    Ok(edit.write()?)
}
