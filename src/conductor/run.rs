//! The run loop: a level-triggered loop over the state of one Score.
//!
//! Each round reads the state, reconciles it (ready tasks, rework, blocks), then starts a
//! worker thread for every task that can move: a ready task gets a performer from routing, a
//! submitted task its approval chain, an approved task its merge. Workers report through a
//! channel; the loop never trusts what it remembers over what the state says, so killing it at
//! any point and running it again carries on. Limits: `max_parallel` workers in all, and each
//! performer's own `max_parallel`; with `conflict_policy = "serialize"`, tasks whose scopes
//! overlap never run at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::routing::{self, History};
use super::summary::{Summary, summarize};
use super::{ConductorError, Progress};
use super::{reconcile, remote};
use crate::approval::{self, ChainContext, ChainOutcome, Integrated, PostMerge, globs_overlap};
use crate::config::Config;
use crate::mcp::OpenStore;
use crate::model::score::{ConflictPolicy, PlanApproval};
use crate::model::{ScoreStatus, Task, TaskError, TaskStatus, lifecycle};
use crate::performer::task_run::{self, RunError, RunRequest};
use crate::store::{self, Store, layout};

/// What a run needs besides the state.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub score: String,
    /// Workers at once, over all performers.
    pub max_parallel: usize,
    /// Where this repository's worktrees live.
    pub worktree_root: PathBuf,
    /// The environment performers and checks inherit.
    pub env: Vec<(String, String)>,
    /// This git-maestro binary, for performers' MCP servers.
    pub maestro_exe: PathBuf,
    /// Share the Score with other machines through this remote (see [`super::remote`]).
    pub remote: Option<String>,
    /// Keep running while tasks wait for their pull requests, looking at them again this
    /// often; `None`: stop when only such waits are left.
    pub watch_prs: Option<Duration>,
}

/// How often a run with a remote syncs while it waits for its workers.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// A worker's last word.
enum Msg {
    Progress(Progress),
    Done { task: String, end: End },
}

/// Where a worker left its task.
enum End {
    /// As far as it goes for now; the next round reads what it became.
    Moved,
    /// Waiting for a person or a pull request, for this reason.
    Waits(String),
    /// Stopped on this error.
    Failed(String),
}

/// A task the loop leaves alone until its record changes.
struct Parked {
    /// What the task looked like when it was parked ([`wait_key`]).
    key: String,
    why: String,
    /// Whether it stopped on an error rather than waits for someone.
    error: bool,
}

/// Settles what the run's steps applied and left for a later commit ([`Store::settle_later`]),
/// however the run ends. One that cannot is left to the next command, as after a crash.
struct SettleAtEnd<'a>(&'a Store);

impl Drop for SettleAtEnd<'_> {
    fn drop(&mut self) {
        let _ = self.0.settle_applied();
    }
}

