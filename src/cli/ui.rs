//! Output: stdout is data, stderr is status. `--quiet` mutes status; `--json` makes stdout JSON.

use std::cell::Cell;
use std::io::Write;

use serde::Serialize;

/// Where commands write.
pub struct Ui {
    pub json: bool,
    pub quiet: bool,
    /// Whether anything went to stdout, so a failing `--json` command never prints a second
    /// JSON document after its data.
    wrote_data: Cell<bool>,
}

impl Ui {
    /// A UI with the global options.
    pub fn new(json: bool, quiet: bool) -> Ui {
        Ui { json, quiet, wrote_data: Cell::new(false) }
    }

    /// Whether a command wrote data to stdout.
    pub fn wrote_data(&self) -> bool {
        self.wrote_data.get()
    }

    /// A line of data on stdout.
    pub fn line(&self, text: impl std::fmt::Display) -> std::io::Result<()> {
        self.wrote_data.set(true);
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")
    }

    /// A value as pretty JSON on stdout.
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> std::io::Result<()> {
        self.wrote_data.set(true);
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
        writeln!(out)
    }

    /// A value as one line of JSON on stdout (event streams).
    pub fn json_line<T: Serialize + ?Sized>(&self, value: &T) -> std::io::Result<()> {
        self.wrote_data.set(true);
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, value).map_err(std::io::Error::from)?;
        writeln!(out)
    }

    /// A status line on stderr, unless `--quiet`.
    pub fn status(&self, text: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{text}");
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
        bar.set_message(message);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(bar)
    }

    /// A warning on stderr, shown even with `--quiet`.
    pub fn warn(&self, text: impl std::fmt::Display) {
        let _ = writeln!(std::io::stderr(), "Warning: {text}");
    }

    /// The command to run next, after a warning; shown even with `--quiet`.
    pub fn hint(&self, text: impl std::fmt::Display) {
        let _ = writeln!(std::io::stderr(), "Hint: {text}");
    }
}

/// Render rows as left-aligned columns; the last column is not padded.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.pop();
    out
}
