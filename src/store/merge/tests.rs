//! Properties of the merge over generated states: commutative, idempotent, and lossless for
//! append-only data; plus the rules one by one.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::*;
use crate::model::clock::{Hlc, SyncMeta};
use crate::model::handover::HandoverStatus;
use crate::model::stats::Outcome;
use crate::model::task::sample;
use crate::model::{Attempt, AttemptOutcome, Decision, DecisionKind, KnowledgeStatus, Note, TaskStatus};

type State = BTreeMap<String, Vec<u8>>;

const SCORE: &str = r#"format = 1
id = "s"
title = "S"
target = "main"
plan_approval = "auto"
approval = ["checks"]
conflict_policy = "warn"
max_attempts = 3
status = "running"
tasks = ["t0", "t1", "t2"]
created = "2026-01-01T00:00:00Z"
updated = "2026-01-01T00:00:00Z"
"#;

const KNOWLEDGE: &str = r#"format = 1
id = "k1"
title = "Use the builder"
source = "person:a"
confidence = 1.0
status = "proposed"
created = "2026-01-01T00:00:00Z"
updated = "2026-01-01T00:00:00Z"
"#;

const HANDOVER: &str = r#"format = 1
id = "h1"
score = "s"
delivery = "broadcast"
reason = "context"
from = "a"
status = "open"
created = "2026-01-01T00:00:00Z"
updated = "2026-01-01T00:00:00Z"

[sections]
task = "x"
"#;

/// Writes records the way a transaction does: stamped with a clock and an op.
struct Writer {
    rng: fastrand::Rng,
    name: &'static str,
    clock: Hlc,
}

impl Writer {
    fn op(&mut self) -> String {
        format!("{}{:04}", self.name, self.rng.u32(..10_000))
    }

    fn tick(&mut self) -> (Hlc, String) {
        self.clock = Hlc::tick(self.clock, 1_000 + self.rng.u64(..40));
        (self.clock, self.op())
    }

    fn read<T: DeserializeOwned>(s: &State, path: &str) -> Option<T> {
        s.get(path).map(|b| codec::decode(path, b).expect("generated records decode"))
    }

    fn write<T: Serialize>(&mut self, s: &mut State, path: &str, value: &T) {
        let (clock, op) = self.tick();
        let mut table = codec::to_table(path, value).expect("encode");
        let meta = SyncMeta { clock, op, conflicts: Vec::new() };
        let old = table.get("sync").and_then(|v| v.get("conflicts")).cloned();
        let mut meta = toml::Table::try_from(meta).expect("meta");
        if let Some(old) = old {
            meta.insert("conflicts".into(), old);
        }
        table.insert("sync".into(), toml::Value::Table(meta));
        s.insert(path.to_owned(), codec::encode_table(path, &table).expect("encode"));
    }

