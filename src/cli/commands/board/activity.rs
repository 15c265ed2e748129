//! The selected task's live activity: the tail of its latest run's transcript
//! (`<git-common-dir>/maestro/logs/<score>/<task>/<run>.jsonl`), parsed by the adapter that
//! ran it into tool calls and messages. Re-read only when the file changed.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use crate::cli::ui::field;
use crate::performer::adapter::{self, Event};

/// The most of a transcript read: its tail.
const TAIL_BYTES: u64 = 64 * 1024;

/// The activity lines of one transcript, kept until the file changes.
#[derive(Default)]
pub struct Activity {
    path: Option<PathBuf>,
    /// Length and modification time at the last read.
    seen: Option<(u64, std::time::SystemTime)>,
    pub lines: Vec<String>,
}

impl Activity {
    /// Follow the transcript at `path` (of a run by `adapter`); whether the lines changed.
    pub fn follow(&mut self, path: Option<PathBuf>, adapter: &str) -> bool {
        if path != self.path {
            self.path = path;
            self.seen = None;
            self.lines.clear();
        }
        let Some(path) = &self.path else { return false };
        let Ok(meta) = std::fs::metadata(path) else { return false };
        let now = (meta.len(), meta.modified().unwrap_or(std::time::UNIX_EPOCH));
        if self.seen == Some(now) {
            return false;
        }
        self.seen = Some(now);
        self.lines = read(path, adapter).unwrap_or_else(|e| vec![format!("cannot read the transcript: {e}")]);
        true
    }
}

fn read(path: &Path, adapter_name: &str) -> std::io::Result<Vec<String>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines();
    if start > 0 {
        // The first line read is cut in the middle.
        lines.next();
    }
    let kind = crate::config::Adapter::parse(adapter_name).unwrap_or(crate::config::Adapter::Command);
    let mut parser = adapter::for_kind(kind);
    let mut out = Vec::new();
    for line in lines {
        for event in parser.parse(line) {
            match event {
                Event::Tool { name, detail } => out.push(format!("tool {}: {}", field(&name), field(&detail))),
                Event::Message(text) => out.extend(text.lines().map(|l| format!("> {}", field(l)))),
                Event::Result { ok, text } => {
                    out.push(format!("result ({}): {}", if ok { "ok" } else { "failed" }, field(&text)));
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// What the state says about the selected task beside its transcript: the output of the checks
/// of its last decision with evidence, and its handover packets. Re-read only when the
/// selection or the state moved.
#[derive(Default)]
pub struct Notes {
    key: Option<(String, String, Option<crate::git::ObjectId>)>,
    pub lines: Vec<String>,
}

impl Notes {
    pub fn follow(&mut self, store: &crate::store::Store, selected: Option<&(String, String)>) {
        let Some((score, task)) = selected else {
            self.key = None;
            self.lines.clear();
            return;
        };
        let key = (score.clone(), task.clone(), store.tip().ok().flatten());
        if self.key.as_ref() == Some(&key) {
            return;
        }
        self.key = Some(key);
        self.lines = notes(store, score, task).unwrap_or_else(|e| vec![format!("cannot read the state: {e}")]);
    }
}

fn notes(store: &crate::store::Store, score: &str, task: &str) -> crate::store::Result<Vec<String>> {
    let view = store.view()?;
    let about = |s: &Option<String>, t: &Option<String>| s.as_deref() == Some(score) && t.as_deref() == Some(task);
    let mut out = Vec::new();
    let decisions = crate::store::decisions(&view)?;
    let last = decisions.iter().filter(|d| about(&d.score, &d.task) && !d.evidence.is_empty()).max_by_key(|d| d.at);
    for e in last.map(|d| d.evidence.as_slice()).unwrap_or_default() {
        let tail = e.tail.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
        out.push(format!("check {} (exit {}): {}", field(&e.check), field(&e.exit), field(tail)));
    }
    for h in crate::store::handovers(&view)?.iter().filter(|h| about(&Some(h.score.clone()), &h.task)) {
        out.push(format!("handover {} from {}: {}", field(&h.id), field(&h.from), field(&h.reason)));
    }
    Ok(out)
}
