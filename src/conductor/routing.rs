//! Routing: which performer takes a task (DESIGN.md §5).
//!
//! 1. Hard rules: the task's explicit `performer`; the kinds and languages a performer declares
//!    (an empty list takes anything); performers that already failed this task are avoided
//!    while another is eligible; a performer at its `max_parallel` waits.
//! 2. A score: profile match (kind listed +1, every language listed +0.5, `strengths.<kind>`),
//!    plus learned success for this kind and language (2 × the smoothed rate of results that
//!    stood, from `stats/performers`), minus load (running / max_parallel), plus a cost term:
//!    the cost tier (low +0.3, high -0.3), or, where at least two of the performers the hard
//!    rules let take the task have learned their cost per merged task on tasks like it (from
//!    [`LEARNED_AFTER`] costed merges on), the learned figure relative to theirs: +0.3 for the
//!    cheapest, -0.3 for the dearest, linear between (0 when all are equal). A performer that
//!    has not learned it keeps its tier.
//! 3. Ties go to the name that sorts first.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{Config, CostTier, Performer};
use crate::model::Task;
use crate::model::budget::dollars;
use crate::model::stats::PerformerStats;

/// How many merged tasks of known cost teach a performer its cost per merged task.
pub const LEARNED_AFTER: u32 = 2;

/// One performer considered for a task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub performer: String,
    /// `None` when a hard rule excluded it.
    pub score: Option<f64>,
    /// How the score was made, or why it was excluded.
    pub why: String,
}

/// The routing of one task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Routing {
    pub task: String,
    pub chosen: Option<String>,
    pub candidates: Vec<Candidate>,
}

impl Routing {
    /// The candidates and their scores, for the assignment decision.
    pub fn rationale(&self) -> String {
        let parts: Vec<String> = self
            .candidates
            .iter()
            .map(|c| match c.score {
                Some(s) => format!("{} {s:.2} ({})", c.performer, c.why),
                None => format!("{} excluded: {}", c.performer, c.why),
            })
            .collect();
        match &self.chosen {
            Some(p) => format!("chose {p}; candidates: {}", parts.join("; ")),
            None => format!("no performer can take it now; candidates: {}", parts.join("; ")),
        }
    }
}

/// What was learned about each performer (`stats/performers`).
#[derive(Debug, Default)]
pub struct History {
    stats: BTreeMap<String, PerformerStats>,
}

impl History {
    /// From the performers' learned records.
    pub fn new(stats: Vec<PerformerStats>) -> History {
        History { stats: stats.into_iter().map(|s| (s.performer.clone(), s)).collect() }
    }

    /// The smoothed success rate of `performer` on tasks like `task` (same kind and
    /// languages): (results that stood + 1) / (results + 2), and how many results.
    fn rate(&self, performer: &str, task: &Task) -> (f64, u32) {
        let (mut ok, mut n) = (0, 0);
        if let Some(s) = self.stats.get(performer) {
            for key in PerformerStats::keys(task.kind, &task.languages) {
                if let Some(c) = s.by.get(&key) {
                    let (good, all) = c.successes_of();
                    ok += good;
                    n += all;
                }
            }
        }
        ((f64::from(ok) + 1.0) / (f64::from(n) + 2.0), n)
    }

    /// The mean cost in dollars of the merged tasks like `task` that `performer` finished,
    /// once it has [`LEARNED_AFTER`] of them whose cost is known.
    fn cost_per_merged(&self, performer: &str, task: &Task) -> Option<f64> {
        let s = self.stats.get(performer)?;
        let (mut micro, mut n) = (0u64, 0u32);
        for key in PerformerStats::keys(task.kind, &task.languages) {
            if let Some(c) = s.by.get(&key) {
                micro = micro.saturating_add(c.cost_micro_usd);
                n = n.saturating_add(c.costed);
            }
        }
        (n >= LEARNED_AFTER).then(|| micro as f64 / 1e6 / f64::from(n))
    }
}

/// The learned cost term of each performer in `learned` (name to cost per merged task):
/// +0.3 for the cheapest, -0.3 for the dearest, linear between; none unless two have learned.
fn learned_terms(learned: &BTreeMap<String, f64>) -> BTreeMap<String, (f64, f64)> {
    if learned.len() < 2 {
        return BTreeMap::new();
    }
    let min = learned.values().copied().fold(f64::INFINITY, f64::min);
    let max = learned.values().copied().fold(f64::NEG_INFINITY, f64::max);
    learned
        .iter()
        .map(|(name, &per)| {
            let term = if max > min { 0.3 - 0.6 * (per - min) / (max - min) } else { 0.0 };
            (name.clone(), (term, per))
        })
        .collect()
}