    /// One random operation, of the kinds machines make.
    fn step(&mut self, s: &mut State) {
        let t = format!("scores/s/tasks/t{}.toml", self.rng.u8(..3));
        let when = Timestamp::from_second(1_767_225_600 + self.rng.i64(0..100)).expect("time");
        match self.rng.u8(..11) {
            0 | 1 => {
                let Some(mut task) = Self::read::<Task>(s, &t) else { return };
                let (clock, op) = (Hlc::tick(self.clock, 1_000), self.op());
                task.claim =
                    Some(crate::model::Claim { holder: self.name.into(), since: when, op, clock, clone: None });
                task.status = TaskStatus::Assigned;
                self.write(s, &t, &task);
            }
            2 => {
                let Some(mut task) = Self::read::<Task>(s, &t) else { return };
                task.status = TaskStatus::ALL[self.rng.usize(..TaskStatus::ALL.len())];
                task.updated = when;
                self.write(s, &t, &task);
            }
            3 => {
                let Some(mut task) = Self::read::<Task>(s, &t) else { return };
                let run = self.op();
                let mut a = Attempt::start(&run, self.name, "command", None, when);
                if self.rng.bool() {
                    a.outcome = AttemptOutcome::Submitted;
                }
                task.attempts.push(a);
                task.status = TaskStatus::Running;
                self.write(s, &t, &task);
            }
            4 => {
                let Some(mut task) = Self::read::<Task>(s, &t) else { return };
                task.spec = format!("spec by {}", self.op());
                self.write(s, &t, &task);
            }
            5 => {
                let id = format!("d{}", self.op());
                let d = Decision::new(id.clone(), DecisionKind::Design, "x".into(), self.name.into(), id.clone(), when);
                s.insert(crate::store::layout::decision_file(&id), codec::encode("d", &d).expect("encode"));
            }
            6 => {
                let path = "sessions/s/t0/r1.toml";
                let mut session = Self::read::<RunSession>(s, path).expect("session");
                session.notes.push(Note { at: when, text: format!("note {}", self.op()) });
                self.write(s, path, &session);
            }
            7 => {
                let path = "stats/performers/p.toml";
                let mut stats = Self::read::<PerformerStats>(s, path).expect("stats");
                stats.record(&sample(TaskStatus::Merged), [Outcome::Merged, Outcome::Blocked][self.rng.usize(..2)]);
                self.write(s, path, &stats);
            }
            8 => {
                let path = "knowledge/k1.toml";
                let mut k = Self::read::<Knowledge>(s, path).expect("knowledge");
                k.status = [KnowledgeStatus::Accepted, KnowledgeStatus::Retired][self.rng.usize(..2)];
                k.title = format!("title {}", self.op());
                self.write(s, path, &k);
            }
            9 => {
                let path = "handovers/h1.toml";
                let mut h = Self::read::<Handover>(s, path).expect("handover");
                h.acked_by.push(self.name.to_owned());
                h.status = [HandoverStatus::Delivered, HandoverStatus::Acked][self.rng.usize(..2)];
                self.write(s, path, &h);
            }
            _ => {
                s.remove(&t);
            }
        }
    }
}

fn base_state() -> State {
    let mut s = State::new();
    let put = |s: &mut State, path: &str, bytes: Vec<u8>| s.insert(path.to_owned(), bytes);
    put(&mut s, "maestro.toml", b"format = 1\nrepo_id = \"r\"\ncreated = 2026-01-01T00:00:00Z\n".to_vec());
    put(&mut s, "scores/s/score.toml", SCORE.as_bytes().to_vec());
    for i in 0..3 {
        let mut t = sample(TaskStatus::Ready);
        t.id = format!("t{i}");
        put(&mut s, &format!("scores/s/tasks/t{i}.toml"), codec::encode("t", &t).expect("encode"));
    }
    let session = RunSession::new("r1", "s", "t0", "p");
    put(&mut s, "sessions/s/t0/r1.toml", codec::encode("s", &session).expect("encode"));
    put(&mut s, "stats/performers/p.toml", codec::encode("s", &PerformerStats::new("p")).expect("encode"));
    put(&mut s, "knowledge/k1.toml", KNOWLEDGE.as_bytes().to_vec());
    put(&mut s, "handovers/h1.toml", HANDOVER.as_bytes().to_vec());
    s
}

fn repo() -> (tempfile::TempDir, Repo) {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = Repo::init(dir.path()).expect("init");
    (dir, repo)
}

fn tree(repo: &Repo, s: &State) -> ObjectId {
    let mut edit = repo.edit_tree(None).expect("edit");
    for (path, bytes) in s {
        edit.upsert_blob(path, bytes).expect("upsert");
    }
    edit.write().expect("write")
}

fn merged(repo: &Repo, base: ObjectId, a: ObjectId, b: ObjectId) -> ObjectId {
    let changes = merge_trees(repo, Some(base), a, b).expect("merge");
    apply(repo, a, &changes).expect("apply")
}

fn state_of(repo: &Repo, tree: ObjectId) -> State {
    let mut out = State::new();
    let mut dirs = vec![(String::new(), tree)];
    while let Some((dir, id)) = dirs.pop() {
        for (name, is_tree, oid) in repo.list_dir(id, "").expect("list") {
            let path = if dir.is_empty() { name } else { format!("{dir}/{name}") };
            if is_tree {
                dirs.push((path, oid));
            } else {
                out.insert(path.clone(), repo.read_blob_by_id(oid, &path, MAX_BLOB_BYTES).expect("read"));
            }
        }
    }
    out
}

