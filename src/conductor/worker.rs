//! A worker of the run loop: it takes one task as far as it goes on its own thread (performer,
//! approval chain, merge) and reports how it ended.

use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, mpsc};

use super::run::RunOptions;
use super::{ConductorError, Progress, remote};
use crate::approval::{self, ChainContext, ChainOutcome, Integrated, PostMerge};
use crate::config::Config;
use crate::mcp::OpenStore;
use crate::model::{Task, TaskError, TaskStatus, lifecycle};
use crate::performer::task_run::{self, RunError, RunRequest};
use crate::store::{self, Store};

/// What the workers of one run share.
pub(super) struct Shared {
    pub(super) open: OpenStore,
    pub(super) config: Config,
    pub(super) opts: RunOptions,
    pub(super) remote: Option<remote::Remote>,
}

/// What a worker does with a task.
pub(super) enum Job {
    /// Run the performer, then advance the result; `stop` stops the performer early.
    Run { performer: String, rationale: String, stop: Arc<AtomicBool> },
    /// Take a submitted or approved result through its chain and merge.
    Advance,
}

impl Job {
    pub(super) fn performer(&self) -> Option<String> {
        match self {
            Job::Run { performer, .. } => Some(performer.clone()),
            Job::Advance => None,
        }
    }
}

/// A worker's last word.
pub(super) enum Msg {
    Progress(Progress),
    Done { task: String, end: End },
}

/// Where a worker left its task.
pub(super) enum End {
    /// As far as it goes for now; the next round reads what it became.
    Moved,
    /// Waiting for a person or a pull request, for this reason.
    Waits(String),
    /// Stopped on this error.
    Failed(String),
}

/// Merges of one process go one at a time: they share the Score's integration worktree.
static MERGING: Mutex<()> = Mutex::new(());

/// Do `job` with `task`, sending progress and then how it ended through `tx`.
pub(super) fn work(shared: &Shared, task: &Task, job: Job, tx: &mpsc::Sender<Msg>) {
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

/// Whether a worker goes on to the task's next step, or stops: `Some(why)` to wait for someone.
type Next = ControlFlow<Option<String>>;

/// Move the task as far as it goes; `Some(why)` when it stops to wait for someone.
fn advance(shared: &Shared, task: &Task, job: Job, send: &dyn Fn(Progress)) -> Result<Option<String>, ConductorError> {
    let store = (shared.open)().map_err(ConductorError::Other)?;
    store.settle_later();
    let w = Worker { shared, store: &store, score: &task.score, id: &task.id, send };
    if let Job::Run { performer, rationale, stop } = job
        && let ControlFlow::Break(end) = w.perform(&performer, rationale, stop)?
    {
        return Ok(end);
    }
    loop {
        let next = match store::task(&store.view()?, w.score, w.id)?.status {
            TaskStatus::Submitted => w.review()?,
            TaskStatus::Approved => ControlFlow::Break(w.merge()?),
            _ => ControlFlow::Break(None),
        };
        if let ControlFlow::Break(end) = next {
            return Ok(end);
        }
    }
}

/// One task's worker.
struct Worker<'a> {
    shared: &'a Shared,
    store: &'a Store,
    score: &'a str,
    id: &'a str,
    send: &'a dyn Fn(Progress),
}

