//! The state store: the only writer of `refs/maestro/*`.
//!
//! All shared state is TOML in the tree of the commit at `refs/maestro/state`:
//!
//! ```text
//! refs/maestro/state ──> commit ──> tree
//! ├── maestro.toml                         format = 1, repo id, created
//! ├── scores/
//! │   └── <score>/
//! │       ├── score.toml                   the plan: requirement, status, target, policies
//! │       └── tasks/<a>/<b>/
//! │           └── <task>.toml              spec, deps, scope, kind, claim, status
//! ├── sessions/<score>/<a>/<b>/<task>/<run>.toml   short-term memory of one run
//! ├── decisions/<a>/<b>/<c>/<id>.toml     decision log, append-only
//! ├── knowledge/<aa>/<bb>/<id>.toml        long-term knowledge base
//! ├── handovers/<aa>/<bb>/<id>.toml        handover packets and their delivery
//! └── stats/performers/<name>.toml         learned outcomes by task kind and language
//! ```
//!
//! `<aa>/<bb>` are the first two bytes of a hash of the record id (see [`layout::fanned`]),
//! `<a>/<b>/<c>` the first three hex digits of it for the decision log, which grows largest
//! ([`layout::decision_file`]), and `<a>/<b>` of a task's records the first two hex digits of
//! a hash of the task id ([`layout::bucket`]), so a write rewrites a few small trees whatever
//! the size of the log or of the Score. A format-1 state (tasks and sessions not fanned out,
//! decisions in two levels of 256) is read where it keeps them, and its first write moves
//! them; so is a state of earlier builds of format 2 (tasks and sessions in one level of 256).
//! Every commit carries the trailers `Maestro-Op`, `Maestro-Actor` and `Maestro-Argv`; every
//! ref move is a compare-and-swap through [`Store::transact`], and gets a reflog entry.
//!
//! This module must not print and must not run anything read from the state.

pub mod archive;
pub mod brief;
mod cache;
pub mod codec;
pub mod effects;
mod kept;
pub mod layout;
pub mod lock;
pub mod merge;
pub mod origin;
mod recall;
mod records;
pub mod refs;
pub mod sync;
mod transaction;
pub mod validate;
mod verify;

use std::sync::Mutex;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use codec::CodecError;
pub use kept::KeptTasks;
pub use recall::recall;
pub use records::{
    Read, append_decision, decisions, every_task_merged, handovers, knowledge, knowledge_entry, new_decision,
    performer_stats, readable_scores, readable_tasks, record_outcome, run_sessions, score, score_with_readable_tasks,
    score_with_task_and_deps, score_with_tasks, scores, settled_score, task, tasks,
};
use transaction::in_current_layout;
pub use transaction::{DEADLINE, Outcome, Tx, View, trailer};
pub use verify::{check_all, check_since};

use crate::git::{self, ObjectId, Repo};
use crate::model::ids::IdGen;
use crate::model::{self, FORMAT};
use layout::{MAESTRO_TOML, STATE_REF};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("this repository has no git-maestro state yet")]
    NotInitialized,
    #[error("no score named {0:?}")]
    ScoreNotFound(String),
    #[error("no task {task:?} in score {score:?}")]
    TaskNotFound { score: String, task: String },
    #[error("no knowledge entry {0:?}")]
    KnowledgeNotFound(String),
    #[error("a record already exists at {path}")]
    Exists { path: String },
    #[error("the state ref is locked ({}) and stayed locked for {}s ({attempts} attempts)", lock.display(), DEADLINE.as_secs())]
    Busy { lock: std::path::PathBuf, attempts: u32 },
    #[error("gave up after {attempts} attempts in {}s: other writers kept moving the state ref", DEADLINE.as_secs())]
    Contention { attempts: u32 },
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    Task(#[from] model::TaskError),
    #[error(transparent)]
    Lifecycle(#[from] model::lifecycle::Refusal),
    #[error(transparent)]
    Git(#[from] git::Error),
}

/// Result alias for the store.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The root record, `maestro.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    pub format: u32,
    /// Random; tells clones of one repository apart from unrelated repositories.
    pub repo_id: String,
    pub created: Timestamp,
}

/// Where "now" comes from.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    /// A fixed time, from `MAESTRO_TIMESTAMP` in tests.
    Fixed(Timestamp),
}

