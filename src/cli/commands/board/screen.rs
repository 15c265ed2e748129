//! The board's terminal: entering and restoring it, drawing the rows with ratatui, and what
//! each key does.

use std::io::Stdout;

use crossterm::event::{KeyCode, KeyEvent};
use crossterm::{execute, terminal};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::activity::{Activity, Notes};
use super::view::{self, Kind, Row};
use crate::cli::error::{CommandError, CommandResult};
use crate::cli::watch::model::Board;
use crate::store::Store;

/// The smallest terminal the board draws in.
pub const MIN: (u16, u16) = (60, 16);

/// What the loop does after a key.
pub enum Action {
    Redraw,
    Quit,
    /// Show the diff of (Score, task) outside the board.
    Diff(String, String),
    /// Run (Score, task) again, as `git maestro task run`.
    Retry(String, String),
    /// Open a shell in the worktree of (Score, task), outside the board.
    Shell(String, String),
    /// Merge (Score, task), as `git maestro merge`.
    Merge(String, String),
}

/// The keys, on the help line.
pub const HELP: &str = "a approve  r reject  d diff  t retry  s stop  o shell  m merge  q quit";

/// What the board shows besides the state: selection, typed input, the last message.
pub struct State {
    only: Option<String>,
    color: bool,
    /// The selected task, as (Score, task).
    selected: Option<(String, String)>,
    /// The reason being typed for a rejection.
    input: Option<String>,
    pub message: String,
    /// Ring the bell at the next draw (something started needing you).
    pub bell: bool,
    activity: Activity,
    notes: Notes,
    rows: Vec<Row>,
}

impl State {
    pub fn new(only: Option<String>, color: bool) -> State {
        State {
            only,
            color,
            selected: None,
            input: None,
            message: String::new(),
            bell: false,
            activity: Activity::default(),
            notes: Notes::default(),
            rows: Vec::new(),
        }
    }

    /// Handle `key`: move, act, type.
    pub fn key(&mut self, key: KeyEvent, store: &Store, board: &Board) -> Action {
        if super::is_ctrl_c(&key) {
            return Action::Quit;
        }
        if let Some(input) = &mut self.input {
            match key.code {
                KeyCode::Esc => {
                    self.input = None;
                    self.message = "rejection cancelled".into();
                }
                KeyCode::Enter => {
                    let reason = std::mem::take(input);
                    self.input = None;
                    self.review(store, false, &reason);
                }
                KeyCode::Backspace => {
                    input.pop();
                }
                KeyCode::Char(c) => input.push(c),
                _ => {}
            }
            return Action::Redraw;
        }
        self.rows = view::rows(board, self.only.as_deref(), jiff::Timestamp::now());
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Action::Quit,
            KeyCode::Down | KeyCode::Char('j') => self.step(1),
            KeyCode::Up | KeyCode::Char('k') => self.step(-1),
            KeyCode::Char('a') => self.review(store, true, ""),
            KeyCode::Char('r') if self.selected.is_some() => self.input = Some(String::new()),
            KeyCode::Char(c @ ('d' | 't' | 'o' | 'm' | 's')) => {
                let Some((score, task)) = self.selected.clone() else {
                    self.message = "select a task first".into();
                    return Action::Redraw;
                };
                match c {
                    'd' => return Action::Diff(score, task),
                    't' => return Action::Retry(score, task),
                    'o' => return Action::Shell(score, task),
                    'm' => return Action::Merge(score, task),
                    _ => self.message = super::actions::stop(store, &score, &task),
                }
            }
            _ => {}
        }
        Action::Redraw
    }

    /// Approve or reject the selected task: the human step, as `approve` and `reject` do.
    fn review(&mut self, store: &Store, approve: bool, reason: &str) {
        let Some((score, task)) = self.selected.clone() else {
            self.message = "select a task first".into();
            return;
        };
        self.message = match crate::approval::review(store, &score, &task, approve, reason) {
            Ok(t) => format!("{}  {}", t.address(), t.status),
            Err(e) => CommandError::from(e).render().lines().next().unwrap_or_default().to_owned(),
        };
    }

    /// Move the selection by `by` selectable rows.
    fn step(&mut self, by: isize) {
        let selectable: Vec<usize> = (0..self.rows.len()).filter(|&i| self.rows[i].task.is_some()).collect();
        if selectable.is_empty() {
            return;
        }
        let at = self.selected_row().and_then(|r| selectable.iter().position(|&i| i == r));
        let next = match at {
            None => 0,
            Some(p) => p.saturating_add_signed(by).min(selectable.len() - 1),
        };
        self.selected = self.rows[selectable[next]].task.clone();
    }

    fn selected_row(&self) -> Option<usize> {
        let sel = self.selected.as_ref()?;
        // The tree row first: the needs-you entry of the same task comes earlier.
        self.rows.iter().rposition(|r| r.task.as_ref() == Some(sel))
    }
}

/// The terminal in raw mode on the alternate screen; restored when dropped, and by the panic
/// hook installed on entering.
pub struct Terminal {
    inner: ratatui::Terminal<CrosstermBackend<Stdout>>,
}