#[test]
fn merge_is_commutative_idempotent_and_keeps_every_append() {
    let (_dir, repo) = repo();
    let (mut conflicts, mut apart) = (0, 0);
    for case in 0..1000u64 {
        let base = base_state();
        let (mut a, mut b) = (base.clone(), base.clone());
        let mut wa = Writer { rng: fastrand::Rng::with_seed(case * 2), name: "a", clock: Hlc::default() };
        let mut wb = Writer { rng: fastrand::Rng::with_seed(case * 2 + 1), name: "b", clock: Hlc::default() };
        for _ in 0..wa.rng.usize(1..8) {
            wa.step(&mut a);
        }
        for _ in 0..wb.rng.usize(1..8) {
            wb.step(&mut b);
        }
        let (tb, ta, tbb) = (tree(&repo, &base), tree(&repo, &a), tree(&repo, &b));
        let ab = merged(&repo, tb, ta, tbb);
        let (sab, sba) = (state_of(&repo, ab), state_of(&repo, merged(&repo, tb, tbb, ta)));
        assert_eq!(sab.keys().collect::<Vec<_>>(), sba.keys().collect::<Vec<_>>(), "case {case}: paths differ");
        for (path, bytes) in &sab {
            // Claims made apart: the side merged in (the remote's, pushed first) wins.
            if claims_made_apart(&base, &a, &b, path) {
                let claim = |s: &State| Writer::read::<Task>(s, path).and_then(|t| t.claim).map(|c| c.op);
                assert_eq!(claim(&sab), claim(&b), "case {case}: {path}: merge(A, B) keeps B's claim");
                assert_eq!(claim(&sba), claim(&a), "case {case}: {path}: merge(B, A) keeps A's claim");
                apart += 1;
                continue;
            }
            assert_eq!(sba.get(path), Some(bytes), "case {case}: {path}: merge(A, B) != merge(B, A)");
        }
        assert_eq!(merged(&repo, tb, ta, ta), ta, "case {case}: merge(A, A) != A");
        assert_eq!(merged(&repo, ta, ab, ab), ab, "case {case}: merging the result again changes it");
        let out = state_of(&repo, ab);
        for (path, bytes) in &out {
            codec::decode::<toml::Table>(path, bytes).unwrap_or_else(|e| panic!("case {case}: {e}"));
            conflicts += usize::from(String::from_utf8_lossy(bytes).contains("[[sync.conflicts]]"));
        }
        // Nothing appended on either side is lost.
        for side in [&a, &b] {
            for (path, bytes) in side.iter().filter(|(p, _)| p.starts_with("decisions/")) {
                assert_eq!(out.get(path), Some(bytes), "case {case}: decision {path} lost");
            }
            let notes = |s: &State| Writer::read::<RunSession>(s, "sessions/s/t0/r1.toml").map(|s| s.notes);
            for note in notes(side).unwrap_or_default() {
                assert!(notes(&out).unwrap_or_default().contains(&note), "case {case}: note lost");
            }
            for i in 0..3 {
                let path = format!("scores/s/tasks/t{i}.toml");
                let (Some(mine), Some(theirs)) = (Writer::read::<Task>(side, &path), Writer::read::<Task>(&out, &path))
                else {
                    continue;
                };
                for attempt in &mine.attempts {
                    assert!(theirs.attempts.iter().any(|x| x.run == attempt.run), "case {case}: attempt lost");
                }
            }
        }
    }
    assert!(conflicts > 100, "the generator should produce settled conflicts; got {conflicts}");
    assert!(apart > 20, "the generator should produce claims made apart; got {apart}");
}

