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
use std::sync::{Arc, mpsc};
use std::time::Duration;

use super::routing::{self, History};
use super::summary::{Summary, summarize};
use super::worker::{End, Job, Msg, Shared, work};
use super::{ConductorError, Progress};
use super::{reconcile, remote};
use crate::approval::{self, globs_overlap};
use crate::config::Config;
use crate::git::ObjectId;
use crate::mcp::OpenStore;
use crate::model::handover::Handover;
use crate::model::score::{ConflictPolicy, PlanApproval};
use crate::model::{Score, ScoreStatus, Task, TaskStatus, lifecycle};
use crate::performer::task_run;
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
    start(&store, &opts.score, opts.remote.is_none())?;
    let remote = opts.remote.as_deref().map(|r| remote::Remote::new(r, &opts.score));
    let shared = Arc::new(Shared { open: open.clone(), config: config.clone(), opts: opts.clone(), remote });
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut l = Loop::new(&store, shared, tx)?;
    loop {
        if let Some(remote) = &l.shared.remote {
            remote.sync(&store, on);
        }
        let (score, tasks, read) = l.read(on)?;
        let interrupted = crate::git::interrupted();
        if !interrupted && l.stuck.is_none() && l.reconcile(&score, &tasks, read, on)? {
            continue;
        }
        if !interrupted && l.stuck.is_none() {
            l.dispatch(&score, &tasks)?;
        }
        if l.busy.is_empty() {
            if l.wait_more(&tasks, interrupted) {
                continue;
            }
            return l.finish(interrupted, on);
        }
        l.receive(&rx, interrupted, on)?;
    }
}

/// What the loop knows between rounds. The state is read afresh each round, and wins.
struct Loop<'a> {
    store: &'a Store,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Msg>,
    /// This clone's id: tasks claimed by another clone are left to it.
    clone: String,
    /// Task id → the performer it runs with (None: chain or merge).
    busy: BTreeMap<String, Option<String>>,
    /// Tasks waiting for a person, or stopped on an error, keyed by what they looked like then:
    /// not retried until the state changes.
    parked: BTreeMap<String, Parked>,
    /// The last error of each task that had one; a task that stops on the same error twice is
    /// given up: not retried in this run, whatever changes.
    failures: BTreeMap<String, String>,
    given_up: BTreeSet<String>,
    /// Ready tasks no performer can take, even with none busy, with the routing's reasons.
    unroutable: BTreeMap<String, String>,
    /// Records the run cannot use, as of the last read; and those already reported.
    unusable: BTreeMap<String, String>,
    reported: BTreeSet<String>,
    /// The state a round read when reconciling it changed nothing though it said it wrote; the
    /// same again means the loop would spin.
    stalled: Option<Option<ObjectId>>,
    stuck: Option<String>,
    /// Merged and all tasks, as last shown.
    board: (usize, usize),
    /// Stop flags of running performers, by task.
    stops: BTreeMap<String, Arc<AtomicBool>>,
    /// Ready tasks whose dependencies' merges have not arrived here yet, with why.
    behind: BTreeMap<String, String>,
    /// Syncs a run waits for such merges when it has nothing else to do.
    patience: u32,
    /// Each round reads the Score again after a write, which changed a bucket or two of it.
    kept: store::KeptTasks,
}

impl<'a> Loop<'a> {
    fn new(store: &'a Store, shared: Arc<Shared>, tx: mpsc::Sender<Msg>) -> Result<Self, ConductorError> {
        Ok(Loop {
            store,
            shared,
            tx,
            clone: store.clone_id()?,
            busy: BTreeMap::new(),
            parked: BTreeMap::new(),
            failures: BTreeMap::new(),
            given_up: BTreeSet::new(),
            unroutable: BTreeMap::new(),
            unusable: BTreeMap::new(),
            reported: BTreeSet::new(),
            stalled: None,
            stuck: None,
            board: (usize::MAX, 0),
            stops: BTreeMap::new(),
            behind: BTreeMap::new(),
            patience: 5,
            kept: store::KeptTasks::default(),
        })
    }

    fn elsewhere(&self, t: &Task) -> bool {
        t.claimed_elsewhere(&self.clone)
    }

    /// Read the Score and its tasks, with the state commit read; report records that became
    /// unusable, stop performers whose task another machine claimed first, show the board.
    fn read(&mut self, on: &mut dyn FnMut(Progress)) -> Result<(Score, Vec<Task>, Option<ObjectId>), ConductorError> {
        let view = self.store.view()?;
        let score = store::score(&view, &self.shared.opts.score)?;
        let tasks;
        (tasks, self.unusable) = self.kept.readable_tasks(&view, &score)?;
        self.kept.sweep();
        for (path, problem) in &self.unusable {
            if self.reported.insert(format!("{path}: {problem}")) {
                on(Progress::Unusable { path: path.clone(), problem: problem.clone() });
            }
        }
        for t in tasks.iter().filter(|t| t.claimed_elsewhere(&self.clone)) {
            if let Some(stop) = self.stops.remove(&t.id) {
                stop.store(true, Ordering::Relaxed);
                let holder = t.claim.as_ref().map_or("", |c| c.holder.as_str());
                on(Progress::Waiting {
                    task: t.id.clone(),
                    why: format!("claimed by {holder} on another machine first; its performer here was stopped"),
                });
            }
        }
        let merged = tasks.iter().filter(|t| t.status == TaskStatus::Merged).count();
        if self.board != (merged, score.tasks.len()) {
            self.board = (merged, score.tasks.len());
            on(Progress::Board { merged, total: score.tasks.len() });
        }
        Ok((score, tasks, view.commit))
    }

