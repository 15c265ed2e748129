//! `sync`: sharing the state through any git remote (DESIGN.md §8).
//!
//! ```text
//! refs/maestro/remotes/<remote>/state      the remote's state as last adopted or pushed
//! refs/maestro/remotes/<remote>/fetched    what the last fetch brought, before it is checked
//! refs/maestro/quarantine/<remote>/<time>  a remote state that went back in time
//! ```
//!
//! One round: fetch the remote's `refs/maestro/state`; refuse it if it does not descend from
//! what was last seen there (it is quarantined, local state is untouched) or does not parse;
//! then fast-forward to it, or merge it ([`super::merge`]) in a two-parent commit through the
//! normal transaction (a Score both sides changed is settled to what its merged tasks say);
//! then verify what would be pushed, as the pre-push hook does (hooks do not run for
//! libraries, and `--no-verify` skips them), and push it with `git push`, never forced. A
//! push the remote rejects because it moved starts another round, up to [`MAX_ROUNDS`]. A ref
//! lock left behind by a writer that died is removed once stale, as every state write does
//! ([`super::lock::recover`]), and the report says so.

use std::collections::BTreeSet;

use serde::Serialize;

use super::layout::{self, STATE_REF};
use super::merge::{self, Change};

use super::{Error, Store, Tx, View};
use crate::git::{self, ObjectId};
use crate::model::clock::SyncConflict;
use crate::model::{DecisionKind, ScoreStatus, Task};

/// Rounds of fetch, merge and push before giving up on a busy remote.
pub const MAX_ROUNDS: u32 = 5;

/// Checks what sync would push: `(store, new state, the remote's state)`. `Err` holds the
/// refusal, with its hint.
pub type Verify<'a> = &'a dyn Fn(&Store, ObjectId, Option<ObjectId>) -> Result<(), String>;

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0:?} is not a remote of this repository")]
    NoSuchRemote(String),
    #[error("this repository has no remote to sync with")]
    NoRemote,
    #[error("neither this repository nor {0} has a git-maestro state")]
    NothingToSync(String),
    #[error(
        "the state on {remote} went back in time: {tip} does not descend from {seen}, seen there before; it is quarantined as {quarantine}"
    )]
    Rewound { remote: String, seen: String, tip: String, quarantine: String },
    #[error("the state on {remote} holds a record this git-maestro refuses: {problem}")]
    Unreadable { remote: String, problem: String, quarantine: String },
    #[error("the state on {0} has no history in common with the local state")]
    Unrelated(String),
    #[error("refusing to push the state to {remote}: {reason}")]
    Refused { remote: String, reason: String },
    #[error("{remote} kept moving: the push was rejected {rounds} times")]
    Busy { remote: String, rounds: u32 },
    #[error(transparent)]
    Store(#[from] Error),
    #[error(transparent)]
    Git(#[from] git::Error),
}

/// What a sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub remote: String,
    /// Fetch-merge-push rounds it took.
    pub rounds: u32,
    /// The local state before and after.
    pub before: Option<String>,
    pub after: Option<String>,
    /// `up-to-date`, `fast-forward`, `merged`, `pushed` or `adopted`.
    pub action: &'static str,
    pub pushed: bool,
    /// Claims made here that lost to a claim another machine pushed first.
    pub lost_claims: Vec<LostClaim>,
    /// Conflicts the merge settled by setting a value aside, by record.
    pub conflicts: Vec<(String, SyncConflict)>,
    /// Things done on the side that a user may want to know, e.g. a stale lock removed.
    pub notices: Vec<String>,
    /// Scores both sides changed whose status the merge set to what their tasks say.
    pub settled: Vec<SettledScore>,
}

/// A Score whose status a sync merge settled ([`crate::model::lifecycle::settle_status`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettledScore {
    pub score: String,
    pub status: ScoreStatus,
}

/// A claim made here that a claim pushed first by another machine beat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostClaim {
    /// `score/task`
    pub task: String,
    pub holder: String,
    pub op: String,
    pub winner: String,
}

/// The ref that records what was last seen of `remote`'s state.
pub fn seen_ref(remote: &str) -> String {
    format!("{}remotes/{remote}/state", layout::REF_PREFIX)
}

