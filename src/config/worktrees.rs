//! `[worktrees]` in trusted config: how task worktrees are kept.
//!
//! ```toml
//! [worktrees]
//! pool = 8    # finished task worktrees kept warm for the next tasks (default 4, 0: none)
//! ```

use super::ConfigError;
use super::file::Layered;

/// Pooled worktrees per repository when config says nothing.
pub const DEFAULT_POOL: usize = 4;

/// The largest pool accepted.
const MAX_POOL: i64 = 256;

/// The validated `[worktrees]` table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Worktrees {
    /// How many finished task worktrees the warm pool holds at most.
    pub pool: usize,
}

impl Default for Worktrees {
    fn default() -> Self {
        Worktrees { pool: DEFAULT_POOL }
    }
}

/// The merged `[worktrees]` tables, every problem naming its key.
pub fn validate(raw: Layered, errors: &mut Vec<ConfigError>) -> Worktrees {
    let mut out = Worktrees::default();
    raw.take_each("worktrees", errors, |key, value, _| match (key, value) {
        ("pool", toml::Value::Integer(n)) if (0..=MAX_POOL).contains(&n) => {
            out.pool = n as usize;
            Ok(())
        }
        ("pool", other) => Err(format!("{other} is not a number of worktrees from 0 to {MAX_POOL}")),
        (_, _) => Err("unknown key; use pool".into()),
    });
    out
}