/// Whether both sides claimed the task at `path` apart, neither having merged it.
fn claims_made_apart(base: &State, a: &State, b: &State, path: &str) -> bool {
    if !path.contains("/tasks/") {
        return false;
    }
    let read = |s: &State| Writer::read::<Task>(s, path);
    let (Some(a), Some(b)) = (read(a), read(b)) else { return false };
    let before = read(base).and_then(|t| t.claim);
    let merged = |t: &Task| matches!(t.status, TaskStatus::Merged | TaskStatus::Reverted);
    a.claim != b.claim && a.claim != before && b.claim != before && b.claim.is_some() && merged(&a) == merged(&b)
}

fn task_with_claim(holder: &str, op: &str, millis: u64) -> Task {
    let mut t = sample(TaskStatus::Ready);
    let clock = Hlc { millis, counter: 0 };
    t.claim(holder, None, op, clock, Timestamp::UNIX_EPOCH).expect("claim");
    t.sync = Some(SyncMeta { clock, op: op.into(), conflicts: vec![] });
    t
}

fn merge_typed<T: DeserializeOwned + Serialize>(path: &str, base: &T, a: &T, b: &T) -> T {
    let enc = |v: &T| codec::encode(path, v).expect("encode");
    let bytes = merge_record(path, Some(&enc(base)), &enc(a), &enc(b)).expect("merge");
    codec::decode(path, &bytes).expect("decode")
}

#[test]
fn the_claim_pushed_first_wins_and_the_losers_run_is_interrupted() {
    let path = "scores/s/tasks/t.toml";
    let base = sample(TaskStatus::Ready);
    let early = task_with_claim("alice", "op-a", 1_000);
    let mut late = task_with_claim("bob", "op-b", 2_000);
    late.status = TaskStatus::Running;
    late.attempts.push(Attempt::start("run-b", "bob", "command", None, Timestamp::UNIX_EPOCH));
    // Bob's later claim was pushed first: alice's sync merges it in, and it wins.
    let m = merge_typed(path, &base, &early, &late);
    assert_eq!(m.claim.as_ref().map(|c| c.holder.as_str()), Some("bob"));
    assert_eq!((m.status, m.attempts[0].outcome), (TaskStatus::Running, AttemptOutcome::Running));
    // Alice's claim was pushed first: bob's sync merges it in; his run ends as interrupted.
    let m = merge_typed(path, &base, &late, &early);
    assert_eq!(m.claim.as_ref().map(|c| c.holder.as_str()), Some("alice"));
    assert_eq!(m.status, TaskStatus::Assigned, "the winner's status");
    assert_eq!(m.attempts.len(), 1);
    assert_eq!(m.attempts[0].outcome, AttemptOutcome::Interrupted);
    assert!(m.attempts[0].reason.as_deref().unwrap_or_default().contains("claim lost to alice"));
    let conflicts = m.sync.expect("sync").conflicts;
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!((conflicts[0].field.as_str(), conflicts[0].lost_op.as_str()), ("claim", "op-b"));
}

#[test]
fn holder_fields_follow_the_claim_and_a_merge_is_never_taken_back() {
    let path = "scores/s/tasks/t.toml";
    // Base: alice holds it. One side: bob's claim replaced hers (a sync she lost). Other side:
    // alice went on and submitted under her old claim. Bob's side is taken whole.
    let mut base = task_with_claim("alice", "op-a", 1_000);
    base.status = TaskStatus::Running;
    let mut taken = task_with_claim("bob", "op-b", 500);
    taken.status = TaskStatus::Running;
    let mut went_on = base.clone();
    went_on.status = TaskStatus::Approved;
    went_on.passed = vec!["checks".into()];
    for (a, b) in [(&taken, &went_on), (&went_on, &taken)] {
        let m = merge_typed(path, &base, a, b);
        assert_eq!(m.claim.as_ref().map(|c| c.holder.as_str()), Some("bob"));
        assert_eq!((m.status, m.passed.len()), (TaskStatus::Running, 0), "status and steps come with the claim");
    }
    // Had alice merged it already, her side stays whole, whichever side is pushed.
    went_on.status = TaskStatus::Merged;
    went_on.merge_commit = Some("m1".into());
    for (a, b) in [(&taken, &went_on), (&went_on, &taken)] {
        let m = merge_typed(path, &base, a, b);
        assert_eq!(m.claim.as_ref().map(|c| c.holder.as_str()), Some("alice"));
        assert_eq!(m.status, TaskStatus::Merged);
    }
}