/// Route `task`. `running` counts the tasks each performer is running now; `avoid` lists the
/// performers that failed this task before, or refused its handover.
pub fn route(
    task: &Task,
    config: &Config,
    history: &History,
    running: &BTreeMap<String, u32>,
    avoid: &[String],
) -> Routing {
    let excluded: BTreeMap<&str, Option<String>> = config
        .performers
        .values()
        .map(|p| {
            let why = match &task.performer {
                Some(named) if named != &p.name => Some(format!("the task names {named}")),
                _ => hard_rules(task, p),
            };
            (p.name.as_str(), why)
        })
        .collect();
    let learned: BTreeMap<String, f64> = excluded
        .iter()
        .filter(|(_, why)| why.is_none())
        .filter_map(|(name, _)| history.cost_per_merged(name, task).map(|per| ((*name).to_owned(), per)))
        .collect();
    let terms = learned_terms(&learned);
    let mut candidates: Vec<Candidate> = Vec::new();
    for p in config.performers.values() {
        let busy = running.get(&p.name).copied().unwrap_or(0);
        let candidate = match excluded.get(p.name.as_str()).cloned().flatten() {
            Some(why) => Candidate { performer: p.name.clone(), score: None, why },
            None => score(task, p, history, busy, terms.get(&p.name).copied()),
        };
        candidates.push(candidate);
    }
    // Avoid earlier failures while someone else is eligible.
    if candidates.iter().any(|c| c.score.is_some() && !avoid.contains(&c.performer)) {
        for c in candidates.iter_mut().filter(|c| c.score.is_some() && avoid.contains(&c.performer)) {
            c.score = None;
            c.why = "failed or refused this task before; another performer is eligible".into();
        }
    }
    let eligible = |c: &&Candidate| {
        let p = &config.performers[&c.performer];
        c.score.is_some() && running.get(&c.performer).copied().unwrap_or(0) < p.max_parallel
    };
    let chosen = candidates
        .iter()
        .filter(eligible)
        .max_by(|a, b| {
            let (sa, sb) = (a.score.unwrap_or(f64::MIN), b.score.unwrap_or(f64::MIN));
            sa.total_cmp(&sb).then_with(|| b.performer.cmp(&a.performer))
        })
        .map(|c| c.performer.clone());
    Routing { task: task.address(), chosen, candidates }
}

/// Why no single performer can be chosen for a run started by hand.
#[derive(Debug, Clone, PartialEq)]
pub enum NoSingleFit {
    /// None fits; the routing says why each was excluded.
    None(Routing),
    /// Several fit equally well as far as the hard rules go: the person must choose.
    Several(Vec<String>),
}

/// The performer for a run started by hand (`task run` without `--performer`): the task's own
/// `performer` if it names one, else the only performer the hard rules of [`route`] let take
/// it. Load and learned scores do not choose between several that fit: that is the
/// conductor's business, and a person running one task says which one.
pub fn only_fit(task: &Task, config: &Config) -> Result<String, NoSingleFit> {
    if let Some(named) = task.performer.as_ref().filter(|n| config.performers.contains_key(*n)) {
        return Ok(named.clone());
    }
    let routing = route(task, config, &History::default(), &BTreeMap::new(), &[]);
    let fitting: Vec<String> =
        routing.candidates.iter().filter(|c| c.score.is_some()).map(|c| c.performer.clone()).collect();
    match fitting.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(NoSingleFit::None(routing)),
        _ => Err(NoSingleFit::Several(fitting)),
    }
}

/// Why `p` may not take `task` at all, if it may not.
fn hard_rules(task: &Task, p: &Performer) -> Option<String> {
    if !p.kinds.is_empty() && !p.kinds.contains(&task.kind) {
        return Some(format!("does not take {} tasks", task.kind.as_str()));
    }
    let missing: Vec<&str> = task
        .languages
        .iter()
        .filter(|l| !p.languages.is_empty() && !p.languages.contains(l))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Some(format!("does not work in {}", missing.join(", ")));
    }
    None
}

