//! While a task's performer runs: its lease is renewed and its usage so far is recorded on the
//! running attempt, so `status` and `task show` (here or on a clone that synced) show it live.
//!
//! The writes happen on a thread of their own, never on the path that reads the performer's
//! output: a budget reached must stop the performer at once, not after a state transaction.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::adapter::Event;
use crate::model::budget::Usage;
use crate::store::{self, Session, Store, layout};

/// Usage is written at most this often.
const USAGE_EVERY: Duration = Duration::from_secs(1);

/// What the reading path hands the recorder.
enum Note {
    /// The performer reported something: it is alive.
    Alive,
    Usage {
        tokens: Usage,
        cost_usd: Option<f64>,
    },
    Model(String),
}

/// Run `body` with an event sink that feeds the recorder of run `run` of `score/task`; the
/// lease is renewed at most every `heartbeat` while events come. Returns what `body` returned.
pub(super) fn recording<R>(
    store: &Store,
    (score, task, run): (&str, &str, &str),
    heartbeat: Duration,
    body: impl FnOnce(&mut dyn FnMut(&Event)) -> R,
) -> R {
    let (tx, rx) = mpsc::channel::<Note>();
    let dir = store.repo.common_dir().to_owned();
    let s = &store.session;
    let session = Session::new(s.actor.clone(), s.email.clone(), s.argv.clone(), s.clock, None);
    std::thread::scope(|scope| {
        let recorder = scope.spawn(move || -> Vec<String> {
            match crate::git::Repo::discover(&dir) {
                Ok(repo) => record(&Store::new(repo, session), (score, task, run), heartbeat, &rx),
                Err(e) => vec![format!("cannot record the run of {score}/{task} live: {e}")],
            }
        });
        let mut sink = |e: &Event| {
            let note = match e {
                Event::Usage { tokens, cost_usd } => Note::Usage { tokens: *tokens, cost_usd: *cost_usd },
                Event::Model(m) => Note::Model(m.clone()),
                _ => Note::Alive,
            };
            let _ = tx.send(note);
        };
        let out = body(&mut sink);
        drop(tx);
        for notice in recorder.join().unwrap_or_default() {
            store.notice(notice);
        }
        out
    })
}

/// The recorder's loop: until the sender is gone, write what came, no more often than
/// allowed. Returns the problems met, as notices.
fn record(
    store: &Store,
    (score, task, run): (&str, &str, &str),
    heartbeat: Duration,
    rx: &mpsc::Receiver<Note>,
) -> Vec<String> {
    let mut notices = Vec::new();
    let (mut alive, mut usage, mut model) = (false, None, None);
    let (mut renewed, mut written) = (Instant::now(), None::<Instant>);
    let mut open = true;
    while open {
        match rx.recv_timeout(USAGE_EVERY) {
            Ok(Note::Alive) => alive = true,
            Ok(Note::Usage { tokens, cost_usd }) => (alive, usage) = (true, Some((tokens, cost_usd))),
            Ok(Note::Model(m)) => (alive, model) = (true, Some(m)),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => open = false,
        }
        let renew = alive && renewed.elapsed() >= heartbeat;
        let show = (usage.is_some() || model.is_some()) && written.is_none_or(|w| w.elapsed() >= USAGE_EVERY);
        if !(renew || show) || !open {
            continue;
        }
        if let Err(e) = write(store, (score, task, run), usage.take(), model.take()) {
            notices.push(format!("cannot record the run of {score}/{task} live: {e}"));
        }
        (alive, renewed, written) = (false, if renew { Instant::now() } else { renewed }, Some(Instant::now()));
    }
    notices
}

/// Renew the lease of `run` and put its usage so far on its attempt, if it still holds the task.
fn write(
    store: &Store,
    (score, task, run): (&str, &str, &str),
    usage: Option<(Usage, Option<f64>)>,
    model: Option<String>,
) -> Result<(), store::Error> {
    let _written = store.transact(&format!("heartbeat of {score}/{task}"), |tx| {
        let mut t = store::task(tx, score, task)?;
        let Some(lease) = t.lease.as_mut().filter(|l| l.run == run) else { return Ok(()) };
        lease.heartbeat = tx.now;
        if let Some(a) = t.attempts.iter_mut().rev().find(|a| a.run == run) {
            if let Some((tokens, cost)) = usage {
                a.input_tokens = Some(tokens.input);
                a.cache_read_tokens = Some(tokens.cache_read);
                a.cache_write_tokens = Some(tokens.cache_write);
                a.output_tokens = Some(tokens.output);
                a.cost_usd = cost;
            }
            if model.is_some() {
                a.model.clone_from(&model);
            }
        }
        tx.put(&layout::task_file(score, task), &t)?;
        Ok::<_, store::Error>(())
    })?;
    Ok(())
}