fn fetched_ref(remote: &str) -> String {
    format!("{}remotes/{remote}/fetched", layout::REF_PREFIX)
}

/// The remote to sync with: `requested`, or `origin`, or the only remote.
pub fn pick_remote(store: &Store, requested: Option<&str>) -> Result<String, SyncError> {
    let names = store.repo.remote_names();
    match requested {
        Some(r) if names.iter().any(|n| n == r) => Ok(r.to_owned()),
        Some(r) => Err(SyncError::NoSuchRemote(r.to_owned())),
        None if names.iter().any(|n| n == "origin") => Ok("origin".into()),
        None if names.len() == 1 => Ok(names[0].clone()),
        None => Err(SyncError::NoRemote),
    }
}

/// Sync the state with `remote`; see the module docs. Each fetch also brings `also_fetch`
/// (refspecs for what the caller keeps beside the state), in the same round trip.
pub fn sync(store: &Store, remote: &str, verify: Verify<'_>, also_fetch: &[String]) -> Result<Report, SyncError> {
    let repo = &store.repo;
    let mut report = Report { remote: remote.to_owned(), before: tip_hex(store)?, ..Report::default() };
    let mut refspecs = vec![format!("+{STATE_REF}:{}", fetched_ref(remote))];
    refspecs.extend_from_slice(also_fetch);
    for round in 1..=MAX_ROUNDS {
        report.rounds = round;
        let f = fetch(store, remote, &refspecs)?;
        let local = match join(store, remote, &f, &mut report)? {
            Next::Again => continue,
            Next::Push(local) => local,
            Next::Settled => {
                if let Some(theirs) = f.theirs {
                    set_seen(store, remote, f.seen, theirs, &mut report.notices)?;
                }
                report.after = tip_hex(store)?;
                return Ok(report);
            }
        };
        verify(store, local, f.theirs).map_err(|reason| SyncError::Refused { remote: remote.to_owned(), reason })?;
        if repo.push_if_fast_forward(remote, &format!("{local}:{STATE_REF}"))? {
            set_seen(store, remote, f.seen, local, &mut report.notices)?;
            report.pushed = true;
            report.after = tip_hex(store)?;
            return Ok(report);
        }
        if let Some(theirs) = f.theirs {
            set_seen(store, remote, f.seen, theirs, &mut report.notices)?;
        }
        // Others are pushing too: back off a little, more each round, so they spread out.
        std::thread::sleep(std::time::Duration::from_millis(fastrand::u64(20..=100) * u64::from(round)));
    }
    Err(SyncError::Busy { remote: remote.to_owned(), rounds: MAX_ROUNDS })
}

/// One round's fetch: the remote's state (`theirs`), what was last seen there, the local
/// state, and the merge base of the two.
struct Fetched {
    theirs: Option<ObjectId>,
    seen: Option<ObjectId>,
    ours: Option<ObjectId>,
    base: Option<ObjectId>,
}

/// What a round does after its fetch.
enum Next {
    /// A ref moved meanwhile: another round.
    Again,
    /// The local state holds the remote's: nothing to push.
    Settled,
    /// Push this local state.
    Push(ObjectId),
}

/// Fetch the remote's state and check it: it must descend from what was seen there last (or
/// it is quarantined), and what changed in it must read (or it is kept aside).
fn fetch(store: &Store, remote: &str, refspecs: &[String]) -> Result<Fetched, SyncError> {
    let repo = &store.repo;
    let present = repo.fetch_if_present(remote, refspecs)?;
    let theirs = if present { repo.read_ref(&fetched_ref(remote))? } else { None };
    let seen = repo.read_ref(&seen_ref(remote))?;
    let ours = store.tip()?;
    // A state already seen there, or already here, was checked before; of another, what
    // changed since the state seen there last, which was checked then.
    let unchecked = theirs.filter(|t| Some(*t) != seen && Some(*t) != ours);
    // How the two states relate, from one walk of their histories, made meanwhile.
    let pair = ours.zip(theirs).filter(|(ours, theirs)| ours != theirs);
    let (base, problems) =
        repo.merge_base_beside(pair, || unchecked.map(|theirs| check_fetched(store, theirs, seen)).transpose());
    let base = base?;
    if let (Some(theirs), Some(seen)) = (theirs, seen)
        && !descends(repo, theirs, seen, base)?
    {
        return Err(quarantine(store, remote, seen, theirs));
    }
    if let (Some(theirs), Some(problem)) = (theirs, problems?.and_then(|p| p.into_iter().next())) {
        let quarantine = keep_aside(store, remote, theirs, "refused")?;
        return Err(SyncError::Unreadable { remote: remote.to_owned(), problem, quarantine });
    }
    Ok(Fetched { theirs, seen, ours, base })
}

