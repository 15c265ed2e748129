//! `doctor --fix`: the safe repairs of what [`super::check`] found (DESIGN.md §12.4): a dead
//! run released, a dead lease dropped, an unreachable commit kept, a Score's status set to
//! what its tasks say, a stopped intent settled.

use super::{Fix, IntentState, Invariant, check, short};
use crate::kernel::Leases;
use crate::model::lease::Liveness;
use crate::model::{DecisionKind, TaskStatus, lifecycle};
use crate::store::origin::{self, LEASE_STALE_AFTER};
use crate::store::{self, Store, layout};

/// What [`repair`] did, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// The invariant the repair restored; `None` for settling open intents.
    pub invariant: Option<Invariant>,
    pub subject: String,
    pub detail: String,
    /// Whether it happened; `false` when the repair was not safe any more, with why in `detail`.
    pub done: bool,
}

/// Make the safe repairs: settle the open intents that stopped processes of this clone left
/// (any write settles them), then release dead runs, drop dead leases and keep unreachable
/// commits, as a fresh [`check`] finds them. Every repair re-checks its reason under the
/// writer lock; one whose reason went away is reported as not done.
pub fn repair(store: &Store) -> store::Result<Vec<Repaired>> {
    let mut out = Vec::new();
    let stopped: Vec<String> = check(store)?
        .intents
        .into_iter()
        .filter(|i| matches!(i.state, IntentState::Stopped { .. }))
        .map(|i| i.intent.why)
        .collect();
    if !stopped.is_empty() {
        let outcome =
            store.transact("doctor: settle the intents of stopped processes", |_| Ok::<_, store::Error>(()))?;
        let mut detail = format!("settled {} left by a stopped process", stopped.join("; "));
        for notice in outcome.notices {
            detail.push_str(&format!("; {notice}"));
        }
        out.push(Repaired { invariant: None, subject: String::new(), detail, done: true });
    }
    let report = check(store)?;
    for v in &report.violations {
        let Some(fix) = &v.fix else { continue };
        let (detail, done) = match fix {
            Fix::Release { score, task } => release(store, score, task)?,
            Fix::DropLease { score, task } => drop_lease(store, score, task)?,
            Fix::Keep { commit } => {
                store.keep(*commit)?;
                (format!("kept {} as {}{commit}", short(commit), layout::KEEP_PREFIX), true)
            }
            Fix::Settle { score } => settle(store, score)?,
        };
        out.push(Repaired { invariant: Some(v.invariant), subject: v.subject.clone(), detail, done });
    }
    Ok(out)
}

/// Release `score/task`, whose run is gone: its running attempt ends as interrupted and it is
/// ready again, with a decision saying why.
fn release(store: &Store, score: &str, task: &str) -> store::Result<(String, bool)> {
    let address = format!("{score}/{task}");
    // A run of it on this machine holds its run lock, whatever its lease says.
    let lock = crate::kernel::try_run_lock(store.repo.common_dir(), score, task)
        .map_err(|e| crate::git::Error::Io { context: format!("cannot take the run lock of {address}"), source: e })?;
    if lock.is_none() {
        return Ok((format!("left {address} alone: a process here holds its run lock"), false));
    }
    let leases = Leases::for_clone(store, store.existing_clone_id().unwrap_or_default());
    let actor = store.session.actor.clone();
    let outcome = store.transact(&format!("doctor: release {address}, whose run is gone"), |tx| {
        let mut t = store::task(tx, score, task)?;
        if t.status != TaskStatus::Running || leases.liveness(&t, tx.now) != Liveness::Dead {
            return Ok(None);
        }
        let run = t.lease.as_ref().map(|l| l.run.clone());
        lifecycle::interrupt(&mut t, "released by `git maestro doctor --fix`: its run was gone", tx.now);
        tx.put(&layout::task_file(score, task), &t)?;
        let what = run.map_or_else(|| "it had no lease".to_owned(), |r| format!("its run {r} was gone"));
        let summary = format!("doctor released {address}: {what}");
        let d = store::new_decision(tx, DecisionKind::Assignment, summary.clone(), &actor).about(score, Some(task));
        store::append_decision(tx, &d)?;
        Ok::<_, store::Error>(Some(what))
    })?;
    Ok(match outcome.value {
        Some(what) => (format!("released {address} ({what}); it is ready to run again"), true),
        None => (format!("left {address} alone: it is no longer a dead run"), false),
    })
}

/// Set the status of `score` to what its tasks say, with a decision saying so.
fn settle(store: &Store, score: &str) -> store::Result<(String, bool)> {
    let actor = store.session.actor.clone();
    let outcome = store.transact(&format!("doctor: settle the status of {score}"), |tx| {
        let Some(s) = store::settled_score(tx, score, tx.now)? else { return Ok(None) };
        tx.put(&layout::score_file(score), &s)?;
        let summary = format!("doctor set {score} to {}, as its tasks say", s.status);
        let d = store::new_decision(tx, DecisionKind::Plan, summary, &actor).about(score, None);
        store::append_decision(tx, &d)?;
        Ok::<_, store::Error>(Some(s.status))
    })?;
    Ok(match outcome.value {
        Some(status) => (format!("set {score} to {status}, as its tasks say"), true),
        None => (format!("left {score} alone: its status already says what its tasks say"), false),
    })
}

/// Drop the dead lease of `score/task`, which is not running.
fn drop_lease(store: &Store, score: &str, task: &str) -> store::Result<(String, bool)> {
    let address = format!("{score}/{task}");
    let actor = store.session.actor.clone();
    let outcome = store.transact(&format!("doctor: drop the dead lease of {address}"), |tx| {
        let mut t = store::task(tx, score, task)?;
        let Some(lease) = t.lease.clone() else { return Ok(None) };
        let dead = origin::lease_liveness(Some(&lease), tx.now, LEASE_STALE_AFTER) == Liveness::Dead;
        if t.status == TaskStatus::Running || !dead || !origin::is_local(&lease.origin) {
            return Ok(None);
        }
        t.lease = None;
        tx.put(&layout::task_file(score, task), &t)?;
        let summary = format!("doctor dropped the lease of run {} on {address}, which is {}", lease.run, t.status);
        let d = store::new_decision(tx, DecisionKind::Assignment, summary, &actor).about(score, Some(task));
        store::append_decision(tx, &d)?;
        Ok::<_, store::Error>(Some(lease.run))
    })?;
    Ok(match outcome.value {
        Some(run) => (format!("dropped the lease of run {run} on {address}"), true),
        None => (format!("left the lease of {address} alone: it is no longer a dead lease"), false),
    })
}