/// Run `opts.score` until nothing more can move; `on` sees progress as it happens.
pub fn run(
    open: &OpenStore,
    config: &Config,
    opts: &RunOptions,
    on: &mut dyn FnMut(Progress),
) -> Result<Summary, ConductorError> {
    let store = open().map_err(ConductorError::Other)?;
    // Each step's intents are settled by the next step's commit, and the last ones at the end.
    store.settle_later();
    let _settle = SettleAtEnd(&store);
    start(&store, &opts.score)?;
    let remote = opts.remote.as_deref().map(|r| remote::Remote::new(r, &opts.score));
    let shared = Arc::new(Shared { open: open.clone(), config: config.clone(), opts: opts.clone(), remote });
    let (tx, rx) = mpsc::channel::<Msg>();
    // Task id → the performer it runs with (None: chain or merge).
    let mut busy: BTreeMap<String, Option<String>> = BTreeMap::new();
    // Tasks waiting for a person, or stopped on an error, keyed by what they looked like then:
    // not retried until the state changes.
    let mut parked: BTreeMap<String, Parked> = BTreeMap::new();
    // The last error of each task that had one; a task that stops on the same error twice is
    // given up: not retried in this run, whatever changes.
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    let mut given_up: BTreeSet<String> = BTreeSet::new();
    // Ready tasks no performer can take, even with none busy, with the routing's reasons.
    let mut unroutable: BTreeMap<String, String> = BTreeMap::new();
    // Records the run cannot use, as of the last read; and those already reported.
    let mut unusable: BTreeMap<String, String>;
    let mut reported: BTreeSet<String> = BTreeSet::new();
    // The state a round read when reconciling it changed nothing though it said it wrote; the
    // same again means the loop would spin.
    let mut stalled: Option<Option<crate::git::ObjectId>> = None;
    let mut stuck: Option<String> = None;
    let mut board = (usize::MAX, 0);
    // Stop flags of running performers, by task.
    let mut stops: BTreeMap<String, Arc<AtomicBool>> = BTreeMap::new();
    // Ready tasks whose dependencies' merges have not arrived here yet, with why.
    let mut behind: BTreeMap<String, String> = BTreeMap::new();
    // Syncs a run waits for such merges when it has nothing else to do.
    let mut patience = 5;
    let clone = store.clone_id()?;
    let elsewhere = |t: &Task| t.claimed_elsewhere(&clone);
    // Each round reads the Score again after a write, which changed a bucket or two of it.
    let mut kept = store::KeptTasks::default();
    loop {
        if let Some(remote) = &shared.remote {
            remote.sync(&store, on);
        }
        let view = store.view()?;
        let read = view.commit;
        let score = store::score(&view, &opts.score)?;
        let tasks;
        (tasks, unusable) = kept.readable_tasks(&view, &score)?;
        kept.sweep();
        for (path, problem) in &unusable {
            if reported.insert(format!("{path}: {problem}")) {
                on(Progress::Unusable { path: path.clone(), problem: problem.clone() });
            }
        }
        for t in tasks.iter().filter(|t| elsewhere(t)) {
            if let Some(stop) = stops.remove(&t.id) {
                stop.store(true, Ordering::Relaxed);
                let holder = t.claim.as_ref().map_or("", |c| c.holder.as_str());
                on(Progress::Waiting {
                    task: t.id.clone(),
                    why: format!("claimed by {holder} on another machine first; its performer here was stopped"),
                });
            }
        }
        let merged = tasks.iter().filter(|t| t.status == TaskStatus::Merged).count();
        if board != (merged, score.tasks.len()) {
            board = (merged, score.tasks.len());
            on(Progress::Board { merged, total: score.tasks.len() });
        }
        let interrupted = crate::git::interrupted();
        if !interrupted && stuck.is_none() {
            behind.clear();
            unroutable.clear();
            let ids: Vec<String> = busy.keys().cloned().collect();
            // A Score with a record the run cannot use is not done, however many others merged.
            let finished = !unusable.is_empty() && merged == tasks.len();
            if !finished && reconcile::reconcile(&store, &score, &tasks, &ids)? {
                if store.tip()? != read || stalled.replace(read) != Some(read) {
                    continue;
                }
                // It said it wrote, yet the state is still the one this round read, for the
                // second time: another round would do the same again, forever.
                let why = format!(
                    "the run made no progress: its rules keep asking for a change to {} that writes nothing",
                    opts.score
                );
                on(Progress::Error { task: opts.score.clone(), message: why.clone() });
                stuck = Some(why);
            } else {
                stalled = None;
            }
        }
        if !interrupted && stuck.is_none() {
            // Where new task branches start this round.
            let base = task_run::worktree_base(&store.repo, &score)?;
            let history = History::new(store::performer_stats(&store.view()?)?);
            // Late packets are expired (a write) only when there are some.
            let mut packets = store::handovers(&store.view()?)?;
            if packets.iter().any(|h| crate::memory::handover::is_late(h, store.session.now())) {
                crate::memory::handover::expire(&store).map_err(|e| ConductorError::Other(e.to_string()))?;
                packets = store::handovers(&store.view()?)?;
            }
            for task in &tasks {
                if busy.len() >= opts.max_parallel {
                    break;
                }
                if busy.contains_key(&task.id)
                    || given_up.contains(&task.id)
                    || parked.get(&task.id).is_some_and(|p| p.key == wait_key(task))
                    || elsewhere(task)
                {
                    continue;
                }
                let job = match task.status {
                    TaskStatus::Ready | TaskStatus::Assigned | TaskStatus::Running => {
                        if score.conflict_policy == ConflictPolicy::Serialize && overlaps_active(task, &tasks, &busy) {
                            continue;
                        }
                        if let Some((dep, commit)) = task_run::missing_from_base(&store.repo, base, task, &tasks)? {
                            let why = format!(
                                "its branch would start without the merge of {dep} ({}), which the state records; \
                                 `git maestro sync` fetches it",
                                &commit[..12]
                            );
                            behind.insert(task.id.clone(), why);
                            continue;
                        }
                        let mut running: BTreeMap<String, u32> = BTreeMap::new();
                        for p in busy.values().flatten() {
                            *running.entry(p.clone()).or_default() += 1;
                        }
                        let mut avoid = reconcile::failed_performers(task);
                        avoid.extend(crate::memory::handover::refused_by(&packets, &task.score, &task.id));
                        // Performers whose tries at the task's pull request are spent.
                        avoid.extend(approval::spent_performers(&store, task, score.max_attempts)?);
                        let r = routing::route(task, config, &history, &running, &avoid);
                        let Some(performer) = r.chosen.clone() else {
                            // With no performer busy, nobody can take it at all: only a person
                            // (config, or the task's own rules) can change that.
                            if running.is_empty() {
                                unroutable.insert(task.id.clone(), r.rationale());
                            }
                            continue;
                        };
                        let stop = stops.entry(task.id.clone()).or_default().clone();
                        Job::Run { performer, rationale: r.rationale(), stop }
                    }
                    TaskStatus::Submitted | TaskStatus::Approved => Job::Advance,
                    _ => continue,
                };
                busy.insert(task.id.clone(), job.performer());
                parked.remove(&task.id);
                let (shared, tx, task) = (shared.clone(), tx.clone(), task.clone());
                std::thread::spawn(move || work(&shared, &task, job, &tx));
            }
        }
        if busy.is_empty() && !behind.is_empty() && opts.remote.is_some() && patience > 0 && !interrupted {
            // Another machine pushed the state before the branch it merged into: wait for it.
            patience -= 1;
            std::thread::sleep(SYNC_EVERY);
            continue;
        }
        if busy.is_empty()
            && let Some(every) = opts.watch_prs.filter(|_| !interrupted && stuck.is_none())
        {
            let prs: Vec<String> = parked
                .iter()
                .filter(|(id, p)| !p.error && tasks.iter().any(|t| &t.id == *id && waits_for_pr(t)))
                .map(|(id, _)| id.clone())
                .collect();
            if !prs.is_empty() {
                pause(every);
                for id in prs {
                    parked.remove(&id);
                }
                continue;
            }
        }
        if busy.is_empty() {
            if !interrupted {
                settle(&store, &opts.score)?;
                if let Some(remote) = &shared.remote {
                    remote.sync(&store, on);
                }
            }
            let (errors, waiting): (Vec<_>, Vec<_>) = parked.into_iter().partition(|(_, p)| p.error);
            let mut summary = summarize(&store, &opts.score, interrupted)?;
            summary.waiting = waiting.into_iter().map(|(task, p)| (task, p.why)).chain(behind).collect();
            summary.errors = errors.into_iter().map(|(task, p)| (task, p.why)).chain(unroutable).collect();
            summary.unusable = unusable.into_iter().collect();
            summary.stuck = stuck;
            return Ok(summary);
        }
        let first = match (interrupted, &opts.remote) {
            (true, _) => rx.recv_timeout(Duration::from_millis(100)),
            (false, Some(_)) => rx.recv_timeout(SYNC_EVERY),
            (false, None) => rx.recv().map_err(Into::into),
        };
        for msg in first.into_iter().chain(rx.try_iter()) {
            match msg {
                Msg::Progress(p) => on(p),
                Msg::Done { task, end } => {
                    busy.remove(&task);
                    stops.remove(&task);
                    let (why, error) = match end {
                        End::Moved => continue,
                        End::Waits(why) => (why, false),
                        End::Failed(why) => (why, true),
                    };
                    // The same error twice: retrying it would only repeat it.
                    if error && failures.insert(task.clone(), why.clone()).is_some_and(|last| last == why) {
                        given_up.insert(task.clone());
                    }
                    // A record that no longer reads is reported by the next round.
                    let key = store::task(&store.view()?, &opts.score, &task)
                        .map_or_else(|_| String::new(), |t| wait_key(&t));
                    parked.insert(task, Parked { key, why, error });
                }
            }
        }
    }
}