/// Bring the fetched state into the local one: adopt it, fast-forward to it, or merge it.
fn join(store: &Store, remote: &str, f: &Fetched, report: &mut Report) -> Result<Next, SyncError> {
    let notices = &mut report.notices;
    let next = match (f.ours, f.theirs) {
        (None, None) => return Err(SyncError::NothingToSync(remote.to_owned())),
        (Some(ours), Some(theirs)) if ours == theirs => {
            report.action = or(report.action, "up-to-date");
            Next::Settled
        }
        (None, Some(theirs)) => {
            if !move_ref(store, STATE_REF, None, theirs, "sync: adopt the remote state", notices)? {
                return Ok(Next::Again);
            }
            report.action = "adopted";
            Next::Settled
        }
        (Some(ours), Some(theirs)) if f.base == Some(ours) => {
            if !move_ref(store, STATE_REF, Some(ours), theirs, "sync: fast-forward", notices)? {
                return Ok(Next::Again);
            }
            report.action = or(report.action, "fast-forward");
            Next::Settled
        }
        (Some(ours), Some(theirs)) if f.base.is_none() => {
            if !is_fresh(store, ours)? {
                return Err(SyncError::Unrelated(remote.to_owned()));
            }
            // A state `init` just made here gives way to the shared one.
            if !move_ref(store, STATE_REF, Some(ours), theirs, "sync: adopt the remote state", notices)? {
                return Ok(Next::Again);
            }
            report.action = "adopted";
            Next::Settled
        }
        (Some(ours), Some(theirs)) if f.base != Some(theirs) => {
            let merged = merge_into(store, remote, theirs, (ours, f.base), report)?;
            report.action = "merged";
            Next::Push(merged)
        }
        (Some(ours), _) => {
            report.action = or(report.action, "pushed");
            Next::Push(ours)
        }
    };
    Ok(next)
}

/// The problems of the records that changed in `theirs` since `seen`.
fn check_fetched(store: &Store, theirs: ObjectId, seen: Option<ObjectId>) -> Result<Vec<String>, Error> {
    let before = seen.map(|s| store.view_at(s)).transpose()?;
    super::check_since(&store.view_at(theirs)?, before.as_ref())
}

/// Whether `theirs` descends from `seen`. When `seen` is below their merge base with the local
/// state, as it is after every sync, that is a walk from the base: no second walk of theirs.
fn descends(repo: &git::Repo, theirs: ObjectId, seen: ObjectId, base: Option<ObjectId>) -> Result<bool, SyncError> {
    if let Some(base) = base
        && repo.is_ancestor(seen, base)?
    {
        return Ok(true);
    }
    Ok(repo.is_ancestor(seen, theirs)?)
}

fn or(current: &'static str, next: &'static str) -> &'static str {
    if current.is_empty() { next } else { current }
}

fn tip_hex(store: &Store) -> Result<Option<String>, SyncError> {
    Ok(store.tip()?.map(|t| t.to_string()))
}