/// Who is writing, when, and with which command: the context every commit records.
pub struct Session {
    pub actor: String,
    pub email: String,
    /// The command line, recorded in the `Maestro-Argv` trailer.
    pub argv: String,
    pub clock: Clock,
    ids: Mutex<IdGen>,
}

impl Session {
    /// A session; `seed` makes ids reproducible.
    pub fn new(actor: String, email: String, argv: String, clock: Clock, seed: Option<u64>) -> Session {
        let ids = seed.map_or_else(IdGen::from_entropy, IdGen::with_seed);
        Session { actor, email, argv, clock, ids: Mutex::new(ids) }
    }

    /// The current time, to the second: records show it to people.
    pub fn now(&self) -> Timestamp {
        let t = self.precise_now();
        Timestamp::from_second(t.as_second()).unwrap_or(t)
    }

    /// Wall-clock milliseconds, for hybrid clocks.
    pub fn now_millis(&self) -> u64 {
        u64::try_from(self.precise_now().as_millisecond()).unwrap_or(0)
    }

    fn precise_now(&self) -> Timestamp {
        match self.clock {
            Clock::System => Timestamp::now(),
            Clock::Fixed(t) => t,
        }
    }

    /// A new random, time-sortable id.
    pub fn new_id(&self) -> String {
        let millis = self.now_millis();
        // A poisoned lock only means another thread panicked mid-draw; the generator is still fine.
        self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next(millis)
    }

    fn signature(&self) -> (&str, &str) {
        (&self.actor, &self.email)
    }
}

/// The state store of one repository.
pub struct Store {
    pub repo: Repo,
    pub session: Session,
    /// Lines for the user from work done on the side (see [`Store::notice`]).
    notices: Mutex<Vec<String>>,
    /// Whether this store holds the writer lock right now (inside a transaction).
    writer: std::sync::atomic::AtomicBool,
    clone: std::sync::OnceLock<String>,
    /// Whether a transaction's intents, once applied, are settled by the next transaction
    /// rather than by a commit of their own (see [`effects`]).
    settle_later: std::sync::atomic::AtomicBool,
}

/// What [`Store::initialize`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initialized {
    Created,
    AlreadyThere,
}

impl Store {
    /// A store over `repo`.
    pub fn new(repo: Repo, session: Session) -> Store {
        Store {
            repo,
            session,
            notices: Mutex::default(),
            writer: Default::default(),
            clone: Default::default(),
            settle_later: Default::default(),
        }
    }

    /// From now on, settle the intents of a transaction, once applied in full, in the next
    /// transaction's commit instead of one of their own: for a command of many steps, which
    /// calls [`Store::settle_applied`] when it is done.
    pub fn settle_later(&self) {
        self.settle_later.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn settles_later(&self) -> bool {
        self.settle_later.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Remove from the state the intents this process applied and left for a later
    /// transaction ([`Store::settle_later`]); nothing is written when there are none.
    pub fn settle_applied(&self) -> Result<()> {
        if !effects::owed(self) {
            return Ok(());
        }
        self.transact("settle what was applied", |_| Ok::<_, Error>(())).map(|_| ())
    }

    /// Complete (or undo) the steps a stopped process of this clone left half done, as every
    /// write does first; nothing is written when there are none. For a command that checks
    /// branches before its first write: a crash may have left a recorded merge whose branch
    /// move is still due. What this process applied itself stays for its next write
    /// ([`Store::settle_later`]).
    pub fn settle_stopped(&self) -> Result<()> {
        if !self.left_by_stopped()? {
            return Ok(());
        }
        self.transact("settle what a stopped process left", |_| Ok::<_, Error>(())).map(|_| ())
    }

    /// The current state commit, if any.
    pub fn tip(&self) -> Result<Option<ObjectId>> {
        Ok(self.repo.read_ref(STATE_REF)?)
    }

    /// A read-only view of the current state. Fails if the state does not exist.
    pub fn view(&self) -> Result<View<'_>> {
        let tip = self.tip()?.ok_or(Error::NotInitialized)?;
        let view = View::at(&self.repo, Some(tip))?;
        check_root(&view)?;
        Ok(view)
    }

    /// A read-only view of any state commit (for history and verification).
    pub fn view_at(&self, commit: ObjectId) -> Result<View<'_>> {
        View::at(&self.repo, Some(commit))
    }

