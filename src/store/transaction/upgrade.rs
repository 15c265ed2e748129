//! The first write of a newer git-maestro moves the state to the current format
//! (DESIGN.md §12.7); older binaries then refuse it with the upgrade hint.

use super::{Tx, View};
use crate::git::{ObjectId, Repo};
use crate::store::layout::{self, MAESTRO_TOML};
use crate::store::{Result, Root};

/// Move the state this transaction writes to the current format and layout, if it is older.
pub(super) fn upgrade_root(tx: &mut Tx<'_>) -> Result<()> {
    let Some(mut root) = tx.get::<Root>(MAESTRO_TOML)? else { return Ok(()) };
    if let Some(tree) = tx.replaced_tree.or(tx.view.tree) {
        let moved = in_current_layout(tx.view.repo, tree)?;
        if moved != tree {
            tx.replaced_tree = Some(moved);
        }
    }
    if i64::from(root.format) < crate::model::FORMAT {
        root.format = crate::model::FORMAT as u32;
        tx.put(MAESTRO_TOML, &root)?;
    }
    Ok(())
}

/// `tree` with every record that an older layout keeps elsewhere (format 1: tasks and sessions
/// not fanned out, decisions in two levels of 256; earlier builds of format 2: decisions so too,
/// tasks and sessions in one level of 256) moved to where the current layout keeps it. A record
/// moves as it is, by its blob, unread. `tree` itself when it keeps every record in place.
///
/// The first write after an upgrade writes on the moved tree, so a record the write read at
/// its old place is written at the new one. A sync moves both sides and their merge base
/// before it merges them, so a record the two sides keep in different places merges as any
/// other: field by field, its conflicts and lost claims reported.
pub(in crate::store) fn in_current_layout(repo: &Repo, tree: ObjectId) -> Result<ObjectId> {
    let view = View::of_tree(repo, tree);
    if !(view.is_format1()? || holds_old_decisions(&view)? || holds_one_level_tasks(&view)?) {
        return Ok(tree);
    }
    let mut edit = repo.edit_tree(Some(tree))?;
    for (old, id) in view.files()? {
        if let Some(new) = layout::current_path(&old) {
            edit.remove(&old)?;
            edit.place(&new, false, id)?;
        }
    }
    Ok(edit.write()?)
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
