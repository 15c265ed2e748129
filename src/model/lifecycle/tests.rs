use jiff::Timestamp;

use super::*;
use crate::model::origin::Origin;
use crate::model::score::LandingApproval;
use crate::model::task::{sample, sample_attempt};

const NOW: Timestamp = Timestamp::UNIX_EPOCH;

fn score(status: ScoreStatus) -> Score {
    let valid = crate::model::plan::sample_score();
    Score { status, ..valid }
}

fn task(id: &str, status: TaskStatus, deps: &[&str]) -> Task {
    let mut t = sample(status);
    t.id = id.into();
    t.deps = deps.iter().map(|d| (*d).to_owned()).collect();
    t
}

fn origin() -> Origin {
    Origin { clone: "c".into(), host: "h".into(), boot: "b".into(), pid: 1, start: 1 }
}

fn run<'a>(holder: &'a str) -> Start<'a> {
    let mut attempt = sample_attempt(holder);
    attempt.outcome = AttemptOutcome::Running;
    attempt.run = "r2".into();
    Start {
        holder,
        clone: "c",
        op: "op",
        clock: Hlc::default(),
        attempt,
        lease: Lease { run: "r2".into(), origin: origin(), started: NOW, heartbeat: NOW },
    }
}

#[test]
fn a_pending_task_whose_dependencies_are_merged_starts_without_anyone_writing_ready() {
    let a = task("a", TaskStatus::Merged, &[]);
    let mut b = task("b", TaskStatus::Pending, &["a"]);
    let mut s = score(ScoreStatus::Running);
    let tasks = vec![a, b.clone()];
    assert_eq!(start(&mut s, &tasks, &mut b, Liveness::Dead, run("p"), NOW), Ok(true));
    assert_eq!(b.status, TaskStatus::Running);
    assert!(b.lease.is_some(), "a running task holds a lease");
}

#[test]
fn a_task_whose_dependencies_are_not_merged_is_refused_with_their_names() {
    let a = task("a", TaskStatus::Approved, &[]);
    let mut b = task("b", TaskStatus::Pending, &["a"]);
    let tasks = vec![a, b.clone()];
    let err = start(&mut score(ScoreStatus::Running), &tasks, &mut b, Liveness::Dead, run("p"), NOW).unwrap_err();
    assert_eq!(err, Refusal::NotReady { task: "s/b".into(), deps: vec!["a".into()] });
    assert!(err.hint().is_some());
}

#[test]
fn a_draft_score_runs_nothing() {
    let mut t = task("a", TaskStatus::Pending, &[]);
    let err = start(&mut score(ScoreStatus::Draft), &[t.clone()], &mut t, Liveness::Dead, run("p"), NOW).unwrap_err();
    assert!(matches!(err, Refusal::PlanNotApproved { .. }), "{err}");
}

#[test]
fn a_live_lease_keeps_a_running_task_and_a_dead_one_is_taken_over() {
    let mut t = task("a", TaskStatus::Running, &[]);
    let mut first = sample_attempt("p");
    first.outcome = AttemptOutcome::Running;
    t.attempts.push(first);
    let mut s = score(ScoreStatus::Running);
    let live = start(&mut s, &[t.clone()], &mut t.clone(), Liveness::Live, run("p"), NOW).unwrap_err();
    assert!(matches!(live, Refusal::Running { .. }), "{live}");
    let foreign = release(&mut t.clone(), None, Liveness::Foreign, NOW).unwrap_err();
    assert!(matches!(foreign, Refusal::Running { .. }), "{foreign}");
    start(&mut s, &[t.clone()], &mut t, Liveness::Dead, run("q"), NOW).expect("a dead run's task is taken over");
    assert_eq!(t.attempts[0].outcome, AttemptOutcome::Interrupted);
    assert_eq!(t.claim.as_ref().map(|c| c.holder.as_str()), Some("q"));
}