    /// Reconcile the round's state (ready tasks, rework, blocks). `true`: it wrote, so the
    /// next round reads again. A run whose rules keep writing nothing is stuck.
    fn reconcile(
        &mut self,
        score: &Score,
        tasks: &[Task],
        read: Option<ObjectId>,
        on: &mut dyn FnMut(Progress),
    ) -> Result<bool, ConductorError> {
        self.behind.clear();
        self.unroutable.clear();
        let ids: Vec<String> = self.busy.keys().cloned().collect();
        // A Score with a record the run cannot use is not done, however many others merged.
        let merged = tasks.iter().filter(|t| t.status == TaskStatus::Merged).count();
        let finished = !self.unusable.is_empty() && merged == tasks.len();
        if finished || !reconcile::reconcile(self.store, score, tasks, &ids)? {
            self.stalled = None;
            return Ok(false);
        }
        if self.store.tip()? != read || self.stalled.replace(read) != Some(read) {
            return Ok(true);
        }
        // It said it wrote, yet the state is still the one this round read, for the second
        // time: another round would do the same again, forever.
        let score = &self.shared.opts.score;
        let why =
            format!("the run made no progress: its rules keep asking for a change to {score} that writes nothing");
        on(Progress::Error { task: score.clone(), message: why.clone() });
        self.stuck = Some(why);
        Ok(false)
    }

    /// Start a worker for every task that can move, within the limits.
    fn dispatch(&mut self, score: &Score, tasks: &[Task]) -> Result<(), ConductorError> {
        let store = self.store;
        // Where new task branches start this round.
        let base = task_run::worktree_base(&store.repo, score)?;
        let history = History::new(store::performer_stats(&store.view()?)?);
        // Late packets are expired (a write) only when there are some.
        let mut packets = store::handovers(&store.view()?)?;
        if packets.iter().any(|h| crate::memory::handover::is_late(h, store.session.now())) {
            crate::memory::handover::expire(store).map_err(|e| ConductorError::Other(e.to_string()))?;
            packets = store::handovers(&store.view()?)?;
        }
        let round = Round { score, tasks, base, history: &history, packets: &packets };
        for task in tasks {
            if self.busy.len() >= self.shared.opts.max_parallel {
                break;
            }
            if self.busy.contains_key(&task.id)
                || self.given_up.contains(&task.id)
                || self.parked.get(&task.id).is_some_and(|p| p.key == wait_key(task))
                || self.elsewhere(task)
            {
                continue;
            }
            let Some(job) = self.job(&round, task)? else { continue };
            self.busy.insert(task.id.clone(), job.performer());
            self.parked.remove(&task.id);
            let (shared, tx, task) = (self.shared.clone(), self.tx.clone(), task.clone());
            std::thread::spawn(move || work(&shared, &task, job, &tx));
        }
        Ok(())
    }

    /// The job for `task` this round, if it can move.
    fn job(&mut self, round: &Round<'_>, task: &Task) -> Result<Option<Job>, ConductorError> {
        if matches!(task.status, TaskStatus::Submitted | TaskStatus::Approved) {
            return Ok(Some(Job::Advance));
        }
        if !matches!(task.status, TaskStatus::Ready | TaskStatus::Assigned | TaskStatus::Running) {
            return Ok(None);
        }
        if round.score.conflict_policy == ConflictPolicy::Serialize && overlaps_active(task, round.tasks, &self.busy) {
            return Ok(None);
        }
        if let Some((dep, commit)) = task_run::missing_from_base(&self.store.repo, round.base, task, round.tasks)? {
            let why = format!(
                "its branch would start without the merge of {dep} ({}), which the state records; \
                 `git maestro sync` fetches it",
                &commit[..12]
            );
            self.behind.insert(task.id.clone(), why);
            return Ok(None);
        }
        let mut running: BTreeMap<String, u32> = BTreeMap::new();
        for p in self.busy.values().flatten() {
            *running.entry(p.clone()).or_default() += 1;
        }
        let mut avoid = reconcile::failed_performers(task);
        avoid.extend(crate::memory::handover::refused_by(round.packets, &task.score, &task.id));
        // Performers whose tries at the task's pull request are spent.
        avoid.extend(approval::spent_performers(self.store, task, round.score.max_attempts)?);
        let r = routing::route(task, &self.shared.config, round.history, &running, &avoid);
        let Some(performer) = r.chosen.clone() else {
            // With no performer busy, nobody can take it at all: only a person (config, or the
            // task's own rules) can change that.
            if running.is_empty() {
                self.unroutable.insert(task.id.clone(), r.rationale());
            }
            return Ok(None);
        };
        let stop = self.stops.entry(task.id.clone()).or_default().clone();
        Ok(Some(Job::Run { performer, rationale: r.rationale(), stop }))
    }

