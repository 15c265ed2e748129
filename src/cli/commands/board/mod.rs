//! `git maestro board`: a live terminal view of every Score, what needs you, and the selected
//! task's activity, with single-key actions.
//!
//! It follows the state with the watcher of `status --watch` (one ref read per tick, state
//! reads only when the ref moved) and the selected run's transcript (a `stat` per tick). The
//! actions call the same core functions as their commands (`approve`, `reject`: the human
//! step, [`crate::approval::review`]); the diff is `git diff` in the user's pager, outside the
//! alternate screen. The terminal is restored on exit, Ctrl-C, a signal and a panic.

mod actions;
mod activity;
mod forecast;
mod screen;
mod view;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::cli::watch::{POLL, Watcher, model::Event, notify::Notifier};

#[derive(Debug, clap::Args)]
pub struct BoardArgs {
    /// Show only this Score
    pub score: Option<String>,
}

pub fn cmd_board(ctx: &Context, args: &BoardArgs) -> CommandResult {
    let only = args.score.as_deref().map(|s| crate::cli::args::slug("score id", s)).transpose()?;
    let store = ctx.store()?;
    let mut watcher = Watcher::new(ctx, &store)?;
    let mut forecasts = forecast::Forecasts::default();
    forecasts.apply(&store, &mut watcher.board);
    if let Some(id) = &only
        && !watcher.board.scores.iter().any(|s| &s.score == id)
    {
        return Err(crate::store::Error::ScoreNotFound(id.clone()).into());
    }
    let notifier = Notifier::new(ctx.config(&store.repo).ok().and_then(|c| c.notify));
    let mut state = screen::State::new(only, std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()));
    let mut term = screen::Terminal::enter()?;
    let mut last_draw = Instant::now();
    term.draw(&mut state, &watcher.board, &store)?;
    let keys = Keys::start();
    let mut jobs = actions::Jobs::default();
    loop {
        // A terminal that went away (its window closed) ends the board.
        if crate::git::interrupted() || crate::cli::watch::stdout_closed(Duration::ZERO) {
            break;
        }
        let mut dirty = false;
        match keys.events.recv_timeout(POLL) {
            Ok(TermEvent::Key(key)) if key.kind != KeyEventKind::Release => {
                match state.key(key, &store, &watcher.board) {
                    screen::Action::Quit => break,
                    screen::Action::Diff(score, task) => {
                        let base = diff_base(&store, &score);
                        let _paused = keys.pause();
                        state.message = term.suspended(|| diff(ctx, &base, &score, &task))?;
                    }
                    screen::Action::Retry(score, task) => {
                        state.message = jobs.retry(ctx, &store, &score, &task);
                    }
                    screen::Action::Shell(score, task) => {
                        let _paused = keys.pause();
                        state.message = term.suspended(|| actions::shell(&store, &score, &task))?;
                    }
                    screen::Action::Merge(score, task) => {
                        state.message = jobs.merge(ctx, &store, &score, &task);
                    }
                    screen::Action::Redraw => {}
                }
                dirty = true;
            }
            Ok(TermEvent::Resize(..)) => dirty = true,
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if let Some(ended) = jobs.ended().pop() {
            state.message = ended;
            dirty = true;
        }
        let events = watcher.poll()?;
        if !events.is_empty() {
            forecasts.apply(&store, &mut watcher.board);
        }
        for e in events {
            dirty = true;
            match &e {
                Event::NeedsYou { .. } => {
                    notifier.send(&e);
                    state.bell = true;
                }
                // The state changed shape (a record refused, unreadable): said, and the board
                // goes on with what reads.
                Event::Unreadable { message } => state.message = crate::cli::ui::field(message).into_owned(),
                _ => {}
            }
        }
        if let Some(problem) = notifier.problems().pop() {
            state.message = problem;
            dirty = true;
        }
        // Elapsed times move once a second.
        if dirty || last_draw.elapsed() >= Duration::from_secs(1) {
            term.draw(&mut state, &watcher.board, &store)?;
            last_draw = Instant::now();
        }
    }
    drop(term);
    notifier.finish();
    Ok(())
}

/// What a task's result is compared with: the Score's integration branch, or its target
/// before the first merge made one.
fn diff_base(store: &crate::store::Store, score: &str) -> String {
    let integration = crate::model::branches::integration_branch(score);
    if let Ok(Some(_)) = store.repo.read_ref(&format!("refs/heads/{integration}")) {
        return integration;
    }
    let target = store.view().and_then(|v| crate::store::score(&v, score)).map(|s| s.target);
    target.unwrap_or(integration)
}

/// `git diff <base>...<task branch>` in the checkout, git's pager rules applying.
fn diff(ctx: &Context, base: &str, score: &str, task: &str) -> String {
    let range = format!("{base}...{}", crate::model::branches::task_branch(score, task));
    match std::process::Command::new("git").arg("-C").arg(ctx.dir()).args(["diff", &range, "--"]).status() {
        Ok(s) if s.success() => format!("diff {range} shown"),
        Ok(s) => format!("git diff {range} failed: {s}"),
        Err(e) => format!("cannot run git diff: {e}"),
    }
}

/// The terminal's events, read on a thread of their own: crossterm spins reading a terminal
/// that hung up, and the board must still see that its stdout is gone and exit (which ends
/// the thread with the process).
struct Keys {
    events: mpsc::Receiver<TermEvent>,
    paused: Arc<AtomicBool>,
}

impl Keys {
    fn start() -> Keys {
        let (tx, events) = mpsc::channel();
        let paused = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&paused);
        std::thread::spawn(move || {
            loop {
                if flag.load(Ordering::Relaxed) {
                    std::thread::sleep(READ_SLICE);
                    continue;
                }
                match event::poll(READ_SLICE) {
                    Ok(true) => {
                        let Ok(e) = event::read() else { return };
                        if tx.send(e).is_err() {
                            return;
                        }
                    }
                    Ok(false) => {}
                    Err(_) => return,
                }
            }
        });
        Keys { events, paused }
    }

    /// Stop reading keys until the guard is dropped: a pager reads them meanwhile.
    fn pause(&self) -> Paused<'_> {
        self.paused.store(true, Ordering::Relaxed);
        // The read under way ends within one slice.
        std::thread::sleep(READ_SLICE * 2);
        Paused(&self.paused)
    }
}

/// How long the key reader waits at a time.
const READ_SLICE: Duration = Duration::from_millis(100);

struct Paused<'k>(&'k AtomicBool);

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// Whether `key` is Ctrl-C (in raw mode it is a key, not a signal).
fn is_ctrl_c(key: &KeyEvent) -> bool {
    key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL)
}
