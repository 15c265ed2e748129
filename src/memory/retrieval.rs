//! Retrieval: the knowledge entries and decisions most relevant to a task, within a budget.
//!
//! Each candidate is scored by overlap of its paths with the task's scope, overlap of its
//! tags with the task's kind and languages, BM25 relevance of its text to the task's words,
//! and recency (a 30-day half-life). Knowledge weighs by its confidence. Retired and
//! superseded entries, and proposals nobody accepted, are never returned.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::Serialize;

use crate::model::plan::globs_overlap;
use crate::model::{Decision, Knowledge, Task};

/// What to look for.
pub struct Query<'a> {
    pub text: String,
    pub paths: &'a [String],
    pub tags: Vec<String>,
    pub now: Timestamp,
}

impl<'a> Query<'a> {
    /// The query for `task`: its title, spec and acceptance criteria; its scope; its kind and
    /// languages as tags.
    pub fn for_task(task: &'a Task, now: Timestamp) -> Query<'a> {
        let text = format!("{} {} {}", task.title, task.spec, task.acceptance.join(" "));
        let mut tags = vec![task.kind.as_str().to_owned()];
        tags.extend(task.languages.iter().cloned());
        Query { text, paths: &task.scope, tags, now }
    }
}

/// One thing worth knowing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// `knowledge` or `decision`.
    pub kind: &'static str,
    pub id: String,
    pub title: String,
    pub text: String,
    pub score: f64,
}

struct Doc<'a> {
    kind: &'static str,
    id: &'a str,
    title: &'a str,
    text: &'a str,
    tags: Vec<String>,
    paths: &'a [String],
    at: Timestamp,
    weight: f64,
}

/// Rank the live knowledge entries and the design and lesson decisions for `q`, best first.
/// Only candidates that match on words, paths or tags are returned.
pub fn rank(knowledge: &[Knowledge], decisions: &[Decision], q: &Query<'_>) -> Vec<Hit> {
    let mut docs: Vec<Doc<'_>> = knowledge
        .iter()
        .filter(|k| k.is_live())
        .map(|k| Doc {
            kind: "knowledge",
            id: &k.id,
            title: &k.title,
            text: &k.body,
            tags: k.tags.clone(),
            paths: &k.paths,
            at: k.updated,
            weight: k.confidence.clamp(0.0, 1.0),
        })
        .collect();
    docs.extend(decisions.iter().filter(|d| d.kind.is_recalled()).map(|d| Doc {
        kind: "decision",
        id: &d.id,
        title: &d.summary,
        text: &d.rationale,
        tags: vec![d.kind.as_str().to_owned()],
        paths: &[],
        at: d.at,
        weight: 1.0,
    }));
    let texts: Vec<Vec<String>> =
        docs.iter().map(|d| tokens(&format!("{} {} {}", d.title, d.text, d.tags.join(" ")))).collect();
    let relevance = bm25(&texts, &tokens(&q.text));
    let top = relevance.iter().copied().fold(0.0_f64, f64::max);
    let wanted: BTreeSet<String> = q.tags.iter().map(|t| t.to_lowercase()).collect();
    let mut hits: Vec<Hit> = docs
        .iter()
        .zip(&relevance)
        .filter_map(|(d, &r)| {
            let words = if top > 0.0 { r / top } else { 0.0 };
            let paths = f64::from(u8::from(d.paths.iter().any(|a| q.paths.iter().any(|b| globs_overlap(a, b)))));
            let shared = d.tags.iter().filter(|t| wanted.contains(&t.to_lowercase())).count();
            let tags = shared as f64 / wanted.len().max(1) as f64;
            if words == 0.0 && paths == 0.0 && tags == 0.0 {
                return None;
            }
            let days = (q.now.as_second() - d.at.as_second()).max(0) as f64 / 86_400.0;
            let recency = 0.5_f64.powf(days / 30.0);
            let score = d.weight * (2.0 * words + 1.5 * paths + tags + 0.5 * recency);
            Some(Hit { kind: d.kind, id: d.id.to_owned(), title: d.title.to_owned(), text: d.text.to_owned(), score })
        })
        .collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    hits
}