impl Terminal {
    pub fn enter() -> CommandResult<Terminal> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        setup()?;
        let inner = ratatui::Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(CommandError::from)?;
        Ok(Terminal { inner })
    }

    /// Run `f` on the normal screen (a pager), then come back; its message is shown.
    pub fn suspended(&mut self, f: impl FnOnce() -> String) -> CommandResult<String> {
        restore();
        let message = f();
        setup()?;
        self.inner.clear().map_err(CommandError::from)?;
        Ok(message)
    }

    pub fn draw(&mut self, state: &mut State, board: &Board, store: &Store) -> CommandResult {
        state.rows = view::rows(board, state.only.as_deref(), jiff::Timestamp::now());
        if state.selected_row().is_none() {
            state.selected = None;
            state.step(0);
        }
        follow(state, board, store);
        if std::mem::take(&mut state.bell) {
            use std::io::Write as _;
            let _ = std::io::stdout().write_all(b"\x07");
        }
        self.inner.draw(|frame| render(frame, state)).map_err(CommandError::from)?;
        Ok(())
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        restore();
    }
}

fn setup() -> CommandResult {
    terminal::enable_raw_mode().map_err(CommandError::from)?;
    execute!(std::io::stdout(), terminal::EnterAlternateScreen, crossterm::cursor::Hide).map_err(CommandError::from)?;
    Ok(())
}

fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(std::io::stdout(), terminal::LeaveAlternateScreen, crossterm::cursor::Show);
}

/// Point the activity pane at the selected task's latest run.
fn follow(state: &mut State, board: &Board, store: &Store) {
    state.notes.follow(store, state.selected.as_ref());
    let run = state.selected.as_ref().and_then(|(score, task)| {
        let t = board.scores.iter().find(|s| &s.score == score)?.tasks.iter().find(|t| &t.id == task)?;
        let a = t.last.as_ref()?;
        let path = crate::performer::task_run::transcript(store.repo.common_dir(), score, task, &a.run);
        Some((path, a.adapter.clone()))
    });
    match run {
        Some((path, adapter)) => state.activity.follow(Some(path), &adapter),
        None => state.activity.follow(None, "command"),
    };
}

fn render(frame: &mut ratatui::Frame<'_>, state: &State) {
    let area = frame.area();
    if area.width < MIN.0 || area.height < MIN.1 {
        let text = format!("Terminal too small ({}×{}): needs {}×{}.", area.width, area.height, MIN.0, MIN.1);
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let [list, activity, help] =
        Layout::vertical([Constraint::Min(6), Constraint::Length(8), Constraint::Length(1)]).areas(area);
    let selected = state.selected_row();
    let height = usize::from(list.height);
    let offset = selected.map_or(0, |s| (s + 1).saturating_sub(height));
    let lines: Vec<Line<'_>> = state
        .rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, r)| line(r, Some(i) == selected, state.color))
        .collect();
    frame.render_widget(Paragraph::new(lines), list);
    let title = state.selected.as_ref().map_or_else(|| " activity ".to_owned(), |(s, t)| format!(" {s}/{t} "));
    let inner = usize::from(activity.height.saturating_sub(2));
    // The transcript's tail, then what the state says (checks, handovers).
    let all: Vec<&String> = state.activity.lines.iter().chain(&state.notes.lines).collect();
    let tail = all.iter().skip(all.len().saturating_sub(inner));
    let tail: Vec<Line<'_>> = tail.map(|l| Line::raw(l.as_str())).collect();
    frame.render_widget(Paragraph::new(tail).block(Block::default().borders(Borders::TOP).title(title)), activity);
    let help_text = match &state.input {
        Some(input) => format!("Reject: reason? {input}_  (Enter to reject, Esc to cancel)"),
        None if !state.message.is_empty() => format!("{}  |  {HELP}", state.message),
        None => format!("↑↓ move  {HELP}"),
    };
    frame.render_widget(Paragraph::new(help_text).style(Style::default().add_modifier(Modifier::REVERSED)), help);
}

fn line(row: &Row, selected: bool, color: bool) -> Line<'_> {
    let mut style = match row.kind {
        Kind::Heading | Kind::Score => Style::default().add_modifier(Modifier::BOLD),
        Kind::NeedsYou | Kind::Warning if color => Style::default().fg(Color::Yellow),
        _ => Style::default(),
    };
    if selected {
        style = style.add_modifier(Modifier::REVERSED);
    }
    let Some(word) = row.status.as_deref().filter(|_| color && row.kind == Kind::Task) else {
        return Line::from(Span::styled(row.text.as_str(), style));
    };
    // The status word in its colour, as `status` paints it.
    match row.text.find(&format!(" {word} ")) {
        Some(at) => Line::from(vec![
            Span::styled(&row.text[..=at], style),
            Span::styled(&row.text[at + 1..at + 1 + word.len()], style.fg(status_color(word))),
            Span::styled(&row.text[at + 1 + word.len()..], style),
        ]),
        None => Line::from(Span::styled(row.text.as_str(), style)),
    }
}

fn status_color(word: &str) -> Color {
    match word {
        "merged" | "approved" | "done" | "landed" => Color::Green,
        "running" | "assigned" => Color::Cyan,
        "submitted" => Color::Yellow,
        "failed" | "rejected" | "blocked" | "conflict" => Color::Red,
        _ => Color::Reset,
    }
}
