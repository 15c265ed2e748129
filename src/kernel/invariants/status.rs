//! I7: a Score's status says what its tasks say.

use super::{Fix, Invariant, Reading, Report};
use crate::model::{Score, ScoreStatus, Task, TaskStatus, lifecycle};

/// I7: the Score's status is the one `lifecycle::settle_status` gives it from its tasks. A
/// Score with a step still to settle, or with a task that does not read, is not judged.
pub(super) fn score_status(reading: &Reading<'_>, report: &mut Report, score: &Score, tasks: &[Task]) {
    let unsettled =
        reading.unsettled.contains(&score.id) || tasks.iter().any(|t| reading.unsettled.contains(&t.address()));
    if score.status == ScoreStatus::Draft || unsettled || tasks.len() != score.tasks.len() {
        return;
    }
    report.count(Invariant::I7);
    let not_merged = tasks.iter().find(|t| t.status != TaskStatus::Merged);
    let active = tasks.iter().find(|t| !matches!(t.status, TaskStatus::Merged | TaskStatus::Reverted));
    let mut settled = score.clone();
    if lifecycle::settle_status(&mut settled, not_merged.is_none(), active.is_some(), reading.now) != Ok(true) {
        return;
    }
    let (id, status) = (&score.id, score.status);
    // Done where it runs: every task is merged. Running again: a task kept it from done or landed.
    let explanation = match active.or(not_merged).filter(|_| settled.status == ScoreStatus::Running) {
        Some(t) => format!("{id} is {status} though {} is {}", t.address(), t.status),
        None => format!("{id} is {status} though every task is merged"),
    };
    let hint = "run `git maestro doctor --fix` to set its status to what its tasks say".to_owned();
    report.fixable(Invariant::I7, id, explanation, hint, Fix::Settle { score: id.clone() });
}
