//! Tokens and dollars as the commands show them, and what to do when a budget is spent.

use serde_json::{Value, json};

use crate::model::budget::{Usage, dollars};

/// A token count in a few characters: `950`, `12.3k`, `4.1M`.
pub fn tokens(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// A cost, or `unknown` (a model without a price): never shown as $0.
pub fn cost(usd: Option<f64>) -> String {
    usd.map_or_else(|| "cost unknown".to_owned(), dollars)
}

/// `12.3k tokens · $0.42`.
pub fn usage_text(usage: &Usage, usd: Option<f64>) -> String {
    format!("{} tokens · {}", tokens(usage.total()), cost(usd))
}

/// The usage fields of a JSON event or row.
pub fn usage_json(usage: &Usage, usd: Option<f64>) -> Value {
    json!({
        "input_tokens": usage.input,
        "cache_read_tokens": usage.cache_read,
        "cache_write_tokens": usage.cache_write,
        "output_tokens": usage.output,
        "tokens": usage.total(),
        "cost_usd": usd,
    })
}

/// What to do about a spent budget, `why` being the reason recorded.
pub fn budget_hint(score: &str, task: &str, why: &str) -> String {
    let then = format!("then `git maestro task run {score}/{task}`, or `git maestro run {score}`");
    format!("{}; {then}", crate::model::budget::way_on(score, why))
}
