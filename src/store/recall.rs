//! What a task's prompt recalls from memory: the knowledge entries, and the decisions whose
//! kind is [recalled](DecisionKind::is_recalled) (design, lesson). `memory::retrieval` ranks
//! them for every run of a task, and for `kb search`.
//!
//! The decision log grows with every claim, approval and merge, so reading it whole made each
//! run cost more than the one before (seconds at 100,000 decisions). The recalled records are
//! kept in `.git/maestro/cache/recall.json` with the state commit they were read from; the
//! next read looks only at what changed since that commit ([`View::files_since`] skips every
//! tree that did not change), so a run after a write reads the records that write added. As
//! the brief cache ([`super::brief`]), the file is derived and private to this clone: one that
//! does not read, or names a commit this repository no longer has, means a full read, and one
//! that cannot be written is not an error.
//!
//! [`DecisionKind::is_recalled`]: crate::model::DecisionKind::is_recalled

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::layout::{DECISIONS_DIR, KNOWLEDGE_DIR};
use super::{Result, Store, View, codec};
use crate::git::ObjectId;
use crate::model::{Decision, Knowledge};

/// Raised when what the cache keeps changes: older caches are dropped.
const CACHE_VERSION: u32 = 1;

/// The recalled records of one state commit, by path.
#[derive(Default, Serialize, Deserialize)]
struct Cache {
    version: u32,
    commit: Option<String>,
    knowledge: BTreeMap<String, Knowledge>,
    decisions: BTreeMap<String, Decision>,
}

/// Every knowledge entry and every recalled decision of `view`, each sorted by id. A record
/// read that does not pass its checks is an error, as for [`super::knowledge`].
pub fn recall(store: &Store, view: &View<'_>) -> Result<(Vec<Knowledge>, Vec<Decision>)> {
    let file = super::cache::file(store, "recall.json");
    let mut cache = read_cache(&file);
    let now = view.commit.map(|c| c.to_string());
    if cache.commit != now {
        let since = cache.commit.as_deref().and_then(|c| ObjectId::from_hex(c.as_bytes()).ok());
        let before = since.and_then(|commit| store.view_at(commit).ok());
        if before.is_none() {
            cache.knowledge.clear();
            cache.decisions.clear();
        }
        update(&mut cache, view, before.as_ref())?;
        cache.commit = now;
        super::cache::write(&file, &cache);
    }
    let mut knowledge: Vec<Knowledge> = cache.knowledge.into_values().collect();
    let mut decisions: Vec<Decision> = cache.decisions.into_values().collect();
    knowledge.sort_by(|a, b| a.id.cmp(&b.id));
    decisions.sort_by(|a, b| a.id.cmp(&b.id));
    Ok((knowledge, decisions))
}

/// Bring `cache`, of the state `before` (`None`: empty), up to `view`: drop what is gone or
/// changed there, then read what was added or changed.
fn update(cache: &mut Cache, view: &View<'_>, before: Option<&View<'_>>) -> Result<()> {
    let mut changed = Vec::new();
    for dir in [KNOWLEDGE_DIR, DECISIONS_DIR] {
        changed.extend(view.files_since_in(dir, before)?.into_iter().map(|(path, blob)| (dir, path, blob)));
        if let Some(before) = before {
            for (path, _) in before.files_since_in(dir, Some(view))? {
                cache.knowledge.remove(&path);
                cache.decisions.remove(&path);
            }
        }
    }
    for (dir, path, blob) in changed {
        let (bytes, logical) = (view.blob(&path, blob)?, view.logical(&path)?);
        if dir == KNOWLEDGE_DIR {
            cache.knowledge.insert(path.clone(), codec::read(&logical, &bytes)?);
        } else {
            let decision: Decision = codec::read(&logical, &bytes)?;
            if decision.kind.is_recalled() {
                cache.decisions.insert(path, decision);
            }
        }
    }
    Ok(())
}

/// The cache at `file`, or an empty one if it does not read or is of another version.
fn read_cache(file: &Path) -> Cache {
    let cache = super::cache::read::<Cache>(file).filter(|c| c.version == CACHE_VERSION);
    cache.unwrap_or(Cache { version: CACHE_VERSION, ..Cache::default() })
}
