//! `[worktrees]` in trusted config: how task worktrees are kept.
//!
//! ```toml
//! [worktrees]
//! pool = 8    # finished task worktrees kept warm for the next tasks (default 4, 0: none)
//! ```

use std::collections::BTreeMap;

use super::ConfigError;

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

/// `[worktrees]` as written, with the file each key came from; later layers win per key.
#[derive(Debug, Default)]
pub struct RawWorktrees(BTreeMap<String, (String, toml::Value)>);

impl RawWorktrees {
    pub fn merge(&mut self, source: &str, table: BTreeMap<String, toml::Value>) {
        for (key, value) in table {
            self.0.insert(key, (source.to_owned(), value));
        }
    }

    /// The table, every problem naming its key.
    pub fn validate(self, errors: &mut Vec<ConfigError>) -> Worktrees {
        let mut out = Worktrees::default();
        for (key, (source, value)) in self.0 {
            let mut err = |message: String| {
                errors.push(ConfigError { source_name: source.clone(), key: format!("worktrees.{key}"), message });
            };
            match (key.as_str(), value) {
                ("pool", toml::Value::Integer(n)) if (0..=MAX_POOL).contains(&n) => out.pool = n as usize,
                ("pool", other) => err(format!("{other} is not a number of worktrees from 0 to {MAX_POOL}")),
                (_, _) => err("unknown key; use pool".into()),
            }
        }
        out
    }
}
