//! The conductor: routing tasks to performers, and the run loop that drives a Score from ready
//! tasks to merged ones (DESIGN.md §4–§5).

pub mod planner;
mod reconcile;
mod remote;
pub mod routing;
mod run;
mod summary;
mod worker;

pub use run::{RunOptions, run};
pub use summary::{Summary, Usage};

use crate::model::TaskStatus;
use crate::performer::adapter::Event;

/// What the run loop reports while it works.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A performer started on a task.
    Started { task: String, performer: String },
    /// Something the performer did.
    Agent { task: String, event: Event },
    /// The task entered a phase: `approval` or `merge`.
    Phase { task: String, phase: &'static str },
    /// A step finished with the task in `status`.
    Finished { task: String, status: TaskStatus, note: Option<String> },
    /// The task waits for a person or a pull request.
    Waiting { task: String, why: String },
    /// A worker failed on the task; the state is left as the last transaction wrote it.
    Error { task: String, message: String },
    /// A record of the Score the run cannot use, reported once: the run leaves it alone, and
    /// the Score waits for a person to fix it.
    Unusable { path: String, problem: String },
    /// How far the Score is: merged tasks of all.
    Board { merged: usize, total: usize },
}

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ConductorError {
    #[error("the plan of {0} is not approved")]
    PlanNotApproved(String),
    #[error(transparent)]
    Refused(#[from] crate::model::lifecycle::Refusal),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Task(#[from] crate::model::TaskError),
    #[error(transparent)]
    Score(#[from] crate::model::score::ScoreTransitionError),
    #[error(transparent)]
    Git(#[from] crate::git::Error),
    #[error(transparent)]
    Run(#[from] crate::performer::task_run::RunError),
    #[error(transparent)]
    Chain(#[from] crate::approval::ChainError),
    #[error(transparent)]
    Approval(#[from] crate::approval::ApprovalError),
    #[error("the planner's Score is still invalid after one round of feedback")]
    InvalidPlan { problems: Vec<String>, text: String },
    #[error("{0}")]
    Other(String),
}
