//! Budgets: what a run's tokens cost, the caps on spending, and how much of each is left.
//!
//! - [`Usage`] is what a performer's CLI reported, normalised across vendors: input priced at
//!   the input price, cache reads and cache writes priced apart, and output (reasoning and
//!   thoughts included).
//! - [`Price`]s come from trusted config, per model and per million tokens. A model without a
//!   price has an unknown cost, never a cost of 0.
//! - [`Caps`] bound the spending of one task, one Score and one local day, in dollars and in
//!   tokens; [`Caps::over`] says which cap the spending crossed.
//! - [`ledger`] adds up what the state records; [`score`] holds what a Score sets and raises;
//!   [`costs`] groups what was spent by Score, task, performer, model or day.

pub mod costs;
pub mod ledger;
pub mod score;

use serde::{Deserialize, Serialize};

/// Tokens of one run, by how they are priced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Input tokens read fresh (not from a cache).
    pub input: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    /// Output tokens, reasoning included.
    pub output: u64,
}

/// The most tokens one report may claim: more is nonsense, not usage.
const MAX_PLAUSIBLE: u64 = 1_000_000_000;

impl Usage {
    pub fn total(&self) -> u64 {
        self.input.saturating_add(self.cache_read).saturating_add(self.cache_write).saturating_add(self.output)
    }

    pub fn plus(&self, other: &Usage) -> Usage {
        Usage {
            input: self.input.saturating_add(other.input),
            cache_read: self.cache_read.saturating_add(other.cache_read),
            cache_write: self.cache_write.saturating_add(other.cache_write),
            output: self.output.saturating_add(other.output),
        }
    }

    /// Whether the figures can be true: a CLI that reports absurd numbers is not trusted.
    pub fn is_plausible(&self) -> bool {
        self.total() <= MAX_PLAUSIBLE
    }
}

/// Dollars per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
}

impl Price {
    /// What `usage` costs, in dollars.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let part = |tokens: u64, price: f64| tokens as f64 * price / 1_000_000.0;
        part(usage.input, self.input)
            + part(usage.cache_read, self.cache_read)
            + part(usage.cache_write, self.cache_write)
            + part(usage.output, self.output)
    }
}

/// The price table: model name to price.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Prices(pub std::collections::BTreeMap<String, Price>);

impl Prices {
    /// The price of `model`: its own entry, else the longest entry its name starts with
    /// (`claude-sonnet-4-5` prices `claude-sonnet-4-5-20250929`).
    pub fn of(&self, model: &str) -> Option<&Price> {
        self.0.get(model).or_else(|| {
            self.0
                .iter()
                .filter(|(name, _)| model.starts_with(name.as_str()))
                .max_by_key(|(name, _)| name.len())
                .map(|(_, p)| p)
        })
    }

    /// What `usage` of `model` costs; `None` when the model has no price.
    pub fn cost(&self, model: Option<&str>, usage: &Usage) -> Option<f64> {
        model.and_then(|m| self.of(m)).map(|p| p.cost(usage))
    }
}

/// A limit in dollars, in tokens, or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Limit {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
}

impl Limit {
    pub fn is_none(&self) -> bool {
        self.usd.is_none() && self.tokens.is_none()
    }

    /// The tighter of two limits, field by field.
    pub fn tighter(&self, other: &Limit) -> Limit {
        let min_f = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let min_u = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Limit { usd: min_f(self.usd, other.usd), tokens: min_u(self.tokens, other.tokens) }
    }

    /// This limit raised by `by` where it is set.
    pub fn raised(&self, by: &Limit) -> Limit {
        Limit {
            usd: self.usd.map(|u| u + by.usd.unwrap_or(0.0)),
            tokens: self.tokens.map(|t| t.saturating_add(by.tokens.unwrap_or(0))),
        }
    }
}

/// Which budget a cap belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Task,
    Score,
    Day,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Task => "task",
            Scope::Score => "score",
            Scope::Day => "day",
        }
    }
}

/// The caps in force for one task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Caps {
    pub task: Limit,
    pub score: Limit,
    pub day: Limit,
}

