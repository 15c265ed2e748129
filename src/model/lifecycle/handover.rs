//! Handover packet events: `open -> delivered -> acked | nacked | expired` (DESIGN.md §7).
//! A broadcast stays open; each performer acknowledges it once.

use jiff::{SignedDuration, Timestamp};

use crate::model::handover::{Delivery, Handover, HandoverStatus};

/// Whether the packet `h` goes to `performer` starting a run of `score/task`: a push packet
/// addressed to it, a pull packet for the task, or a broadcast of the Score it has not acked.
pub fn may_deliver_handover(h: &Handover, score: &str, task: &str, performer: &str) -> bool {
    if h.score != score {
        return false;
    }
    let for_task = h.task.as_deref() == Some(task);
    match h.delivery {
        Delivery::Push => for_task && h.to.as_deref() == Some(performer) && h.status == HandoverStatus::Open,
        Delivery::Pull => for_task && h.status == HandoverStatus::Open,
        Delivery::Broadcast => h.status != HandoverStatus::Expired && !h.acked_by.iter().any(|a| a == performer),
    }
}

/// Deliver `h` to `performer` (in `run`, when a run takes it).
pub fn deliver_handover(h: &mut Handover, performer: &str, run: Option<&str>, now: Timestamp) {
    if h.delivery != Delivery::Broadcast {
        h.status = HandoverStatus::Delivered;
    }
    h.delivered_to = Some(performer.to_owned());
    if let Some(run) = run {
        h.delivered_run = Some(run.to_owned());
    }
    h.delivered_at = Some(now);
    h.updated = now;
}

/// `performer` acknowledges `h` (`nack = None`) or refuses it with a reason. Refused, with what
/// is wrong, unless the packet was delivered to that performer (or is a broadcast).
pub fn answer_handover(
    h: &mut Handover,
    performer: &str,
    nack: Option<String>,
    now: Timestamp,
) -> Result<(), &'static str> {
    let broadcast = h.delivery == Delivery::Broadcast;
    if !broadcast && h.status != HandoverStatus::Delivered {
        return Err("only a delivered packet can be answered");
    }
    if !broadcast && h.delivered_to.as_deref() != Some(performer) {
        return Err("it was delivered to someone else");
    }
    match nack {
        None => {
            if !h.acked_by.iter().any(|a| a == performer) {
                h.acked_by.push(performer.to_owned());
            }
            if !broadcast {
                h.status = HandoverStatus::Acked;
            }
        }
        Some(reason) => {
            h.status = HandoverStatus::Nacked;
            h.nack_reason = Some(reason);
        }
    }
    h.updated = now;
    Ok(())
}

/// Whether `h` was delivered and left unanswered for longer than `limit` at `now`.
pub fn handover_is_late(h: &Handover, now: Timestamp, limit: SignedDuration) -> bool {
    h.status == HandoverStatus::Delivered && h.delivered_at.is_some_and(|at| now.duration_since(at) > limit)
}

/// Expire a late packet; `false` when it is not late.
pub fn expire_handover(h: &mut Handover, now: Timestamp, limit: SignedDuration) -> bool {
    if !handover_is_late(h, now, limit) {
        return false;
    }
    h.status = HandoverStatus::Expired;
    h.updated = now;
    true
}
