//! The readable lines of watcher events (`status --watch` without `--json`). Every part that
//! came from the state is a [`field`], so no text can pass for another line.

use super::model::{Event, ScoreView};
use crate::cli::ui::field;

/// The lines that show `event`.
pub fn lines(event: &Event) -> Vec<String> {
    let at = |score: &str, task: &str| format!("{}/{}", field(score), field(task));
    let why = |reason: &Option<String>| reason.as_deref().map(|r| format!(": {}", field(r))).unwrap_or_default();
    let line = match event {
        Event::Snapshot { scores } => return scores.iter().flat_map(snapshot).collect(),
        Event::ScoreAdded { score, status, title } => {
            format!("{}: new Score ({}) {}", field(score), status.as_str(), field(title))
        }
        Event::ScoreRemoved { score } => format!("{}: Score removed", field(score)),
        Event::ScoreStatus { score, from, to } => format!("{}: {} -> {}", field(score), from.as_str(), to.as_str()),
        Event::TaskAdded { score, task, status } => format!("{}: new task ({})", at(score, task), status.as_str()),
        Event::TaskRemoved { score, task } => format!("{}: task removed", at(score, task)),
        Event::TaskStatus { score, task, from, to, waiting_for, .. } => {
            let waits = waiting_for.as_deref().map(|w| format!(" (waiting for {})", field(w))).unwrap_or_default();
            format!("{}: {from} -> {to}{waits}", at(score, task))
        }
        Event::AttemptStarted { score, task, attempt, performer, .. } => {
            format!("{}: attempt {attempt} started by {}", at(score, task), field(performer))
        }
        Event::AttemptEnded { score, task, attempt, outcome, reason, .. } => {
            format!("{}: attempt {attempt} ended: {}{}", at(score, task), outcome.as_str(), why(reason))
        }
        Event::Approval { score, task, step } => format!("{}: passed {}", at(score, task), field(step)),
        Event::Usage { score, task, spent } => {
            format!("{}: used {}", at(score, task), crate::cli::commands::status::used(spent))
        }
        Event::NeedsYou { score, task, need, reason, .. } => {
            format!("{}: needs you: {}{}", at(score, task), need.describe(), why(reason))
        }
        Event::Unreadable { message } => format!("the state cannot be read: {}", field(message)),
    };
    vec![line]
}

fn snapshot(s: &ScoreView) -> Vec<String> {
    let title = if s.title.is_empty() { String::new() } else { format!(" {}", field(&s.title)) };
    let mut out = vec![format!("{}: {}{title}", field(&s.score), s.status.as_str())];
    for t in &s.tasks {
        let needs = t.needs_you.map(|n| format!(", needs you: {}", n.describe())).unwrap_or_default();
        out.push(format!("{}/{}: {}{needs}", field(&s.score), field(&t.id), t.status));
    }
    for (path, why) in &s.unreadable {
        out.push(format!("{}: cannot be read: {}", field(path), field(why)));
    }
    out
}