    /// With no worker busy: whether to look again after a pause, for a dependency's merge to
    /// arrive by sync or for pull requests to move (`watch_prs`).
    fn wait_more(&mut self, tasks: &[Task], interrupted: bool) -> bool {
        let opts = &self.shared.opts;
        if !self.behind.is_empty() && opts.remote.is_some() && self.patience > 0 && !interrupted {
            // Another machine pushed the state before the branch it merged into: wait for it.
            self.patience -= 1;
            std::thread::sleep(SYNC_EVERY);
            return true;
        }
        let Some(every) = opts.watch_prs.filter(|_| !interrupted && self.stuck.is_none()) else { return false };
        let prs: Vec<String> = self
            .parked
            .iter()
            .filter(|(id, p)| !p.error && tasks.iter().any(|t| &t.id == *id && waits_for_pr(t)))
            .map(|(id, _)| id.clone())
            .collect();
        if prs.is_empty() {
            return false;
        }
        pause(every);
        for id in prs {
            self.parked.remove(&id);
        }
        true
    }

    /// Nothing more can move: settle, share, and sum up.
    fn finish(self, interrupted: bool, on: &mut dyn FnMut(Progress)) -> Result<Summary, ConductorError> {
        let (store, score) = (self.store, &self.shared.opts.score);
        if !interrupted {
            settle(store, score)?;
            if let Some(remote) = &self.shared.remote {
                remote.sync(store, on);
            }
        }
        let (errors, waiting): (Vec<_>, Vec<_>) = self.parked.into_iter().partition(|(_, p)| p.error);
        let mut summary = summarize(store, score, interrupted)?;
        summary.waiting = waiting.into_iter().map(|(task, p)| (task, p.why)).chain(self.behind).collect();
        summary.errors = errors.into_iter().map(|(task, p)| (task, p.why)).chain(self.unroutable).collect();
        summary.unusable = self.unusable.into_iter().collect();
        summary.stuck = self.stuck;
        Ok(summary)
    }

    /// Wait for the workers' next word (a while, with a remote to sync or after Ctrl-C), and
    /// take in all they said.
    fn receive(
        &mut self,
        rx: &mpsc::Receiver<Msg>,
        interrupted: bool,
        on: &mut dyn FnMut(Progress),
    ) -> Result<(), ConductorError> {
        let first = match (interrupted, &self.shared.opts.remote) {
            (true, _) => rx.recv_timeout(Duration::from_millis(100)),
            (false, Some(_)) => rx.recv_timeout(SYNC_EVERY),
            (false, None) => rx.recv().map_err(Into::into),
        };
        for msg in first.into_iter().chain(rx.try_iter()) {
            match msg {
                Msg::Progress(p) => on(p),
                Msg::Done { task, end } => self.done(task, end)?,
            }
        }
        Ok(())
    }

    /// A worker ended: a task that waits or failed is parked until its record changes.
    fn done(&mut self, task: String, end: End) -> Result<(), ConductorError> {
        self.busy.remove(&task);
        self.stops.remove(&task);
        let (why, error) = match end {
            End::Moved => return Ok(()),
            End::Waits(why) => (why, false),
            End::Failed(why) => (why, true),
        };
        // The same error twice: retrying it would only repeat it.
        if error && self.failures.insert(task.clone(), why.clone()).is_some_and(|last| last == why) {
            self.given_up.insert(task.clone());
        }
        // A record that no longer reads is reported by the next round.
        let key = store::task(&self.store.view()?, &self.shared.opts.score, &task)
            .map_or_else(|_| String::new(), |t| wait_key(&t));
        self.parked.insert(task, Parked { key, why, error });
        Ok(())
    }
}

/// What a round read, for choosing its jobs.
struct Round<'r> {
    score: &'r Score,
    tasks: &'r [Task],
    /// Where new task branches start.
    base: Option<ObjectId>,
    history: &'r History,
    packets: &'r [Handover],
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
/// Score says `plan_approval = "auto"`, and a `local` run (no remote to bring its branches)
/// needs a branch to start its tasks from.
fn start(store: &Store, score_id: &str, local: bool) -> Result<(), ConductorError> {
    let actor = store.session.actor.clone();
    let _written = store.transact(&format!("run {score_id}"), |tx| {
        let mut s = store::score(tx, score_id)?;
        if local && task_run::worktree_base(&store.repo, &s)?.is_none() {
            return Err(task_run::RunError::NoTarget(s.target.clone()).into());
        }
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
