//! Archive refs: `refs/maestro/archive/<score>`, one per cleaned-up Score.
//!
//! Before `gc` removes a finished Score's branches and keep refs, their tips become parents of
//! one archive commit, so every one of them stays reachable (and `git gc` keeps it). A later
//! archive of the same Score has the previous archive as a parent too, so nothing archived is
//! ever dropped. The commit's tree is the integration tip's tree when there is one, else empty.
//! This module owns those refs and the removal of keep refs; it prints nothing.

use super::{Result, Store, layout, refs::Moved};
use crate::git::ObjectId;

/// The trailer of an archive commit that names the integration tip it archived.
const INTEGRATION_TRAILER: &str = "Maestro-Integration: ";

impl Store {
    /// The archive ref of `score`, whether or not it exists.
    pub fn archive_ref(score: &str) -> String {
        format!("{}{score}", layout::ARCHIVE_PREFIX)
    }

    /// Make `refs/maestro/archive/<score>` reach every commit of `tips` (deduplicated, in order),
    /// on top of the previous archive if any (its first parent). `integration` is the
    /// integration tip being archived, if it is: the commit takes its tree and names it in a
    /// `Maestro-Integration` trailer (see [`Store::archived_integration`]); otherwise the tree is
    /// empty. Returns the new archive commit, or `None` when there was nothing to add.
    /// [`Moved::Conflict`] means another gc archived meanwhile: the ref was not moved.
    pub fn archive(
        &self,
        score: &str,
        tips: &[ObjectId],
        integration: Option<ObjectId>,
    ) -> Result<Option<(ObjectId, Moved)>> {
        let name = Store::archive_ref(score);
        let previous = self.repo.read_ref(&name)?;
        let mut parents: Vec<ObjectId> = previous.into_iter().collect();
        for tip in tips {
            let reached = match previous {
                Some(p) => self.repo.is_ancestor(*tip, p)?,
                None => false,
            };
            if !reached && !parents.contains(tip) {
                parents.push(*tip);
            }
        }
        if parents.len() == usize::from(previous.is_some()) {
            return Ok(None);
        }
        let tree = match integration {
            Some(tip) => self.repo.commit_info(tip)?.tree,
            None => self.repo.edit_tree(None)?.write()?,
        };
        let mut message = format!(
            "Archive of Score {score}\n\nEvery parent is a tip `git maestro gc` removed, or the previous archive.\n\n\
             Maestro-Score: {score}\n"
        );
        if let Some(tip) = integration {
            message.push_str(&format!("{INTEGRATION_TRAILER}{tip}\n"));
        }
        let time = self.session.now().as_second();
        let commit = self.repo.write_commit(tree, &parents, &message, self.session.signature(), time)?;
        let moved = self.move_ref(&name, previous, commit, &format!("maestro: archive {score}"))?;
        Ok(Some((commit, moved)))
    }

    /// Remove the keep ref `name` (under `refs/maestro/keep/`) if it is still at `tip`.
    pub fn drop_keep(&self, name: &str, tip: ObjectId) -> Result<Moved> {
        debug_assert!(name.starts_with(layout::KEEP_PREFIX), "{name} is not a keep ref");
        self.move_ref(name, Some(tip), None, "maestro: gc drops an archived keep ref")
    }

    /// The integration tip of `score` that `gc` archived: named by the newest archive commit
    /// (following first parents) that names one. `None` without an archive.
    pub fn archived_integration(&self, score: &str) -> Result<Option<ObjectId>> {
        let mut at = self.repo.read_ref(&Store::archive_ref(score))?;
        while let Some(commit) = at {
            let info = self.repo.commit_info(commit)?;
            let named = info.message.lines().find_map(|l| l.strip_prefix(INTEGRATION_TRAILER));
            if let Some(tip) = named.and_then(|t| ObjectId::from_hex(t.trim().as_bytes()).ok()) {
                return Ok(Some(tip));
            }
            // A previous archive is the first parent; a first parent whose message does not
            // start like an archive's is a removed tip, and the chain ends there.
            let previous = info.parents.first().copied();
            at = match previous {
                Some(p) if self.repo.commit_info(p)?.message.starts_with("Archive of Score ") => Some(p),
                _ => None,
            };
        }
        Ok(None)
    }
}
