//! The middle of a task run, between the claim and the attempt's end: the worktree, the
//! prompt, the performer, and the commit of what it left.

use std::path::{Path, PathBuf};

use super::adapter::Event;
use super::attempt_end::Finish;
use super::invoke::{self, Launch, Outcome};
use super::meter::Meter;
use super::runner::Exit;
use super::task_run::{RunError, RunRequest, worktree_base};
use crate::git::{self, ObjectId};
use crate::model::{Score, Task, lifecycle};
use crate::store::Store;

/// Bytes of retrieved knowledge a prompt carries.
const KNOWLEDGE_BUDGET: usize = 4096;

/// What the claiming transaction set up for a run.
pub(super) struct Started {
    pub(super) run_id: String,
    pub(super) task: Task,
    pub(super) score: Score,
    pub(super) memory: String,
    pub(super) resume: Option<String>,
    pub(super) handover: String,
    /// For a rework: the results it must differ from (see [`lifecycle::sent_back_results`]).
    pub(super) since: Vec<ObjectId>,
    pub(super) branch: String,
    pub(super) worktree: PathBuf,
    pub(super) transcript: PathBuf,
}

/// Prepare the worktree, run the performer in it, and commit what it left.
pub(super) fn perform(
    store: &Store,
    req: &RunRequest<'_>,
    run: &Started,
    meter: Meter,
    on_event: &mut dyn FnMut(&Event),
) -> Result<Finish, RunError> {
    let repo = &store.repo;
    let worktree = &run.worktree;
    // The worktree, on the task branch, from the integration tip (which holds the merged
    // dependencies), or the Score's target before the first merge.
    let base = worktree_base(repo, &run.score)?.ok_or_else(|| RunError::NoTarget(run.score.target.clone()))?;
    let repaired = prepare_worktree(store, (&run.task, &run.branch), base, (worktree, req.pool), &run.run_id)
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
    let launch = Launch {
        performer: &performer,
        binary: &req.binary,
        cwd: worktree,
        prompt: prompt(store, run)?,
        base_env: &base_env,
        maestro_exe: &req.maestro_exe,
        store,
        score: &run.task.score,
        task: &run.task.id,
        run: &run.run_id,
        transcript: run.transcript.clone(),
        resume: run.resume.clone(),
        stop: req.stop.clone(),
        meter,
    };
    let context_file = write_context_file(req, run)?;
    let outside = super::confine::OutsideGuard::before(repo, performer.sandbox, worktree, &performer.writable)?;
    // The lease is renewed while the performer reports, so other hosts see the run alive, and
    // its usage so far is recorded on the attempt.
    let every = crate::kernel::Leases::of(store)?.heartbeat_every().unsigned_abs();
    let mut outcome = super::live::recording(store, (&run.task.score, &run.task.id, &run.run_id), every, |live| {
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
        meter: std::mem::take(&mut outcome.meter),
        ..Finish::default()
    };
    fin.outside_writes = outside.after(repo, outcome.sandbox)?;
    fin.outside_writes.extend(outcome.aftermath.relinked.iter().map(|p| format!("{p} (redirected, put back)")));
    let tip = commit_result(store, req, run, &mut fin, context_file)?;
    crate::failpoint::hit("task-run:committed");
    judge(repo, req, run, &outcome, (base, tip), &mut fin)?;
    Ok(fin)
}

/// The prompt: the task, and what the team knows that bears on it.
fn prompt(store: &Store, run: &Started) -> Result<String, RunError> {
    let view = store.view()?;
    let query = crate::memory::retrieval::Query::for_task(&run.task, store.session.now());
    let (knowledge, decisions) = crate::store::recall(store, &view)?;
    let hits = crate::memory::retrieval::rank(&knowledge, &decisions, &query);
    let knowledge = crate::memory::retrieval::render(&hits, KNOWLEDGE_BUDGET);
    let context = super::prompt::Context {
        rework: run.task.rework.as_deref(),
        memory: &run.memory,
        knowledge: &knowledge,
        handover: &run.handover,
    };
    Ok(super::prompt::build(&run.task, &run.branch, &run.run_id, &context))
}

/// Where configured, the handover and memory also go into the agent's own context file, when
/// the worktree has none; it is left out of the commit and removed afterwards. Its name, when
/// written.
fn write_context_file(req: &RunRequest<'_>, run: &Started) -> Result<Option<&'static str>, RunError> {
    let name = req
        .performer
        .context_file
        .then(|| req.performer.adapter.context_file())
        .filter(|_| !run.handover.is_empty() || !run.memory.is_empty())
        .filter(|name| !run.worktree.join(name).exists());
    if let Some(name) = name {
        let text = format!(
            "<!-- Written by git-maestro for run {}; never committed. -->\n\n# Handover\n\n{}\n\n\
             # Memory of earlier runs\n\n{}\n",
            run.run_id, run.handover, run.memory
        );
        std::fs::write(run.worktree.join(name), text)?;
    }
    Ok(name)
}

/// Commit whatever the performer left, whatever its verdict: the work is kept. An agent that
/// detached HEAD or switched branches is put back on the task branch first. The branch's tip
/// after it.
fn commit_result(
    store: &Store,
    req: &RunRequest<'_>,
    run: &Started,
    fin: &mut Finish,
    context_file: Option<&str>,
) -> Result<Option<ObjectId>, RunError> {
    let (repo, worktree, run_id) = (&store.repo, &run.worktree, &run.run_id);
    let aside = worktree.with_extension(format!("broken-{run_id}"));
    if let git::Repair::Reattached(Some(head)) = repo.repair_task_worktree(worktree, &run.branch, &aside)? {
        store.keep(head)?;
        fin.repaired.get_or_insert_with(|| {
            format!("the agent left HEAD at {}, kept as refs/maestro/keep/{head}", head.to_hex_with_len(12))
        });
    }
    let message = format!(
        "{}\n\n{}\n\nMaestro-Score: {}\nMaestro-Task: {}\nMaestro-Run: {run_id}\n",
        run.task.title,
        fin.summary.clone().unwrap_or_else(|| format!("Run {run_id} by {}.", req.performer.name)),
        run.task.score,
        run.task.id,
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
    Ok(match committed.commit {
        Some(c) => Some(c),
        None => repo.read_ref(&format!("refs/heads/{}", run.branch))?,
    })
}

/// The run's result and verdict. The result is the branch at `tip`: a run that changes nothing
/// may still stand on an earlier attempt's work (after an interruption, or a person's
/// rollback), but a rework sent back with a reason must change what was sent back.
fn judge(
    repo: &git::Repo,
    req: &RunRequest<'_>,
    run: &Started,
    outcome: &Outcome,
    (base, tip): (ObjectId, Option<ObjectId>),
    fin: &mut Finish,
) -> Result<(), RunError> {
    let tree = tip.map(|tip| repo.commit_tree(tip)).transpose()?;
    let empty = tree.is_none() || tree == Some(repo.commit_tree(base)?);
    let unchanged = match tree {
        Some(tree) if !empty => unchanged_since(repo, tree, &run.since)?,
        _ => false,
    };
    fin.commit = tip.filter(|_| !empty);
    fin.failure = match outcome.failure.clone() {
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
        fin.stopped = super::stop::requested(repo.common_dir(), &run.run_id);
    }
    Ok(())
}

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
