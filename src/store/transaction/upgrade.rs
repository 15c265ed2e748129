//! The first write of a newer git-maestro moves the state to the current format
//! (DESIGN.md §12.7); older binaries then refuse it with the upgrade hint.

use super::{Tx, View};
use crate::store::layout::{self, MAESTRO_TOML};
use crate::store::{Result, Root, merge};

/// Move the state this transaction writes to the current format and layout, if it is older. A
/// sync that merges an older state moves what that state brought too, whatever the format here.
pub(super) fn upgrade_root(tx: &mut Tx<'_>) -> Result<()> {
    let Some(mut root) = tx.get::<Root>(MAESTRO_TOML)? else { return Ok(()) };
    let merges_older = match tx.merge_parent {
        Some(theirs) => older_layout(&View::at(tx.view.repo, Some(theirs))?)?,
        None => false,
    };
    let written = written(tx)?;
    if root.format < 2 || merges_older || holds_old_decisions(&written)? || holds_one_level_tasks(&written)? {
        fan_out(tx)?;
    }
    if i64::from(root.format) < crate::model::FORMAT {
        root.format = crate::model::FORMAT as u32;
        tx.put(MAESTRO_TOML, &root)?;
    }
    Ok(())
}

/// Move every record the tree being written keeps where an older layout did (format 1: tasks
/// and sessions not fanned out, decisions in two levels of 256; earlier builds of format 2:
/// decisions so too, tasks and sessions in one level of 256) to where the current layout keeps
/// it. A record this transaction wrote is already there. One it did not touch moves as it is,
/// by its blob, unread: the first write after an upgrade holds no record in memory. A merge
/// can hold a record at both places (the older side changed what this side had moved): the
/// two are merged.
fn fan_out(tx: &mut Tx<'_>) -> Result<()> {
    let view = written(tx)?;
    let merged = Merged::of(tx)?;
    for (old, id) in view.files()? {
        let Some(new) = layout::current_path(&old) else { continue };
        // What this transaction wrote at the old place (a sync merge writes where the merged
        // trees keep a record) is what moves.
        let staged = tx.staged.insert(old.clone(), None);
        if tx.staged.contains_key(&new) {
            continue;
        }
        let bytes = match (staged, &merged) {
            (Some(staged), _) => staged,
            (None, Some(_)) if view.raw(&new)?.is_some() => Some(view.blob(&old, id)?),
            (None, _) => {
                tx.moved.insert(new, id);
                continue;
            }
        };
        if let Some(bytes) = bytes {
            let bytes = match &merged {
                Some(merged) => merged.with(&view, &new, bytes)?,
                None => bytes,
            };
            tx.staged.insert(new, Some(bytes));
        }
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

/// Whether a format-2 state keeps its tasks and sessions in one level of 256, as builds of
/// this version made before they took two levels did. Such a build wrote every Score so, and
/// the first write of this one moves them all, so the first Score tells: three small tree
/// reads.
fn holds_one_level_tasks(view: &View<'_>) -> Result<bool> {
    let dir = |entries: Vec<(String, bool, _)>, name: &str| {
        entries.into_iter().find(|(n, is_dir, _)| *is_dir && n == name).map(|(.., id)| id)
    };
    let Some(score) = view.first_subdir(layout::SCORES_DIR)? else { return Ok(false) };
    let Some(tasks) = dir(view.list_tree(score)?, "tasks") else { return Ok(false) };
    Ok(view.list_tree(tasks)?.iter().any(|(name, is_dir, _)| *is_dir && name.len() == 2))
}

/// Whether `view` keeps any record where the current layout does not.
fn older_layout(view: &View<'_>) -> Result<bool> {
    Ok(view.is_format1()? || holds_one_level_tasks(view)?)
}

/// What a sync merge needs to merge a record it holds at both places: the merge base, and
/// which side kept the older layout.
struct Merged<'r> {
    base: Option<View<'r>>,
    ours_older: bool,
}

impl<'r> Merged<'r> {
    fn of(tx: &Tx<'r>) -> Result<Option<Merged<'r>>> {
        let (Some(_), Some(theirs), Some(ours)) = (tx.replaced_tree, tx.merge_parent, tx.view.commit) else {
            return Ok(None);
        };
        let repo = tx.view.repo;
        let base = repo.merge_base(ours, theirs)?.map(|b| View::at(repo, Some(b))).transpose()?;
        Ok(Some(Merged { base, ours_older: older_layout(&tx.view)? }))
    }

    /// The record moved to `new` from the older side's `bytes`, merged with what the
    /// merged tree holds at `new` from the other side, if anything.
    fn with(&self, view: &View<'_>, new: &str, bytes: Vec<u8>) -> Result<Vec<u8>> {
        let Some(there) = view.raw(new)? else { return Ok(bytes) };
        let base = self.base.as_ref().map(|b| b.get_bytes(new)).transpose()?.flatten();
        let (ours, theirs) = if self.ours_older { (&bytes, &there) } else { (&there, &bytes) };
        Ok(merge::merge_record(new, base.as_deref(), ours, theirs)?)
    }
}
