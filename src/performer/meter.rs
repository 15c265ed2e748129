//! The budget governor of one run: it prices the usage the performer reports as it comes,
//! checks the caps at every report, and says when the run must stop (DESIGN §12: a budget stop
//! is a transition, decided in [`crate::model::lifecycle::finish`]).

use super::adapter::Event;
use crate::model::Task;
use crate::model::budget::{Caps, Prices, Spent, Usage, dollars, ledger};
use crate::store::{self, Read};

/// What one run spent, and whether it must stop.
#[derive(Debug, Clone, Default)]
pub struct Meter {
    prices: Prices,
    caps: Caps,
    /// What the task, its Score and the day had spent before this run.
    before: [Spent; 3],
    /// The model the CLI reported, else the configured one.
    pub model: Option<String>,
    /// The run's tokens so far; `None` until the CLI reports any.
    pub usage: Option<Usage>,
    /// The CLI's own cost figure, where it gives one.
    cli_cost: Option<f64>,
    /// Why the run must stop: a cap reached, with the figures.
    pub over: Option<String>,
    /// Usage reports that were not trusted.
    pub warnings: Vec<String>,
}

impl Meter {
    /// A meter that prices usage and enforces no cap.
    pub fn new(prices: &Prices, model: Option<&str>) -> Meter {
        Meter { prices: prices.clone(), model: model.map(str::to_owned), ..Meter::default() }
    }

    /// Enforce `caps`, given what was spent before this run.
    pub fn with_caps(mut self, caps: Caps, before: [Spent; 3]) -> Meter {
        self.caps = caps;
        self.before = before;
        self
    }

    /// The meter for a run of `score/task`: the caps in force for it (trusted config, the
    /// Score's own, raises) and what was spent against each before, as the state records it.
    pub fn for_task(
        r: &impl Read,
        (prices, caps): (&Prices, &Caps),
        (score, task): (&str, &str),
        model: Option<&str>,
        now: jiff::Timestamp,
    ) -> Result<Meter, store::Error> {
        let caps = ledger::caps_for(caps, &store::score(r, score)?);
        // Without a cap, what was spent does not matter (and reading it means every task).
        let before =
            if caps.is_none() { Default::default() } else { spent_by(r, (score, task), !caps.day.is_none(), now)? };
        Ok(Meter::new(prices, model).with_caps(caps, before))
    }

    /// The cap already reached before the run starts, if any: the run must not start.
    pub fn exhausted(&self) -> Option<String> {
        self.caps.over(&self.before).map(|o| o.to_string())
    }

    /// Dollars left before the tightest dollar cap, for CLIs that enforce a budget themselves.
    pub fn usd_left(&self) -> Option<f64> {
        self.caps.usd_left(&self.before)
    }

    /// What the run cost so far: the CLI's own figure, else tokens × the model's price;
    /// `None` when neither is known.
    pub fn cost(&self) -> Option<f64> {
        let usage = self.usage?;
        self.cli_cost.or_else(|| self.prices.cost(self.model.as_deref(), &usage))
    }

    /// Take in one event; returns it as shown (usage with its cost).
    pub fn absorb(&mut self, event: &Event) -> Event {
        match event {
            Event::Model(model) => self.model = Some(model.clone()),
            Event::Usage { tokens, cost_usd } => {
                self.usage = Some(*tokens);
                if cost_usd.is_some() {
                    self.cli_cost = *cost_usd;
                }
                self.check();
                return Event::Usage { tokens: *tokens, cost_usd: self.cost() };
            }
            Event::BadUsage(why) => self.warnings.push(format!("usage not trusted: {why}")),
            Event::BudgetSpent if self.over.is_none() => {
                let left = self.usd_left().map_or_else(String::new, |l| format!(" ({} left)", dollars(l)));
                self.over = Some(format!("the performer stopped at the budget git-maestro gave it{left}"));
            }
            _ => {}
        }
        event.clone()
    }

    /// Check the caps against what was spent before plus this run so far.
    fn check(&mut self) {
        if self.over.is_some() {
            return;
        }
        let usage = self.usage.unwrap_or_default();
        let mut spent = self.before;
        for s in &mut spent {
            s.add(&usage, self.cost());
        }
        if let Some(over) = self.caps.over(&spent) {
            let cost = self.cost().map_or_else(|| "cost unknown".to_owned(), dollars);
            self.over = Some(format!("{over}; this attempt used {} tokens, {cost}", usage.total()));
        }
    }
}

/// What `score/task` has spent against its task, Score and day budgets, as the state records
/// it; the day (every Score's attempts started on the local day of `now`) only if `day`.
pub fn spent_by(
    r: &impl Read,
    (score, task): (&str, &str),
    day: bool,
    now: jiff::Timestamp,
) -> Result<[Spent; 3], store::Error> {
    let (_, tasks) = store::score_with_readable_tasks(r, score)?;
    let mut others: Vec<Task> = Vec::new();
    if day {
        for other in store::scores(r)?.iter().filter(|o| o.id != score) {
            others.extend(store::readable_tasks(r, other)?.0);
        }
    }
    Ok(ledger::spent(task, &tasks, tasks.iter().chain(&others), ledger::local_day(now), None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::budget::{Limit, Price};

    #[test]
    fn usage_is_priced_live_and_the_run_stops_at_the_cap() {
        let prices = Prices([("m".to_owned(), Price { input: 1.0, output: 10.0, ..Price::default() })].into());
        let caps = Caps { task: Limit { usd: Some(1.0), tokens: None }, ..Caps::default() };
        let before = [Spent { usd: 0.5, tokens: 0, unknown: 0 }, Spent::default(), Spent::default()];
        let mut m = Meter::new(&prices, None).with_caps(caps, before);
        assert_eq!(m.usd_left(), Some(0.5));
        m.absorb(&Event::Model("m".into()));
        let shown = m.absorb(&Event::Usage { tokens: Usage { input: 100_000, ..Usage::default() }, cost_usd: None });
        assert_eq!(shown, Event::Usage { tokens: Usage { input: 100_000, ..Usage::default() }, cost_usd: Some(0.1) });
        assert!(m.over.is_none());
        m.absorb(&Event::Usage {
            tokens: Usage { input: 100_000, output: 40_000, ..Usage::default() },
            cost_usd: None,
        });
        let over = m.over.clone().expect("0.5 before + 0.5 now reaches the $1 cap");
        assert!(over.starts_with("the task's budget of $1.00 is spent ($1.00 used)"), "{over}");
        // The CLI's own figure is the final cost.
        m.absorb(&Event::Usage { tokens: Usage { input: 1, ..Usage::default() }, cost_usd: Some(0.7) });
        assert_eq!(m.cost(), Some(0.7));
    }

    #[test]
    fn an_unpriced_model_has_an_unknown_cost_and_token_caps_still_hold() {
        let caps = Caps { day: Limit { usd: None, tokens: Some(1000) }, ..Caps::default() };
        let mut m = Meter::new(&Prices::default(), Some("x")).with_caps(caps, [Spent::default(); 3]);
        m.absorb(&Event::Usage { tokens: Usage { output: 999, ..Usage::default() }, cost_usd: None });
        assert_eq!((m.cost(), m.over.is_none()), (None, true));
        m.absorb(&Event::Usage { tokens: Usage { output: 1000, ..Usage::default() }, cost_usd: None });
        assert!(m.over.as_deref().is_some_and(|o| o.starts_with("today's budget of 1000 tokens")), "{:?}", m.over);
    }
}