impl Worker<'_> {
    /// Run `performer` on the task; it goes on only to a submitted result.
    fn perform(&self, performer: &str, rationale: String, stop: Arc<AtomicBool>) -> Result<Next, ConductorError> {
        let (shared, store, score, id, send) = (self.shared, self.store, self.score, self.id, self.send);
        let p = &shared.config.performers[performer];
        let base = store.repo.main_workdir().unwrap_or_else(|| store.repo.common_dir().to_owned());
        let binary = crate::performer::locate(&p.command, &base)
            .ok_or_else(|| ConductorError::Other(format!("{performer}: {} not found", p.command)))?;
        // Once claimed (a start refused for its budget claims nothing), it has started; it goes
        // on only while the task is still ours and running here. A failed check is no answer:
        // the periodic sync stops the performer if the claim was lost.
        let confirm = || {
            send(Progress::Started { task: id.to_owned(), performer: performer.to_owned() });
            shared.remote.as_ref().is_none_or(|r| match r.confirm(store, score, id, send) {
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
        let report = match task_run::run_task(store, &request, &mut |e| {
            send(Progress::Agent { task: id.to_owned(), event: e.clone() })
        }) {
            Ok(report) => report,
            Err(e) => return self.waits_on(e).map(ControlFlow::Break),
        };
        send(Progress::Finished { task: id.to_owned(), status: report.status, note: report.attempt.reason.clone() });
        // A person stopped it: it waits for them rather than starting again at once.
        if report.stopped {
            let why = format!("the person who stopped it: `git maestro task run {score}/{id}` runs it again");
            return Ok(ControlFlow::Break(Some(why)));
        }
        Ok(if report.status == TaskStatus::Submitted { ControlFlow::Continue(()) } else { ControlFlow::Break(None) })
    }

    /// Whom a run that did not start waits for, or its error.
    fn waits_on(&self, e: RunError) -> Result<Option<String>, ConductorError> {
        let (score, id) = (self.score, self.id);
        match e {
            RunError::Busy(_) => Ok(Some("another process is running it".into())),
            // A spent budget waits for a person, as an approval does.
            RunError::OverBudget { why, .. } => {
                Ok(Some(format!("its budget ({why}): {}", crate::model::budget::way_on(score, &why))))
            }
            // Someone holds it, a person say: it waits for them, as it would for an approval.
            RunError::Task(TaskError::AlreadyClaimed { holder, .. })
            | RunError::Refused(lifecycle::Refusal::Task(TaskError::AlreadyClaimed { holder, .. }))
            | RunError::Store(store::Error::Task(TaskError::AlreadyClaimed { holder, .. })) => Ok(Some(format!(
                "{holder}, who claimed it, to submit it or give it back with \
                 `git maestro task release {score}/{id} --as {holder}`"
            ))),
            e => Err(e.into()),
        }
    }

    /// Take the submitted result through its approval chain; it goes on once approved.
    fn review(&self) -> Result<Next, ConductorError> {
        let (shared, id, send) = (self.shared, self.id, self.send);
        send(Progress::Phase { task: id.to_owned(), phase: "approval" });
        let ctx = ChainContext {
            config: &shared.config,
            worktree_root: shared.opts.worktree_root.clone(),
            env: shared.opts.env.clone(),
            maestro_exe: shared.opts.maestro_exe.clone(),
        };
        Ok(match approval::run_chain(self.store, &ctx, self.score, id)? {
            ChainOutcome::Approved { .. } => ControlFlow::Continue(()),
            ChainOutcome::Rejected { reason, .. } => {
                send(Progress::Finished { task: id.to_owned(), status: TaskStatus::Rejected, note: Some(reason) });
                ControlFlow::Break(None)
            }
            ChainOutcome::Waiting { why, .. } => {
                send(Progress::Waiting { task: id.to_owned(), why: why.clone() });
                ControlFlow::Break(Some(why))
            }
        })
    }

    /// Merge the approved result, one merge of this process at a time.
    fn merge(&self) -> Result<Option<String>, ConductorError> {
        let (shared, store, score, id, send) = (self.shared, self.store, self.score, self.id, self.send);
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
                && remote.confirm(store, score, id, send)?.is_none_or(|t| t.status != TaskStatus::Approved)
            {
                return Ok(None);
            }
            let merged = approval::integrate(store, score, id, &post)?;
            if let Some(remote) = &shared.remote {
                remote.publish(store, score, id, send);
            }
            merged
        };
        if matches!(merged, Integrated::Merged { .. }) {
            self.park();
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
        Ok(None)
    }

    /// Park the worktree of the task, just merged, in the warm pool when it has room, so the
    /// run's next task starts from it. A failure only leaves the worktree for `gc`.
    fn park(&self) {
        let (score, id) = (self.score, self.id);
        let path = crate::kernel::prune::task_worktree(&self.shared.opts.worktree_root, score, id);
        let pool = self.shared.config.worktrees.pool;
        if let Err(e) = crate::kernel::prune::park_merged(self.store, (score, id), &path, pool) {
            self.store.notice(format!("the worktree of {score}/{id} stays for `git maestro gc`: {e}"));
        }
    }
}
