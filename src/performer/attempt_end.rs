//! The end of a task run's attempt: what the run produced, recorded in one transaction that
//! closes the attempt and moves the task on.

use super::runner::Exit;
use super::task_run::RunError;
use crate::git::ObjectId;
use crate::model::lifecycle::{self, RunEnd};
use crate::model::{Attempt, RunSession, Task, TaskStatus};
use crate::store::{self, Store, layout};

/// What the run produced, gathered for the closing transaction.
#[derive(Default)]
pub(super) struct Finish {
    /// Why the run failed; `None` when it succeeded.
    pub(super) failure: Option<String>,
    pub(super) interrupted: bool,
    /// Interrupted by a person's `git maestro task stop`.
    pub(super) stopped: bool,
    pub(super) exit: Option<Exit>,
    pub(super) duration_ms: Option<u64>,
    pub(super) session: Option<String>,
    /// What the run used and cost, and the budget it reached, if it did.
    pub(super) meter: super::meter::Meter,
    pub(super) summary: Option<String>,
    pub(super) commit: Option<ObjectId>,
    pub(super) outside_writes: Vec<String>,
    /// What had to be repaired in the worktree, told on the attempt.
    pub(super) repaired: Option<String>,
    pub(super) sandbox: Option<crate::sandbox::Level>,
    /// Processes the performer left running, which its supervisor killed.
    pub(super) killed: u32,
}

fn processes(n: u32) -> String {
    if n == 1 { "1 process".into() } else { format!("{n} processes") }
}

impl Finish {
    pub(super) fn failed(reason: String) -> Finish {
        Finish { failure: Some(reason), ..Finish::default() }
    }

    pub(super) fn interrupted() -> Finish {
        Finish { interrupted: true, ..Finish::default() }
    }
}

/// Close the attempt `run` and move the task on. Returns the new status and the attempt.
pub(super) fn finish(
    store: &Store,
    score: &str,
    task_id: &str,
    run: &str,
    fin: Finish,
) -> Result<(TaskStatus, Attempt), RunError> {
    let path = layout::task_file(score, task_id);
    let summary = format!("record run {run} of {score}/{task_id}");
    let outcome = store.transact(&summary, |tx| {
        let mut task: Task = store::task(tx, score, task_id)?;
        let end = match (&fin.meter.over, &fin.failure, fin.interrupted) {
            (Some(over), _, _) => RunEnd::OverBudget(over.clone()),
            (None, _, true) if fin.stopped => RunEnd::Interrupted(super::stop::REASON.into()),
            (None, _, true) => RunEnd::Interrupted("interrupted".into()),
            (None, Some(reason), false) => RunEnd::Failed(reason.clone()),
            (None, None, false) => RunEnd::Submitted,
        };
        let at = lifecycle::finish(&mut task, run, end, tx.now).ok_or_else(|| {
            store::Error::Codec(store::CodecError::Parse {
                path: path.clone(),
                message: format!("attempt {run} vanished"),
            })
        })?;
        let attempt = &mut task.attempts[at];
        if let Some(repaired) = &fin.repaired {
            attempt.reason.get_or_insert_with(|| format!("worktree repaired: {repaired}"));
        }
        let mut told: Vec<String> = fin.meter.warnings.clone();
        if fin.killed > 0 {
            told.push(format!("{} left running by the performer were killed", processes(fin.killed)));
        }
        for note in told {
            // Told on the attempt as a repair is.
            attempt.reason = Some(match attempt.reason.take() {
                Some(reason) => format!("{reason}; {note}"),
                None => note,
            });
        }
        // Figures the CLI reported that cannot be true are not recorded: unknown, not trusted.
        let usage = fin.meter.usage.filter(|_| fin.meter.warnings.is_empty());
        attempt.model.clone_from(&fin.meter.model);
        attempt.input_tokens = usage.map(|u| u.input);
        attempt.cache_read_tokens = usage.map(|u| u.cache_read);
        attempt.cache_write_tokens = usage.map(|u| u.cache_write);
        attempt.output_tokens = usage.map(|u| u.output);
        attempt.cost_usd = usage.and_then(|_| fin.meter.cost());
        attempt.exit = fin.exit.map(|e| e.to_string());
        attempt.duration_ms = fin.duration_ms;
        attempt.session.clone_from(&fin.session);
        attempt.commit = fin.commit.map(|c| c.to_string());
        attempt.summary.clone_from(&fin.summary);
        attempt.outside_writes.clone_from(&fin.outside_writes);
        let attempt = attempt.clone();
        tx.put(&path, &task)?;
        if fin.session.is_some() {
            let session_path = layout::session_file(score, task_id, run);
            let mut session = tx
                .get::<RunSession>(&session_path)?
                .unwrap_or_else(|| RunSession::new(run, score, task_id, &attempt.performer));
            session.session.clone_from(&fin.session);
            tx.put(&session_path, &session)?;
        }
        Ok::<_, store::Error>((task.status, attempt))
    })?;
    Ok(outcome.value)
}
