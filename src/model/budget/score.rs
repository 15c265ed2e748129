//! A Score's own budget: the caps its file sets (which can only tighten trusted config) and
//! the raises people granted it (`git maestro budget raise`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Limit, parse_dollars, parse_tokens};

/// The caps a Score sets for itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreBudget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_tokens: Option<u64>,
}

impl ScoreBudget {
    pub fn task_limit(&self) -> Limit {
        Limit { usd: self.task_usd, tokens: self.task_tokens }
    }

    pub fn score_limit(&self) -> Limit {
        Limit { usd: self.score_usd, tokens: self.score_tokens }
    }

    /// The `[budget]` table of a Score file: `task = "$2"`, `score = "$20"`, `task_tokens`,
    /// `score_tokens` (`"500k"` or a number). Problems come back as `(key, message)`.
    pub fn from_file(table: &BTreeMap<String, toml::Value>) -> Result<ScoreBudget, Vec<(String, String)>> {
        let mut b = ScoreBudget::default();
        let mut problems = Vec::new();
        for (key, value) in table {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                _ => String::new(),
            };
            let usd = || parse_dollars(&text).ok_or("not an amount of dollars, e.g. \"$2.50\"");
            let tokens = || parse_tokens(&text).ok_or("not a number of tokens, e.g. 500000 or \"500k\"");
            let parsed = match key.as_str() {
                "task" => usd().map(|v| b.task_usd = Some(v)),
                "score" => usd().map(|v| b.score_usd = Some(v)),
                "task_tokens" => tokens().map(|v| b.task_tokens = Some(v)),
                "score_tokens" => tokens().map(|v| b.score_tokens = Some(v)),
                _ => Err("unknown key; use task, score, task_tokens or score_tokens"),
            };
            if let Err(message) = parsed {
                problems.push((format!("budget.{key}"), format!("{value}: {message}")));
            }
        }
        if problems.is_empty() { Ok(b) } else { Err(problems) }
    }

    /// The table as a Score file writes it.
    pub fn to_file(&self) -> BTreeMap<String, toml::Value> {
        let mut t = BTreeMap::new();
        let usd = |v: f64| toml::Value::String(format!("${v}"));
        let tokens = |v: u64| toml::Value::Integer(i64::try_from(v).unwrap_or(i64::MAX));
        if let Some(v) = self.task_usd {
            t.insert("task".to_owned(), usd(v));
        }
        if let Some(v) = self.score_usd {
            t.insert("score".to_owned(), usd(v));
        }
        if let Some(v) = self.task_tokens {
            t.insert("task_tokens".to_owned(), tokens(v));
        }
        if let Some(v) = self.score_tokens {
            t.insert("score_tokens".to_owned(), tokens(v));
        }
        t
    }
}

/// A person's decision to let a Score spend more: added to its task and Score caps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raise {
    /// The decision that records it.
    pub decision: String,
    pub actor: String,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_score_file_budget_round_trips_and_bad_values_name_their_key() {
        let table: BTreeMap<String, toml::Value> =
            toml::from_str("task = \"$2\"\nscore = 20\ntask_tokens = \"500k\"").expect("valid TOML");
        let b = ScoreBudget::from_file(&table).expect("a valid budget");
        assert_eq!((b.task_usd, b.score_usd, b.task_tokens), (Some(2.0), Some(20.0), Some(500_000)));
        assert_eq!(ScoreBudget::from_file(&b.to_file()).expect("its own file reads back"), b);
        let bad: BTreeMap<String, toml::Value> = toml::from_str("task = \"-$1\"\nday = \"$5\"").expect("valid TOML");
        let problems = ScoreBudget::from_file(&bad).unwrap_err();
        assert_eq!(problems.len(), 2);
        assert!(problems[0].0 == "budget.day" && problems[1].0 == "budget.task", "{problems:?}");
    }
}
