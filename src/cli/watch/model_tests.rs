//! The view model: boards from records, and the events between two boards.

use std::collections::BTreeMap;

use super::*;
use crate::model::task::{sample, sample_attempt};

fn board(tasks: Vec<Task>) -> Board {
    let score = crate::model::plan::sample_score();
    Board::new(vec![(score, tasks, BTreeMap::new())], &Why::new(None, Vec::new()))
}

fn task(status: TaskStatus, attempts: Vec<crate::model::Attempt>) -> Task {
    Task { attempts, ..sample(status) }
}

fn running() -> crate::model::Attempt {
    let mut a = sample_attempt("p");
    a.ended = None;
    a.outcome = AttemptOutcome::Running;
    a
}

#[test]
fn the_same_board_twice_has_no_events() {
    let b = board(vec![task(TaskStatus::Running, vec![running()])]);
    assert_eq!(diff(&b, &b), []);
}

#[test]
fn a_start_reads_status_then_attempt_and_an_end_reads_attempt_then_status() {
    let ready = board(vec![task(TaskStatus::Ready, vec![])]);
    let run = board(vec![task(TaskStatus::Running, vec![running()])]);
    let done = board(vec![task(TaskStatus::Submitted, vec![sample_attempt("p")])]);
    let names = |events: Vec<Event>| -> Vec<String> {
        events
            .iter()
            .map(|e| {
                serde_json::to_value(e).expect("an event serialises")["event"]
                    .as_str()
                    .expect("every event names itself")
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(names(diff(&ready, &run)), ["task_status", "attempt_started"]);
    assert_eq!(names(diff(&run, &done)), ["attempt_ended", "task_status"]);
    assert_eq!(
        names(diff(&ready, &done)),
        ["attempt_started", "attempt_ended", "task_status"],
        "an attempt seen only once ended is started, then ended"
    );
}

#[test]
fn a_human_step_reached_needs_you_once() {
    let mut t = task(TaskStatus::Submitted, vec![sample_attempt("p")]);
    t.approval = Some(vec!["checks".into(), "human".into()]);
    let checking = board(vec![t.clone()]);
    t.passed = vec!["checks".into()];
    let waiting = board(vec![t]);
    let events = diff(&checking, &waiting);
    assert_eq!(
        events,
        [
            Event::Approval { score: "s".into(), task: "t".into(), step: "checks".into() },
            Event::NeedsYou {
                score: "s".into(),
                task: "t".into(),
                need: Need::Approval,
                waiting_for: Some("human".into()),
                reason: None
            },
        ]
    );
    assert_eq!(diff(&waiting, &waiting.clone()), [], "still waiting is no news");
}

#[test]
fn blocked_tasks_budget_stops_and_conflicts_need_you() {
    let mut budget = sample_attempt("p");
    budget.outcome = AttemptOutcome::Budget;
    let cases = [
        (task(TaskStatus::Blocked, vec![sample_attempt("p")]), Need::Blocked),
        (task(TaskStatus::Blocked, vec![budget]), Need::Budget),
        (task(TaskStatus::Conflict, vec![sample_attempt("p")]), Need::Conflict),
    ];
    for (t, need) in cases {
        assert_eq!(board(vec![t]).scores[0].tasks[0].needs_you, Some(need));
    }
    assert_eq!(board(vec![task(TaskStatus::Running, vec![running()])]).scores[0].tasks[0].needs_you, None);
}

#[test]
fn scores_and_tasks_that_come_and_go_are_events_and_the_snapshot_speaks_the_status_vocabulary() {
    let empty = Board::default();
    let one = board(vec![task(TaskStatus::Ready, vec![])]);
    let added = diff(&empty, &one);
    assert!(matches!(&added[..], [Event::ScoreAdded { .. }, Event::TaskAdded { .. }]), "{added:?}");
    assert_eq!(diff(&one, &empty), [Event::ScoreRemoved { score: "s".into() }]);
    let snapshot = crate::cli::json::public(
        serde_json::to_value(Event::Snapshot { scores: one.scores }).expect("a snapshot serialises"),
    );
    assert_eq!(
        snapshot,
        serde_json::json!({"event": "snapshot", "scores": [{"score": "s", "status": "draft", "title": "s", "tasks": [
            {"id": "t", "status": "ready", "assignee": null, "attempts": 0, "spent": {"usd": 0.0, "tokens": 0, "unknown": 0}}
        ]}]})
    );
}

#[test]
fn a_record_that_stops_reading_is_one_unreadable_event() {
    let before = board(vec![task(TaskStatus::Ready, vec![])]);
    let mut after = before.clone();
    after.scores[0].unreadable.insert("scores/s/tasks/u.toml".into(), "unknown status".into());
    after.unreadable.insert("scores/z/score.toml".into(), "the record is missing".into());
    let message = |e: &Event| match e {
        Event::Unreadable { message } => message.clone(),
        other => panic!("{other:?}"),
    };
    let said: Vec<String> = diff(&before, &after).iter().map(message).collect();
    assert_eq!(
        said,
        [
            "scores/z/score.toml cannot be read: the record is missing",
            "scores/s/tasks/u.toml cannot be read: unknown status"
        ]
    );
    assert_eq!(diff(&after, &after), [], "said once");
}