/// What has been spent against one budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spent {
    /// Dollars of the attempts whose cost is known.
    pub usd: f64,
    pub tokens: u64,
    /// Attempts that used tokens of a model without a price: their dollars are not counted.
    pub unknown: u32,
}

impl Spent {
    /// `self` plus one attempt's figures.
    pub fn add(&mut self, usage: &Usage, cost: Option<f64>) {
        self.tokens = self.tokens.saturating_add(usage.total());
        match cost {
            Some(c) => self.usd += c,
            None if usage.total() > 0 => self.unknown += 1,
            None => {}
        }
    }

    /// `self` plus what `other` counts.
    pub fn sum(&mut self, other: &Spent) {
        self.usd += other.usd;
        self.tokens = self.tokens.saturating_add(other.tokens);
        self.unknown = self.unknown.saturating_add(other.unknown);
    }
}

/// A cap that spending reached.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Over {
    pub scope: Scope,
    /// `usd` or `tokens`.
    pub unit: &'static str,
    pub cap: f64,
    pub spent: f64,
}

impl std::fmt::Display for Over {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let whose = match self.scope {
            Scope::Task => "the task's",
            Scope::Score => "the Score's",
            Scope::Day => "today's",
        };
        if self.unit == "usd" {
            write!(f, "{whose} budget of {} is spent ({} used)", dollars(self.cap), dollars(self.spent))
        } else {
            write!(f, "{whose} budget of {} tokens is spent ({} used)", self.cap as u64, self.spent as u64)
        }
    }
}

impl Caps {
    /// The first cap `spent` (task, Score, day) has reached.
    pub fn over(&self, spent: &[Spent; 3]) -> Option<Over> {
        let scopes = [(Scope::Task, &self.task), (Scope::Score, &self.score), (Scope::Day, &self.day)];
        scopes.iter().zip(spent).find_map(|((scope, limit), spent)| {
            if let Some(cap) = limit.usd
                && spent.usd >= cap
            {
                return Some(Over { scope: *scope, unit: "usd", cap, spent: spent.usd });
            }
            match limit.tokens {
                Some(cap) if spent.tokens >= cap => {
                    Some(Over { scope: *scope, unit: "tokens", cap: cap as f64, spent: spent.tokens as f64 })
                }
                _ => None,
            }
        })
    }

    /// The dollars left before the tightest dollar cap, if any is set.
    pub fn usd_left(&self, spent: &[Spent; 3]) -> Option<f64> {
        [self.task.usd, self.score.usd, self.day.usd]
            .iter()
            .zip(spent)
            .filter_map(|(cap, s)| cap.map(|c| (c - s.usd).max(0.0)))
            .reduce(f64::min)
    }

    pub fn is_none(&self) -> bool {
        self.task.is_none() && self.score.is_none() && self.day.is_none()
    }
}

/// Who can let work stopped by `why` (an [`Over`] in words) go on, and how.
pub fn way_on(score: &str, why: &str) -> String {
    if why.starts_with("today's") {
        "today's cap is trusted config: raise `[budget] day` (or `day_tokens`) in .maestro/config.toml, or wait \
         until tomorrow"
            .to_owned()
    } else {
        format!("a person can raise it: `git maestro budget raise {score} --by \"$5\"` (or `--by 200k` tokens)")
    }
}

/// Dollars as people write them: `$0.0123` below a cent, else `$2.13`.
pub fn dollars(usd: f64) -> String {
    if usd != 0.0 && usd.abs() < 0.01 { format!("${usd:.4}") } else { format!("${usd:.2}") }
}

