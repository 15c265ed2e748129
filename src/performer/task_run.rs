//! Running one task end to end: claim, worktree, prompt, performer, commit, attempt record.
//!
//! Two transactions bracket the run: the first claims the task, moves it to `running` and
//! opens an attempt; the second closes the attempt and moves the task to `submitted` or
//! `failed` (or back to `ready` when interrupted). The performer runs between them, outside
//! any lock, so other writers are never blocked by an agent.

use std::path::{Path, PathBuf};

use super::adapter::Event;
use super::attempt_end::{Finish, finish};
use super::invoke::{self, Launch};
use super::meter::Meter;
use super::runner::Exit;
use crate::config::Performer;
use crate::git::{self, ObjectId};
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

/// Bytes of retrieved knowledge a prompt carries.
const KNOWLEDGE_BUDGET: usize = 4096;

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
    let run_id = store.session.new_id();
    let actor = store.session.actor.clone();
    let clone = store.clone_id()?;
    let performer = req.performer.name.clone();
    let path = layout::task_file(score_id, task_id);
    // A configuration the CLI cannot work with, or a sandbox this kernel cannot give, is
    // refused before anything is claimed.
    super::requirements::check(req.performer, &super::requirements::Host::current())?;
    if req.performer.sandbox == crate::sandbox::Mode::Required && crate::sandbox::probe() == 0 {
        return Err(RunError::NoSandbox(performer));
    }
    // The agent CLIs' versions are recorded on the attempt; a `command` performer is never run
    // with `--version` behind the user's back.
    let adapter_version = req.performer.adapter.tested_version().and_then(|_| super::probe_version(&req.binary).ok());
    let _lock = try_run_lock(store.repo.common_dir(), score_id, task_id)?
        .ok_or_else(|| RunError::Busy(format!("{score_id}/{task_id}")))?;

    // 0. Its dependencies' merges must be here before it starts on top of them, including
    // one whose branch move a stopped process left due.
    store.settle_stopped()?;
    let (score, tasks) = store::score_with_task_and_deps(&store.view()?, score_id, task_id)?;
    let leases = crate::kernel::Leases::of(store)?;
    if let Some(task) = tasks.iter().find(|t| t.id == task_id) {
        let live = leases.liveness(task, store.session.now());
        lifecycle::can_start(&score, &tasks, task, if live == Liveness::Live { Liveness::Dead } else { live })?;
        if let Some((dep, commit)) = missing_from_base(&store.repo, worktree_base(&store.repo, &score)?, task, &tasks)?
        {
            return Err(RunError::BaseBehind { task: task.address(), dep, commit });
        }
    }
    // A budget already spent stops the attempt before it is claimed.
    let model = req.performer.model.as_deref();
    let meter =
        Meter::for_task(&store.view()?, (req.prices, req.caps), (score_id, task_id), model, store.session.now())?;
    if let Some(why) = meter.exhausted() {
        return Err(RunError::OverBudget { task: format!("{score_id}/{task_id}"), score: score_id.to_owned(), why });
    }

    // 1. Claim the task for the performer, start it, and open the attempt.
    let origin = store.origin()?;
    let started = store.transact(&format!("run {score_id}/{task_id} with {performer}"), |tx| {
        let (score, tasks) = store::score_with_task_and_deps(tx, score_id, task_id)?;
        let mut task: Task = store::task(tx, score_id, task_id)?;
        // We hold its run lock, so a run of it on this machine is gone whatever its lease says.
        let live = match leases.liveness(&task, tx.now) {
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
        let claimed = lifecycle::start(&score, &tasks, &mut task, live, run, tx.now)?;
        tx.put(&path, &task)?;
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
        // Short-term memory: the new run starts from the last run's stack; its prompt shows
        // that stack and every earlier note. A rework or an interrupted run by the same
        // performer resumes the agent's own session where the adapter can.
        let earlier = store::run_sessions(tx, &task)?;
        let mut session = RunSession::new(&run_id, score_id, task_id, &performer);
        session.stack = earlier.last().map(|s| s.stack.clone()).unwrap_or_default();
        tx.put(&layout::session_file(score_id, task_id, &run_id), &session)?;
        let handovers = crate::memory::handover::deliver(tx, &task, &performer, &run_id)?;
        let previous = task.attempts.iter().rev().nth(1);
        let resume = previous
            .filter(|a| a.performer == performer && (task.rework.is_some() || a.outcome == AttemptOutcome::Interrupted))
            .and_then(|a| a.session.clone())
            .filter(|_| req.performer.adapter.can_resume());
        if claimed {
            let summary = format!("{performer} assigned to {score_id}/{task_id} for run {run_id}");
            let mut d =
                store::new_decision(tx, DecisionKind::Assignment, summary, &actor).about(score_id, Some(task_id));
            d.rationale = req.routing.clone().unwrap_or_default();
            store::append_decision(tx, &d)?;
        }
        let score = store::score(tx, score_id)?;
        let handovers: Vec<String> = handovers.iter().map(crate::model::handover::Handover::render).collect();
        let memory = super::prompt::memory(&earlier, &session);
        Ok::<_, RunError>((task, score, memory, resume, handovers.join("\n"), since))
    })?;
    let (task, score, memory, resume, handover, since) = started.value;
    let repo = &store.repo;
    let run = Started {
        branch: task_branch(score_id, task_id),
        worktree: req.worktree_root.join(score_id).join(task_id),
        transcript: transcript(repo.common_dir(), score_id, task_id, &run_id),
        run_id,
        task,
        score,
        memory,
        resume,
        handover,
        since: since.iter().filter_map(|c| ObjectId::from_hex(c.as_bytes()).ok()).collect(),
    };
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
    let ended = match perform(store, req, &run, meter, on_event) {
        Ok(fin) => {
            let (sandbox, stopped) = (fin.sandbox, fin.stopped);
            finish(store, score_id, task_id, &run.run_id, fin).map(|end| RunReport { stopped, ..report(end, sandbox) })
        }
        Err(e) => {
            finish(store, score_id, task_id, &run.run_id, Finish::failed(crate::model::with_causes(&e))).and(Err(e))
        }
    };
    // A stop asked of this run is answered: its attempt is recorded.
    super::stop::clear(repo.common_dir(), &run.run_id);
    ended
}