/// Merge `theirs` into the local state in one transaction; returns the merge commit. `known`
/// is a local state and its merge base with `theirs`, already found.
fn merge_into(
    store: &Store,
    remote: &str,
    theirs: ObjectId,
    known: (ObjectId, Option<ObjectId>),
    report: &mut Report,
) -> Result<ObjectId, SyncError> {
    let repo = &store.repo;
    let their_view = store.view_at(theirs)?;
    let their_clock = their_view.clock()?;
    // Both sides and their base in one layout, so that a record an older build kept elsewhere
    // merges with its counterpart (`in_current_layout`).
    let their_tree = super::in_current_layout(repo, their_view.tree.ok_or(Error::NotInitialized)?)?;
    let actor = store.session.actor.clone();
    let summary = format!("sync with {remote}: merge {}", &theirs.to_string()[..12]);
    let outcome = store.transact(&summary, |tx| {
        let ours = tx.view().commit.ok_or(Error::NotInitialized)?;
        let base = if ours == known.0 { known.1 } else { repo.merge_base(ours, theirs)? };
        let base = base.map(|b| super::in_current_layout(repo, repo.commit_tree(b)?)).transpose()?;
        let our_tree = super::in_current_layout(repo, tx.view().tree.ok_or(Error::NotInitialized)?)?;
        let changes = merge::merge_trees(repo, base, our_tree, their_tree)?;
        let mut found = (Vec::new(), Vec::new());
        for (path, change) in &changes {
            let Change::Bytes(merged) = change else { continue };
            let before = tx.view().get_bytes(path)?.unwrap_or_default();
            let (old, new) = (conflicts_in(path, &before), conflicts_in(path, merged));
            found.1.extend(new.into_iter().filter(|c| !old.contains(c)).map(|c| (path.clone(), c)));
            let theirs = their_view.get_bytes(path)?.unwrap_or_default();
            found.0.extend([&before, &theirs].into_iter().filter_map(|side| lost_claim(path, side, merged)));
        }
        let merged = merge::apply(repo, our_tree, &changes)?;
        tx.replace_tree(merged);
        tx.merge_with(theirs, their_clock);
        let settled = settle_scores(tx, &View::of_tree(repo, merged), &changes)?;
        for lost in &found.0 {
            let (score, task) = lost.task.split_once('/').unwrap_or_default();
            let summary = format!(
                "the claim of {} on {} lost to {}, whose claim was pushed first",
                lost.holder, lost.task, lost.winner
            );
            let mut d = super::new_decision(tx, DecisionKind::Assignment, summary, &actor).about(score, Some(task));
            d.rationale = format!(
                "claim {} was made here while another machine claimed it too; sync keeps the claim pushed first",
                lost.op
            );
            super::append_decision(tx, &d)?;
        }
        Ok::<_, SyncError>((found, settled))
    })?;
    let ((lost, conflicts), settled) = outcome.value;
    report.notices.extend(outcome.notices);
    report.lost_claims.extend(lost);
    report.conflicts.extend(conflicts);
    report.settled = settled;
    outcome.commit.ok_or_else(|| Error::NotInitialized.into())
}

/// Settle each Score whose records both sides changed to what its merged tasks say
/// ([`crate::model::lifecycle::settle_status`]). A Score only one side changed is that side's
/// whole, and agrees with its tasks already. Returns the Scores it moved, with their status.
fn settle_scores(
    tx: &mut Tx<'_>,
    merged: &View<'_>,
    changes: &[(String, Change)],
) -> Result<Vec<SettledScore>, SyncError> {
    let inside = |path: &str| path.strip_prefix("scores/")?.split_once('/').map(|(score, _)| score.to_owned());
    let touched: BTreeSet<String> = changes.iter().filter_map(|(path, _)| inside(path)).collect();
    let mut settled = Vec::new();
    for id in touched {
        if let Some(score) = super::settled_score(merged, &id, tx.now)? {
            tx.put(&layout::score_file(&id), &score)?;
            settled.push(SettledScore { score: id, status: score.status });
        }
    }
    Ok(settled)
}

/// Every conflict sync recorded in the state, by record path.
pub fn conflicts(view: &super::View<'_>) -> Result<Vec<(String, SyncConflict)>, Error> {
    let mut out = Vec::new();
    for (path, id) in view.files()? {
        if layout::is_versioned(&path) {
            out.extend(conflicts_in(&path, &view.blob(&path, id)?).into_iter().map(|c| (path.clone(), c)));
        }
    }
    Ok(out)
}

