//! Sending a failed, rejected or conflicted task back for another attempt: the reason goes
//! into the task (its next prompt shows it) and into a handover packet for whoever takes it
//! up, and from then on a run whose result is the result sent back fails
//! ([`lifecycle::sent_back_results`]). `run` sends back every such task it reconciles; `task
//! run` does it when a person starts such a task again, so both paths tell the agent the same
//! reason and hold it to the same guard.

use crate::model::handover::Delivery;
use crate::model::lifecycle::{self, Refusal};
use crate::model::{DecisionKind, Task, TaskStatus};
use crate::store::{self, Read, Tx};

/// Whether `task` is sent back before it runs again: its last result failed, was rejected, or
/// conflicted.
pub fn due(task: &Task) -> bool {
    matches!(task.status, TaskStatus::Failed | TaskStatus::Rejected | TaskStatus::Conflict)
}

/// Why the task's last result was not accepted.
pub fn reason(r: &impl Read, task: &Task) -> store::Result<String> {
    Ok(match task.status {
        TaskStatus::Failed => format!(
            "the last run failed: {}",
            task.attempts.last().and_then(|a| a.reason.as_deref()).unwrap_or("no reason recorded")
        ),
        TaskStatus::Conflict => format!(
            "the result conflicted with {} in: {}. It now starts again from the current integration branch; \
             redo the change there",
            crate::model::branches::integration_branch(&task.score),
            task.conflicts.join(", ")
        ),
        _ => {
            let decisions = store::decisions(r)?;
            let last = decisions.iter().rev().find(|d| {
                d.kind == DecisionKind::Rejection
                    && d.task.as_deref() == Some(&task.id)
                    && d.score.as_deref() == Some(&task.score)
            });
            match last {
                Some(d) => format!("{} rejected it: {}", d.actor, d.rationale),
                None => "it was rejected".to_owned(),
            }
        }
    })
}

/// Send `task` back with `reason`, in `tx`: it is ready again without a claim, so routing may
/// pick another performer, and the next performer gets a handover packet with the reason and
/// what was tried. `actor` signs the packet. The caller writes the task.
pub fn send_back<E>(tx: &mut Tx<'_>, task: &mut Task, reason: &str, actor: &str) -> Result<(), E>
where
    E: From<Refusal> + From<store::Error>,
{
    // The packet tells what was tried, from the task as it was.
    crate::memory::handover::create(tx, &task.score, Some(task), Delivery::Pull, None, reason, actor)?;
    lifecycle::rework(task, reason, tx.now)?;
    Ok(())
}
