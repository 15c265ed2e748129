//! Output: stdout is data, stderr is status. `--quiet` mutes status; `--json` makes stdout JSON.
//!
//! Much of what is printed came from elsewhere: the state (written by any clone, or by plain
//! git), agents, remotes and git. Every text line goes through [`shown`], which escapes control
//! characters visibly (`\u{1b}`, `\r`, `\u{7}`, …) so nothing printed can move the cursor,
//! rewrite the screen, set the clipboard (OSC 52) or hide a link (OSC 8); table cells and
//! [`field`]s, which are one line by nature, show newlines escaped too. JSON is exact: its
//! encoder escapes control characters itself.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell};
use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::color::{self, ColorWhen};

/// Where commands write.
pub struct Ui {
    pub json: bool,
    pub quiet: bool,
    /// `-v`: show the details and hints that are hidden by default.
    pub verbose: bool,
    /// Whether anything went to stdout, so a failing `--json` command never prints a second
    /// JSON document after its data.
    wrote_data: Cell<bool>,
    /// `--color`, and where to read `color.ui`; resolved on first use.
    color_flag: Option<ColorWhen>,
    color_dir: PathBuf,
    color: OnceCell<bool>,
    /// git's `color.ui`, when the command already opened the repository.
    color_ui: OnceCell<Option<String>>,
}

/// Output that is safe to print as it is: every untrusted part escaped, colour added after.
#[derive(Debug, Default)]
pub struct Painted(String);

impl Painted {
    /// Plain text, escaped like [`Ui::line`] does.
    pub fn plain(text: &str) -> Painted {
        Painted(shown(text).into_owned())
    }

    /// Append plain text (escaped).
    pub fn text(mut self, text: &str) -> Painted {
        self.0.push_str(&shown(text));
        self
    }

    /// Append painted text.
    pub fn then(mut self, more: Painted) -> Painted {
        self.0.push_str(&more.0);
        self
    }
}

impl Ui {
    /// A UI with the global options.
    pub fn new(json: bool, quiet: bool) -> Ui {
        Ui {
            json,
            quiet,
            verbose: false,
            wrote_data: Cell::new(false),
            color_flag: Some(ColorWhen::Never),
            color_dir: PathBuf::from("."),
            color: OnceCell::new(),
            color_ui: OnceCell::new(),
        }
    }

    /// With `-v`.
    pub fn verbose(mut self, verbose: bool) -> Ui {
        self.verbose = verbose;
        self
    }

    /// Colour as `--color` (`flag`) and git's rules say, reading `color.ui` in `dir`.
    pub fn color(mut self, flag: Option<ColorWhen>, dir: PathBuf) -> Ui {
        self.color_flag = flag;
        self.color_dir = dir;
        self
    }

    /// Whether stdout is coloured (never under `--json`).
    fn colored(&self) -> bool {
        !self.json
            && *self.color.get_or_init(|| color::wanted(self.color_flag, &self.color_dir, self.color_ui.get().cloned()))
    }

    /// Note `color.ui` from the repository the command opened, so that deciding colour later
    /// does not open it a second time.
    pub fn saw_repo(&self, repo: &crate::git::Repo) {
        if !self.json && self.color.get().is_none() && self.color_ui.get().is_none() {
            let _ = self.color_ui.set(repo.config_string("color.ui"));
        }
    }

    /// A status word (`merged`, `failed`, …), escaped, in its colour when colouring.
    pub fn status_word(&self, word: &str) -> Painted {
        let escaped = field(word);
        Painted(if self.colored() { color::paint(&escaped, word) } else { escaped.into_owned() })
    }

    /// Rows as [`table`] renders them, with the cells of column `status_col` as status words.
    pub fn table(&self, rows: &[Vec<String>], status_col: usize) -> Painted {
        let colored = self.colored();
        Painted(render_table(rows, |col, cell| {
            if colored && col == status_col { color::paint(cell, cell) } else { cell.to_owned() }
        }))
    }

