//! Handover: packets that carry a task from one performer to the next.
//!
//! Every rework (rejection, conflict, failure) and every re-route writes one; people write them
//! with `git maestro handover`. A run receives the packets meant for it in its prompt and
//! answers with the MCP tools `handover_ack` or `handover_nack`. A nack, or a delivered packet
//! nobody acknowledged within the timeout, makes routing avoid that performer for the task.
//! Taking a pull packet is one compare-and-swap transaction, so two pullers never get the same
//! packet.

use std::time::Duration;

use jiff::Timestamp;

use super::retrieval::{self, Query};
use crate::model::handover::{Delivery, Handover, HandoverStatus, Sections};
use crate::model::redact::redact;
use crate::model::{DecisionKind, Task, lifecycle};
use crate::store::{self, Read, Store, Tx, layout};

/// How long a delivered packet may wait for its acknowledgement.
pub const TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The sections of a packet about `task`, from the state.
pub fn sections(r: &impl Read, task: &Task, context: &str, now: Timestamp) -> store::Result<Sections> {
    let tried = task
        .attempts
        .iter()
        .map(|a| {
            let why = a.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
            let summary = a.summary.as_deref().map(|s| format!(": {s}")).unwrap_or_default();
            format!("run {} by {}: {:?}{why}{summary}", a.run, a.performer, a.outcome).to_lowercase()
        })
        .collect();
    let all = store::decisions(r)?;
    let decisions: Vec<String> = all
        .iter()
        .filter(|d| d.score.as_deref() == Some(&task.score) && d.task.as_deref() == Some(&task.id))
        .filter(|d| !matches!(d.kind, DecisionKind::Assignment))
        .rev()
        .take(6)
        .map(|d| if d.rationale.is_empty() { d.summary.clone() } else { format!("{}: {}", d.summary, d.rationale) })
        .collect();
    let hits = retrieval::rank(&store::knowledge(r)?, &all, &Query::for_task(task, now));
    let last = task.attempts.last();
    let mut constraints = vec!["work only in your worktree; git-maestro commits and merges".to_owned()];
    if !task.scope.is_empty() {
        constraints.push(format!("touch only: {}", task.scope.join(", ")));
    }
    if !task.checks.is_empty() {
        constraints.push(format!("these checks must pass: {}", task.checks.join(", ")));
    }
    Ok(Sections {
        task: format!("{}: {}\n{}", task.address(), task.title, task.spec),
        context: context.to_owned(),
        relevant_files: task.scope.clone(),
        current_state: format!(
            "status {}; branch maestro/{}/tasks/{}{}",
            task.status,
            task.score,
            task.id,
            last.map(|a| format!("; last run by {}", a.performer)).unwrap_or_default()
        ),
        tried,
        decisions,
        knowledge: hits.iter().take(3).map(|h| h.title.clone()).collect(),
        acceptance: task.acceptance.clone(),
        constraints,
    })
}

/// Write a packet about `task` (or, for a broadcast, about the Score).
pub fn create(
    tx: &mut Tx<'_>,
    score: &str,
    task: Option<&Task>,
    delivery: Delivery,
    to: Option<&str>,
    reason: &str,
    from: &str,
) -> store::Result<Handover> {
    let context = redact(reason);
    let sections = match task {
        Some(t) => sections(tx, t, &context, tx.now)?,
        None => Sections { task: format!("every task of {score}"), context: context.clone(), ..Sections::default() },
    };
    let h = Handover {
        format: crate::model::FORMAT as u32,
        id: tx.new_id(),
        score: score.to_owned(),
        task: task.map(|t| t.id.clone()),
        delivery,
        to: to.map(str::to_owned),
        reason: context,
        from: from.to_owned(),
        sections,
        status: HandoverStatus::Open,
        created: tx.now,
        delivered_to: None,
        delivered_run: None,
        delivered_at: None,
        acked_by: Vec::new(),
        nack_reason: None,
        updated: tx.now,
        sync: None,
    };
    tx.create(&layout::handover_file(&h.id), &h)?;
    Ok(h)
}

/// In a run's opening transaction: deliver the packets for `performer` running `task` (push
/// packets to it, pull packets for the task, the Score's broadcasts it has not acknowledged).
pub fn deliver(tx: &mut Tx<'_>, task: &Task, performer: &str, run: &str) -> store::Result<Vec<Handover>> {
    let mut out = Vec::new();
    for mut h in store::handovers(tx)? {
        if !lifecycle::may_deliver_handover(&h, &task.score, &task.id, performer) {
            continue;
        }
        lifecycle::deliver_handover(&mut h, performer, Some(run), tx.now);
        tx.put(&layout::handover_file(&h.id), &h)?;
        out.push(h);
    }
    Ok(out)
}