#[test]
fn a_result_keeps_the_claim_of_who_made_it() {
    // A task claimed by a run of `p`, then in `status`.
    let claimed = |status| {
        let (mut s, mut t) = (score(ScoreStatus::Running), task("a", TaskStatus::Ready, &[]));
        start(&mut s, &[t.clone()], &mut t, Liveness::Dead, run("p"), NOW).expect("start");
        t.lease = None;
        t.status = status;
        t
    };
    for status in [TaskStatus::Submitted, TaskStatus::Approved, TaskStatus::Merged] {
        let mut t = claimed(status);
        let before = t.clone();
        assert!(release(&mut t, None, Liveness::Dead, NOW).is_err(), "{status}");
        assert_eq!(t, before, "{status}: nothing changed");
    }
    let mut failed = claimed(TaskStatus::Failed);
    assert_eq!(release(&mut failed, None, Liveness::Dead, NOW), Ok(true), "a failed task may go to another");
    assert!(failed.claim.is_none());
}

#[test]
fn finish_ends_the_lease_and_moves_the_task() {
    let mut t = task("a", TaskStatus::Ready, &[]);
    let mut s = score(ScoreStatus::Running);
    start(&mut s, &[t.clone()], &mut t, Liveness::Dead, run("p"), NOW).expect("start");
    assert_eq!(finish(&mut t, "r2", RunEnd::Failed("x".into()), NOW), Some(0));
    assert_eq!(t.status, TaskStatus::Failed);
    assert!(t.lease.is_none());
    rework(&mut t, "because", NOW).expect("a failed task is reworked");
    assert_eq!(t.status, TaskStatus::Ready);
    assert!(t.claim.is_none());
}

#[test]
fn the_first_run_starts_an_approved_score_and_the_last_merge_finishes_it() {
    let mut s = score(ScoreStatus::Approved);
    let mut a = task("a", TaskStatus::Ready, &[]);
    start(&mut s, &[a.clone()], &mut a, Liveness::Dead, run("p"), NOW).expect("start");
    assert_eq!(s.status, ScoreStatus::Running, "a task run by hand starts its Score, as `run` does");
    assert_eq!(finish_score(&mut s, false, NOW), Ok(false), "a task not merged keeps it running");
    assert_eq!(s.status, ScoreStatus::Running);
    assert_eq!(finish_score(&mut s, true, NOW), Ok(true));
    assert_eq!(s.status, ScoreStatus::Done);
    assert_eq!(finish_score(&mut s, true, NOW), Ok(false), "done once");

    let mut failed = score(ScoreStatus::Failed);
    assert_eq!(start_score(&mut failed, false, NOW), Ok(false));
    assert_eq!(failed.status, ScoreStatus::Running, "a run resumes a failed Score");
    let mut draft = score(ScoreStatus::Draft);
    assert_eq!(finish_score(&mut draft, true, NOW), Ok(false), "a draft never finishes");
    let mut old = score(ScoreStatus::Approved);
    assert_eq!(finish_score(&mut old, true, NOW), Ok(true), "a Score no task run started still finishes");
    assert_eq!(old.status, ScoreStatus::Done);
    let mut landed = score(ScoreStatus::Landed);
    assert_eq!(start_score(&mut landed, false, NOW), Ok(false), "`run` of a landed Score leaves it landed");
    assert_eq!(landed.status, ScoreStatus::Landed);
    for status in [ScoreStatus::Done, ScoreStatus::Landed, ScoreStatus::RolledBack] {
        let (mut s, mut again) = (score(status), task("a", TaskStatus::Reverted, &[]));
        start(&mut s, &[again.clone()], &mut again, Liveness::Dead, run("p"), NOW).expect("rework");
        assert_eq!(s.status, ScoreStatus::Running, "a {status} Score whose task runs again is running");
    }
}

#[test]
fn a_score_settles_to_what_its_tasks_say() {
    // (status before, every task merged, some task active) -> status after
    let cases = [
        (ScoreStatus::Running, true, false, ScoreStatus::Done),
        (ScoreStatus::Running, false, true, ScoreStatus::Running),
        (ScoreStatus::Approved, true, false, ScoreStatus::Done),
        (ScoreStatus::Done, false, false, ScoreStatus::Running),
        (ScoreStatus::Done, true, false, ScoreStatus::Done),
        (ScoreStatus::Landed, false, false, ScoreStatus::Landed),
        (ScoreStatus::Landed, false, true, ScoreStatus::Running),
        (ScoreStatus::RolledBack, false, true, ScoreStatus::RolledBack),
        (ScoreStatus::Draft, true, false, ScoreStatus::Draft),
    ];
    for (before, merged, active, after) in cases {
        let mut s = score(before);
        let changed = settle_status(&mut s, merged, active, NOW).expect("settle");
        assert_eq!((s.status, changed), (after, before != after), "{before}, merged {merged}, active {active}");
    }
}