/// The hits as prompt text, best first, as many as fit in `budget` bytes.
pub fn render(hits: &[Hit], budget: usize) -> String {
    let mut out = String::new();
    for h in hits {
        let entry = format!("- [{} {}] {}\n  {}\n", h.kind, h.id, h.title, h.text.trim().replace('\n', "\n  "));
        if out.len() + entry.len() > budget {
            break;
        }
        out.push_str(&entry);
    }
    out
}

/// Lowercase words of two or more letters or digits, without the commonest English words.
fn tokens(text: &str) -> Vec<String> {
    const STOP: &[&str] = &[
        "the", "and", "for", "with", "that", "this", "are", "is", "in", "of", "to", "an", "it", "be", "on", "or", "as",
        "by", "at",
    ];
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 2)
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
        .collect()
}

/// Okapi BM25 (k1 = 1.2, b = 0.75) of each document for the query terms.
fn bm25(docs: &[Vec<String>], query: &[String]) -> Vec<f64> {
    let n = docs.len() as f64;
    let avg = docs.iter().map(Vec::len).sum::<usize>() as f64 / n.max(1.0);
    let terms: BTreeSet<&String> = query.iter().collect();
    let mut df: BTreeMap<&String, f64> = BTreeMap::new();
    for d in docs {
        let unique: BTreeSet<&String> = d.iter().collect();
        for t in &terms {
            if unique.contains(t) {
                *df.entry(t).or_default() += 1.0;
            }
        }
    }
    docs.iter()
        .map(|d| {
            let len = d.len() as f64;
            terms
                .iter()
                .map(|t| {
                    let f = d.iter().filter(|w| w == t).count() as f64;
                    let df = df.get(t).copied().unwrap_or(0.0);
                    let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                    idf * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * len / avg.max(1.0)))
                })
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KnowledgeStatus;

    fn entry(id: &str, title: &str, body: &str, paths: &[&str]) -> Knowledge {
        Knowledge {
            format: 1,
            id: id.into(),
            title: title.into(),
            body: body.into(),
            tags: vec![],
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            source: "person:t".into(),
            confidence: 1.0,
            supersedes: None,
            superseded_by: None,
            status: KnowledgeStatus::Accepted,
            created: Timestamp::UNIX_EPOCH,
            updated: Timestamp::UNIX_EPOCH,
            sync: None,
        }
    }

    fn query<'a>(text: &str, paths: &'a [String]) -> Query<'a> {
        Query { text: text.into(), paths, tags: vec![], now: Timestamp::UNIX_EPOCH }
    }

    #[test]
    fn bm25_prefers_rarer_and_more_frequent_terms() {
        let docs = vec![tokens("token expiry token"), tokens("token login"), tokens("database migrations")];
        let r = bm25(&docs, &tokens("token expiry"));
        assert!(r[0] > r[1] && r[1] > 0.0 && r[2] == 0.0, "{r:?}");
    }

    #[test]
    fn words_and_paths_rank_and_superseded_entries_never_come_back() {
        let mut old = entry("k1", "Token expiry", "Check expiry in one place: Token::is_expired.", &[]);
        old.superseded_by = Some("k2".into());
        let new = entry("k2", "Token expiry", "Expiry lives in auth::clock now.", &[]);
        let paths_only = entry("k3", "Auth layout", "Everything auth is under src/auth.", &["src/auth/*"]);
        let unrelated = entry("k4", "Release process", "Tag, then publish.", &["docs/*"]);
        let mut retired = entry("k5", "Token expiry", "obsolete", &[]);
        retired.status = KnowledgeStatus::Retired;
        let scope = vec!["src/auth/token.rs".to_owned()];
        let hits = rank(&[old, new, paths_only, unrelated, retired], &[], &query("check token expiry", &scope));
        let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, vec!["k2", "k3"], "{hits:#?}");
        let text = render(&hits, 80);
        assert!(text.contains("[knowledge k2] Token expiry") && !text.contains("k3"), "budget: {text}");
    }
}
