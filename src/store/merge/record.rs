//! Merging one record that both sides changed, field by field.
//!
//! Rules per field, applied only where both sides changed a field to different values (a field
//! one side changed is taken from that side):
//! - a status follows its lifecycle order: the later status wins;
//! - append-only lists (attempts, notes, acknowledgements) are unions;
//! - performer statistics are counters: both sides' increments add up;
//! - `updated` is the later of the two;
//! - every other field is last-writer-wins on the records' hybrid clocks, ties by op id.
//!
//! A claim decides more than itself: when two machines claimed a task apart, the claim pushed
//! first wins (a merge made under a claim always does, and a revert of it beats the merge it
//! reverts), and the task's run fields (status, rework, …) come from the winner's side; the
//! loser's running attempts end as interrupted.
//! Whatever a rule settled by setting a value aside is recorded in the record's `[sync]`
//! conflicts. The result depends only on the three inputs and, for claims made apart only, on
//! which side is the remote's (`b`): everything else is symmetric.

use toml::{Table, Value};

use crate::model::clock::{Hlc, SyncConflict};

/// What kind of record a path holds, which picks its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Task,
    Score,
    Session,
    Knowledge,
    Handover,
    Stats,
    /// The root and decisions: never changed after creation.
    Fixed,
}

impl Kind {
    pub(super) fn of(path: &str) -> Kind {
        let parts: Vec<&str> = path.split('/').collect();
        match parts.as_slice() {
            ["scores", _, "score.toml"] => Kind::Score,
            // Both layouts: a sync of two format-1 states merges before it moves the records.
            ["scores", _, "tasks", ..] => Kind::Task,
            ["sessions", ..] => Kind::Session,
            ["knowledge", ..] => Kind::Knowledge,
            ["handovers", ..] => Kind::Handover,
            ["stats", ..] => Kind::Stats,
            _ => Kind::Fixed,
        }
    }
}

const TASK_ORDER: &[&str] = &[
    "pending",
    "ready",
    "assigned",
    "running",
    "failed",
    "conflict",
    "rejected",
    "submitted",
    "approved",
    "blocked",
    "merged",
    "reverted",
];
const SCORE_ORDER: &[&str] = &["draft", "approved", "running", "failed", "done", "rolled-back", "landed"];
const KNOWLEDGE_ORDER: &[&str] = &["proposed", "accepted", "retired"];
const HANDOVER_ORDER: &[&str] = &["open", "delivered", "expired", "nacked", "acked"];

/// Task fields that belong to whoever holds the claim.
const HOLDER_FIELDS: &[&str] = &["claim", "status", "rework", "passed", "conflicts", "merge_commit", "pr", "lease"];

#[derive(Clone, Copy)]
enum Rule {
    Lww,
    Latest,
    Rank(&'static [&'static str]),
    /// A union of items identified by these fields (none: the item itself); new items sort by
    /// the `order` fields.
    Union {
        id: &'static [&'static str],
        order: &'static [&'static str],
    },
    Sum,
}

fn rule(kind: Kind, field: &str) -> Rule {
    match (kind, field) {
        (_, "updated") => Rule::Latest,
        (Kind::Task, "status") => Rule::Rank(TASK_ORDER),
        (Kind::Task, "attempts") => Rule::Union { id: &["run"], order: &["started", "run"] },
        (Kind::Score, "status") => Rule::Rank(SCORE_ORDER),
        (Kind::Score, "raises") => Rule::Union { id: &["decision"], order: &["at", "decision"] },
        (Kind::Session, "notes") => Rule::Union { id: &["at", "text"], order: &["at", "text"] },
        (Kind::Knowledge, "status") => Rule::Rank(KNOWLEDGE_ORDER),
        (Kind::Handover, "status") => Rule::Rank(HANDOVER_ORDER),
        (Kind::Handover, "acked_by") => Rule::Union { id: &[], order: &[] },
        (Kind::Stats, "by") => Rule::Sum,
        _ => Rule::Lww,
    }
}

/// Which side a value came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

/// The last writer's clock and op of a record's `[sync]` table.
fn rev(t: &Table) -> (Hlc, String) {
    let meta = t.get("sync").and_then(Value::as_table);
    let clock = meta.and_then(|m| m.get("clock")).and_then(Value::as_str).and_then(Hlc::parse).unwrap_or_default();
    let op = meta.and_then(|m| m.get("op")).and_then(Value::as_str).unwrap_or_default().to_owned();
    (clock, op)
}

/// A value as one line of TOML, shortened for the conflict record.
fn render(v: Option<&Value>) -> String {
    let text = v.map_or_else(|| "(none)".to_owned(), |v| v.to_string());
    if text.chars().count() > 200 { format!("{}…", text.chars().take(200).collect::<String>()) } else { text }
}

