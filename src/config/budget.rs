//! `[prices."<model>"]` and `[budget]` in trusted config: what each model's tokens cost, and the
//! caps on spending per task, per Score and per local day.
//!
//! ```toml
//! [prices."claude-sonnet-4-5"]   # dollars per million tokens
//! input = 3.0
//! output = 15.0
//! cache_read = 0.3
//! cache_write = 3.75
//!
//! [budget]
//! task = "$2"
//! score = "$20"
//! day = "$50"
//! task_tokens = "2M"
//! ```

use std::collections::BTreeMap;

use super::ConfigError;
use crate::model::budget::{Caps, Limit, Price, Prices, parse_dollars, parse_tokens};

/// The tables as written, with where each came from; later layers win per model and per key.
#[derive(Debug, Default)]
pub struct RawBudget {
    prices: BTreeMap<String, (String, BTreeMap<String, toml::Value>)>,
    budget: BTreeMap<String, (String, toml::Value)>,
}

impl RawBudget {
    pub fn merge(
        &mut self,
        source: &str,
        prices: BTreeMap<String, BTreeMap<String, toml::Value>>,
        budget: BTreeMap<String, toml::Value>,
    ) {
        for (model, table) in prices {
            self.prices.insert(model, (source.to_owned(), table));
        }
        for (key, value) in budget {
            self.budget.insert(key, (source.to_owned(), value));
        }
    }

    /// The validated price table and caps; every problem names its key.
    pub fn validate(self, errors: &mut Vec<ConfigError>) -> (Prices, Caps) {
        let mut prices = Prices::default();
        for (model, (source, table)) in self.prices {
            let mut price = Price::default();
            for (key, value) in &table {
                let field = match key.as_str() {
                    "input" => &mut price.input,
                    "output" => &mut price.output,
                    "cache_read" => &mut price.cache_read,
                    "cache_write" => &mut price.cache_write,
                    _ => {
                        errors.push(error(
                            &source,
                            format!("prices.{model}.{key}"),
                            "unknown key; use input, output, cache_read and cache_write (dollars per million tokens)",
                        ));
                        continue;
                    }
                };
                match number(value) {
                    Some(v) if v.is_finite() && (0.0..=1e6).contains(&v) => *field = v,
                    _ => errors.push(error(
                        &source,
                        format!("prices.{model}.{key}"),
                        &format!("{value} is not a price in dollars per million tokens (a number, 0 or more)"),
                    )),
                }
            }
            if !table.contains_key("input") || !table.contains_key("output") {
                errors.push(error(&source, format!("prices.{model}"), "needs at least input and output"));
            }
            prices.0.insert(model, price);
        }
        let mut caps = Caps::default();
        for (key, (source, value)) in self.budget {
            let text = match &value {
                toml::Value::String(s) => s.clone(),
                other => number(other).map(|n| n.to_string()).unwrap_or_default(),
            };
            let (limit, is_usd): (&mut Limit, bool) = match key.as_str() {
                "task" => (&mut caps.task, true),
                "score" => (&mut caps.score, true),
                "day" => (&mut caps.day, true),
                "task_tokens" => (&mut caps.task, false),
                "score_tokens" => (&mut caps.score, false),
                "day_tokens" => (&mut caps.day, false),
                _ => {
                    errors.push(error(
                        &source,
                        format!("budget.{key}"),
                        "unknown key; use task, score, day (dollars) or task_tokens, score_tokens, day_tokens",
                    ));
                    continue;
                }
            };
            let parsed = if is_usd {
                parse_dollars(&text).map(|v| limit.usd = Some(v))
            } else {
                parse_tokens(&text).map(|v| limit.tokens = Some(v))
            };
            if parsed.is_none() {
                let want = if is_usd {
                    "an amount of dollars, e.g. \"$2.50\""
                } else {
                    "a number of tokens, e.g. 500000 or \"500k\""
                };
                errors.push(error(&source, format!("budget.{key}"), &format!("{value} is not {want}")));
            }
        }
        (prices, caps)
    }
}

fn number(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn error(source: &str, key: String, message: &str) -> ConfigError {
    ConfigError { source_name: source.to_owned(), key, message: message.to_owned() }
}
