//! The knowledge base: adding, proposing, accepting, promoting and retiring entries.

use crate::model::redact::redact;
use crate::model::{DecisionKind, Knowledge, KnowledgeStatus};
use crate::store::{self, Store, layout};

/// A new entry as someone wrote it.
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub paths: Vec<String>,
    pub confidence: f64,
    pub supersedes: Option<String>,
    /// `person:<actor>`, `agent:<performer>` or `decision:<id>`.
    pub source: String,
}

/// Why a knowledge change was refused.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("confidence must be between 0 and 1, not {0}")]
    Confidence(f64),
    #[error("{id} is {status:?}; only {wanted} entries can be {verb}")]
    State { id: String, status: KnowledgeStatus, wanted: &'static str, verb: &'static str },
    #[error("decision {0} does not exist")]
    NoDecision(String),
    #[error("invalid path glob {glob:?}: {problem}")]
    Glob { glob: String, problem: String },
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// Store `entry` with `status` (accepted for people, proposed for agents). A superseded entry
/// is marked, and from then on never retrieved.
pub fn add(store: &Store, entry: NewEntry, status: KnowledgeStatus) -> Result<Knowledge, KbError> {
    let title = redact(entry.title.trim());
    if title.is_empty() {
        return Err(KbError::Empty("the title"));
    }
    if !(0.0..=1.0).contains(&entry.confidence) {
        return Err(KbError::Confidence(entry.confidence));
    }
    for glob in &entry.paths {
        crate::model::plan::validate_glob(glob).map_err(|problem| KbError::Glob { glob: glob.clone(), problem })?;
    }
    let outcome = store.transact(&format!("knowledge: {title}"), |tx| {
        let k = Knowledge {
            format: crate::model::FORMAT as u32,
            id: tx.new_id(),
            title: title.clone(),
            body: redact(entry.body.trim()),
            tags: entry.tags.iter().map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()).collect(),
            paths: entry.paths.clone(),
            source: entry.source.clone(),
            confidence: entry.confidence,
            supersedes: entry.supersedes.clone(),
            superseded_by: None,
            status,
            created: tx.now,
            updated: tx.now,
            sync: None,
        };
        if let Some(old) = &entry.supersedes {
            let mut o = store::knowledge_entry(tx, old)?;
            o.superseded_by = Some(k.id.clone());
            o.updated = tx.now;
            tx.put(&layout::knowledge_file(old), &o)?;
        }
        tx.create(&layout::knowledge_file(&k.id), &k)?;
        Ok::<_, KbError>(k)
    })?;
    Ok(outcome.value)
}

/// Accept an agent's proposal.
pub fn accept(store: &Store, id: &str) -> Result<Knowledge, KbError> {
    change(store, id, "accept", KnowledgeStatus::Proposed, "proposed", "accepted", KnowledgeStatus::Accepted)
}

/// Retire an entry: it stays in history, and is never retrieved again.
pub fn retire(store: &Store, id: &str) -> Result<Knowledge, KbError> {
    let outcome = store.transact(&format!("retire knowledge {id}"), |tx| {
        let mut k = store::knowledge_entry(tx, id)?;
        k.status = KnowledgeStatus::Retired;
        k.updated = tx.now;
        tx.put(&layout::knowledge_file(id), &k)?;
        Ok::<_, KbError>(k)
    })?;
    Ok(outcome.value)
}

fn change(
    store: &Store,
    id: &str,
    what: &str,
    from: KnowledgeStatus,
    wanted: &'static str,
    verb: &'static str,
    to: KnowledgeStatus,
) -> Result<Knowledge, KbError> {
    let outcome = store.transact(&format!("{what} knowledge {id}"), |tx| {
        let mut k = store::knowledge_entry(tx, id)?;
        if k.status != from {
            return Err(KbError::State { id: id.to_owned(), status: k.status, wanted, verb });
        }
        k.status = to;
        k.updated = tx.now;
        tx.put(&layout::knowledge_file(id), &k)?;
        Ok(k)
    })?;
    Ok(outcome.value)
}

/// Make a decision into an accepted entry: its summary, rationale and kind, about the scope of
/// its task when it has one.
pub fn promote(store: &Store, decision: &str, mut extra: NewEntry) -> Result<Knowledge, KbError> {
    let view = store.view()?;
    let d = store::decisions(&view)?
        .into_iter()
        .find(|d| d.id == decision)
        .ok_or_else(|| KbError::NoDecision(decision.to_owned()))?;
    if let (Some(score), Some(task)) = (&d.score, &d.task)
        && extra.paths.is_empty()
    {
        extra.paths = store::task(&view, score, task).map(|t| t.scope).unwrap_or_default();
    }
    let kind = if d.kind == DecisionKind::Lesson { "lesson" } else { d.kind.as_str() };
    extra.tags.push(kind.to_owned());
    let entry =
        NewEntry { title: d.summary.clone(), body: d.rationale.clone(), source: format!("decision:{}", d.id), ..extra };
    add(store, entry, KnowledgeStatus::Accepted)
}
