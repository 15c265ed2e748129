//! Watching the state: `git maestro status --watch`.
//!
//! The watcher reads the oid of `refs/maestro/state` (one ref read) a few times a second, and
//! only when it moved reads the state again: each state commit between the last one seen and
//! the new tip (first parents, up to [`MAX_STEPS`]), so that every transition a writer
//! recorded is reported, even several between two polls. [`model::diff`] turns two boards into
//! events.
//!
//! Notifications come from here, and only from here: a watcher that sees a task start needing
//! a person runs the `[notify] command` of trusted config with the event on stdin (see
//! [`notify`]). Each watcher process notifies each such change once; nothing is notified for
//! what the first snapshot already shows.

pub mod model;
pub mod notify;

use std::time::Duration;

use crate::cli::commands::status::Why;
use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::git::ObjectId;
use crate::model::TaskStatus;
use crate::store::{self, Store};
use model::{Board, Event};

/// How often the state ref is read.
pub const POLL: Duration = Duration::from_millis(250);

/// At most this many state commits are read one by one after a move; beyond that the watcher
/// reports the difference between the last board and the new tip.
pub const MAX_STEPS: usize = 64;

/// `status --watch`: a snapshot, then the events of each change, until Ctrl-C (exit 0) or until
/// stdout closes.
pub fn cmd_watch(ctx: &Context) -> CommandResult {
    let store = ctx.store()?;
    let mut watcher = Watcher::new(ctx, &store)?;
    emit(ctx, &Event::Snapshot { scores: watcher.board.scores.clone() })?;
    if watcher.config.is_none() {
        ctx.ui.warn("the trusted config does not load: no notify command runs (see `git maestro doctor`)");
    }
    let notifier = notify::Notifier::new(watcher.config.as_ref().and_then(|c| c.notify.clone()));
    loop {
        let stop = wait(POLL);
        for event in watcher.poll()? {
            emit(ctx, &event)?;
            if matches!(event, Event::NeedsYou { .. }) {
                notifier.send(&event);
            }
        }
        for problem in notifier.problems() {
            ctx.ui.warn(problem);
        }
        if stop {
            notifier.finish();
            return Ok(());
        }
    }
}

/// Follows the state ref and keeps the board of its last commit.
pub struct Watcher<'s> {
    store: &'s Store,
    /// Trusted config, when it loads: some reasons come from it.
    config: Option<crate::config::Config>,
    tip: ObjectId,
    pub board: Board,
    /// Task records by bucket tree, so a read after a write decodes only what changed.
    kept: store::KeptTasks,
}

impl<'s> Watcher<'s> {
    /// A watcher at the current state; an error when there is none.
    pub fn new(ctx: &Context, store: &'s Store) -> CommandResult<Watcher<'s>> {
        let tip = store.view()?.commit.ok_or(store::Error::NotInitialized)?;
        let config = ctx.config(&store.repo).ok();
        let mut watcher = Watcher { store, config, tip, board: Board::default(), kept: Default::default() };
        watcher.board = watcher.read(tip)?;
        Ok(watcher)
    }

    /// The events since the last call: none when the state ref did not move.
    pub fn poll(&mut self) -> CommandResult<Vec<Event>> {
        let Some(now) = self.store.tip()? else {
            return Ok(Vec::new());
        };
        if now == self.tip {
            return Ok(Vec::new());
        }
        let mut events = Vec::new();
        for commit in self.steps(now)? {
            match self.read(commit) {
                Ok(board) => {
                    events.extend(model::diff(&self.board, &board));
                    self.board = board;
                }
                Err(e) => events.push(Event::Unreadable { message: e.to_string() }),
            }
        }
        self.tip = now;
        Ok(events)
    }

    /// The state commits from the one after the last seen to `now`, oldest first; only `now`
    /// when the last seen is not among the first `MAX_STEPS` first parents (a sync that
    /// replaced the history, or many writes at once).
    fn steps(&self, now: ObjectId) -> CommandResult<Vec<ObjectId>> {
        let mut chain = vec![now];
        let mut at = now;
        while chain.len() <= MAX_STEPS {
            let Some(parent) = self.store.repo.commit_info(at).map_err(store::Error::from)?.parents.first().copied()
            else {
                break;
            };
            if parent == self.tip {
                chain.reverse();
                return Ok(chain);
            }
            chain.push(parent);
            at = parent;
        }
        Ok(vec![now])
    }

    /// The board of the state commit `commit`.
    fn read(&mut self, commit: ObjectId) -> store::Result<Board> {
        let view = self.store.view_at(commit)?;
        // A record this version refuses (a Score, a task, a task listed but gone) is shown
        // with why, and the rest of the state still is.
        let (readable, refused) = store::readable_scores(&view)?;
        let mut scores = Vec::new();
        for score in readable {
            let read = match self.kept.readable_tasks(&view, &score) {
                Ok(read) => read,
                Err(e @ store::Error::TaskNotFound { .. }) => {
                    let path = store::layout::score_file(&score.id);
                    (Vec::new(), [(path, e.to_string())].into())
                }
                Err(e) => return Err(e),
            };
            scores.push((score, read.0, read.1));
        }
        self.kept.sweep();
        // The decision log gives the reasons of rejected and blocked tasks: read only then.
        let stopped = scores
            .iter()
            .any(|(_, tasks, _)| tasks.iter().any(|t| matches!(t.status, TaskStatus::Blocked | TaskStatus::Rejected)));
        let decisions = if stopped { store::decisions(&view)? } else { Vec::new() };
        let mut board = Board::new(scores, &Why::new(self.config.clone(), decisions));
        board.unreadable = refused;
        Ok(board)
    }
}

/// Sleep for `pause`, or less when Ctrl-C came or stdout closed; whether to stop.
fn wait(pause: Duration) -> bool {
    if crate::git::interrupted() {
        return true;
    }
    stdout_closed(pause) || crate::git::interrupted()
}

/// Whether stdout closed (its reader went, its terminal hung up), waiting up to `pause` for it.
pub fn stdout_closed(pause: Duration) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let stdout = std::io::stdout();
    // No event asked for: poll reports only an error or hang-up of stdout.
    let mut fds = [PollFd::new(&stdout, PollFlags::empty())];
    let timeout = Timespec { tv_sec: 0, tv_nsec: i64::from(pause.subsec_nanos()) };
    match poll(&mut fds, Some(&timeout)) {
        Ok(0) | Err(_) => false,
        Ok(_) => fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL),
    }
}

/// One event on stdout: a JSON line with `--json`, else readable lines.
fn emit(ctx: &Context, event: &Event) -> CommandResult {
    if ctx.ui.json {
        ctx.ui.json_line(event)?;
    } else {
        for line in text::lines(event) {
            ctx.ui.line(line)?;
        }
    }
    Ok(())
}

mod text;