/// The score of `p` for `task`; `learned` is its learned cost term and cost per merged task.
fn score(task: &Task, p: &Performer, history: &History, busy: u32, learned: Option<(f64, f64)>) -> Candidate {
    let kind = if p.kinds.contains(&task.kind) { 1.0 } else { 0.0 };
    let langs =
        if !task.languages.is_empty() && task.languages.iter().all(|l| p.languages.contains(l)) { 0.5 } else { 0.0 };
    let strength = p.strengths.get(task.kind.as_str()).copied().unwrap_or(0.0);
    let (rate, seen) = history.rate(&p.name, task);
    let load = f64::from(busy) / f64::from(p.max_parallel.max(1));
    let (cost, cost_why) = match (learned, p.cost_tier) {
        (Some((term, per)), _) => (term, format!("cost {term:+.2} learned {}/merged", dollars(per))),
        (None, CostTier::Low) => (0.3, "cost +0.3".to_owned()),
        (None, CostTier::Medium) => (0.0, "cost +0.0".to_owned()),
        (None, CostTier::High) => (-0.3, "cost -0.3".to_owned()),
    };
    let total = kind + langs + strength + 2.0 * rate - load + cost;
    let why = format!(
        "kind {kind:+.1}, languages {langs:+.1}, strength {strength:+.1}, success {rate:.2} of {seen}, \
         load -{load:.2}, {cost_why}"
    );
    Candidate { performer: p.name.clone(), score: Some(total), why }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TaskKind;

    fn performer(name: &str, kinds: &[TaskKind], cost: CostTier) -> Performer {
        let git = vec![
            (format!("maestro.performer.{name}.adapter"), Some("command".to_owned())),
            (format!("maestro.performer.{name}.command"), Some("true".to_owned())),
        ];
        let sources = crate::config::Sources { user_file: None, repo_file: None, git_config: &git };
        let mut p = crate::config::load(&sources)
            .expect("the test config loads")
            .performers
            .remove(name)
            .expect("the performer is configured");
        p.kinds = kinds.to_vec();
        p.cost_tier = cost;
        p
    }

    fn config(performers: Vec<Performer>) -> Config {
        Config { performers: performers.into_iter().map(|p| (p.name.clone(), p)).collect(), ..Config::default() }
    }

    #[test]
    fn hard_rules_then_score_then_name() {
        let mut task = crate::model::task::sample(crate::model::TaskStatus::Ready);
        task.kind = TaskKind::Implement;
        let c = config(vec![
            performer("docs-only", &[TaskKind::Docs], CostTier::Medium),
            performer("alpha", &[], CostTier::Medium),
            performer("beta", &[], CostTier::Medium),
            performer("impl", &[TaskKind::Implement], CostTier::High),
        ]);
        let none = BTreeMap::new();
        let r = route(&task, &c, &History::default(), &none, &[]);
        assert_eq!(r.chosen.as_deref(), Some("impl"), "kind +1 beats cost -0.3: {}", r.rationale());
        assert!(r.rationale().contains("docs-only excluded: does not take implement tasks"), "{}", r.rationale());

        let busy = BTreeMap::from([("impl".to_owned(), 1)]);
        let r = route(&task, &c, &History::default(), &busy, &[]);
        assert_eq!(r.chosen.as_deref(), Some("alpha"), "impl is at max_parallel 1; alpha wins the tie by name");

        let r = route(&task, &c, &History::default(), &none, &["impl".to_owned()]);
        assert_eq!(r.chosen.as_deref(), Some("alpha"), "a performer that failed it is avoided");

        task.performer = Some("beta".into());
        let r = route(&task, &c, &History::default(), &none, &["beta".to_owned()]);
        assert_eq!(r.chosen.as_deref(), Some("beta"), "the named performer, even after a failure");
    }

    #[test]
    fn a_run_by_hand_takes_the_only_fitting_performer() {
        let mut task = crate::model::task::sample(crate::model::TaskStatus::Ready);
        task.kind = TaskKind::Implement;
        let c = config(vec![
            performer("docs-only", &[TaskKind::Docs], CostTier::Low),
            performer("impl", &[TaskKind::Implement], CostTier::High),
        ]);
        assert_eq!(only_fit(&task, &c), Ok("impl".to_owned()), "docs-only does not take implement tasks");
        let c =
            config(vec![performer("a", &[], CostTier::Low), performer("b", &[TaskKind::Implement], CostTier::High)]);
        assert_eq!(only_fit(&task, &c), Err(NoSingleFit::Several(vec!["a".into(), "b".into()])));
        task.performer = Some("b".into());
        assert_eq!(only_fit(&task, &c), Ok("b".to_owned()), "the task's own performer");
        task.performer = None;
        task.kind = TaskKind::Docs;
        let c = config(vec![performer("impl", &[TaskKind::Implement], CostTier::High)]);
        assert!(matches!(only_fit(&task, &c), Err(NoSingleFit::None(_))));
    }

    #[test]
    fn learned_success_moves_the_choice() {
        let mut done = crate::model::task::sample(crate::model::TaskStatus::Merged);
        done.attempts = vec![crate::model::task::sample_attempt("beta")];
        let mut beta = PerformerStats::new("beta");
        beta.record(&done, crate::model::stats::Outcome::Merged);
        beta.record(&done, crate::model::stats::Outcome::Merged);
        let history = History::new(vec![beta]);
        let task = crate::model::task::sample(crate::model::TaskStatus::Ready);
        let c = config(vec![performer("alpha", &[], CostTier::Medium), performer("beta", &[], CostTier::Medium)]);
        let r = route(&task, &c, &history, &BTreeMap::new(), &[]);
        assert_eq!(r.chosen.as_deref(), Some("beta"), "{}", r.rationale());
        assert!(r.rationale().contains("success 0.75 of 2"), "{}", r.rationale());
        assert!(r.rationale().contains("alpha 1.00 ("), "{}", r.rationale());
    }

    /// `n` merged tasks of `performer`, each of whose one attempt cost `usd`.
    fn merges(performer: &str, usd: f64, n: usize) -> PerformerStats {
        let mut done = crate::model::task::sample(crate::model::TaskStatus::Merged);
        let mut a = crate::model::task::sample_attempt(performer);
        (a.input_tokens, a.cost_usd) = (Some(1000), Some(usd));
        done.attempts = vec![a];
        let mut stats = PerformerStats::new(performer);
        for _ in 0..n {
            stats.record(&done, crate::model::stats::Outcome::Merged);
        }
        stats
    }

    #[test]
    fn the_learned_cost_per_merged_task_replaces_the_tier() {
        let task = crate::model::task::sample(crate::model::TaskStatus::Ready);
        let c = config(vec![
            performer("cheap", &[], CostTier::High),
            performer("dear", &[], CostTier::Low),
            performer("mid", &[], CostTier::Medium),
            performer("new", &[], CostTier::Low),
        ]);
        // Equal success everywhere, so only the cost terms differ.
        let history = History::new(vec![
            merges("cheap", 0.10, 2),
            merges("dear", 0.90, 2),
            merges("mid", 0.50, 2),
            merges("new", 0.01, 1),
        ]);
        let r = route(&task, &c, &history, &BTreeMap::new(), &[]);
        let why = r.rationale();
        assert!(why.contains("cost +0.30 learned $0.10/merged"), "the cheapest gets +0.3: {why}");
        assert!(why.contains("cost -0.30 learned $0.90/merged"), "the dearest gets -0.3, whatever its tier: {why}");
        assert!(why.contains("cost +0.00 learned $0.50/merged"), "linear between: {why}");
        assert!(
            why.ends_with("success 0.67 of 1, load -0.00, cost +0.3)"),
            "one costed merge teaches new nothing: {why}"
        );
        assert_eq!(r.chosen.as_deref(), Some("cheap"), "{why}");

        // Fewer than two learned among those that may take it: every performer keeps its tier.
        let c = config(vec![performer("cheap", &[], CostTier::High), performer("dear", &[], CostTier::Low)]);
        let history = History::new(vec![merges("cheap", 0.10, 3)]);
        let r = route(&task, &c, &history, &BTreeMap::new(), &[]);
        assert!(r.rationale().contains("cost -0.3)"), "{}", r.rationale());
        assert!(!r.rationale().contains("learned"), "{}", r.rationale());

        // A performer the hard rules exclude does not count among the learned.
        let c = config(vec![
            performer("cheap", &[], CostTier::High),
            performer("dear", &[crate::model::TaskKind::Docs], CostTier::Low),
        ]);
        let history = History::new(vec![merges("cheap", 0.10, 2), merges("dear", 0.90, 2)]);
        let r = route(&task, &c, &history, &BTreeMap::new(), &[]);
        assert!(!r.rationale().contains("learned"), "{}", r.rationale());
    }
}