    /// A line of painted data on stdout.
    pub fn painted(&self, text: &Painted) -> std::io::Result<()> {
        self.wrote_data.set(true);
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", text.0)
    }

    /// Whether a command wrote data to stdout.
    pub fn wrote_data(&self) -> bool {
        self.wrote_data.get()
    }

    /// A line of data on stdout.
    pub fn line(&self, text: impl std::fmt::Display) -> std::io::Result<()> {
        self.wrote_data.set(true);
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", shown(&text.to_string()))
    }

    /// A value as pretty JSON on stdout, in the public vocabulary ([`super::json::public`]).
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> std::io::Result<()> {
        self.wrote_data.set(true);
        let value = super::json::public(serde_json::to_value(value).map_err(std::io::Error::from)?);
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &value).map_err(std::io::Error::from)?;
        writeln!(out)
    }

    /// A value as one line of JSON on stdout (event streams), in the public vocabulary.
    pub fn json_line<T: Serialize + ?Sized>(&self, value: &T) -> std::io::Result<()> {
        self.wrote_data.set(true);
        let value = super::json::public(serde_json::to_value(value).map_err(std::io::Error::from)?);
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &value).map_err(std::io::Error::from)?;
        writeln!(out)
    }

    /// A status line on stderr, unless `--quiet`.
    pub fn status(&self, text: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{}", shown(&text.to_string()));
        }
    }

    /// A spinner on stderr when it is a terminal (and not `--quiet` or `--json`); `None`
    /// otherwise, so callers fall back to plain status lines.
    pub fn spinner(&self, message: String) -> Option<indicatif::ProgressBar> {
        use std::io::IsTerminal;
        if self.quiet || self.json || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}") {
            bar.set_style(style);
        }
        bar.set_message(shown(&message).into_owned());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(bar)
    }

    /// A warning on stderr, shown even with `--quiet`.
    pub fn warn(&self, text: impl std::fmt::Display) {
        let _ = writeln!(std::io::stderr(), "Warning: {}", shown(&text.to_string()));
    }

    /// The command to run next, after a warning; shown even with `--quiet`.
    pub fn hint(&self, text: impl std::fmt::Display) {
        let _ = writeln!(std::io::stderr(), "Hint: {}", shown(&text.to_string()));
    }
}

/// `n` and `noun`, in the plural unless `n` is 1: "1 task", "2 tasks".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// `text` with every control character but the newline escaped visibly: safe to print on a
/// terminal whatever its origin. Borrowed when there is nothing to escape.
pub fn shown(text: &str) -> Cow<'_, str> {
    escaped(text, |c| unsafe_char(c) && c != '\n')
}

/// A one-line value of untrusted origin (an id, a title, a note): [`shown`], with newlines
/// escaped too, so it cannot pass for another line of output.
pub fn field(text: &str) -> Cow<'_, str> {
    escaped(text, unsafe_char)
}

/// Control characters, and the bidirectional overrides that make text read otherwise than it
/// is stored.
fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escaped(text: &str, bad: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&bad) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(|c| if bad(c) { c.escape_default().to_string() } else { c.to_string() }).collect())
}

/// Render rows as left-aligned columns, each cell a [`field`]; the last column is not padded.
pub fn table(rows: &[Vec<String>]) -> String {
    render_table(rows, |_, cell| cell.to_owned())
}

/// [`table`], with `paint(column, escaped cell)` giving what is printed for each cell; the
/// padding is computed on the cells themselves.
fn render_table(rows: &[Vec<String>], paint: impl Fn(usize, &str) -> String) -> String {
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| field(c).into_owned()).collect()).collect();
    let rows = &rows[..];
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(&paint(c, cell));
            if c + 1 < row.len() {
                let pad = widths[c] - cell.chars().count();
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.pop();
    out
}
