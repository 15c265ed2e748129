//! Pure data and rules: Scores, tasks and their state machines, decisions, ids, validation.
//!
//! No I/O happens here: no git, no files, no clock. Callers pass the time in.

pub mod branches;
pub mod budget;
pub mod clock;
pub mod decision;
pub mod handover;
pub mod ids;
pub mod intent;
pub mod knowledge;
pub mod lease;
pub mod lifecycle;
pub mod origin;
pub mod plan;
pub mod pull_request;
pub mod redact;
pub mod score;
pub mod session;
pub mod stats;
pub mod task;

pub use decision::{Decision, DecisionKind, Evidence, KindError, OpenKind, Review};
pub use knowledge::{Knowledge, KnowledgeStatus};
pub use pull_request::PullRequest;
pub use score::{Score, ScoreStatus};
pub use session::{Note, RunSession};
pub use task::{Attempt, AttemptOutcome, Claim, Task, TaskError, TaskKind, TaskStatus};

/// The on-disk format of every record this version writes (`format` at each TOML root).
/// Format 2 (the second wave) adds intents, leases and structured landing records; the first
/// write of this version moves a format-1 state's root to 2, and older binaries then refuse it.
pub const FORMAT: i64 = 2;
/// The oldest format this version reads.
pub const MIN_FORMAT: i64 = 1;
/// The longest string field a record may hold.
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// The most tasks one Score may have.
pub const MAX_TASKS: usize = 10_000;

/// An error and each of its causes, joined by ": ", for a failure recorded as one line of text
/// (an attempt's reason, a notice), where the causes would otherwise be lost.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let chain = std::iter::successors(Some(error), |e| e.source());
    chain.map(ToString::to_string).collect::<Vec<_>>().join(": ")
}
