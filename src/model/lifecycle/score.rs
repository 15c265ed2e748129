//! Score events: plan approval, starting, finishing, failing, landing approval and landing.

use jiff::Timestamp;

use super::Refusal;
use crate::model::score::{Landed, LandingApproval};
use crate::model::{Score, ScoreStatus, Task, TaskStatus};

/// Tasks of a Score that keep it from landing: any not merged or reverted.
fn unfinished(tasks: &[Task]) -> Vec<String> {
    tasks
        .iter()
        .filter(|t| !matches!(t.status, TaskStatus::Merged | TaskStatus::Reverted))
        .map(|t| t.id.clone())
        .collect()
}

/// Whether the Score's work is finished enough to land: nothing active, something merged.
fn can_land_work(score: &Score, tasks: &[Task]) -> Result<(), Refusal> {
    let active = unfinished(tasks);
    if !active.is_empty() {
        return Err(Refusal::Unfinished { score: score.id.clone(), active });
    }
    if !tasks.iter().any(|t| t.status == TaskStatus::Merged) && score.landed.is_none() {
        return Err(Refusal::NothingMerged { score: score.id.clone() });
    }
    Ok(())
}

/// Which Score-level approval `approve <score>` gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreApproval {
    Plan,
    Landing,
}

/// `approve <score>`: a draft's plan; afterwards, landing the integration branch at `tip`.
pub fn approve_score(
    score: &mut Score,
    tasks: &[Task],
    tip: Option<&str>,
    actor: &str,
    decision: &str,
    now: Timestamp,
) -> Result<ScoreApproval, Refusal> {
    if score.status == ScoreStatus::Draft {
        score.transition(ScoreStatus::Approved, now)?;
        return Ok(ScoreApproval::Plan);
    }
    can_land_work(score, tasks)?;
    let Some(tip) = tip else { return Err(Refusal::NothingMerged { score: score.id.clone() }) };
    if score.landing.as_ref().is_some_and(|l| l.integration == tip) {
        return Err(Refusal::AlreadyApproved { score: score.id.clone() });
    }
    score.landing = Some(LandingApproval {
        actor: actor.to_owned(),
        at: now,
        decision: decision.to_owned(),
        integration: tip.to_owned(),
    });
    score.updated = now;
    Ok(ScoreApproval::Landing)
}

/// Before landing the integration branch at `tip`: the work is finished and a landing approval
/// names this very tip.
pub fn can_land(score: &Score, tasks: &[Task], tip: &str) -> Result<(), Refusal> {
    can_land_work(score, tasks)?;
    match &score.landing {
        None => Err(Refusal::LandingNotApproved { score: score.id.clone() }),
        Some(l) if l.integration != tip => {
            Err(Refusal::LandingStale { score: score.id.clone(), approved: l.integration.chars().take(12).collect() })
        }
        Some(_) => Ok(()),
    }
}

/// The Score landed `tip` on its target, whose new tip is `commit`. Landing needs a new
/// approval after this.
pub fn landed(score: &mut Score, tasks: &[Task], tip: &str, commit: &str, now: Timestamp) -> Result<(), Refusal> {
    can_land(score, tasks, tip)?;
    // A state written before `task run` started Scores may land one that never ran.
    started(score, now)?;
    if score.status != ScoreStatus::Landed {
        score.transition(ScoreStatus::Landed, now)?;
    }
    score.landed = Some(Landed { integration: tip.to_owned(), commit: commit.to_owned(), at: now });
    score.landing = None;
    Ok(())
}

/// `run` starts a Score: a draft needs its plan approved (or `plan_approval = "auto"`, given as
/// `auto`). Returns whether the plan was approved automatically.
pub fn start_score(score: &mut Score, auto: bool, now: Timestamp) -> Result<bool, Refusal> {
    let mut approved = false;
    if score.status == ScoreStatus::Draft {
        if !auto {
            return Err(Refusal::PlanNotApproved { score: score.id.clone() });
        }
        score.transition(ScoreStatus::Approved, now)?;
        approved = true;
    }
    started(score, now)?;
    Ok(approved)
}

/// `run` starts an approved Score, and resumes a failed one. Returns whether it changed.
fn started(score: &mut Score, now: Timestamp) -> Result<bool, Refusal> {
    if !matches!(score.status, ScoreStatus::Approved | ScoreStatus::Failed) {
        return Ok(false);
    }
    score.transition(ScoreStatus::Running, now)?;
    Ok(true)
}

/// A task of the Score starts a run (by `run` or `task run`): the Score is running, whatever
/// it was since its plan was approved. A done, landed or rolled-back Score whose task runs
/// again (a rework of a reverted task) is no longer finished. Returns whether it changed.
pub(super) fn task_started(score: &mut Score, now: Timestamp) -> Result<bool, Refusal> {
    if matches!(score.status, ScoreStatus::Draft | ScoreStatus::Running) {
        return Ok(false);
    }
    score.transition(ScoreStatus::Running, now)?;
    Ok(true)
}

/// Every task merged (`every_task_merged`): a running Score is done; so is one a state written
/// before `task run` started Scores left approved or failed. Returns whether it changed.
pub fn finish_score(score: &mut Score, every_task_merged: bool, now: Timestamp) -> Result<bool, Refusal> {
    let open = matches!(score.status, ScoreStatus::Approved | ScoreStatus::Running | ScoreStatus::Failed);
    if !every_task_merged || !open {
        return Ok(false);
    }
    started(score, now)?;
    score.transition(ScoreStatus::Done, now)?;
    Ok(true)
}

/// The Score's status as its tasks stand, after their records changed apart from it: done
/// when every task is merged, running again when a done Score holds a task not merged or a
/// landed one a task still to do (`some_task_active`: neither merged nor reverted). A sync
/// merge ranks two machines' statuses apart from the tasks (two machines that each merged a
/// task leave it running with every task merged), and undoing a merge or a revert whose
/// branch move failed puts tasks back without their Score. Returns whether it changed.
pub fn settle_status(
    score: &mut Score,
    every_task_merged: bool,
    some_task_active: bool,
    now: Timestamp,
) -> Result<bool, Refusal> {
    let reopen = match score.status {
        ScoreStatus::Done => !every_task_merged,
        // A Score may land with a task reverted; not with one still to do.
        ScoreStatus::Landed => some_task_active,
        _ => return finish_score(score, every_task_merged, now),
    };
    if reopen {
        score.transition(ScoreStatus::Running, now)?;
        score.landing = None;
    }
    Ok(reopen)
}

/// Nothing more can move and tasks are blocked: the running Score has failed (a later run may
/// resume it).
pub fn fail_score(score: &mut Score, now: Timestamp) -> Result<bool, Refusal> {
    if score.status != ScoreStatus::Running {
        return Ok(false);
    }
    score.transition(ScoreStatus::Failed, now)?;
    Ok(true)
}

/// Undo a landing whose target move did not happen.
pub fn undo_land(score: &mut Score, before: ScoreStatus, now: Timestamp) {
    if score.status == ScoreStatus::Landed {
        score.status = before;
        score.landed = None;
        score.updated = now;
    }
}
