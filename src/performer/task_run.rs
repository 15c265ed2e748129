//! Running one task end to end: claim, worktree, prompt, performer, commit, attempt record.
//!
//! Two transactions bracket the run: the first claims the task, moves it to `running` and
//! opens an attempt; the second closes the attempt and moves the task to `submitted` or
//! `failed` (or back to `ready` when interrupted). The performer runs between them, outside
//! any lock, so other writers are never blocked by an agent.

use std::path::{Path, PathBuf};

use super::adapter::Event;
use super::attempt_end::{Finish, finish};
use super::meter::Meter;
use super::perform::{Started, perform};
use crate::config::Performer;
use crate::git::{self, ObjectId};
use crate::kernel::sendback;
use crate::model::intent::Step;
use crate::model::lease::{Lease, Liveness};
use crate::model::lifecycle;
use crate::model::{Attempt, AttemptOutcome, DecisionKind, RunSession, Score, Task, TaskStatus};
use crate::store::{self, Store, layout};

/// What a run needs from the caller.
pub struct RunRequest<'a> {
    pub score: &'a str,
    pub task: &'a str,
    pub performer: &'a Performer,
    pub binary: PathBuf,
    /// Where this repository's task worktrees live.
    pub worktree_root: PathBuf,
    /// The environment handed down to the performer (PATH, HOME, …) before `MAESTRO_*`.
    pub base_env: Vec<(String, String)>,
    /// This git-maestro binary, for the MCP server the performer starts.
    pub maestro_exe: PathBuf,
    /// Why this performer was chosen, for the assignment decision.
    pub routing: Option<String>,
    /// Set to stop the performer early; the attempt is recorded as interrupted.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The price table and the caps of trusted config.
    pub prices: &'a crate::model::budget::Prices,
    pub caps: &'a crate::model::budget::Caps,
    /// How a new worktree is made ready (`[setup]` of trusted config).
    pub setup: &'a crate::config::Setup,
    /// How many finished worktrees the warm pool holds (`[worktrees] pool`); with 0 a new task
    /// never takes one.
    pub pool: usize,
    /// Called once the task is claimed, before anything runs: `false` when another machine's
    /// claim won (a run sharing the Score syncs here, so the claim is confirmed by a push).
    pub confirm: Option<&'a dyn Fn() -> bool>,
}

/// What a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    pub task: String,
    pub status: TaskStatus,
    pub attempt: Attempt,
    pub worktree: PathBuf,
    pub branch: String,
    pub transcript: PathBuf,
    /// The performer's stderr, beside the transcript.
    pub stderr_log: PathBuf,
    /// How far the sandbox confined the run (`None`: it never started, or is unknown).
    pub sandbox: Option<crate::sandbox::Level>,
    /// A person stopped it (`git maestro task stop`): it ended interrupted.
    pub stopped: bool,
}