/// Where run `run` of `score/task` keeps its transcript (the performer's stdout); its stderr is
/// beside it ([`super::runner::stderr_log`]). Both stay on the machine that ran it.
pub fn transcript(common_dir: &Path, score: &str, task: &str, run: &str) -> PathBuf {
    common_dir.join("maestro/logs").join(score).join(task).join(format!("{run}.jsonl"))
}

/// What the claiming transaction set up for a run.
struct Started {
    run_id: String,
    task: Task,
    score: Score,
    memory: String,
    resume: Option<String>,
    handover: String,
    /// For a rework: the results it must differ from (see [`lifecycle::sent_back_results`]).
    since: Vec<ObjectId>,
    branch: String,
    worktree: PathBuf,
    transcript: PathBuf,
}

/// Prepare the worktree, run the performer in it, and commit what it left.
fn perform(
    store: &Store,
    req: &RunRequest<'_>,
    run: &Started,
    meter: Meter,
    on_event: &mut dyn FnMut(&Event),
) -> Result<Finish, RunError> {
    let repo = &store.repo;
    let (task, worktree, run_id) = (&run.task, &run.worktree, &run.run_id);
    // The worktree, on the task branch, from the integration tip (which holds the merged
    // dependencies), or the Score's target before the first merge.
    let base = worktree_base(repo, &run.score)?.ok_or_else(|| RunError::NoTarget(run.score.target.clone()))?;
    let repaired = prepare_worktree(store, (task, &run.branch), base, (worktree, req.pool), run_id)
        .map_err(|e| RunError::Prepare(Box::new(e)))?;
    crate::failpoint::hit("task-run:worktree");
    // Its own ports for the run, and its setup when it is new (see `super::setup`).
    let logs = run.transcript.parent().map(Path::to_owned).unwrap_or_default();
    let (ports, base_env) = match super::setup::ready(repo, req.setup, worktree, &req.base_env, &req.maestro_exe, logs)
    {
        Ok(ready) => ready,
        Err(_) if crate::git::interrupted() => return Ok(Finish { repaired, ..Finish::interrupted() }),
        Err(why) => return Ok(Finish { repaired, ..Finish::failed(why) }),
    };
    // A confined performer may reach what it serves on its own ports.
    let mut performer = req.performer.clone();
    performer.allow_ports.extend(ports.ports());

    // Run the performer, with what the team knows that bears on the task.
    let view = store.view()?;
    let query = crate::memory::retrieval::Query::for_task(task, store.session.now());
    let (knowledge, decisions) = store::recall(store, &view)?;
    let hits = crate::memory::retrieval::rank(&knowledge, &decisions, &query);
    let knowledge = crate::memory::retrieval::render(&hits, KNOWLEDGE_BUDGET);
    let context = super::prompt::Context {
        rework: task.rework.as_deref(),
        memory: &run.memory,
        knowledge: &knowledge,
        handover: &run.handover,
    };
    let launch = Launch {
        performer: &performer,
        binary: &req.binary,
        cwd: worktree,
        prompt: super::prompt::build(task, &run.branch, run_id, &context),
        base_env: &base_env,
        maestro_exe: &req.maestro_exe,
        store,
        score: &task.score,
        task: &task.id,
        run: run_id,
        transcript: run.transcript.clone(),
        resume: run.resume.clone(),
        stop: req.stop.clone(),
        meter,
    };
    // Where configured, the handover and memory also go into the agent's own context file,
    // when the worktree has none; it is left out of the commit and removed afterwards.
    let context_file = req
        .performer
        .context_file
        .then(|| req.performer.adapter.context_file())
        .filter(|_| !run.handover.is_empty() || !run.memory.is_empty())
        .filter(|name| !worktree.join(name).exists());
    if let Some(name) = context_file {
        let text = format!(
            "<!-- Written by git-maestro for run {run_id}; never committed. -->\n\n# Handover\n\n{}\n\n\
             # Memory of earlier runs\n\n{}\n",
            run.handover, run.memory
        );
        std::fs::write(worktree.join(name), text)?;
    }
    let outside = super::confine::OutsideGuard::before(repo, performer.sandbox, worktree, &performer.writable)?;
    // The lease is renewed while the performer reports, so other hosts see the run alive, and
    // its usage so far is recorded on the attempt.
    let every = crate::kernel::Leases::of(store)?.heartbeat_every().unsigned_abs();
    let outcome = super::live::recording(store, (&task.score, &task.id, run_id), every, |live| {
        invoke::launch(launch, &mut |e: &Event| {
            on_event(e);
            live(e);
        })
    })
    .map_err(RunError::Start)?;
    crate::failpoint::hit("task-run:performed");
    let mut fin = Finish {
        exit: Some(outcome.exit),
        duration_ms: Some(outcome.duration.as_millis() as u64),
        session: outcome.session.clone(),
        summary: outcome.last_text.as_deref().map(shorten),
        repaired,
        sandbox: outcome.sandbox,
        killed: outcome.killed,
        meter: outcome.meter,
        ..Finish::default()
    };
    fin.outside_writes = outside.after(repo, outcome.sandbox)?;
    fin.outside_writes.extend(outcome.aftermath.relinked.iter().map(|p| format!("{p} (redirected, put back)")));

    // Commit whatever the performer left, whatever its verdict: the work is kept. An agent that
    // detached HEAD or switched branches is put back on the task branch first.
    let aside = worktree.with_extension(format!("broken-{run_id}"));
    if let git::Repair::Reattached(Some(head)) = repo.repair_task_worktree(worktree, &run.branch, &aside)? {
        store.keep(head)?;
        fin.repaired.get_or_insert_with(|| {
            format!("the agent left HEAD at {}, kept as refs/maestro/keep/{head}", head.to_hex_with_len(12))
        });
    }
    let message = format!(
        "{}\n\n{}\n\nMaestro-Score: {}\nMaestro-Task: {}\nMaestro-Run: {run_id}\n",
        task.title,
        fin.summary.clone().unwrap_or_else(|| format!("Run {run_id} by {}.", req.performer.name)),
        task.score,
        task.id,
    );
    // What setup made and the performer left as it was is the baseline, not the result.
    let baseline = super::setup::unchanged_baseline(repo, worktree);
    let mut skip: Vec<&str> = context_file.into_iter().collect();
    skip.extend(baseline.iter().map(String::as_str));
    let committed = store.commit_worktree(worktree, &skip, &message)?;
    if let Some(name) = context_file {
        let _ = std::fs::remove_file(worktree.join(name));
    }
    if let Some(commit) = committed.commit {
        store.keep(commit)?;
    }
    crate::failpoint::hit("task-run:committed");
    // The result is the branch: a run that changes nothing may still stand on an earlier
    // attempt's work (after an interruption, or a person's rollback), but a rework sent back
    // with a reason must change what was sent back.
    let tip = committed.commit.map_or_else(|| repo.read_ref(&format!("refs/heads/{}", run.branch)), |c| Ok(Some(c)))?;
    let tree = tip.map(|tip| repo.commit_tree(tip)).transpose()?;
    let empty = tree.is_none() || tree == Some(repo.commit_tree(base)?);
    let unchanged = match tree {
        Some(tree) if !empty => unchanged_since(repo, tree, &run.since)?,
        _ => false,
    };
    fin.commit = tip.filter(|_| !empty);
    fin.failure = match outcome.failure {
        Some(reason) => Some(reason),
        // Outside writes fail the attempt unless config says to warn; a redirected git link
        // always does (DESIGN §13).
        None if !outcome.aftermath.relinked.is_empty()
            || (!fin.outside_writes.is_empty() && !req.performer.outside_writes_warn) =>
        {
            Some(format!("outside write: the performer changed {}", fin.outside_writes.join(", ")))
        }
        None if empty => Some("the performer finished without changing any file".into()),
        None if unchanged => Some(lifecycle::UNCHANGED_REWORK.into()),
        None => None,
    };
    if outcome.exit == Exit::Cancelled {
        fin.interrupted = true;
        fin.stopped = super::stop::requested(repo.common_dir(), run_id);
    }
    Ok(fin)
}

