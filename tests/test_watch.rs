//! `git maestro status --watch`: a snapshot, then one JSON line per change of the state while
//! a scripted `run` goes; and the `[notify] command` told when a task starts needing a person.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::TestEnv;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// Repo `r` with an approved Score `k` (`tasks`, each checked and then approved by a person),
/// a fake performer and `extra` trusted config.
fn setup(env: &TestEnv, tasks: &str, extra: &str) -> PathBuf {
    let score = format!("format = 1\nid = \"k\"\ntarget = \"main\"\napproval = [\"checks\", \"human\"]\n{tasks}");
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nsandbox = \"off\"\n\
         env = {{ FAKE_WRITE = \"{{task}}.txt={{task}}\" }}\n\n[checks.ok]\nrun = \"true\"\n\n{extra}"
    );
    env.approved_score(&score, &config)
}

/// `status --watch --json` in the background, its stdout going to `out`; returns once its
/// snapshot is written, so every later change is an event.
fn watch(env: &TestEnv, dir: &Path, out: &Path) -> Child {
    let file = std::fs::File::create(out).unwrap();
    let child = env.command(dir).args(["status", "--watch", "--json"]).stdout(file).stderr(Stdio::piped()).spawn();
    let child = child.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(out).unwrap().contains('\n') {
        assert!(Instant::now() < deadline, "the watcher never wrote its snapshot");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Stop the watcher with Ctrl-C (it reports what it has not yet, then exits 0) and read its
/// events.
fn stop(child: Child, out: &Path) -> Vec<serde_json::Value> {
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(0), "Ctrl-C ends a watch normally:\n{stderr}");
    let text = std::fs::read_to_string(out).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}\n{text}")))
        .collect()
}

/// The events about task `task`, each as a short string.
fn story(events: &[serde_json::Value], task: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["task"] == task)
        .map(|e| match e["event"].as_str().unwrap() {
            "task_status" => format!("{} -> {}", e["from"].as_str().unwrap(), e["to"].as_str().unwrap()),
            "attempt_started" => format!("attempt {} started by {}", e["attempt"], e["performer"].as_str().unwrap()),
            "attempt_ended" => format!("attempt {} ended {}", e["attempt"], e["outcome"].as_str().unwrap()),
            "approval" => format!("passed {}", e["step"].as_str().unwrap()),
            "needs_you" => format!("needs you: {}", e["need"].as_str().unwrap()),
            other => other.to_owned(),
        })
        .filter(|s| s != "usage")
        .collect()
}

