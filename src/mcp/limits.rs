//! Bounds on everything an agent sends over MCP, checked before anything is read or written.
//! Each is well inside the state's own string limit ([`MAX_STRING_BYTES`]).

use crate::model::MAX_STRING_BYTES;
use crate::model::redact::redact;

/// How long and how many of one kind of argument may be.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// Bytes of one string, after trimming and redaction.
    pub bytes: usize,
    /// Items of a list argument.
    pub count: usize,
    /// Whether line breaks are refused.
    pub one_line: bool,
}

/// A summary, title, status or subtask: one line.
pub const LINE: Bound = Bound { bytes: 1024, count: 1, one_line: true };
/// A note, a body, a rationale or a reason.
pub const NOTE: Bound = Bound { bytes: 16 * 1024, count: 1, one_line: false };
/// A knowledge search.
pub const QUERY: Bound = Bound { bytes: 1024, count: 1, one_line: false };
/// The tags of a knowledge entry.
pub const TAGS: Bound = Bound { bytes: 64, count: 16, one_line: true };
/// The paths or globs of a knowledge entry.
pub const PATHS: Bound = Bound { bytes: 1024, count: 64, one_line: true };

/// Notes one run may write.
pub const NOTES_PER_RUN: usize = 500;
/// Subtasks a task's stack may hold.
pub const STACK_DEPTH: usize = 100;
/// Hits `kb_search` returns.
pub const SEARCH_HITS: usize = 5;
/// Bytes of one JSON-RPC message from the agent; longer lines are dropped unread.
pub const MESSAGE_BYTES: usize = 256 * 1024;

const _: () = assert!(NOTE.bytes <= MAX_STRING_BYTES && PATHS.bytes <= MAX_STRING_BYTES);

impl Bound {
    /// `text` trimmed and redacted, refused when empty or over the bound.
    pub fn check(&self, field: &str, text: &str) -> Result<String, String> {
        let text = self.check_optional(field, text)?;
        if text.is_empty() {
            return Err(format!("{field} is empty"));
        }
        Ok(text)
    }

    /// Like [`Bound::check`], but an empty string is allowed.
    pub fn check_optional(&self, field: &str, text: &str) -> Result<String, String> {
        // Measured before redaction too, so a huge argument is not copied around first.
        if text.len() > self.bytes.saturating_mul(2) {
            return Err(format!("{field} is {} bytes; the limit is {}", text.len(), self.bytes));
        }
        let text = redact(text.trim());
        if text.len() > self.bytes {
            return Err(format!("{field} is {} bytes; the limit is {}", text.len(), self.bytes));
        }
        if self.one_line && text.contains(['\n', '\r']) {
            return Err(format!("{field} must be one line"));
        }
        Ok(text)
    }

    /// Every item of a list, each checked, and no more than `count` of them.
    pub fn check_all(&self, field: &str, items: &[String]) -> Result<Vec<String>, String> {
        if items.len() > self.count {
            return Err(format!("{field} has {} items; the limit is {}", items.len(), self.count));
        }
        items.iter().map(|item| self.check(field, item)).collect()
    }
}

/// A record id (a handover packet's), checked before it becomes part of a path.
pub fn record_id(field: &str, id: &str) -> Result<String, String> {
    let id = id.trim();
    crate::model::ids::validate_record_id(id).map_err(|e| format!("{field}: {e}"))?;
    Ok(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_bounded() {
        assert_eq!(LINE.check("summary", "  ok  "), Ok("ok".into()));
        assert!(LINE.check("summary", "").is_err());
        assert!(LINE.check("summary", "two\nlines").is_err());
        assert!(LINE.check("summary", &"x".repeat(LINE.bytes + 1)).is_err());
        assert!(NOTE.check("text", &"x".repeat(10 * MAX_STRING_BYTES)).is_err());
        assert_eq!(NOTE.check_optional("body", ""), Ok(String::new()));
        assert!(TAGS.check_all("tags", &vec!["t".to_owned(); TAGS.count + 1]).is_err());
        assert!(TAGS.check_all("tags", &["a".to_owned(), String::new()]).is_err());
        assert!(record_id("id", "../../x").is_err());
    }
}