#[test]
fn a_revert_outlives_the_merge_it_reverts_whoever_changed_the_claim() {
    let path = "scores/s/tasks/t.toml";
    // Base: merged as m1 under alice's claim. One side reverted it (and its integration branch
    // moved); the other released alice's claim of the merged task.
    let mut base = task_with_claim("alice", "op-a", 1_000);
    base.status = TaskStatus::Merged;
    base.merge_commit = Some("m1".into());
    let mut reverted = base.clone();
    reverted.status = TaskStatus::Reverted;
    let mut released = base.clone();
    released.claim = None;
    for (a, b) in [(&reverted, &released), (&released, &reverted)] {
        let m = merge_typed(path, &base, a, b);
        assert_eq!(m.status, TaskStatus::Reverted, "the revert stays");
    }
    // The reverted side went on: reworked (its claim dropped) and running again under bob.
    let mut again = task_with_claim("bob", "op-b", 3_000);
    again.status = TaskStatus::Running;
    again.merge_commit = Some("m1".into());
    let mut passed = base.clone();
    passed.passed = vec!["checks".into()];
    for (a, b) in [(&again, &passed), (&passed, &again)] {
        let m = merge_typed(path, &base, a, b);
        assert_eq!(m.status, TaskStatus::Running, "the run after the revert stays");
        assert_eq!(m.claim.as_ref().map(|c| c.holder.as_str()), Some("bob"));
    }
    // Merged anew as m2 after the revert: that merge wins over a side still at the revert.
    let mut merged_again = again.clone();
    merged_again.status = TaskStatus::Merged;
    merged_again.merge_commit = Some("m2".into());
    for (a, b) in [(&merged_again, &reverted), (&reverted, &merged_again)] {
        let m = merge_typed(path, &base, a, b);
        assert_eq!((m.status, m.merge_commit.as_deref()), (TaskStatus::Merged, Some("m2")));
    }
    // Both merged it anew apart, as m2 and m3, and one reverted its own merge since: the joined
    // integration branch holds m2 unreverted, so the task is merged as m2.
    let mut other = task_with_claim("carol", "op-c", 4_000);
    other.status = TaskStatus::Reverted;
    other.merge_commit = Some("m3".into());
    for (a, b) in [(&merged_again, &other), (&other, &merged_again)] {
        let m = merge_typed(path, &base, a, b);
        assert_eq!((m.status, m.merge_commit.as_deref()), (TaskStatus::Merged, Some("m2")));
    }
}

