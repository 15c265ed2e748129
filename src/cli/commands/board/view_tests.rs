//! The board's rows from a state, as snapshots.

use std::collections::BTreeMap;

use super::*;
use crate::cli::commands::status::Why;
use crate::model::task::{sample, sample_attempt};
use crate::model::{AttemptOutcome, Task, TaskStatus};

const NOW: Timestamp = Timestamp::UNIX_EPOCH;

fn task(id: &str, status: TaskStatus, deps: &[&str]) -> Task {
    let mut t = sample(status);
    t.id = id.into();
    t.deps = deps.iter().map(|d| (*d).to_owned()).collect();
    t
}

fn board(tasks: Vec<Task>) -> Board {
    let mut score = crate::model::plan::sample_score();
    score.title = "Move auth to signed tokens".into();
    score.approval = vec!["checks".into(), "human".into()];
    score.tasks = tasks.iter().map(|t| t.id.clone()).collect();
    Board::new(vec![(score, tasks, BTreeMap::new())], &Why::new(None, Vec::new()))
}

fn text(rows: &[Row]) -> String {
    rows.iter().map(|r| format!("{}\n", r.text.trim_end())).collect()
}

#[test]
fn a_score_shows_what_needs_you_first_then_its_tasks_as_a_tree() {
    let mut types = task("types", TaskStatus::Merged, &[]);
    let mut a = sample_attempt("claude");
    a.ended = Some(NOW.checked_add(jiff::SignedDuration::from_secs(125)).expect("in range"));
    a.input_tokens = Some(12_000);
    a.output_tokens = Some(300);
    a.cost_usd = Some(0.42);
    types.attempts = vec![a];
    let mut issue = task("issue", TaskStatus::Submitted, &["types"]);
    issue.attempts = vec![sample_attempt("codex")];
    issue.passed = vec!["checks".into()];
    let mut verify = task("verify", TaskStatus::Running, &["types"]);
    let mut running = sample_attempt("gemini");
    (running.ended, running.outcome) = (None, AttemptOutcome::Running);
    running.started = NOW.checked_sub(jiff::SignedDuration::from_secs(42)).expect("in range");
    verify.attempts = vec![running];
    let docs = task("docs", TaskStatus::Pending, &["issue", "verify"]);
    let mut budget = sample_attempt("claude");
    budget.outcome = AttemptOutcome::Budget;
    budget.reason = Some("the task cap of $2 was reached".into());
    let mut stopped = task("big", TaskStatus::Blocked, &[]);
    stopped.attempts = vec![budget];
    let rows = rows(&board(vec![types, issue, verify, docs, stopped]), None, NOW);
    insta::assert_snapshot!(text(&rows));
    let selectable: Vec<_> = rows.iter().filter_map(|r| r.task.clone()).map(|(_, t)| t).collect();
    assert_eq!(selectable, ["issue", "big", "types", "issue", "docs", "verify", "big"]);
}

#[test]
fn an_empty_state_and_a_missing_score_say_so() {
    insta::assert_snapshot!(text(&rows(&Board::default(), None, NOW)));
    insta::assert_snapshot!(text(&rows(&board(vec![task("t", TaskStatus::Ready, &[])]), Some("gone"), NOW)));
}

#[test]
fn text_from_the_state_cannot_move_the_cursor() {
    let mut t = task("t", TaskStatus::Blocked, &[]);
    let mut a = sample_attempt("p\u{1b}[2J");
    a.outcome = AttemptOutcome::Failed;
    a.reason = Some("line\n\u{1b}]52;c;x\u{7}".into());
    t.attempts = vec![a];
    let rows = rows(&board(vec![t]), None, NOW);
    for r in &rows {
        assert!(!r.text.chars().any(char::is_control), "{:?}", r.text);
    }
}

fn scoped(id: &str, status: TaskStatus, scope: &[&str], deps: &[&str]) -> Task {
    let mut t = task(id, status, deps);
    t.scope = scope.iter().map(|s| (*s).to_owned()).collect();
    t
}

#[test]
fn open_tasks_whose_scopes_overlap_are_warned_under_their_rows() {
    let tasks = vec![
        scoped("api", TaskStatus::Running, &["src/auth/*.rs", "docs/auth.md"], &[]),
        scoped("token", TaskStatus::Ready, &["src/auth/token.rs"], &[]),
        // A dependant of `token` runs after it: no warning between them.
        scoped("tests", TaskStatus::Pending, &["src/auth/token.rs", "tests/auth.rs"], &["token"]),
        // A merged task is done: no warning.
        scoped("old", TaskStatus::Merged, &["src/auth/*.rs"], &[]),
        scoped("docs", TaskStatus::Pending, &["docs/*"], &[]),
    ];
    let rows = rows(&board(tasks), None, NOW);
    insta::assert_snapshot!(text(&rows));
    let warnings: Vec<_> = rows.iter().filter(|r| r.kind == Kind::Warning).collect();
    assert!(warnings.iter().all(|r| r.task.is_none()), "a warning is not selectable");
    assert_eq!(warnings.len(), 4, "api, token, tests and docs: {warnings:#?}");
}

#[test]
fn records_the_state_refuses_are_shown_with_why() {
    let mut b = board(vec![task("t", TaskStatus::Ready, &[])]);
    b.scores[0].unreadable.insert("scores/s/tasks/u.toml".into(), "unknown status \"nonsense\"".into());
    b.unreadable.insert("scores/gone/score.toml".into(), "the record is missing".into());
    insta::assert_snapshot!(text(&rows(&b, None, NOW)));
}

#[test]
fn the_branch_forecast_is_warned_under_each_side() {
    let mut b = board(vec![task("a", TaskStatus::Submitted, &[]), task("b", TaskStatus::Running, &[])]);
    b.scores[0].tasks[0].conflicts =
        vec![("b".into(), vec!["src/x.rs".into()]), ("integration".into(), vec!["y\u{1b}[2J.rs".into()])];
    b.scores[0].tasks[1].conflicts = vec![("a".into(), vec!["src/x.rs".into()])];
    let rows = rows(&b, None, NOW);
    let warnings: Vec<_> = rows.iter().filter(|r| r.kind == Kind::Warning).map(|r| r.text.trim()).collect();
    assert_eq!(
        warnings,
        [
            "\u{26a0} conflicts with s/b in src/x.rs; integration in y\\u{1b}[2J.rs",
            "\u{26a0} conflicts with s/a in src/x.rs"
        ]
    );
}
