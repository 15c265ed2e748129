//! Routing: which performer takes a task (DESIGN.md §5).
//!
//! 1. Hard rules: the task's explicit `performer`; the kinds and languages a performer declares
//!    (an empty list takes anything); performers that already failed this task are avoided
//!    while another is eligible; a performer at its `max_parallel` waits.
//! 2. A score: profile match (kind listed +1, every language listed +0.5, `strengths.<kind>`),
//!    plus learned success for this kind and language (2 × the smoothed rate of results that
//!    stood, from `stats/performers`), minus load (running / max_parallel), plus the cost tier
//!    (low +0.3, high -0.3).
//! 3. Ties go to the name that sorts first.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{Config, CostTier, Performer};
use crate::model::Task;
use crate::model::stats::PerformerStats;

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
    let mut candidates: Vec<Candidate> = Vec::new();
    for p in config.performers.values() {
        let busy = running.get(&p.name).copied().unwrap_or(0);
        let excluded = match &task.performer {
            Some(named) if named != &p.name => Some(format!("the task names {named}")),
            _ => hard_rules(task, p),
        };
        let candidate = match excluded {
            Some(why) => Candidate { performer: p.name.clone(), score: None, why },
            None => score(task, p, history, busy),
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

fn score(task: &Task, p: &Performer, history: &History, busy: u32) -> Candidate {
    let kind = if p.kinds.contains(&task.kind) { 1.0 } else { 0.0 };
    let langs =
        if !task.languages.is_empty() && task.languages.iter().all(|l| p.languages.contains(l)) { 0.5 } else { 0.0 };
    let strength = p.strengths.get(task.kind.as_str()).copied().unwrap_or(0.0);
    let (rate, seen) = history.rate(&p.name, task);
    let load = f64::from(busy) / f64::from(p.max_parallel.max(1));
    let cost = match p.cost_tier {
        CostTier::Low => 0.3,
        CostTier::Medium => 0.0,
        CostTier::High => -0.3,
    };
    let total = kind + langs + strength + 2.0 * rate - load + cost;
    let why = format!(
        "kind {kind:+.1}, languages {langs:+.1}, strength {strength:+.1}, success {rate:.2} of {seen}, \
         load -{load:.2}, cost {cost:+.1}"
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
}