/// Parse `$2`, `$2.50` or `2.5` as dollars; `None` when it is not a finite, non-negative amount.
pub fn parse_dollars(text: &str) -> Option<f64> {
    let v: f64 = text.trim().strip_prefix('$').unwrap_or(text.trim()).trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// Parse `500000`, `500k` or `2M` (optionally followed by `tokens`) as a token count.
pub fn parse_tokens(text: &str) -> Option<u64> {
    let t = text.trim();
    let t = t.strip_suffix("tokens").unwrap_or(t).trim().replace('_', "");
    let (digits, scale) = match t.chars().last()? {
        'k' | 'K' => (&t[..t.len() - 1], 1_000.0),
        'm' | 'M' => (&t[..t.len() - 1], 1_000_000.0),
        _ => (t.as_str(), 1.0),
    };
    let v: f64 = digits.trim().parse().ok()?;
    let v = v * scale;
    (v.is_finite() && v >= 0.0 && v <= u64::MAX as f64).then_some(v.round() as u64)
}

/// Parse an amount for a cap or a raise: dollars (`$5`) or tokens (`200k tokens`, `200k`).
pub fn parse_limit(text: &str) -> Option<Limit> {
    if text.trim().starts_with('$') {
        parse_dollars(text).map(|usd| Limit { usd: Some(usd), tokens: None })
    } else {
        parse_tokens(text).map(|tokens| Limit { usd: None, tokens: Some(tokens) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_prices_each_kind_of_token_apart() {
        let p = Price { input: 3.0, output: 15.0, cache_read: 0.3, cache_write: 3.75 };
        let u = Usage { input: 1_000_000, cache_read: 1_000_000, cache_write: 1_000_000, output: 1_000_000 };
        assert!((p.cost(&u) - 22.05).abs() < 1e-9);
        let prices = Prices([("claude-sonnet-4-5".to_owned(), p)].into());
        assert!(prices.cost(Some("claude-sonnet-4-5-20250929"), &u).is_some(), "a dated name takes its family's price");
        assert_eq!(prices.cost(Some("gpt-5"), &u), None, "no price, no cost: never 0");
        assert_eq!(prices.cost(None, &u), None);
    }

    #[test]
    fn amounts_parse_as_people_write_them() {
        assert_eq!(parse_dollars("$2"), Some(2.0));
        assert_eq!(parse_dollars("$ 2.50"), Some(2.5));
        assert_eq!(parse_dollars("-1"), None);
        assert_eq!(parse_dollars("$NaN"), None);
        assert_eq!(parse_dollars("two"), None);
        assert_eq!(parse_tokens("500k"), Some(500_000));
        assert_eq!(parse_tokens("2M tokens"), Some(2_000_000));
        assert_eq!(parse_tokens("1_000"), Some(1000));
        assert_eq!(parse_tokens("-5k"), None);
        assert_eq!(parse_limit("$5"), Some(Limit { usd: Some(5.0), tokens: None }));
        assert_eq!(parse_limit("10k tokens"), Some(Limit { usd: None, tokens: Some(10_000) }));
    }

    #[test]
    fn the_first_cap_reached_is_named_and_raises_lift_it() {
        let caps = Caps {
            task: Limit { usd: Some(2.0), tokens: None },
            score: Limit { usd: None, tokens: Some(1000) },
            day: Limit::default(),
        };
        let spent = |usd, tokens| Spent { usd, tokens, unknown: 0 };
        assert_eq!(caps.over(&[spent(1.0, 10), spent(1.0, 10), spent(1.0, 10)]), None);
        let over = caps.over(&[spent(2.5, 10), spent(2.5, 10), spent(2.5, 10)]).expect("the spend is over a cap");
        assert_eq!(over.to_string(), "the task's budget of $2.00 is spent ($2.50 used)");
        let over = caps.over(&[spent(0.5, 10), spent(0.5, 5000), spent(0.5, 5000)]).expect("the spend is over a cap");
        assert_eq!(over.to_string(), "the Score's budget of 1000 tokens is spent (5000 used)");
        let raised = Caps { task: caps.task.raised(&Limit { usd: Some(1.0), tokens: None }), ..caps };
        assert_eq!(raised.over(&[spent(2.5, 10), spent(2.5, 10), spent(2.5, 10)]), None);
        assert_eq!(raised.usd_left(&[spent(2.5, 0), spent(0.0, 0), spent(0.0, 0)]), Some(0.5));
        assert_eq!(Caps::default().usd_left(&[Spent::default(); 3]), None);
    }
}