pub use crate::kernel::{RunLock, try_run_lock};

/// Make the task's worktree ready on its branch: taken from the warm pool (of `pool` at most)
/// or created if missing, repaired if broken (see [`git::Repo::repair_task_worktree`]). Returns what was
/// repaired, for the attempt record.
fn prepare_worktree(
    store: &Store,
    (task, branch): (&Task, &str),
    base: ObjectId,
    (worktree, pool): (&Path, usize),
    run_id: &str,
) -> Result<Option<String>, RunError> {
    let repo = &store.repo;
    store.ensure_branch(branch, base)?;
    let tip = repo.read_ref(&format!("refs/heads/{branch}"))?.unwrap_or(base);
    // A pooled worktree whose reuse a crash cut short is settled, detached at the tip: it
    // only needs its branch.
    if matches!(repo.worktree_head(worktree), Ok(git::WorktreeHead::Detached(head)) if head == tip) {
        repo.attach_worktree(worktree, branch)?;
    }
    let aside = worktree.with_extension(format!("broken-{run_id}"));
    let repaired = match repo.repair_task_worktree(worktree, branch, &aside)? {
        git::Repair::Sound => None,
        git::Repair::Relinked => Some("its worktree had lost its .git file; it was relinked".to_owned()),
        git::Repair::MovedAside(path) => Some(format!(
            "its worktree was no longer known to git; its files were moved to {} and a new worktree made",
            path.display()
        )),
        git::Repair::Reattached(head) => {
            if let Some(head) = head {
                store.keep(head)?;
            }
            Some(format!("its worktree was not on {branch}; it was put back on it"))
        }
    };
    if !worktree.exists() {
        let taken = pool > 0 && crate::kernel::pool::take(store, (&task.score, &task.id), worktree, tip)?;
        if taken {
            repo.attach_worktree(worktree, branch)?;
        } else {
            repo.add_worktree(worktree, branch)?;
        }
    }
    catch_up(store, branch, base, worktree)?;
    Ok(repaired)
}

