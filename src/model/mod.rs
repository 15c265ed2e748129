//! Pure data and rules: Scores, tasks and their state machines, decisions, ids, validation.
//!
//! No I/O happens here: no git, no files, no clock. Callers pass the time in.

pub mod clock;
pub mod decision;
pub mod handover;
pub mod ids;
pub mod knowledge;
pub mod plan;
pub mod pull_request;
pub mod redact;
pub mod score;
pub mod session;
pub mod stats;
pub mod task;

pub use decision::{Decision, DecisionKind, Evidence, Review};
pub use knowledge::{Knowledge, KnowledgeStatus};
pub use pull_request::PullRequest;
pub use score::{Score, ScoreStatus};
pub use session::{Note, RunSession};
pub use task::{Attempt, AttemptOutcome, Claim, Task, TaskError, TaskKind, TaskStatus};

/// The on-disk format of every record this version writes (`format = 1` at each TOML root).
pub const FORMAT: i64 = 1;
/// The longest string field a record may hold.
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// The most tasks one Score may have.
pub const MAX_TASKS: usize = 10_000;