/// Clear the conflicts recorded in the record at `path`: a person looked at them. Returns how
/// many there were.
pub fn resolve(store: &Store, path: &str) -> Result<usize, Error> {
    let outcome = store.transact(&format!("resolve the sync conflicts of {path}"), |tx| {
        let bytes = tx.view().get_bytes(path)?.filter(|_| layout::is_versioned(path));
        let Some(mut record) = bytes.map(|b| super::codec::decode::<toml::Table>(path, &b)).transpose()? else {
            return Err(Error::Codec(super::CodecError::Parse {
                path: path.to_owned(),
                message: "no such record".into(),
            }));
        };
        let cleared = match record.get_mut("sync").and_then(toml::Value::as_table_mut) {
            Some(meta) => meta.remove("conflicts").and_then(|c| c.as_array().map(Vec::len)).unwrap_or(0),
            None => 0,
        };
        tx.put(path, &record)?;
        Ok(cleared)
    })?;
    Ok(outcome.value)
}

fn conflicts_in(path: &str, bytes: &[u8]) -> Vec<SyncConflict> {
    #[derive(serde::Deserialize)]
    struct Meta {
        sync: Option<crate::model::clock::SyncMeta>,
    }
    super::codec::decode::<Meta>(path, bytes).ok().and_then(|m| m.sync).map(|s| s.conflicts).unwrap_or_default()
}

/// The claim one side held on a task that the merged record gives to another claim.
fn lost_claim(path: &str, before: &[u8], merged: &[u8]) -> Option<LostClaim> {
    let before: Task = super::codec::decode(path, before).ok()?;
    let after: Task = super::codec::decode(path, merged).ok()?;
    let task = before.address();
    let (mine, winner) = (before.claim?, after.claim?);
    (mine.op != winner.op).then_some(LostClaim { task, holder: mine.holder, op: mine.op, winner: winner.holder })
}

/// Whether `tip` is a state `init` just made: one commit holding only the root record.
fn is_fresh(store: &Store, tip: ObjectId) -> Result<bool, SyncError> {
    let info = store.repo.commit_info(tip)?;
    let entries = store.repo.list_dir(info.tree, "")?;
    Ok(info.parents.is_empty() && entries.len() == 1 && entries[0].0 == layout::MAESTRO_TOML)
}

/// Keep a rewound remote state under `refs/maestro/quarantine/`, and say so.
fn quarantine(store: &Store, remote: &str, seen: ObjectId, tip: ObjectId) -> SyncError {
    match keep_aside(store, remote, tip, "rewound") {
        Ok(quarantine) => {
            SyncError::Rewound { remote: remote.to_owned(), seen: seen.to_string(), tip: tip.to_string(), quarantine }
        }
        Err(e) => e,
    }
}

/// Keep a remote state that is not adopted under `refs/maestro/quarantine/`; the ref's name.
fn keep_aside(store: &Store, remote: &str, tip: ObjectId, why: &str) -> Result<String, SyncError> {
    let time = store.session.now().strftime("%Y%m%dT%H%M%SZ").to_string();
    let name = format!("{}quarantine/{remote}/{time}-{}", layout::REF_PREFIX, &tip.to_string()[..12]);
    move_ref(store, &name, None, tip, &format!("sync: quarantine a {why} remote state"), &mut Vec::new())?;
    Ok(name)
}

fn set_seen(
    store: &Store,
    remote: &str,
    seen: Option<ObjectId>,
    new: ObjectId,
    notices: &mut Vec<String>,
) -> Result<(), SyncError> {
    if seen != Some(new) {
        move_ref(store, &seen_ref(remote), seen, new, "sync: seen on the remote", notices)?;
    }
    Ok(())
}

/// Move `name` from `expected` to `new`; `false` when it moved meanwhile.
///
/// A ref lock in the way is handled as every state write handles it: once this process holds
/// the writer lock, no git-maestro writer holds a ref lock, so the lock is a foreign git's
/// (gone within moments) or was left by a writer that died, and is removed once it is
/// [`lock::STALE_AFTER`] old; `notices` says so.
fn move_ref(
    store: &Store,
    name: &str,
    expected: Option<ObjectId>,
    new: ObjectId,
    message: &str,
    notices: &mut Vec<String>,
) -> Result<bool, SyncError> {
    if store.intent_names(name)? {
        return Ok(false);
    }
    let moved = store.move_ref(name, expected, new, message)? == super::refs::Moved::Yes;
    notices.extend(store.take_notices());
    Ok(moved)
}