/// A total order on optional values, for ties nothing else breaks.
fn value_key(v: Option<&Value>) -> String {
    v.map(Value::to_string).unwrap_or_default()
}

struct Merger {
    kind: Kind,
    /// The side whose writer was last.
    later: Side,
    ops: [String; 2],
    conflicts: Vec<SyncConflict>,
}

impl Merger {
    fn op(&self, side: Side) -> &str {
        &self.ops[side as usize]
    }

    fn pick<'v>(&mut self, field: &str, winner: Side, a: Option<&'v Value>, b: Option<&'v Value>) -> Option<Value> {
        let (kept, lost) = if winner == Side::A { (a, b) } else { (b, a) };
        let loser = if winner == Side::A { Side::B } else { Side::A };
        // A claim reads best as its holder and op.
        let show = |v: Option<&Value>| match v.and_then(|c| Some((c.get("holder")?.as_str()?, c.get("op")?.as_str()?)))
        {
            Some((holder, op)) if field == "claim" => format!("{holder} (op {op})"),
            _ => render(v),
        };
        self.conflicts.push(SyncConflict {
            field: field.to_owned(),
            kept: show(kept),
            lost: show(lost),
            lost_op: self.op(loser).to_owned(),
        });
        kept.cloned()
    }

    /// Merge one field.
    fn field(&mut self, field: &str, base: Option<&Value>, a: Option<&Value>, b: Option<&Value>) -> Option<Value> {
        // Two writes that counted the same are two counts, not one.
        let counter = matches!(rule(self.kind, field), Rule::Sum);
        if (a == b && !counter) || b == base {
            return a.cloned();
        }
        if a == base {
            return b.cloned();
        }
        match rule(self.kind, field) {
            Rule::Lww => self.pick(field, self.later, a, b),
            Rule::Latest => {
                if (value_key(a), a.is_some()) >= (value_key(b), b.is_some()) {
                    a.cloned()
                } else {
                    b.cloned()
                }
            }
            Rule::Rank(order) => {
                let rank =
                    |v: Option<&Value>| v.and_then(Value::as_str).and_then(|s| order.iter().position(|o| *o == s));
                let winner = match rank(a).cmp(&rank(b)) {
                    std::cmp::Ordering::Greater => Side::A,
                    std::cmp::Ordering::Less => Side::B,
                    std::cmp::Ordering::Equal => self.later,
                };
                self.pick(field, winner, a, b)
            }
            Rule::Union { id, order } => Some(Value::Array(self.union(id, order, base, a, b))),
            Rule::Sum => Some(sum(base, a, b, self.later)),
        }
    }

    /// The union of two lists: the base's items in their order, then new ones sorted. An item
    /// both sides changed is merged field by field, last writer winning.
    fn union(
        &mut self,
        id: &[&str],
        order: &[&str],
        base: Option<&Value>,
        a: Option<&Value>,
        b: Option<&Value>,
    ) -> Vec<Value> {
        let items = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
        let (base, a, b) = (items(base), items(a), items(b));
        let key = |v: &Value, fields: &[&str]| -> String {
            match v.as_table() {
                Some(t) if !fields.is_empty() => {
                    fields.iter().map(|f| value_key(t.get(*f))).collect::<Vec<_>>().join("\0")
                }
                _ => v.to_string(),
            }
        };
        let find = |list: &[Value], k: &str| list.iter().find(|v| key(v, id) == k).cloned();
        let mut keys: Vec<String> = base.iter().map(|v| key(v, id)).collect();
        let mut new: Vec<(String, String)> =
            a.iter().chain(&b).filter(|v| !keys.contains(&key(v, id))).map(|v| (key(v, order), key(v, id))).collect();
        new.sort();
        new.dedup_by(|x, y| x.1 == y.1);
        keys.extend(new.into_iter().map(|(_, k)| k));
        keys.iter()
            .filter_map(|k| {
                let (o, x, y) = (find(&base, k), find(&a, k), find(&b, k));
                match (x, y) {
                    (Some(x), Some(y)) if x != y => Some(self.item(o.as_ref(), &x, &y)),
                    (x, y) => x.or(y),
                }
            })
            .collect()
    }

    /// One list item both sides changed: tables field by field, last writer winning silently.
    fn item(&self, base: Option<&Value>, a: &Value, b: &Value) -> Value {
        let (Some(ta), Some(tb)) = (a.as_table(), b.as_table()) else {
            return if self.later == Side::A { a.clone() } else { b.clone() };
        };
        let tbase = base.and_then(Value::as_table);
        let mut out = Table::new();
        for k in keys(&[ta, tb]) {
            let (o, x, y) = (tbase.and_then(|t| t.get(&k)), ta.get(&k), tb.get(&k));
            let v = if x == y || y == o {
                x
            } else if x == o {
                y
            } else if self.later == Side::A {
                x
            } else {
                y
            };
            if let Some(v) = v {
                out.insert(k, v.clone());
            }
        }
        Value::Table(out)
    }
}

