//! I7: a Score's status says what its tasks say.

use super::{Fix, Invariant, Reading, Report};
use crate::model::{Score, ScoreStatus, Task, TaskStatus};

/// I7, as `lifecycle::settle_status` would set it: a Score is done when every task is merged
/// (unless it landed or was rolled back), not done while a task is not merged, and not landed
/// while a task is neither merged nor reverted. A Score with a step still to settle, or with a
/// task that does not read, is not judged.
pub(super) fn score_status(reading: &Reading<'_>, report: &mut Report, score: &Score, tasks: &[Task]) {
    let unsettled =
        reading.unsettled.contains(&score.id) || tasks.iter().any(|t| reading.unsettled.contains(&t.address()));
    if score.status == ScoreStatus::Draft || unsettled || tasks.len() != score.tasks.len() {
        return;
    }
    report.count(Invariant::I7);
    let not_merged = tasks.iter().find(|t| t.status != TaskStatus::Merged);
    let active = tasks.iter().find(|t| !matches!(t.status, TaskStatus::Merged | TaskStatus::Reverted));
    let id = &score.id;
    let explanation = match (score.status, not_merged, active) {
        (ScoreStatus::Approved | ScoreStatus::Running | ScoreStatus::Failed, None, _) => {
            format!("{id} is {} though every task is merged", score.status)
        }
        (ScoreStatus::Done, Some(t), _) | (ScoreStatus::Landed, _, Some(t)) => {
            format!("{id} is {} though {} is {}", score.status, t.address(), t.status)
        }
        _ => return,
    };
    let hint = "run `git maestro doctor --fix` to set its status to what its tasks say".to_owned();
    report.fixable(Invariant::I7, id, explanation, hint, Fix::Settle { score: id.clone() });
}
