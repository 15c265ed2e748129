//! Running one task end to end: claim, worktree, prompt, performer, commit, attempt record.
//!
//! Two transactions bracket the run: the first claims the task, moves it to `running` and
//! opens an attempt; the second closes the attempt and moves the task to `submitted` or
//! `failed` (or back to `ready` when interrupted). The performer runs between them, outside
//! any lock, so other writers are never blocked by an agent.

use std::path::{Path, PathBuf};

use super::adapter::Event;
use super::invoke::{self, Launch};
use super::runner::Exit;
use crate::config::Performer;
use crate::git::{self, ObjectId};
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
}

/// Why a run could not start or be recorded. A performer that fails is not an error: it is a
/// `failed` attempt in the report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{task} is pending: it waits for {}", .deps.join(", "))]
    NotReady { task: String, deps: Vec<String> },
    #[error("the Score's target branch {0:?} does not exist")]
    NoTarget(String),
    #[error("the branch {task} would start from lacks the merge of {dep} ({commit}), which the state records")]
    BaseBehind { task: String, dep: String, commit: String },
    #[error("{0} is being run by another process right now")]
    Busy(String),
    #[error("{} exists but is not a worktree of this repository", .0.display())]
    StrayWorktree(PathBuf),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Task(#[from] crate::model::TaskError),
    #[error(transparent)]
    Git(#[from] git::Error),
    #[error("cannot run the performer: {0}")]
    Io(#[from] std::io::Error),
}

/// The branch of a task.
pub fn task_branch(score: &str, task: &str) -> String {
    format!("maestro/{score}/tasks/{task}")
}

/// The commit new worktrees of `score`'s tasks start from: the integration tip (which holds
/// the merged dependencies), or the Score's target before the first merge.
pub fn worktree_base(repo: &git::Repo, score: &Score) -> Result<Option<ObjectId>, git::Error> {
    match repo.read_ref(&format!("refs/heads/{}", crate::approval::integration_branch(&score.id)))? {
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
    // The agent CLIs' versions are recorded on the attempt; a `command` performer is never run
    // with `--version` behind the user's back.
    let adapter_version = req.performer.adapter.tested_version().and_then(|_| super::probe_version(&req.binary).ok());
    let _lock = try_run_lock(store.repo.common_dir(), score_id, task_id)?
        .ok_or_else(|| RunError::Busy(format!("{score_id}/{task_id}")))?;

    // 0. Its dependencies' merges must be here before it starts on top of them.
    let (score, tasks) = store::score_with_tasks(&store.view()?, score_id)?;
    if let Some(task) = tasks.iter().find(|t| t.id == task_id)
        && let Some((dep, commit)) = missing_from_base(&store.repo, worktree_base(&store.repo, &score)?, task, &tasks)?
    {
        return Err(RunError::BaseBehind { task: task.address(), dep, commit });
    }

    // 1. Claim the task for the performer, start it, and open the attempt.
    let started = store.transact(&format!("run {score_id}/{task_id} with {performer}"), |tx| {
        let mut task: Task = store::task(tx, score_id, task_id)?;
        if task.status == TaskStatus::Pending {
            return Err(RunError::NotReady { task: task.address(), deps: task.deps.clone() });
        }
        if task.status == TaskStatus::Running {
            // We hold its run lock, so the run that set it running died without a word.
            for a in task.attempts.iter_mut().filter(|a| a.outcome == AttemptOutcome::Running) {
                a.outcome = AttemptOutcome::Interrupted;
                a.reason = Some("its run stopped without recording an outcome (the process died)".into());
                a.ended = Some(tx.now);
            }
            task.transition(TaskStatus::Ready, tx.now)?;
            task.claim = None;
        }
        if matches!(task.status, TaskStatus::Failed | TaskStatus::Rejected | TaskStatus::Conflict | TaskStatus::Blocked)
        {
            task.transition(TaskStatus::Ready, tx.now)?;
        }
        let claimed = task.claim(&performer, Some(&clone), tx.op, tx.clock, tx.now)?;
        if task.status == TaskStatus::Ready {
            // Held already (a retry after a failure): assign it again.
            task.transition(TaskStatus::Assigned, tx.now)?;
        }
        task.transition(TaskStatus::Running, tx.now)?;
        task.passed.clear();
        let adapter = req.performer.adapter.as_str();
        task.attempts.push(Attempt::start(&run_id, &performer, adapter, adapter_version.clone(), tx.now));
        tx.put(&path, &task)?;
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
        Ok::<_, RunError>((task, score, memory(&earlier, &session), resume, handovers.join("\n")))
    })?;
    let (task, score, memory, resume, handover) = started.value;
    let repo = &store.repo;
    let branch = task_branch(score_id, task_id);
    let worktree = req.worktree_root.join(score_id).join(task_id);
    let transcript =
        repo.common_dir().join("maestro/logs").join(score_id).join(task_id).join(format!("{run_id}.jsonl"));
    if req.confirm.is_some_and(|confirm| !confirm()) {
        // The sync that found the earlier claim already ended this attempt: record nothing more.
        let (status, attempt) = finish(store, score_id, task_id, &run_id, Finish::interrupted())?;
        return Ok(RunReport { task: format!("{score_id}/{task_id}"), status, attempt, worktree, branch, transcript });
    }

    // 2. The worktree, on the task branch, from the integration tip (which holds the merged
    //    dependencies), or the Score's target before the first merge.
    let base = worktree_base(repo, &score)?.ok_or_else(|| RunError::NoTarget(score.target.clone()));
    let prepared = base.and_then(|base| prepare_worktree(store, &branch, base, &worktree).map(|()| base));
    let base = match prepared {
        Ok(base) => base,
        Err(e) => {
            finish(store, score_id, task_id, &run_id, Finish::failed(format!("cannot prepare the worktree: {e}")))?;
            return Err(e);
        }
    };

    // 3. Run the performer, with what the team knows that bears on the task.
    let view = store.view()?;
    let query = crate::memory::retrieval::Query::for_task(&task, store.session.now());
    let hits = crate::memory::retrieval::rank(&store::knowledge(&view)?, &store::decisions(&view)?, &query);
    let knowledge = crate::memory::retrieval::render(&hits, KNOWLEDGE_BUDGET);
    let launch = Launch {
        performer: req.performer,
        binary: &req.binary,
        cwd: &worktree,
        prompt: super::prompt::build(
            &task,
            &branch,
            &run_id,
            &super::prompt::Context {
                rework: task.rework.as_deref(),
                memory: &memory,
                knowledge: &knowledge,
                handover: &handover,
            },
        ),
        base_env: &req.base_env,
        maestro_exe: &req.maestro_exe,
        common_dir: repo.common_dir(),
        score: score_id,
        task: task_id,
        run: &run_id,
        transcript: transcript.clone(),
        resume,
        stop: req.stop.clone(),
    };
    // Where configured, the handover and memory also go into the agent's own context file,
    // when the worktree has none; it is left out of the commit and removed afterwards.
    let context_file = req
        .performer
        .context_file
        .then(|| req.performer.adapter.context_file())
        .filter(|_| !handover.is_empty() || !memory.is_empty())
        .filter(|name| !worktree.join(name).exists());
    if let Some(name) = context_file {
        let text = format!(
            "<!-- Written by git-maestro for run {run_id}; never committed. -->\n\n# Handover\n\n{handover}\n\n\
             # Memory of earlier runs\n\n{memory}\n"
        );
        std::fs::write(worktree.join(name), text)?;
    }
    let main_checkout = repo.main_workdir();
    let dirty_before = main_checkout.as_deref().map(git::dirty_paths).transpose()?.unwrap_or_default();
    let outcome = match invoke::launch(launch, on_event) {
        Ok(outcome) => outcome,
        Err(e) => {
            finish(store, score_id, task_id, &run_id, Finish::failed(format!("cannot start the performer: {e}")))?;
            return Err(e.into());
        }
    };
    let mut fin = Finish {
        exit: Some(outcome.exit),
        duration_ms: Some(outcome.duration.as_millis() as u64),
        session: outcome.session.clone(),
        input_tokens: outcome.input_tokens,
        output_tokens: outcome.output_tokens,
        cost_usd: outcome.cost_usd,
        summary: outcome.last_text.as_deref().map(shorten),
        ..Finish::default()
    };
    fin.outside_writes = match main_checkout.as_deref().map(git::dirty_paths).transpose()? {
        Some(after) => after.into_iter().filter(|p| !dirty_before.contains(p)).collect(),
        None => Vec::new(),
    };

    // 4. Commit whatever the performer left, whatever its verdict: the work is kept.
    let message = format!(
        "{}\n\n{}\n\nMaestro-Score: {score_id}\nMaestro-Task: {task_id}\nMaestro-Run: {run_id}\n",
        task.title,
        fin.summary.clone().unwrap_or_else(|| format!("Run {run_id} by {performer}.")),
    );
    let (name, email) = (store.session.actor.as_str(), store.session.email.as_str());
    let skip: Vec<&str> = context_file.into_iter().collect();
    let now = store.session.now().as_second();
    let committed = repo.commit_worktree_except(&worktree, &skip, &message, (name, email), now)?;
    if let Some(name) = context_file {
        let _ = std::fs::remove_file(worktree.join(name));
    }
    if let Some(commit) = committed.commit {
        store.keep(commit)?;
    }
    // The result is the branch: a run that changes nothing may still stand on an earlier
    // attempt's work (after an interruption, or a rejection it disagrees with).
    let tip = committed.commit.map_or_else(|| repo.read_ref(&format!("refs/heads/{branch}")), |c| Ok(Some(c)))?;
    let empty = match tip {
        Some(tip) => repo.commit_tree(tip)? == repo.commit_tree(base)?,
        None => true,
    };
    fin.commit = tip.filter(|_| !empty);
    fin.failure = match outcome.failure {
        Some(reason) => Some(reason),
        None if empty => Some("the performer finished without changing any file".into()),
        None => None,
    };
    if outcome.exit == Exit::Cancelled {
        fin.interrupted = true;
    }
    let (status, attempt) = finish(store, score_id, task_id, &run_id, fin)?;
    Ok(RunReport { task: format!("{score_id}/{task_id}"), status, attempt, worktree, branch, transcript })
}

/// What earlier runs left for this one: the stack it starts from (top first) and their notes.
fn memory(earlier: &[RunSession], current: &RunSession) -> String {
    let mut out = String::new();
    if !current.stack.is_empty() {
        out.push_str("Subtasks on the stack, top first:\n");
        for item in current.stack.iter().rev() {
            out.push_str(&format!("- {}\n", item.text));
        }
    }
    let notes: Vec<String> =
        earlier.iter().flat_map(|s| s.notes.iter().map(move |n| format!("- [run {}] {}", s.run, n.text))).collect();
    if !notes.is_empty() {
        out.push_str("Notes from earlier runs:\n");
        out.push_str(&notes.join("\n"));
        out.push('\n');
    }
    out
}

/// The lock a run holds on its task while it works. The kernel drops it when the process dies,
/// so a `running` task whose lock is free was orphaned by a crash.
pub struct RunLock {
    _file: std::fs::File,
}

/// Take the run lock of `score/task` if no one holds it.
pub fn try_run_lock(common_dir: &Path, score: &str, task: &str) -> std::io::Result<Option<RunLock>> {
    let path = common_dir.join("maestro/runs").join(score).join(format!("{task}.lock"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::File::options().create(true).truncate(false).write(true).open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(RunLock { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

fn prepare_worktree(store: &Store, branch: &str, base: ObjectId, worktree: &Path) -> Result<(), RunError> {
    let repo = &store.repo;
    let (name, email) = (store.session.actor.as_str(), store.session.email.as_str());
    repo.ensure_branch(branch, base, (name, email), store.session.now().as_second())?;
    if worktree.exists() {
        let canonical = std::fs::canonicalize(worktree)?;
        if repo.worktrees()?.iter().any(|w| w.path == canonical) {
            return Ok(());
        }
        return Err(RunError::StrayWorktree(worktree.to_owned()));
    }
    repo.add_worktree(worktree, branch)?;
    Ok(())
}

/// What the run produced, gathered for the closing transaction.
#[derive(Default)]
struct Finish {
    /// Why the run failed; `None` when it succeeded.
    failure: Option<String>,
    interrupted: bool,
    exit: Option<Exit>,
    duration_ms: Option<u64>,
    session: Option<String>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cost_usd: Option<f64>,
    summary: Option<String>,
    commit: Option<ObjectId>,
    outside_writes: Vec<String>,
}

impl Finish {
    fn failed(reason: String) -> Finish {
        Finish { failure: Some(reason), ..Finish::default() }
    }

    fn interrupted() -> Finish {
        Finish { interrupted: true, ..Finish::default() }
    }
}

fn shorten(text: &str) -> String {
    let line = text.trim();
    if line.chars().count() > 300 {
        format!("{}…", line.chars().take(300).collect::<String>())
    } else {
        line.to_owned()
    }
}

/// Close the attempt `run` and move the task on. Returns the new status and the attempt.
fn finish(
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
        let now = tx.now;
        let (status, outcome, reason) = if fin.interrupted {
            (TaskStatus::Ready, AttemptOutcome::Interrupted, Some("interrupted".to_owned()))
        } else {
            match &fin.failure {
                None => (TaskStatus::Submitted, AttemptOutcome::Submitted, None),
                Some(reason) => (TaskStatus::Failed, AttemptOutcome::Failed, Some(reason.clone())),
            }
        };
        let at = task.attempts.iter().rposition(|a| a.run == run).ok_or_else(|| {
            store::Error::Codec(store::CodecError::Parse {
                path: path.clone(),
                message: format!("attempt {run} vanished"),
            })
        })?;
        // Sync already ended an attempt whose claim another machine won: the task is theirs.
        let lost = task.attempts[at].outcome != AttemptOutcome::Running;
        if !lost {
            if task.status == TaskStatus::Running {
                task.transition(status, now)?;
            }
            if status == TaskStatus::Ready {
                task.claim = None;
            } else {
                task.rework = None;
            }
        }
        let attempt = &mut task.attempts[at];
        if !lost {
            attempt.ended = Some(now);
            attempt.outcome = outcome;
            attempt.reason = reason;
        }
        attempt.exit = fin.exit.map(|e| e.to_string());
        attempt.duration_ms = fin.duration_ms;
        attempt.input_tokens = fin.input_tokens;
        attempt.output_tokens = fin.output_tokens;
        attempt.cost_usd = fin.cost_usd;
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