/// Counters: the base plus both sides' increments. Anything else falls back to the last writer.
fn sum(base: Option<&Value>, a: Option<&Value>, b: Option<&Value>, later: Side) -> Value {
    match (a, b) {
        (Some(Value::Integer(x)), Some(Value::Integer(y))) => {
            let o = base.and_then(Value::as_integer).unwrap_or(0);
            Value::Integer(x.saturating_add(*y).saturating_sub(o).max(0))
        }
        (Some(Value::Table(x)), Some(Value::Table(y))) => {
            let o = base.and_then(Value::as_table);
            let mut out = Table::new();
            for k in keys(&[x, y]) {
                let (bo, bx, by) = (o.and_then(|t| t.get(&k)), x.get(&k), y.get(&k));
                let v = match (bx, by) {
                    (Some(_), Some(_)) => sum(bo, bx, by, later),
                    (Some(v), None) | (None, Some(v)) => v.clone(),
                    (None, None) => continue,
                };
                out.insert(k, v);
            }
            Value::Table(out)
        }
        (Some(v), None) | (None, Some(v)) => v.clone(),
        (x, y) => if later == Side::A { x } else { y }.cloned().unwrap_or(Value::Table(Table::new())),
    }
}

/// Keys of several tables, each once, sorted.
fn keys(tables: &[&Table]) -> Vec<String> {
    let mut out: Vec<String> = tables.iter().flat_map(|t| t.keys().cloned()).collect();
    out.sort();
    out.dedup();
    out
}

/// Merge the record tables `a` and `b`, both changed since `base`. Returns the merged table,
/// its `[sync]` table included.
pub(super) fn merge_tables(kind: Kind, base: Option<&Table>, a: &Table, b: &Table) -> Table {
    let (ra, rb) = (rev(a), rev(b));
    let later = if (&ra, a.to_string()) >= (&rb, b.to_string()) { Side::A } else { Side::B };
    let mut m = Merger { kind, later, ops: [ra.1.clone(), rb.1.clone()], conflicts: Vec::new() };
    let get = |t: Option<&Table>, k: &str| t.and_then(|t| t.get(k)).cloned();
    let mut out = Table::new();
    let mut skip: Vec<&str> = vec!["sync"];
    let mut claim_loser: Option<(Side, String)> = None;
    if kind == Kind::Task
        && let Some(winner) = holder_side(base, a, b)
    {
        let won = if winner == Side::A { a } else { b };
        for f in HOLDER_FIELDS {
            if let Some(v) = won.get(*f) {
                out.insert((*f).to_owned(), v.clone());
            }
        }
        m.pick("claim", winner, a.get("claim"), b.get("claim"));
        let holder = won.get("claim").and_then(|c| c.get("holder")).and_then(Value::as_str).unwrap_or("nobody");
        claim_loser = Some((if winner == Side::A { Side::B } else { Side::A }, holder.to_owned()));
        skip.extend(HOLDER_FIELDS);
    }
    for k in keys(&[a, b]) {
        if skip.contains(&k.as_str()) {
            continue;
        }
        if let Some(v) = m.field(&k, base.and_then(|t| t.get(&k)), a.get(&k), b.get(&k)) {
            out.insert(k, v);
        }
    }
    if let Some((loser, holder)) = claim_loser {
        let (lost, won) = if loser == Side::A { (a, b) } else { (b, a) };
        interrupt_lost_attempts(&mut out, base, lost, won, &holder);
    }
    let conflicts = merge_conflicts(get(base, "sync"), get(Some(a), "sync"), get(Some(b), "sync"), m.conflicts);
    let (clock, op) = if later == Side::A { ra } else { rb };
    let mut meta = Table::new();
    meta.insert("clock".into(), Value::String(clock.to_string()));
    meta.insert("op".into(), Value::String(op));
    if !conflicts.is_empty() {
        meta.insert("conflicts".into(), Value::Array(conflicts));
    }
    out.insert("sync".into(), Value::Table(meta));
    out
}