/// What a worker does with a task.
enum Job {
    /// Run the performer, then advance the result; `stop` stops the performer early.
    Run { performer: String, rationale: String, stop: Arc<AtomicBool> },
    /// Take a submitted or approved result through its chain and merge.
    Advance,
}

impl Job {
    fn performer(&self) -> Option<String> {
        match self {
            Job::Run { performer, .. } => Some(performer.clone()),
            Job::Advance => None,
        }
    }
}

struct Shared {
    open: OpenStore,
    config: Config,
    opts: RunOptions,
    remote: Option<remote::Remote>,
}

/// Merges of one process go one at a time: they share the Score's integration worktree.
static MERGING: Mutex<()> = Mutex::new(());

fn work(shared: &Shared, task: &Task, job: Job, tx: &mpsc::Sender<Msg>) {
    let id = task.id.clone();
    let send = |p: Progress| {
        let _ = tx.send(Msg::Progress(p));
    };
    // An error parks the task like a wait, so it is not retried until its state changes.
    let end = match advance(shared, task, job, &send) {
        Ok(Some(why)) => End::Waits(why),
        Ok(None) => End::Moved,
        Err(e) => {
            send(Progress::Error { task: id.clone(), message: e.to_string() });
            End::Failed(e.to_string())
        }
    };
    let _ = tx.send(Msg::Done { task: id, end });
}