/// Why a run could not start or be recorded. A performer that fails is not an error: it is a
/// `failed` attempt in the report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the Score's target branch {0:?} does not exist")]
    NoTarget(String),
    #[error("the branch {task} would start from lacks the merge of {dep} ({commit}), which the state records")]
    BaseBehind { task: String, dep: String, commit: String },
    #[error("{0} is being run by another process right now")]
    Busy(String),
    #[error("cannot prepare the worktree")]
    Prepare(#[source] Box<RunError>),
    #[error("cannot start the performer")]
    Start(#[source] std::io::Error),
    #[error(transparent)]
    Refused(#[from] lifecycle::Refusal),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Task(#[from] crate::model::TaskError),
    #[error(transparent)]
    Git(#[from] git::Error),
    #[error(transparent)]
    Kernel(#[from] crate::kernel::KernelError),
    #[error(transparent)]
    Unmet(#[from] super::requirements::Unmet),
    #[error("cannot run the performer: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0} has sandbox = \"required\", but this kernel has no Landlock")]
    NoSandbox(String),
    #[error("{task} cannot start: {why}")]
    OverBudget { task: String, score: String, why: String },
}

pub use crate::model::branches::task_branch;

/// The commit new worktrees of `score`'s tasks start from: the integration tip (which holds
/// the merged dependencies), or the Score's target before the first merge.
pub fn worktree_base(repo: &git::Repo, score: &Score) -> Result<Option<ObjectId>, git::Error> {
    match repo.read_ref(&format!("refs/heads/{}", crate::model::branches::integration_branch(&score.id)))? {
        Some(tip) => Ok(Some(tip)),
        None => repo.read_ref(&format!("refs/heads/{}", score.target)),
    }
}

/// A merged dependency of `task` (among `tasks`) whose merge commit `base` lacks, with that
/// commit: the state, synced from another machine, is ahead of the branches here.
pub fn missing_from_base(
    repo: &git::Repo,
    base: Option<ObjectId>,
    task: &Task,
    tasks: &[Task],
) -> Result<Option<(String, String)>, git::Error> {
    for dep in tasks.iter().filter(|t| task.deps.contains(&t.id)) {
        let Some(commit) = dep.merge_commit.as_deref().and_then(|c| ObjectId::from_hex(c.as_bytes()).ok()) else {
            continue;
        };
        let present = match base {
            Some(base) => repo.has_object(commit) && repo.is_ancestor(commit, base)?,
            None => false,
        };
        if !present {
            return Ok(Some((dep.address(), commit.to_string())));
        }
    }
    Ok(None)
}

/// Run `req.task` with `req.performer`; `on_event` sees the performer's events live.
pub fn run_task(store: &Store, req: &RunRequest<'_>, on_event: &mut dyn FnMut(&Event)) -> Result<RunReport, RunError> {
    let (score_id, task_id) = (req.score, req.task);
    // A configuration the CLI cannot work with, or a sandbox this kernel cannot give, is
    // refused before anything is claimed.
    super::requirements::check(req.performer, &super::requirements::Host::current())?;
    if req.performer.sandbox == crate::sandbox::Mode::Required && crate::sandbox::probe() == 0 {
        return Err(RunError::NoSandbox(req.performer.name.clone()));
    }
    let _lock = try_run_lock(store.repo.common_dir(), score_id, task_id)?
        .ok_or_else(|| RunError::Busy(format!("{score_id}/{task_id}")))?;
    let pre = preflight(store, req)?;
    let run = claim(store, req, &pre)?;
    let report = |(status, attempt), sandbox| RunReport {
        task: format!("{score_id}/{task_id}"),
        status,
        attempt,
        worktree: run.worktree.clone(),
        branch: run.branch.clone(),
        transcript: run.transcript.clone(),
        stderr_log: super::runner::stderr_log(&run.transcript),
        sandbox,
        stopped: false,
    };
    if req.confirm.is_some_and(|confirm| !confirm()) {
        // The sync that found the earlier claim already ended this attempt: record nothing more.
        return Ok(report(finish(store, score_id, task_id, &run.run_id, Finish::interrupted())?, None));
    }
    crate::failpoint::hit("task-run:claimed");
    // From here on, whatever goes wrong ends the attempt: the task never stays `running`.
    let ended = match perform(store, req, &run, pre.meter, on_event) {
        Ok(fin) => {
            let (sandbox, stopped) = (fin.sandbox, fin.stopped);
            finish(store, score_id, task_id, &run.run_id, fin).map(|end| RunReport { stopped, ..report(end, sandbox) })
        }
        Err(e) => {
            finish(store, score_id, task_id, &run.run_id, Finish::failed(crate::model::with_causes(&e))).and(Err(e))
        }
    };
    // A stop asked of this run is answered: its attempt is recorded.
    super::stop::clear(store.repo.common_dir(), &run.run_id);
    ended
}

/// What the preflight found: the leases, the meter that counts the run against the budget,
/// and for a task to send back first ([`sendback::due`]), its status and the reason.
struct Preflight {
    leases: crate::kernel::Leases,
    meter: Meter,
    sent_back: Option<(TaskStatus, String)>,
}

/// What must hold before the task is claimed, under its run lock: it may start, its
/// dependencies' merges are here, and its budget is not spent.
fn preflight(store: &Store, req: &RunRequest<'_>) -> Result<Preflight, RunError> {
    let (score_id, task_id) = (req.score, req.task);
    // Its dependencies' merges must be here before it starts on top of them, including one
    // whose branch move a stopped process left due.
    store.settle_stopped()?;
    let view = store.view()?;
    let (score, tasks) = store::score_with_task_and_deps(&view, score_id, task_id)?;
    let leases = crate::kernel::Leases::of(store)?;
    let mut sent_back = None;
    if let Some(task) = tasks.iter().find(|t| t.id == task_id) {
        let live = leases.liveness(task, store.session.now());
        lifecycle::can_start(&score, &tasks, task, if live == Liveness::Live { Liveness::Dead } else { live })?;
        // Where its worktree would start from: a run that could not start is not an attempt.
        let base = worktree_base(&store.repo, &score)?.ok_or_else(|| RunError::NoTarget(score.target.clone()))?;
        if let Some((dep, commit)) = missing_from_base(&store.repo, Some(base), task, &tasks)? {
            return Err(RunError::BaseBehind { task: task.address(), dep, commit });
        }
        // Read here, outside the claiming transaction: a rejection's reason is in the log.
        if sendback::due(task) {
            sent_back = Some((task.status, sendback::reason(&view, task)?));
        }
    }
    let model = req.performer.model.as_deref();
    let meter = Meter::for_task(&view, (req.prices, req.caps), (score_id, task_id), model, store.session.now())?;
    if let Some(why) = meter.exhausted() {
        return Err(RunError::OverBudget { task: format!("{score_id}/{task_id}"), score: score_id.to_owned(), why });
    }
    Ok(Preflight { leases, meter, sent_back })
}

/// Claim the task for the performer, start it, and open the attempt, in one transaction;
/// what the run needs from it.
fn claim(store: &Store, req: &RunRequest<'_>, pre: &Preflight) -> Result<Started, RunError> {
    let (score_id, task_id) = (req.score, req.task);
    let run_id = store.session.new_id();
    let (actor, clone, origin) = (store.session.actor.clone(), store.clone_id()?, store.origin()?);
    let performer = req.performer.name.clone();
    // The agent CLIs' versions are recorded on the attempt; a `command` performer is never run
    // with `--version` behind the user's back.
    let adapter_version = req.performer.adapter.tested_version().and_then(|_| super::probe_version(&req.binary).ok());
    let started = store.transact(&format!("run {score_id}/{task_id} with {performer}"), |tx| {
        let (mut score, tasks) = store::score_with_task_and_deps(tx, score_id, task_id)?;
        let mut task: Task = store::task(tx, score_id, task_id)?;
        // We hold its run lock, so a run of it on this machine is gone whatever its lease says.
        let live = match pre.leases.liveness(&task, tx.now) {
            Liveness::Live => Liveness::Dead,
            other => other,
        };
        let adapter = req.performer.adapter.as_str();
        let run = lifecycle::Start {
            holder: &performer,
            clone: &clone,
            op: tx.op,
            clock: tx.clock,
            attempt: Attempt::start(&run_id, &performer, adapter, adapter_version.clone(), tx.now),
            lease: Lease { run: run_id.clone(), origin: origin.clone(), started: tx.now, heartbeat: tx.now },
        };
        let before = task.clone();
        // A failed, rejected or conflicted task is sent back first, as `run` sends it back:
        // its reason goes into the prompt, and the result sent back may not come back
        // unchanged.
        if sendback::due(&task) {
            let reason = match &pre.sent_back {
                Some((status, reason)) if *status == task.status => reason.clone(),
                _ => sendback::reason(tx, &task)?,
            };
            sendback::send_back::<RunError>(tx, &mut task, &reason, &actor)?;
        }
        let was = score.status;
        let claimed = lifecycle::start(&mut score, &tasks, &mut task, live, run, tx.now)?;
        tx.put(&layout::task_file(score_id, task_id), &task)?;
        if score.status != was {
            tx.put(&layout::score_file(score_id), &score)?;
        }
        // A rework must change something: the results it must differ from.
        let mut since = lifecycle::sent_back_results(&task);
        if let Some(restart) = super::restart::restart(store, &before, &run_id)? {
            let why =
                format!("restart {score_id}/{task_id} from {}", crate::model::branches::integration_branch(score_id));
            let step = Step::Restart { score: score_id.to_owned(), task: task_id.to_owned() };
            tx.intend(why, step, restart.effects)?;
            let rework = !since.is_empty();
            since.extend(restart.reapplied.filter(|_| rework).map(|c| c.to_string()));
        }
        let (memory, resume, handover) = remember(tx, req, &task, &run_id)?;
        if claimed {
            let summary = format!("{performer} assigned to {score_id}/{task_id} for run {run_id}");
            let mut d =
                store::new_decision(tx, DecisionKind::Assignment, summary, &actor).about(score_id, Some(task_id));
            d.rationale = req.routing.clone().unwrap_or_default();
            store::append_decision(tx, &d)?;
        }
        Ok::<_, RunError>((task, score, memory, resume, handover, since))
    })?;
    let (task, score, memory, resume, handover, since) = started.value;
    Ok(Started {
        branch: task_branch(score_id, task_id),
        worktree: req.worktree_root.join(score_id).join(task_id),
        transcript: transcript(store.repo.common_dir(), score_id, task_id, &run_id),
        run_id,
        task,
        score,
        memory,
        resume,
        handover,
        since: since.iter().filter_map(|c| ObjectId::from_hex(c.as_bytes()).ok()).collect(),
    })
}

/// Short-term memory, written in the claiming transaction: the new run starts from the last
/// run's stack; its prompt shows that stack and every earlier note. A rework or an interrupted
/// run by the same performer resumes the agent's own session where the adapter can. The
/// memory for the prompt, the session to resume, and the handovers delivered to the run.
fn remember(
    tx: &mut store::Tx<'_>,
    req: &RunRequest<'_>,
    task: &Task,
    run_id: &str,
) -> Result<(String, Option<String>, String), RunError> {
    let performer = &req.performer.name;
    let earlier = store::run_sessions(tx, task)?;
    let mut session = RunSession::new(run_id, &task.score, &task.id, performer);
    session.stack = earlier.last().map(|s| s.stack.clone()).unwrap_or_default();
    tx.put(&layout::session_file(&task.score, &task.id, run_id), &session)?;
    let handovers = crate::memory::handover::deliver(tx, task, performer, run_id)?;
    let previous = task.attempts.iter().rev().nth(1);
    let resume = previous
        .filter(|a| &a.performer == performer && (task.rework.is_some() || a.outcome == AttemptOutcome::Interrupted))
        .and_then(|a| a.session.clone())
        .filter(|_| req.performer.adapter.can_resume());
    let handovers: Vec<String> = handovers.iter().map(crate::model::handover::Handover::render).collect();
    Ok((super::prompt::memory(&earlier, &session), resume, handovers.join("\n")))
}

/// Where run `run` of `score/task` keeps its transcript (the performer's stdout); its stderr is
/// beside it ([`super::runner::stderr_log`]). Both stay on the machine that ran it.
pub fn transcript(common_dir: &Path, score: &str, task: &str, run: &str) -> PathBuf {
    common_dir.join("maestro/logs").join(score).join(task).join(format!("{run}.jsonl"))
}

pub use crate::kernel::{RunLock, try_run_lock};
