//! What the state records as spent: each attempt's tokens and cost, added up per task, per
//! Score and per local day.

use jiff::Timestamp;
use jiff::civil::Date;

use super::{Caps, Limit, Spent, Usage};
use crate::model::{Attempt, Score, Task};

/// The tokens an attempt recorded.
pub fn usage_of(a: &Attempt) -> Usage {
    Usage {
        input: a.input_tokens.unwrap_or(0),
        cache_read: a.cache_read_tokens.unwrap_or(0),
        cache_write: a.cache_write_tokens.unwrap_or(0),
        output: a.output_tokens.unwrap_or(0),
    }
}

/// What all the attempts of `task` cost, when that is known: at least one attempt recorded a
/// cost, and every attempt that used tokens has one. An attempt that recorded neither tokens
/// nor a cost (an adapter that reports no usage, a run that failed first) adds nothing.
pub fn task_cost(task: &Task) -> Option<f64> {
    let mut total: Option<f64> = None;
    for a in &task.attempts {
        match a.cost_usd {
            Some(c) => total = Some(total.unwrap_or(0.0) + c),
            None if usage_of(a).total() > 0 => return None,
            None => {}
        }
    }
    total
}

/// The calendar day of `at` on this machine (the day cap is by local day).
pub fn local_day(at: Timestamp) -> Date {
    at.to_zoned(jiff::tz::TimeZone::system()).date()
}

/// What has been spent against the three budgets of `task`: its own attempts, its Score's
/// (`score_tasks`), and every attempt started on `day` in any Score (`all_tasks`). The attempt
/// of run `except` is left out (the running one, counted live by the caller).
pub fn spent<'a>(
    task: &str,
    score_tasks: &[Task],
    all_tasks: impl IntoIterator<Item = &'a Task>,
    day: Date,
    except: Option<&str>,
) -> [Spent; 3] {
    let counted = |a: &&Attempt| except.is_none_or(|run| a.run != run);
    let mut out = [Spent::default(); 3];
    for t in score_tasks {
        for a in t.attempts.iter().filter(counted) {
            out[1].add(&usage_of(a), a.cost_usd);
            if t.id == task {
                out[0].add(&usage_of(a), a.cost_usd);
            }
        }
    }
    for t in all_tasks {
        for a in t.attempts.iter().filter(counted).filter(|a| local_day(a.started) == day) {
            out[2].add(&usage_of(a), a.cost_usd);
        }
    }
    out
}

/// The caps in force for the tasks of `score`: the tighter of trusted config and the Score's
/// own caps for the task and the Score, each raised by what people raised it by; the day cap
/// comes from trusted config alone.
pub fn caps_for(config: &Caps, score: &Score) -> Caps {
    let own = score.budget.as_ref();
    let raised = score.raises.iter().fold(Limit::default(), |acc, r| Limit {
        usd: Some(acc.usd.unwrap_or(0.0) + r.usd.unwrap_or(0.0)),
        tokens: Some(acc.tokens.unwrap_or(0).saturating_add(r.tokens.unwrap_or(0))),
    });
    let limit = |config: &Limit, own: Option<Limit>| own.map_or(*config, |o| config.tighter(&o)).raised(&raised);
    Caps {
        task: limit(&config.task, own.map(|b| b.task_limit())),
        score: limit(&config.score, own.map(|b| b.score_limit())),
        day: config.day,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttemptOutcome, TaskStatus};

    fn task(id: &str, attempts: Vec<(Timestamp, &str, u64, Option<f64>)>) -> Task {
        let mut t = crate::model::task::sample(TaskStatus::Failed);
        t.id = id.to_owned();
        t.attempts = attempts
            .into_iter()
            .map(|(at, run, tokens, cost)| {
                let mut a = Attempt::start(run, "p", "command", None, at);
                a.outcome = AttemptOutcome::Failed;
                a.input_tokens = Some(tokens);
                a.cost_usd = cost;
                a
            })
            .collect();
        t
    }

    #[test]
    fn a_task_costs_the_sum_of_its_attempts_only_when_every_one_with_tokens_is_priced() {
        let at: Timestamp = "2026-11-30T12:00:00Z".parse().expect("a valid time");
        let priced = task("a", vec![(at, "r1", 100, Some(1.0)), (at, "r2", 0, None), (at, "r3", 5, Some(0.25))]);
        assert_eq!(task_cost(&priced), Some(1.25), "an attempt without tokens adds nothing");
        let unpriced = task("b", vec![(at, "r1", 100, Some(1.0)), (at, "r2", 7, None)]);
        assert_eq!(task_cost(&unpriced), None, "one unpriced attempt makes the total unknown, not a part");
        let silent = task("c", vec![(at, "r1", 0, None)]);
        assert_eq!(task_cost(&silent), None, "nothing recorded is unknown, not $0");
    }

    #[test]
    fn spending_is_added_per_task_per_score_and_per_day() {
        let today: Timestamp = "2026-11-30T12:00:00Z".parse().expect("a valid time");
        let yesterday: Timestamp = "2026-11-28T12:00:00Z".parse().expect("a valid time");
        let tasks = vec![
            task("a", vec![(today, "r1", 100, Some(1.0)), (yesterday, "r2", 50, None)]),
            task("b", vec![(today, "r3", 10, Some(0.5))]),
        ];
        let other = [task("c", vec![(today, "r4", 1, Some(2.0))])];
        let [t, s, d] = spent("a", &tasks, tasks.iter().chain(&other), local_day(today), None);
        assert_eq!((t.usd, t.tokens, t.unknown), (1.0, 150, 1), "an unpriced attempt is unknown, not $0");
        assert_eq!((s.usd, s.tokens), (1.5, 160));
        assert_eq!((d.usd, d.tokens), (3.5, 111));
        let [t, ..] = spent("a", &tasks, [], local_day(today), Some("r1"));
        assert_eq!((t.usd, t.tokens), (0.0, 50), "the running attempt is counted live, not twice");
    }
}