/// Move the task as far as it goes; `Some(why)` when it stops to wait for someone.
fn advance(shared: &Shared, task: &Task, job: Job, send: &dyn Fn(Progress)) -> Result<Option<String>, ConductorError> {
    let store = (shared.open)().map_err(ConductorError::Other)?;
    store.settle_later();
    let (score, id) = (task.score.as_str(), task.id.as_str());
    if let Job::Run { performer, rationale, stop } = job {
        let p = &shared.config.performers[&performer];
        let base = store.repo.main_workdir().unwrap_or_else(|| store.repo.common_dir().to_owned());
        let binary = crate::performer::locate(&p.command, &base)
            .ok_or_else(|| ConductorError::Other(format!("{performer}: {} not found", p.command)))?;
        // Once claimed (a start refused for its budget claims nothing), it has started; it goes
        // on only while the task is still ours and running here. A failed check is no answer:
        // the periodic sync stops the performer if the claim was lost.
        let confirm = || {
            send(Progress::Started { task: id.to_owned(), performer: performer.clone() });
            shared.remote.as_ref().is_none_or(|r| match r.confirm(&store, score, id, send) {
                Ok(t) => t.is_some_and(|t| t.status == TaskStatus::Running),
                Err(_) => true,
            })
        };
        let request = RunRequest {
            score,
            task: id,
            performer: p,
            binary,
            worktree_root: shared.opts.worktree_root.clone(),
            base_env: shared.opts.env.clone(),
            maestro_exe: shared.opts.maestro_exe.clone(),
            routing: Some(rationale),
            stop: Some(stop),
            prices: &shared.config.prices,
            caps: &shared.config.budget,
            setup: &shared.config.setup,
            pool: shared.config.worktrees.pool,
            confirm: Some(&confirm),
        };
        let report = match task_run::run_task(&store, &request, &mut |e| {
            send(Progress::Agent { task: id.to_owned(), event: e.clone() })
        }) {
            Ok(report) => report,
            Err(RunError::Busy(_)) => return Ok(Some("another process is running it".into())),
            // A spent budget waits for a person, as an approval does.
            Err(RunError::OverBudget { why, .. }) => {
                return Ok(Some(format!("its budget ({why}): {}", crate::model::budget::way_on(score, &why))));
            }
            // Someone holds it, a person say: it waits for them, as it would for an approval.
            Err(
                RunError::Task(TaskError::AlreadyClaimed { holder, .. })
                | RunError::Refused(lifecycle::Refusal::Task(TaskError::AlreadyClaimed { holder, .. }))
                | RunError::Store(store::Error::Task(TaskError::AlreadyClaimed { holder, .. })),
            ) => {
                return Ok(Some(format!(
                    "{holder}, who claimed it, to submit it or give it back with \
                     `git maestro task release {score}/{id} --as {holder}`"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        send(Progress::Finished { task: id.to_owned(), status: report.status, note: report.attempt.reason.clone() });
        // A person stopped it: it waits for them rather than starting again at once.
        if report.stopped {
            return Ok(Some(format!("the person who stopped it: `git maestro task run {score}/{id}` runs it again")));
        }
        if report.status != TaskStatus::Submitted {
            return Ok(None);
        }
    }
    loop {
        let t = store::task(&store.view()?, score, id)?;
        match t.status {
            TaskStatus::Submitted => {
                send(Progress::Phase { task: id.to_owned(), phase: "approval" });
                let ctx = ChainContext {
                    config: &shared.config,
                    worktree_root: shared.opts.worktree_root.clone(),
                    env: shared.opts.env.clone(),
                    maestro_exe: shared.opts.maestro_exe.clone(),
                };
                match approval::run_chain(&store, &ctx, score, id)? {
                    ChainOutcome::Approved { .. } => {}
                    ChainOutcome::Rejected { reason, .. } => {
                        send(Progress::Finished {
                            task: id.to_owned(),
                            status: TaskStatus::Rejected,
                            note: Some(reason),
                        });
                        return Ok(None);
                    }
                    ChainOutcome::Waiting { why, .. } => {
                        send(Progress::Waiting { task: id.to_owned(), why: why.clone() });
                        return Ok(Some(why));
                    }
                }
            }
            TaskStatus::Approved => {
                send(Progress::Phase { task: id.to_owned(), phase: "merge" });
                let post = PostMerge {
                    config: &shared.config,
                    worktree: approval::integration_worktree(&shared.opts.worktree_root, score),
                    env: shared.opts.env.clone(),
                    maestro_exe: shared.opts.maestro_exe.clone(),
                };
                let merged = {
                    let _one_at_a_time = MERGING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    // Merge only what this machine still holds, after the latest word from the others.
                    if let Some(remote) = &shared.remote
                        && remote.confirm(&store, score, id, send)?.is_none_or(|t| t.status != TaskStatus::Approved)
                    {
                        return Ok(None);
                    }
                    let merged = approval::integrate(&store, score, id, &post)?;
                    if let Some(remote) = &shared.remote {
                        remote.publish(&store, score, id, send);
                    }
                    merged
                };
                if matches!(merged, Integrated::Merged { .. }) {
                    park(&store, shared, score, id);
                }
                let (status, note) = match merged {
                    Integrated::Merged { commit } => (TaskStatus::Merged, Some(format!("merged as {}", &commit[..12]))),
                    Integrated::Conflict { paths } => (TaskStatus::Conflict, Some(paths.join(", "))),
                    Integrated::Reverted { reason, sent_back, .. } => {
                        let next = match sent_back {
                            lifecycle::SentBack::Rework => "sent back for rework",
                            lifecycle::SentBack::Blocked => "blocked, out of attempts",
                        };
                        (TaskStatus::Reverted, Some(format!("{reason}; {next}")))
                    }
                };
                send(Progress::Finished { task: id.to_owned(), status, note });
                return Ok(None);
            }
            _ => return Ok(None),
        }
    }
}

/// Park the worktree of `score/id`, just merged, in the warm pool when it has room, so the run's
/// next task starts from it. A failure only leaves the worktree for `gc`.
fn park(store: &Store, shared: &Shared, score: &str, id: &str) {
    let path = crate::kernel::prune::task_worktree(&shared.opts.worktree_root, score, id);
    if let Err(e) = crate::kernel::prune::park_merged(store, (score, id), &path, shared.config.worktrees.pool) {
        store.notice(format!("the worktree of {score}/{id} stays for `git maestro gc`: {e}"));
    }
}

/// Whether `task` waits for its pull request (its result is submitted and has one).
fn waits_for_pr(task: &Task) -> bool {
    task.status == TaskStatus::Submitted && task.pr.is_some()
}

/// Sleep for `every`, waking early on Ctrl-C.
fn pause(every: Duration) {
    let until = std::time::Instant::now() + every;
    while std::time::Instant::now() < until && !crate::git::interrupted() {
        std::thread::sleep(Duration::from_millis(100).min(until - std::time::Instant::now()));
    }
}

/// What a waiting task looked like, so it is retried only once something changed.
fn wait_key(task: &Task) -> String {
    let run = task.attempts.last().map_or("", |a| a.run.as_str());
    format!("{}:{run}:{}", task.status, task.passed.join(","))
}

/// Whether `task`'s scope overlaps a task that is being worked on or awaits its merge.
fn overlaps_active(task: &Task, tasks: &[Task], busy: &BTreeMap<String, Option<String>>) -> bool {
    tasks.iter().filter(|t| t.id != task.id).any(|t| {
        let active = busy.contains_key(&t.id) || matches!(t.status, TaskStatus::Submitted | TaskStatus::Approved);
        active && t.scope.iter().any(|a| task.scope.iter().any(|b| globs_overlap(a, b)))
    })
}

/// Check the Score may run and mark it running: a draft needs its plan approved, unless the
/// Score says `plan_approval = "auto"`.
fn start(store: &Store, score_id: &str) -> Result<(), ConductorError> {
    let actor = store.session.actor.clone();
    let _written = store.transact(&format!("run {score_id}"), |tx| {
        let mut s = store::score(tx, score_id)?;
        let auto = s.plan_approval == PlanApproval::Auto;
        let approved = lifecycle::start_score(&mut s, auto, tx.now).map_err(|e| match e {
            lifecycle::Refusal::PlanNotApproved { .. } => ConductorError::PlanNotApproved(score_id.to_owned()),
            other => other.into(),
        })?;
        if approved {
            let summary = format!("the plan of {score_id} is approved automatically (plan_approval = \"auto\")");
            let d =
                store::new_decision(tx, crate::model::DecisionKind::Approval, summary, &actor).about(score_id, None);
            store::append_decision(tx, &d)?;
        }
        tx.put(&layout::score_file(score_id), &s)?;
        Ok::<_, ConductorError>(())
    })?;
    Ok(())
}

/// With nothing left to do: a Score with blocked tasks has failed (a later run may resume it).
fn settle(store: &Store, score_id: &str) -> Result<(), ConductorError> {
    let (score, tasks) = store::score_with_readable_tasks(&store.view()?, score_id)?;
    let blocked: Vec<&str> = tasks.iter().filter(|t| t.status == TaskStatus::Blocked).map(|t| t.id.as_str()).collect();
    if blocked.is_empty() || score.status != ScoreStatus::Running {
        return Ok(());
    }
    let actor = store.session.actor.clone();
    let _written = store.transact(&format!("{score_id} is stuck"), |tx| {
        let mut s = store::score(tx, score_id)?;
        if !lifecycle::fail_score(&mut s, tx.now)? {
            return Ok(());
        }
        tx.put(&layout::score_file(score_id), &s)?;
        let summary = format!("{score_id} cannot finish: {} blocked", blocked.join(", "));
        let d = store::new_decision(tx, crate::model::DecisionKind::Rejection, summary, &actor).about(score_id, None);
        store::append_decision(tx, &d)?;
        Ok::<_, ConductorError>(())
    })?;
    Ok(())
}