/// When the sides disagree on a task's claim, the side whose holder fields (claim, status, …)
/// the merge takes, whole: the side later in the task's merges ([`merge_side`]); else the
/// side that changed the claim, when the other kept the old one (what the other did, it did
/// under a claim that is gone); else, both claimed apart, `b`: the side being merged in, which
/// sync fetched from the remote, so its claim was pushed first and is confirmed (DESIGN §8).
fn holder_side(base: Option<&Table>, a: &Table, b: &Table) -> Option<Side> {
    let (base_claim, a_claim, b_claim) = (base.and_then(|t| t.get("claim")), a.get("claim"), b.get("claim"));
    if a_claim == b_claim {
        return None;
    }
    if let Some(side) = merge_side(base, a, b) {
        return Some(side);
    }
    match (a_claim == base_claim, b_claim == base_claim) {
        (true, _) => Some(Side::B),
        (_, true) => Some(Side::A),
        _ if b_claim.is_none() => Some(Side::A),
        _ => Some(Side::B),
    }
}

/// The side whose holder fields win whatever the claims say, because its integration branch
/// moved with them, and sync joins the two branches:
/// 1. a side that merged the task anew (a merge commit the base does not hold), against one
///    that did not: a merge is not taken back;
/// 2. both merged it anew, apart: a side still merged, against one that reverted its own
///    merge since, as the joined branch holds the first's merge unreverted;
/// 3. both hold the same merge: a side that went past it (reverted it, and maybe ran the task
///    again since), as a revert comes after the merge it reverts;
/// 4. a side that merged or reverted the task, against one that did neither.
fn merge_side(base: Option<&Table>, a: &Table, b: &Table) -> Option<Side> {
    fn merge(t: Option<&Table>) -> Option<&Value> {
        t.and_then(|t| t.get("merge_commit"))
    }
    fn status(t: &Table) -> Option<&str> {
        t.get("status").and_then(Value::as_str)
    }
    let (o, x, y) = (merge(base), merge(Some(a)), merge(Some(b)));
    let (new_x, new_y) = (x.is_some() && x != o, y.is_some() && y != o);
    let (apart, same) = (new_x && new_y && x != y, x.is_some() && x == y);
    let merged = (status(a) == Some("merged"), status(b) == Some("merged"));
    let rules = [
        (new_x, new_y),
        (apart && merged.0, apart && merged.1),
        (same && !merged.0, same && !merged.1),
        (matches!(status(a), Some("merged" | "reverted")), matches!(status(b), Some("merged" | "reverted"))),
    ];
    rules.into_iter().find_map(|rule| match rule {
        (true, false) => Some(Side::A),
        (false, true) => Some(Side::B),
        _ => None,
    })
}

/// The loser's attempts that the winner never saw, still running, end as interrupted.
fn interrupt_lost_attempts(out: &mut Table, base: Option<&Table>, lost: &Table, won: &Table, holder: &str) {
    let runs = |t: Option<&Table>| -> Vec<String> {
        let list = t.and_then(|t| t.get("attempts")).and_then(Value::as_array).cloned().unwrap_or_default();
        list.iter().filter_map(|a| a.get("run").and_then(Value::as_str).map(str::to_owned)).collect()
    };
    let seen: Vec<String> = runs(base).into_iter().chain(runs(Some(won))).collect();
    let mine: Vec<String> = runs(Some(lost)).into_iter().filter(|r| !seen.contains(r)).collect();
    let Some(Value::Array(attempts)) = out.get_mut("attempts") else { return };
    for attempt in attempts.iter_mut().filter_map(Value::as_table_mut) {
        let run = attempt.get("run").and_then(Value::as_str).unwrap_or_default();
        if mine.iter().any(|r| r == run) && attempt.get("outcome").and_then(Value::as_str) == Some("running") {
            attempt.insert("outcome".into(), Value::String("interrupted".into()));
            attempt.insert(
                "reason".into(),
                Value::String(format!("claim lost to {holder}, whose claim was pushed first")),
            );
            if let Some(started) = attempt.get("started").cloned() {
                attempt.insert("ended".into(), started);
            }
        }
    }
}

/// The conflicts of the merged record: a list one side cleared (resolved) stays cleared
/// unless both changed it; then the union, plus the new ones, sorted.
fn merge_conflicts(base: Option<Value>, a: Option<Value>, b: Option<Value>, new: Vec<SyncConflict>) -> Vec<Value> {
    let list = |meta: Option<Value>| -> Vec<Value> {
        meta.and_then(|m| m.get("conflicts").cloned()).and_then(|c| c.as_array().cloned()).unwrap_or_default()
    };
    let (o, x, y) = (list(base), list(a), list(b));
    let mut out = if x == o {
        y
    } else if y == o {
        x
    } else {
        x.into_iter().chain(y).collect()
    };
    out.extend(new.into_iter().filter_map(|c| Value::try_from(c).ok()));
    out.sort_by_key(Value::to_string);
    out.dedup();
    out
}
