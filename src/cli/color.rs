//! Colour by git's rules, on status words only.
//!
//! Whether to colour is decided once per command, in this order: `--color=always|never`;
//! `NO_COLOR` (set and not empty: never); git's `color.ui` (`always`, `never`, `auto`, or a
//! boolean where true means auto, as git reads it, `git -c color.ui=…` included); otherwise
//! auto: only when stdout is a terminal (and `TERM` is not `dumb`). JSON is never coloured.
//!
//! Colour codes are added to text that is already escaped ([`super::ui::field`]), so nothing
//! from the state can smuggle its own escape sequences in beside ours.

use std::path::Path;

/// `--color`: when to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// Colour when stdout is a terminal, unless NO_COLOR or color.ui says otherwise
    Auto,
    /// Always colour status words
    Always,
    /// Never colour
    Never,
}

/// Whether to colour stdout, given `--color` and `color.ui`: as read already (`known`), or
/// from the repository in `dir`.
pub fn wanted(flag: Option<ColorWhen>, dir: &Path, known: Option<Option<String>>) -> bool {
    match flag {
        Some(ColorWhen::Always) => return true,
        Some(ColorWhen::Never) => return false,
        Some(ColorWhen::Auto) | None => {}
    }
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    let from_git = match flag {
        Some(ColorWhen::Auto) => None,
        _ => known.unwrap_or_else(|| crate::git::Repo::discover(dir).ok().and_then(|r| r.config_string("color.ui"))),
    };
    match from_git.as_deref().map(color_ui) {
        Some(Some(decided)) => decided,
        _ => stdout_is_terminal(),
    }
}

/// git's reading of `color.ui`: `Some(true)` always, `Some(false)` never, `None` auto.
fn color_ui(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "always" => Some(true),
        "never" => Some(false),
        "auto" => None,
        // A boolean: true has meant auto since git 1.8.4; false is never.
        other => match crate::config::boolean::parse(Some(other)) {
            Some(false) => Some(false),
            _ => None,
        },
    }
}

fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// The ANSI colour of a status word (task, Score or check status), if it has one.
pub fn of_status(word: &str) -> Option<&'static str> {
    Some(match word {
        "merged" | "landed" | "approved" | "done" | "ok" => "\x1b[32m",
        "failed" | "rejected" | "conflict" | "blocked" | "rolled-back" | "fail" => "\x1b[31m",
        "running" | "assigned" | "submitted" | "warn" => "\x1b[33m",
        "ready" => "\x1b[36m",
        "reverted" => "\x1b[35m",
        _ => return None,
    })
}

/// `escaped` (text already made safe) in the colour of `word`'s status, reset after.
pub fn paint(escaped: &str, word: &str) -> String {
    match of_status(word) {
        Some(code) => format!("{code}{escaped}\x1b[m"),
        None => escaped.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::color_ui;

    #[test]
    fn color_ui_reads_as_git_does() {
        assert_eq!(color_ui("always"), Some(true));
        assert_eq!(color_ui("NEVER"), Some(false));
        assert_eq!(color_ui("false"), Some(false));
        assert_eq!(color_ui("0"), Some(false));
        assert_eq!(color_ui("auto"), None);
        assert_eq!(color_ui("true"), None, "true is auto, not always");
    }
}
