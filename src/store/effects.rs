//! The executor of intents (DESIGN.md §12.2): git effects recorded in the state commit of the
//! step that needs them, applied by compare-and-swap right after that commit, and removed from
//! the state by the next write.
//!
//! A step records its effects with [`Tx::intend`]. [`Store::transact`] writes the state commit,
//! then (still holding the writer lock) applies the new intents and writes a second commit that
//! settles them. A crash anywhere in between leaves the intents in the state: the next writing
//! command of the same clone settles them before it does its own work, per kind:
//! - a ref move: at `new`, done; at `old`, applied now; anywhere else, the step failed and the
//!   lifecycle undoes it, with a decision saying why;
//! - a checkout refresh: as a ref move, and the checkout is refreshed only if it is clean;
//! - a worktree reset or removal: done again (both are idempotent);
//! - a worktree parked in the pool or taken from it: the move and the checkout are done
//!   again as far as they are due (see `git::pool`); a worktree gone from both places fails.
//!
//! Only the clone that made an intent settles it, and never while its process is alive. Other
//! clones' intents arrive by sync and are shown, not settled. Reads never settle.
//!
//! A store that settles later ([`Store::settle_later`], what `run` uses for its many steps)
//! skips that second commit when every effect was applied: the process remembers the intent
//! as applied, and its next transaction removes it in its own commit, without applying it
//! again (a ref it moved may have moved on since, by a later step of the same process).
//! [`Store::settle_applied`] writes what is left of them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::layout::{self, INTENTS_DIR};
use super::refs::Moved;
use super::{Result, Store, Tx, origin};
use crate::git::ObjectId;
use crate::model::intent::{Effect, Intent, Step};
use crate::model::origin::Origin;
use crate::model::{DecisionKind, lifecycle};

/// Intents this process applied in full under a store that settles later and left in the
/// state, by repository (common dir) and id: settled without applying them again. Every
/// transaction of this process in that repository settles them all, so one that went through
/// empties its set.
static APPLIED: Mutex<BTreeMap<PathBuf, BTreeSet<String>>> = Mutex::new(BTreeMap::new());

fn applied_here(store: &Store, id: &str) -> bool {
    APPLIED.lock().is_ok_and(|applied| applied.get(store.repo.common_dir()).is_some_and(|ids| ids.contains(id)))
}

/// Whether this process left applied intents in `store`'s state for a later transaction.
pub(super) fn owed(store: &Store) -> bool {
    APPLIED.lock().is_ok_and(|applied| applied.contains_key(store.repo.common_dir()))
}

/// Remember `intents`, every effect of which this process applied, for the next transaction
/// of `store` to remove.
pub(super) fn remember_applied(store: &Store, intents: &[Intent]) {
    if let Ok(mut applied) = APPLIED.lock() {
        let ids = applied.entry(store.repo.common_dir().to_owned()).or_default();
        ids.extend(intents.iter().map(|i| i.id.clone()));
    }
}

/// A transaction of `store` went through, and with it [`settle`] of all it had applied.
pub(super) fn forget_applied(store: &Store) {
    if let Ok(mut applied) = APPLIED.lock() {
        applied.remove(store.repo.common_dir());
    }
}

/// Where an effect stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Settled {
    Done,
    /// It cannot happen any more; the reason.
    Failed(String),
}

impl Tx<'_> {
    /// Record that this step needs `effects`, applied once this transaction's commit is in.
    pub fn intend(&mut self, why: String, step: Step, effects: Vec<Effect>) -> Result<()> {
        let id = self.new_id();
        let origin = self.store.origin()?;
        let intent = Intent {
            format: crate::model::FORMAT as u32,
            id,
            op: self.op.to_owned(),
            created: self.now,
            why,
            origin,
            step,
            effects,
        };
        self.create(&layout::intent_file(&intent.id), &intent)?;
        self.intents.push(intent);
        Ok(())
    }
}