#[test]
fn counters_add_up_and_the_last_writer_wins_a_field() {
    let path = "stats/performers/p.toml";
    let base = PerformerStats::new("p");
    let (mut a, mut b) = (base.clone(), base.clone());
    a.record(&sample(TaskStatus::Merged), Outcome::Merged);
    b.record(&sample(TaskStatus::Merged), Outcome::Merged);
    b.record(&sample(TaskStatus::Merged), Outcome::Blocked);
    a.sync = Some(SyncMeta { clock: Hlc { millis: 1, counter: 0 }, op: "a".into(), conflicts: vec![] });
    b.sync = Some(SyncMeta { clock: Hlc { millis: 2, counter: 0 }, op: "b".into(), conflicts: vec![] });
    let m = merge_typed(path, &base, &a, &b);
    assert_eq!((m.by["implement"].merged, m.by["implement"].blocked), (2, 1));
    // Two clones that each counted one merge the same way count two.
    let mut same = base.clone();
    same.record(&sample(TaskStatus::Merged), Outcome::Merged);
    same.sync = b.sync.clone();
    let m = merge_typed(path, &base, &a, &same);
    assert_eq!(m.by["implement"].merged, 2, "equal increments from two writers add up");
    // The learned cost adds up too, whether or not the other side has learned any.
    let mut costed = sample(TaskStatus::Merged);
    let mut attempt = crate::model::task::sample_attempt("p");
    (attempt.input_tokens, attempt.cost_usd) = (Some(10), Some(0.25));
    costed.attempts = vec![attempt];
    let mut c = b.clone();
    c.record(&costed, Outcome::Merged);
    let m = merge_typed(path, &base, &a, &c);
    assert_eq!((m.by["implement"].costed, m.by["implement"].cost_micro_usd), (1, 250_000));
    let mut d = b.clone();
    costed.attempts[0].cost_usd = Some(0.5);
    d.record(&costed, Outcome::Merged);
    d.sync = Some(SyncMeta { clock: Hlc { millis: 3, counter: 0 }, op: "d".into(), conflicts: vec![] });
    let m = merge_typed(path, &b, &c, &d);
    assert_eq!((m.by["implement"].costed, m.by["implement"].cost_micro_usd), (2, 750_000));

    let path = "scores/s/tasks/t.toml";
    let base = sample(TaskStatus::Ready);
    let (mut a, mut b) = (base.clone(), base.clone());
    a.spec = "A's spec".into();
    a.title = "A's title".into();
    b.spec = "B's spec".into();
    a.sync = Some(SyncMeta { clock: Hlc { millis: 5, counter: 0 }, op: "a".into(), conflicts: vec![] });
    b.sync = Some(SyncMeta { clock: Hlc { millis: 5, counter: 1 }, op: "b".into(), conflicts: vec![] });
    let m = merge_typed(path, &base, &a, &b);
    assert_eq!((m.spec.as_str(), m.title.as_str()), ("B's spec", "A's title"), "field by field");
    let c = &m.sync.expect("sync").conflicts;
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].field.as_str(), c[0].lost.as_str(), c[0].lost_op.as_str()), ("spec", "\"A's spec\"", "a"));
}

#[test]
fn a_record_changed_on_one_side_and_removed_on_the_other_is_kept() {
    let (_dir, repo) = repo();
    let base = base_state();
    let mut a = base.clone();
    a.remove("scores/s/tasks/t1.toml");
    let mut b = base.clone();
    let mut w = Writer { rng: fastrand::Rng::with_seed(1), name: "b", clock: Hlc::default() };
    let mut t: Task = Writer::read(&b, "scores/s/tasks/t1.toml").expect("task");
    t.spec = "changed".into();
    w.write(&mut b, "scores/s/tasks/t1.toml", &t);
    let (tb, ta, tbb) = (tree(&repo, &base), tree(&repo, &a), tree(&repo, &b));
    let out = state_of(&repo, merged(&repo, tb, ta, tbb));
    assert_eq!(out.get("scores/s/tasks/t1.toml"), b.get("scores/s/tasks/t1.toml"));
    // A removal alone is taken.
    let out = state_of(&repo, merged(&repo, tb, ta, tb));
    assert!(!out.contains_key("scores/s/tasks/t1.toml"));
}

#[test]
fn a_directory_one_side_emptied_is_merged_entry_by_entry() {
    let (_dir, repo) = repo();
    let intent = |id: &str| format!("format = 2\nid = \"{id}\"\n").into_bytes();
    let mut base = base_state();
    base.insert("intents/i1.toml".into(), intent("i1"));
    // One side settled its only intent, so it has no `intents/` at all; the other, which kept
    // that intent as it was, added one of its own.
    let mut emptied = base.clone();
    emptied.remove("intents/i1.toml");
    let mut added = base.clone();
    added.insert("intents/i2.toml".into(), intent("i2"));
    let (tb, te, ta) = (tree(&repo, &base), tree(&repo, &emptied), tree(&repo, &added));
    for (ours, theirs) in [(te, ta), (ta, te)] {
        let out = state_of(&repo, merged(&repo, tb, ours, theirs));
        let intents: Vec<&String> = out.keys().filter(|p| p.starts_with("intents/")).collect();
        assert_eq!(intents, ["intents/i2.toml"], "the settled intent stays gone, the new one comes");
    }
}
