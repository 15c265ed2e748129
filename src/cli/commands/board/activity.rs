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