    /// Create the state ref with `maestro.toml`, unless it exists. Safe to race: one creator
    /// wins, the others see the state and report it was already there.
    pub fn initialize(&self) -> Result<Outcome<Initialized>> {
        self.transact_mode(transaction::Mode::MayCreate, "initialize the state", |tx| {
            if tx.view().commit.is_some() {
                return Ok(Initialized::AlreadyThere);
            }
            let root = Root { format: FORMAT as u32, repo_id: tx.new_id(), created: tx.now };
            tx.put(MAESTRO_TOML, &root)?;
            Ok(Initialized::Created)
        })
    }
}

impl Store {
    /// This clone's id: random, made on first use, kept in `<git-common-dir>/maestro/clone-id`.
    /// Claims carry it, so a run never takes over a task another machine holds.
    pub fn clone_id(&self) -> Result<String> {
        if let Some(id) = self.clone.get() {
            return Ok(id.clone());
        }
        let id = self.read_clone_id()?;
        Ok(self.clone.get_or_init(|| id).clone())
    }

    /// This clone's id if it has one yet, without making one: for reads, which write nothing.
    /// A clone without an id never made a claim, an intent or a lease.
    pub fn existing_clone_id(&self) -> Option<String> {
        if let Some(id) = self.clone.get() {
            return Some(id.clone());
        }
        let id = std::fs::read_to_string(self.repo.common_dir().join("maestro/clone-id")).ok()?;
        Some(id.trim().to_owned()).filter(|id| !id.is_empty())
    }

    /// This process, as the origin of intents and leases.
    pub fn origin(&self) -> Result<model::origin::Origin> {
        Ok(origin::current(&self.clone_id()?))
    }

    /// Whether this store holds the writer lock (it is inside a transaction).
    pub(crate) fn holds_writer(&self) -> bool {
        self.writer.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn read_clone_id(&self) -> Result<String> {
        let path = self.repo.common_dir().join("maestro/clone-id");
        let io = |e: std::io::Error| {
            Error::Git(git::Error::Io { context: format!("cannot use {}", path.display()), source: e })
        };
        if let Ok(id) = std::fs::read_to_string(&path)
            && !id.trim().is_empty()
        {
            return Ok(id.trim().to_owned());
        }
        std::fs::create_dir_all(path.parent().unwrap_or(&path)).map_err(io)?;
        let id = self.session.new_id();
        // Two processes racing here: the first file made wins, both read it back. It is made
        // whole, so the other never reads it empty (and claimed with an empty clone id).
        crate::files::create(&path, id.as_bytes()).map_err(io)?;
        let kept = std::fs::read_to_string(&path).map_err(io)?.trim().to_owned();
        if !kept.is_empty() {
            return Ok(kept);
        }
        // Left empty by a build that created the file before writing it, and stopped between.
        crate::files::replace(&path, id.as_bytes()).map_err(io)?;
        Ok(id)
    }

    /// Keep `commit` reachable under `refs/maestro/keep/<sha>`, so `git gc` never drops a
    /// result the state refers to. Keeping a commit twice is fine.
    pub fn keep(&self, commit: ObjectId) -> Result<()> {
        let name = format!("{}{commit}", layout::KEEP_PREFIX);
        if self.repo.read_ref(&name)?.is_some() {
            return Ok(());
        }
        // Created meanwhile by someone else: kept all the same.
        let _moved = self.move_ref(&name, None, commit, "maestro: keep")?;
        Ok(())
    }
}

/// Refuse a state whose root is missing or from a newer format.
fn check_root(view: &View<'_>) -> Result<Root> {
    let root = view.get::<Root>(MAESTRO_TOML)?.ok_or_else(|| {
        Error::from(CodecError::Parse {
            path: MAESTRO_TOML.into(),
            message: "missing: the state has no root record".into(),
        })
    })?;
    view.knows_format(root.format);
    Ok(root)
}