#[test]
fn status_watch_json_emits_each_transition_of_a_scripted_run_in_order() {
    let env = TestEnv::new();
    let dir = setup(&env, "[[tasks]]\nid = \"a\"\nchecks = [\"ok\"]\n[[tasks]]\nid = \"b\"\ndeps = [\"a\"]\n", "");
    let out = env.path("events.jsonl");
    let watcher = watch(&env, &dir, &out);
    env.run(&dir, &["run", "k"]).success();
    env.run(&dir, &["approve", "k/a"]).success();
    env.run(&dir, &["run", "k"]).success();
    let events = stop(watcher, &out);

    let snapshot = &events[0];
    assert_eq!(snapshot["event"], "snapshot", "the first event is the board: {snapshot:#}");
    assert_eq!(snapshot["scores"][0]["score"], "k");
    let statuses: Vec<&str> =
        snapshot["scores"][0]["tasks"].as_array().unwrap().iter().map(|t| t["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["ready", "pending"], "{snapshot:#}");

    let all = serde_json::Value::Array(events.clone());
    assert_eq!(
        story(&events, "a"),
        [
            "ready -> running",
            "attempt 1 started by fake",
            "attempt 1 ended submitted",
            "running -> submitted",
            "passed checks",
            "needs you: approval",
            "submitted -> approved",
            "approved -> merged",
        ],
        "{all:#}"
    );
    assert_eq!(
        story(&events, "b"),
        [
            "pending -> ready",
            "ready -> running",
            "attempt 1 started by fake",
            "attempt 1 ended submitted",
            "running -> submitted",
            "passed checks",
            "needs you: approval",
        ],
        "{all:#}"
    );
    for e in &events[1..] {
        assert!(e.get("at").is_none() || e["at"].is_string(), "{e}");
        assert_eq!(e["score"], "k", "every event names its Score apart from its task: {e}");
    }
}

#[test]
fn the_notify_command_receives_a_needs_you_event_for_a_human_approval() {
    let env = TestEnv::new();
    let notified = env.path("notified.jsonl");
    let notify = format!("[notify]\ncommand = \"cat >> '{}'\"\n", notified.display());
    let dir = setup(&env, "[[tasks]]\nid = \"a\"\nchecks = [\"ok\"]\n", &notify);
    let out = env.path("events.jsonl");
    let watcher = watch(&env, &dir, &out);
    env.run(&dir, &["run", "k"]).success();
    // Ctrl-C lets the notify commands under way finish before the watcher exits.
    let events = stop(watcher, &out);
    let text = std::fs::read_to_string(&notified).unwrap_or_default();
    let sent: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(sent.len(), 1, "one event, once:\n{text}\nevents: {events:#?}");
    assert_eq!(sent[0]["event"], "needs_you");
    assert_eq!((&sent[0]["score"], &sent[0]["task"], &sent[0]["need"]), (&"k".into(), &"a".into(), &"approval".into()));
    assert_eq!(sent[0]["waiting_for"], "human", "{:#}", sent[0]);
    assert!(events.contains(&sent[0]), "the notified event is the one on the stream: {events:#?}");
}

#[test]
fn status_watch_without_json_prints_readable_lines_and_refuses_a_repository_without_state() {
    let env = TestEnv::new();
    let dir = setup(&env, "[[tasks]]\nid = \"a\"\nchecks = [\"ok\"]\n", "");
    let out = env.path("watch.txt");
    let file = std::fs::File::create(&out).unwrap();
    let child = env.command(&dir).args(["status", "--watch"]).stdout(file).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&out).unwrap().contains("k/a: ready") {
        assert!(Instant::now() < deadline, "no snapshot line: {}", std::fs::read_to_string(&out).unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    env.run(&dir, &["run", "k"]).success();
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(0));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("k: approved k\nk/a: ready\n"), "{text}");
    assert!(text.contains("k/a: running -> submitted (waiting for checks)\nk/a: passed checks\n"), "{text}");
    assert!(text.contains("k/a: ready -> running\nk/a: attempt 1 started by fake\n"), "{text}");
    assert!(text.contains("k/a: needs you: an approval\n"), "{text}");

    env.fixture("repo-basic.sh", &["bare"]);
    let none = env.run(&env.path("bare"), &["status", "--watch"]).user_error();
    assert!(none.stderr.contains("no git-maestro state"), "{}", none.render());
}

#[test]
fn a_watcher_of_a_big_score_follows_changes_bucket_by_bucket() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.write("b.toml", &env.fixture("score-many.sh", &["b", "60"]));
    env.run(&dir, &["plan", "--from", "../b.toml"]).success();
    env.run(&dir, &["approve", "b"]).success();
    let out = env.path("watch.jsonl");
    let child = watch(&env, &dir, &out);
    env.run(&dir, &["task", "claim", "--as", "x", "b/t7"]).success();
    env.run(&dir, &["task", "release", "--as", "x", "b/t7"]).success();
    env.run(&dir, &["task", "claim", "--as", "x", "b/t8"]).success();
    // t0 and t1 share no bucket with t7 or t8; a record refused, then put back.
    let path = "scores/b/tasks/f/7/t0.toml";
    let text = env.git(&dir, &["cat-file", "blob", &format!("refs/maestro/state:{path}")]).stdout;
    assert!(text.contains("status = \"ready\""), "{path}:\n{text}");
    env.rewrite_state(&dir, &[(path, text.replace("status = \"ready\"", "status = \"nonsense\""))], &[]);
    env.rewrite_state(&dir, &[(path, text.clone())], &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&out).unwrap().lines().count() < 6 {
        assert!(Instant::now() < deadline, "{}", std::fs::read_to_string(&out).unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    let events = stop(child, &out);
    assert_eq!(story(&events, "t7"), ["ready -> assigned", "assigned -> ready"], "{events:#?}");
    assert_eq!(story(&events, "t8"), ["ready -> assigned"], "{events:#?}");
    let refused: Vec<_> = events.iter().filter(|e| e["event"] == "unreadable").collect();
    assert_eq!(refused.len(), 1, "{events:#?}");
    assert!(refused[0]["message"].as_str().unwrap().contains(path), "{events:#?}");
}
