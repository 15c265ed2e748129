//! The first write of a newer git-maestro moves the state to the current format
//! (DESIGN.md §12.7); older binaries then refuse it with the upgrade hint.

use std::collections::btree_map::Entry;

use super::{Tx, View};
use crate::store::layout::{self, MAESTRO_TOML};
use crate::store::{Result, Root, merge};

/// Move the state this transaction writes to the current format, if it is older. A sync
/// that merges a format-1 state moves what that state brought too, whatever the format here.
pub(super) fn upgrade_root(tx: &mut Tx<'_>) -> Result<()> {
    let Some(mut root) = tx.get::<Root>(MAESTRO_TOML)? else { return Ok(()) };
    let merges_format1 = match tx.merge_parent {
        Some(theirs) => View::at(tx.view.repo, Some(theirs))?.is_format1()?,
        None => false,
    };
    if root.format < 2 || merges_format1 || holds_old_decisions(&written(tx)?)? {
        fan_out(tx)?;
    }
    if i64::from(root.format) < crate::model::FORMAT {
        root.format = crate::model::FORMAT as u32;
        tx.put(MAESTRO_TOML, &root)?;
    }
    Ok(())
}

/// Move every record the tree being written keeps where format 1 did (tasks and sessions not
/// fanned out, decisions in two levels of 256) to where the current format keeps it, as it is.
/// A record this transaction wrote is already there. A merge can hold a record at both places
/// (the format-1 side changed what this side had moved): the two are merged.
fn fan_out(tx: &mut Tx<'_>) -> Result<()> {
    let view = written(tx)?;
    let merged = Merged::of(tx)?;
    for (old, id) in view.files()? {
        let Some(new) = layout::current_path(&old) else { continue };
        // What this transaction wrote at the old place (a sync merge writes where the merged
        // trees keep a record) is what moves.
        let bytes = match tx.staged.remove(&old) {
            Some(staged) => staged,
            None => Some(view.blob(&old, id)?),
        };
        if let (Entry::Vacant(slot), Some(bytes)) = (tx.staged.entry(new), bytes) {
            let bytes = match &merged {
                Some(merged) => merged.with(&view, slot.key(), bytes)?,
                None => bytes,
            };
            slot.insert(Some(bytes));
        }
        tx.staged.insert(old, None);
    }
    Ok(())
}

/// The tree this transaction writes on: T0's, or the one a sync merge made.
fn written<'r>(tx: &Tx<'r>) -> Result<View<'r>> {
    match tx.replaced_tree {
        Some(tree) => Ok(View::of_tree(tx.view.repo, tree)),
        None => View::at(tx.view.repo, tx.view.commit),
    }
}

/// Whether a format-2 state keeps decisions where format 1 did (two levels of 256), as
/// builds of this version made before the log took three levels of 16 did. One small tree
/// read a write; the first write then moves them.
fn holds_old_decisions(view: &View<'_>) -> Result<bool> {
    Ok(view.list(layout::DECISIONS_DIR)?.iter().any(|(name, is_dir)| *is_dir && name.len() == 2))
}

/// What a sync merge needs to merge a record it holds at both places: the merge base, and
/// which side kept format 1.
struct Merged<'r> {
    base: Option<View<'r>>,
    ours_format1: bool,
}

impl<'r> Merged<'r> {
    fn of(tx: &Tx<'r>) -> Result<Option<Merged<'r>>> {
        let (Some(_), Some(theirs), Some(ours)) = (tx.replaced_tree, tx.merge_parent, tx.view.commit) else {
            return Ok(None);
        };
        let repo = tx.view.repo;
        let base = repo.merge_base(ours, theirs)?.map(|b| View::at(repo, Some(b))).transpose()?;
        Ok(Some(Merged { base, ours_format1: tx.view.is_format1()? }))
    }

    /// The record moved to `new` from the format-1 side's `bytes`, merged with what the
    /// merged tree holds at `new` from the other side, if anything.
    fn with(&self, view: &View<'_>, new: &str, bytes: Vec<u8>) -> Result<Vec<u8>> {
        let Some(there) = view.raw(new)? else { return Ok(bytes) };
        let base = self.base.as_ref().map(|b| b.get_bytes(new)).transpose()?.flatten();
        let (ours, theirs) = if self.ours_format1 { (&bytes, &there) } else { (&there, &bytes) };
        Ok(merge::merge_record(new, base.as_deref(), ours, theirs)?)
    }
}