/// Why a handover change was refused.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    #[error("no handover packet {0:?}")]
    NotFound(String),
    #[error("handover {id} is {status:?}; {what}")]
    State { id: String, status: HandoverStatus, what: &'static str },
    #[error(transparent)]
    Store(#[from] store::Error),
}

fn packet(r: &impl Read, id: &str) -> Result<Handover, HandoverError> {
    r.get(&layout::handover_file(id))?.ok_or_else(|| HandoverError::NotFound(id.to_owned()))
}

/// `performer` acknowledges (`nack = None`) or refuses the packet `id`.
pub fn answer(store: &Store, id: &str, performer: &str, nack: Option<&str>) -> Result<Handover, HandoverError> {
    let outcome =
        store.transact(&format!("answer handover {id}"), |tx| {
            let mut h = packet(tx, id)?;
            let reason = nack.map(redact);
            lifecycle::answer_handover(&mut h, performer, reason.clone(), tx.now)
                .map_err(|what| HandoverError::State { id: id.to_owned(), status: h.status, what })?;
            if let Some(reason) = reason {
                rerouted(tx, &h, &format!("{performer} refused handover {id}: {reason}"))?;
            }
            tx.put(&layout::handover_file(id), &h)?;
            Ok::<_, HandoverError>(h)
        })?;
    Ok(outcome.value)
}

/// Take the oldest open pull packet for `performer`, atomically.
pub fn pull(store: &Store, performer: &str) -> Result<Option<Handover>, HandoverError> {
    let outcome = store.transact(&format!("{performer} pulls a handover"), |tx| {
        let Some(mut h) = store::handovers(tx)?
            .into_iter()
            .find(|h| h.delivery == Delivery::Pull && h.status == HandoverStatus::Open)
        else {
            return Ok(None);
        };
        lifecycle::deliver_handover(&mut h, performer, None, tx.now);
        tx.put(&layout::handover_file(&h.id), &h)?;
        Ok::<_, HandoverError>(Some(h))
    })?;
    Ok(outcome.value)
}

/// Whether `h` was delivered and left unanswered past [`TIMEOUT`] at `now`.
pub fn is_late(h: &Handover, now: Timestamp) -> bool {
    lifecycle::handover_is_late(h, now, timeout())
}

fn timeout() -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(TIMEOUT).unwrap_or(jiff::SignedDuration::ZERO)
}

/// Expire delivered packets left unanswered past [`TIMEOUT`]; returns them.
pub fn expire(store: &Store) -> Result<Vec<Handover>, HandoverError> {
    let outcome = store.transact("expire unanswered handovers", |tx| {
        let mut out = Vec::new();
        for mut h in store::handovers(tx)? {
            if lifecycle::expire_handover(&mut h, tx.now, timeout()) {
                tx.put(&layout::handover_file(&h.id), &h)?;
                let who = h.delivered_to.clone().unwrap_or_default();
                rerouted(tx, &h, &format!("handover {} to {who} expired unanswered", h.id))?;
                out.push(h);
            }
        }
        Ok::<_, HandoverError>(out)
    })?;
    Ok(outcome.value)
}

/// Record why the packet's task now goes to another performer.
fn rerouted(tx: &mut Tx<'_>, h: &Handover, summary: &str) -> store::Result<()> {
    let who = h.delivered_to.as_deref().unwrap_or("-");
    let mut d =
        store::new_decision(tx, DecisionKind::Handover, summary.to_owned(), who).about(&h.score, h.task.as_deref());
    d.rationale = format!("routing avoids {who} for this task from now on");
    store::append_decision(tx, &d)
}

/// Performers that refused `task`'s packets, or let them expire: routing avoids them.
pub fn refused_by(packets: &[Handover], score: &str, task: &str) -> Vec<String> {
    packets
        .iter()
        .filter(|h| h.score == score && h.task.as_deref() == Some(task))
        .filter(|h| matches!(h.status, HandoverStatus::Nacked | HandoverStatus::Expired))
        .filter_map(|h| h.delivered_to.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(task: &str, status: HandoverStatus, to: &str) -> Handover {
        Handover {
            format: 1,
            id: format!("{task}-{to}"),
            score: "s".into(),
            task: Some(task.into()),
            delivery: Delivery::Pull,
            to: None,
            reason: "r".into(),
            from: "f".into(),
            sections: Sections::default(),
            status,
            created: Timestamp::UNIX_EPOCH,
            delivered_to: Some(to.into()),
            delivered_run: None,
            delivered_at: Some(Timestamp::UNIX_EPOCH),
            acked_by: Vec::new(),
            nack_reason: None,
            updated: Timestamp::UNIX_EPOCH,
            sync: None,
        }
    }

    #[test]
    fn refused_and_expired_packets_steer_routing_away() {
        let packets = [
            packet("t", HandoverStatus::Nacked, "claude"),
            packet("t", HandoverStatus::Expired, "codex"),
            packet("t", HandoverStatus::Acked, "gemini"),
            packet("u", HandoverStatus::Nacked, "gemini"),
        ];
        assert_eq!(refused_by(&packets, "s", "t"), vec!["claude", "codex"]);
        let text = packets[0].render();
        assert!(text.starts_with("Handover t-claude (r), from f:"), "{text}");
    }
}