#[test]
fn a_task_is_merged_once_and_a_merge_voids_the_landing_approval() {
    let mut s = score(ScoreStatus::Running);
    let mut t = task("a", TaskStatus::Approved, &[]);
    s.landing = Some(LandingApproval { actor: "x".into(), at: NOW, decision: "d".into(), integration: "0".into() });
    merged(&mut s, &mut t, "abc", NOW).expect("merge");
    assert!(s.landing.is_none());
    assert_eq!(merged(&mut s, &mut t, "def", NOW), Err(Refusal::AlreadyMerged { task: "s/a".into() }));
    assert_eq!(t.merge_commit.as_deref(), Some("abc"), "a second merge never replaces the first's commit");
}

#[test]
fn landing_needs_finished_work_and_an_approval_of_the_very_tip() {
    let mut s = score(ScoreStatus::Running);
    let pending = vec![task("a", TaskStatus::Pending, &[])];
    assert!(matches!(approve_score(&mut s, &pending, None, "p", "d", NOW), Err(Refusal::Unfinished { .. })));
    let done = vec![task("a", TaskStatus::Merged, &[])];
    assert_eq!(approve_score(&mut s, &done, Some("t1"), "p", "d", NOW), Ok(ScoreApproval::Landing));
    assert!(matches!(approve_score(&mut s, &done, Some("t1"), "p", "d", NOW), Err(Refusal::AlreadyApproved { .. })));
    assert!(matches!(can_land(&s, &done, "t2"), Err(Refusal::LandingStale { .. })));
    landed(&mut s, &done, "t1", "t1", NOW).expect("land");
    assert_eq!(s.status, ScoreStatus::Landed);
    assert!(matches!(can_land(&s, &done, "t1"), Err(Refusal::LandingNotApproved { .. })));
}

#[test]
fn a_revert_after_landing_reopens_the_score_and_names_merged_dependants() {
    let mut s = score(ScoreStatus::Landed);
    let mut a = task("a", TaskStatus::Merged, &[]);
    let tasks = vec![a.clone(), task("b", TaskStatus::Merged, &["a"]), task("c", TaskStatus::Merged, &["b"])];
    assert_eq!(merged_dependants("a", &tasks), vec!["b".to_owned(), "c".to_owned()]);
    reverted(&mut s, &mut a, false, NOW).expect("revert");
    assert_eq!(s.status, ScoreStatus::Running, "landed no longer says what the target holds");
    rework(&mut a, "redo", NOW).expect("reverted -> ready is legal");
}

#[test]
fn an_undone_merge_goes_back_to_approved() {
    let mut s = score(ScoreStatus::Running);
    let mut t = task("a", TaskStatus::Approved, &[]);
    merged(&mut s, &mut t, "abc", NOW).expect("merge");
    undo_merge(&mut t, NOW);
    assert_eq!((t.status, t.merge_commit.clone()), (TaskStatus::Approved, None));
}

#[test]
fn a_rework_takes_over_the_claim_another_clone_kept_and_a_live_claim_stays_refused() {
    let mut s = score(ScoreStatus::Running);
    let elsewhere = |status| {
        let mut t = task("a", status, &[]);
        t.claim("p", Some("other"), "op", Hlc::default(), NOW).expect("claim");
        t
    };
    let mut rejected = elsewhere(TaskStatus::Rejected);
    let rejected_then = rejected.clone();
    assert_eq!(start(&mut s, &[rejected_then], &mut rejected, Liveness::Dead, run("p"), NOW), Ok(true));
    let claim = rejected.claim.as_ref().expect("claimed");
    assert_eq!((claim.holder.as_str(), claim.clone.as_deref()), ("p", Some("c")));

    let mut ready = elsewhere(TaskStatus::Ready);
    let err = start(&mut s, &[ready.clone()], &mut ready, Liveness::Dead, run("p"), NOW).unwrap_err();
    assert!(matches!(err, Refusal::ClaimedElsewhere { .. }), "{err}");
}