/// A task branch whose tip the integration branch already holds (a result merged, then
/// reverted, now reworked) starts again from `base`, the integration tip: building on the old
/// tip would make the next merge empty, since the revert stays. Nothing is lost: the old tip
/// is in the integration history. A worktree with uncommitted changes is left as it is.
fn catch_up(store: &Store, branch: &str, base: ObjectId, worktree: &Path) -> Result<(), RunError> {
    let repo = &store.repo;
    let name = format!("refs/heads/{branch}");
    let Some(tip) = repo.read_ref(&name)? else { return Ok(()) };
    if tip == base || !repo.is_ancestor(tip, base)? || !git::dirty_paths(worktree)?.is_empty() {
        return Ok(());
    }
    // `reset --hard` moves the checked-out branch and the files together.
    repo.reset_checkout(worktree, base)?;
    Ok(())
}

/// Whether `tree` is the tree of one of the results `since`.
fn unchanged_since(repo: &git::Repo, tree: ObjectId, since: &[ObjectId]) -> Result<bool, RunError> {
    for result in since.iter().filter(|c| repo.has_object(**c)) {
        if repo.commit_tree(*result)? == tree {
            return Ok(true);
        }
    }
    Ok(false)
}

fn shorten(text: &str) -> String {
    let line = text.trim();
    if line.chars().count() > 300 {
        format!("{}…", line.chars().take(300).collect::<String>())
    } else {
        line.to_owned()
    }
}