/// Every intent in the state, oldest first.
pub fn intents(r: &impl super::Read) -> Result<Vec<Intent>> {
    let mut out = Vec::new();
    for (file, is_dir) in r.list(INTENTS_DIR)? {
        if !is_dir {
            out.extend(r.get::<Intent>(&format!("{INTENTS_DIR}/{file}"))?);
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Whether an effect of `intent` still has to happen (for reads: `status`, `doctor`).
pub fn pending(store: &Store, intent: &Intent) -> Result<bool> {
    for effect in &intent.effects {
        let open = match effect {
            Effect::MoveRef { name, new, .. } | Effect::RefreshCheckout { name, new, .. } => {
                store.repo.read_ref(name)?.map(|id| id.to_string()).as_deref() != Some(new.as_str())
            }
            Effect::RemoveWorktree { path } | Effect::ParkWorktree { path, .. } => Path::new(path).exists(),
            Effect::ReuseWorktree { path, .. } => !Path::new(path).exists(),
            Effect::ResetWorktree { .. } => false,
        };
        if open {
            return Ok(true);
        }
    }
    Ok(false)
}

impl Store {
    /// Whether an open intent of this clone names the ref `name`: `sync` never moves such a
    /// ref, the intent's settling does. An intent this process applied, left for its next
    /// write to remove, moves nothing more.
    pub fn intent_names(&self, name: &str) -> Result<bool> {
        let Some(tip) = self.tip()? else { return Ok(false) };
        let view = self.view_at(tip)?;
        if view.list(INTENTS_DIR)?.is_empty() {
            return Ok(false);
        }
        let clone = self.clone_id()?;
        let open = |i: &&Intent| i.origin.clone == clone && !applied_here(self, &i.id);
        Ok(intents(&view)?.iter().filter(open).flat_map(|i| &i.effects).any(|e| match e {
            Effect::MoveRef { name: n, .. } | Effect::RefreshCheckout { name: n, .. } => n == name,
            Effect::ResetWorktree { .. }
            | Effect::RemoveWorktree { .. }
            | Effect::ParkWorktree { .. }
            | Effect::ReuseWorktree { .. } => false,
        }))
    }

    /// Apply the effects of `intent`, each only if it is still due; whether every one is done.
    /// Errors are left for [`settle`] to find (the ref is then not where it should be).
    pub(super) fn apply(&self, intent: &Intent) -> bool {
        let mut done = true;
        for (n, effect) in intent.effects.iter().enumerate() {
            match self.apply_effect(effect) {
                Ok(Settled::Done) => {}
                Ok(Settled::Failed(_)) => done = false,
                Err(e) => {
                    done = false;
                    let e = crate::model::with_causes(&e);
                    self.notice(format!("{}: cannot {}: {e}", intent.why, effect.describe()));
                }
            }
            crate::failpoint::hit(&format!("effect:{}:{n}", step_name(&intent.step)));
        }
        done
    }

    fn apply_effect(&self, effect: &Effect) -> Result<Settled> {
        let oid = |hex: &str| ObjectId::from_hex(hex.as_bytes()).map_err(|e| crate::git::Error::Ref(e.to_string()));
        match effect {
            Effect::MoveRef { name, old, new } => {
                let (old, new) = (old.as_deref().map(oid).transpose()?, oid(new)?);
                let now = self.repo.read_ref(name)?;
                if now == Some(new) {
                    return Ok(Settled::Done);
                }
                if now != old {
                    return Ok(Settled::Failed(moved_elsewhere(name, now)));
                }
                Ok(match self.move_ref(name, old, new, "maestro: apply an intent")? {
                    Moved::Yes => Settled::Done,
                    Moved::Conflict => Settled::Failed(moved_elsewhere(name, self.repo.read_ref(name)?)),
                })
            }
            Effect::RefreshCheckout { name, worktree, old, new } => {
                let (old, new) = (oid(old)?, oid(new)?);
                let now = self.repo.read_ref(name)?;
                if now == Some(new) {
                    return Ok(Settled::Done);
                }
                if now != Some(old) {
                    return Ok(Settled::Failed(moved_elsewhere(name, now)));
                }
                let path = Path::new(worktree);
                if !crate::git::modified_paths(path)?.is_empty() {
                    return Ok(Settled::Failed(format!("{worktree} has uncommitted changes")));
                }
                self.repo.fast_forward_checkout(path, new)?;
                Ok(Settled::Done)
            }
            Effect::ResetWorktree { path, commit } => {
                if Path::new(path).exists() {
                    self.repo.reset_checkout(Path::new(path), oid(commit)?)?;
                }
                Ok(Settled::Done)
            }
            Effect::RemoveWorktree { path } => {
                if Path::new(path).exists() {
                    self.repo.remove_worktree(Path::new(path))?;
                }
                Ok(Settled::Done)
            }
            Effect::ParkWorktree { path, pool } => {
                let (path, pool) = (Path::new(path), Path::new(pool));
                if path.exists() {
                    self.repo.detach_worktree(path)?;
                } else if !pool.exists() {
                    return Ok(Settled::Failed(format!("{} is gone", path.display())));
                }
                if let Err(e) = self.repo.move_worktree(path, pool) {
                    // The pool cannot take it (a mount or a link to another file system in
                    // the worktree root): removed, as it would be without a pool, rather than
                    // left detached where no listing shows it, when it is still clean.
                    if !path.exists() || self.repo.unsaved(path)?.is_some() {
                        return Err(e.into());
                    }
                    self.notice(format!("{}; it is removed instead", crate::model::with_causes(&e)));
                    self.repo.remove_worktree(path)?;
                }
                Ok(Settled::Done)
            }
            Effect::ReuseWorktree { pool, path, commit } => {
                let (pool, path) = (Path::new(pool), Path::new(path));
                if !path.exists() && !pool.exists() {
                    return Ok(Settled::Failed(format!("the pooled worktree {} is gone", pool.display())));
                }
                self.repo.move_worktree(pool, path)?;
                crate::failpoint::hit("pool:moved");
                self.repo.checkout_detached(path, oid(commit)?)?;
                Ok(Settled::Done)
            }
        }
    }

    /// Whether a stopped process of this clone left an open intent in the state.
    pub(super) fn left_by_stopped(&self) -> Result<bool> {
        let found = settleable(self, &self.view()?)?;
        Ok(found.is_some_and(|(todo, me)| todo.iter().any(|i| !i.origin.same_process(&me))))
    }
}

/// The open intents in `r` this writer must settle: its own clone's, made by a process that is
/// gone (or by this very process, once it applied them); with the writer's origin. `None`
/// when no intent is open, as on most writes: the origin (a file and `/proc` read) is then
/// not computed.
fn settleable(store: &Store, r: &impl super::Read) -> Result<Option<(Vec<Intent>, Origin)>> {
    let open = intents(r)?;
    if open.is_empty() {
        return Ok(None);
    }
    let me = store.origin()?;
    let todo = open
        .into_iter()
        .filter(|i| i.origin.clone == me.clone && (i.origin.same_process(&me) || !origin::alive(&i.origin)))
        .collect();
    Ok(Some((todo, me)))
}

/// Settle what [`settleable`] finds, inside the transaction `tx`: done intents are
/// removed; failed ones are undone through the lifecycle, with a decision saying why.
pub(super) fn settle(store: &Store, tx: &mut Tx<'_>) -> Result<()> {
    let Some((todo, me)) = settleable(store, tx.view())? else { return Ok(()) };
    for intent in todo {
        if applied_here(store, &intent.id) {
            tx.remove(&layout::intent_file(&intent.id))?;
            continue;
        }
        let mut failure = None;
        for effect in &intent.effects {
            // An effect of a live step of ours was applied just now; a dead process's is
            // applied here, as far as it is still due.
            match store.apply_effect(effect) {
                Ok(Settled::Done) => {}
                Ok(Settled::Failed(why)) => failure = Some(why),
                Err(e) => failure = Some(e.to_string()),
            }
            if failure.is_some() {
                break;
            }
        }
        if !intent.origin.same_process(&me) {
            let how = if failure.is_some() { "could not be completed" } else { "was completed" };
            store.notice(format!("{} (left by {} that stopped) {how}", intent.why, intent.origin));
        }
        if let Some(why) = failure {
            undo(tx, &intent, &why)?;
        }
        tx.remove(&layout::intent_file(&intent.id))?;
    }
    Ok(())
}

/// The step of `intent` did not happen: put its records back, and say why.
fn undo(tx: &mut Tx<'_>, intent: &Intent, why: &str) -> Result<()> {
    let now = tx.now;
    let (score_id, task_id, kind) = match &intent.step {
        Step::Merge { score, task } => {
            let mut t = super::task(tx, score, task)?;
            // The merge decision names the commit: keep it reachable.
            if let Some(commit) = t.merge_commit.as_deref().and_then(|c| ObjectId::from_hex(c.as_bytes()).ok()) {
                tx.store.keep(commit)?;
            }
            lifecycle::undo_merge(&mut t, now);
            tx.put(&layout::task_file(score, task), &t)?;
            (score, Some(task.as_str()), DecisionKind::Merge)
        }
        Step::Rollback { score, tasks } => {
            for id in tasks {
                let mut t = super::task(tx, score, id)?;
                lifecycle::undo_revert(&mut t, now);
                tx.put(&layout::task_file(score, id), &t)?;
            }
            (score, None, DecisionKind::Rollback)
        }
        Step::Land { score, before } => {
            let mut s = super::score(tx, score)?;
            if let Some(commit) = s.landed.as_ref().and_then(|l| ObjectId::from_hex(l.commit.as_bytes()).ok()) {
                tx.store.keep(commit)?;
            }
            lifecycle::undo_land(&mut s, *before, now);
            tx.put(&layout::score_file(score), &s)?;
            (score, None, DecisionKind::Merge)
        }
        Step::Restart { .. } | Step::Prune { .. } | Step::Reuse { .. } => return Ok(()),
    };
    // A merge may have finished the Score, a revert sent it back to running: it says what its
    // tasks, put back, say.
    if !matches!(intent.step, Step::Land { .. })
        && let Some(s) = super::settled_score(tx, score_id, now)?
    {
        tx.put(&layout::score_file(score_id), &s)?;
    }
    let summary = format!("{} did not happen: {why}", intent.why);
    let actor = tx.store.session.actor.clone();
    let d = super::new_decision(tx, kind, summary, &actor).about(score_id, task_id);
    super::append_decision(tx, &d)
}

fn moved_elsewhere(name: &str, now: Option<ObjectId>) -> String {
    match now {
        Some(id) => format!("{name} moved to {} meanwhile", id.to_hex_with_len(12)),
        None => format!("{name} was deleted meanwhile"),
    }
}

/// A short name of a step, for failpoints.
fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Merge { .. } => "merge",
        Step::Rollback { .. } => "rollback",
        Step::Land { .. } => "land",
        Step::Restart { .. } => "restart",
        Step::Prune { .. } => "prune",
        Step::Reuse { .. } => "reuse",
    }
}
