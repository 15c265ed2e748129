//! `git maestro task stop`: a person stops one running attempt from another terminal, as Ctrl-C
//! would. The run ends the attempt `interrupted` (the task `ready`), leaves no process behind,
//! and a `git maestro run` does not start the task again by itself.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::TestEnv;
use crate::test_agents::survivors;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

fn setup(env: &TestEnv) -> PathBuf {
    // A performer that works until it is stopped.
    let config = format!(
        "[performers.slow]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nsandbox = \"off\"\n\
         env = {{ FAKE_HANG = \"1\" }}\n"
    );
    env.approved_score("format = 1\nid = \"k\"\ntarget = \"main\"\n[[tasks]]\nid = \"a\"\n", &config)
}

fn task(env: &TestEnv, dir: &Path) -> serde_json::Value {
    env.run(dir, &["task", "show", "k/a", "--json"]).success().json()
}

/// Wait until k/a is running, and return its run id.
#[track_caller]
fn running(env: &TestEnv, dir: &Path, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let t = task(env, dir);
        if t["status"] == "running"
            && let Some(run) = t["lease"]["run"].as_str()
        {
            return run.to_owned();
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it was stopped: {t:#}");
        assert!(Instant::now() < deadline, "k/a never started: {t:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[track_caller]
fn finished(child: Child) -> crate::common::Run {
    child.wait_with_output().unwrap().into()
}

#[test]
fn task_stop_ends_the_running_attempt_interrupted_and_leaves_no_process() {
    let env = TestEnv::new();
    let dir = setup(&env);
    let mut child = env
        .command(&dir)
        .args(["task", "run", "k/a"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = running(&env, &dir, &mut child);

    let stop = env.run(&dir, &["task", "stop", "k/a", "--json"]).success().json();
    assert_eq!(stop["run"], run.as_str(), "{stop:#}");
    assert_eq!(stop["ended"], true, "task stop waits for the attempt to end: {stop:#}");
    assert_eq!(stop["status"], "ready", "{stop:#}");

    let out = finished(child);
    assert_eq!(out.code, 1, "task run reports the interruption:\n{}", out.render());
    assert!(out.stderr.contains("interrupted"), "{}", out.render());
    let t = task(&env, &dir);
    assert_eq!(t["status"], "ready", "{t:#}");
    let attempt = &t["attempts"][0];
    assert_eq!(attempt["outcome"], "interrupted", "{t:#}");
    assert!(attempt["reason"].as_str().unwrap_or_default().contains("git maestro task stop"), "{t:#}");
    assert!(survivors(&run, &env.path("")).is_empty(), "the performer is gone: {:?}", survivors(&run, &env.path("")));
    assert!(!dir.join(".git/maestro/stop").join(&run).exists(), "the request is removed once the run ended");
    let decisions = env.run(&dir, &["decisions", "--json"]).success().json().to_string();
    assert!(decisions.contains(&format!("stop of k/a (run {run}) requested")), "the stop is a decision: {decisions}");
}

#[test]
fn a_run_does_not_restart_a_task_a_person_stopped() {
    let env = TestEnv::new();
    let dir = setup(&env);
    let mut child = env
        .command(&dir)
        .args(["run", "k"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = running(&env, &dir, &mut child);
    env.run(&dir, &["task", "stop", "k/a"]).success();

    // The run ends by itself: the stopped task waits for the person.
    let out = finished(child);
    let t = task(&env, &dir);
    assert_eq!(t["status"], "ready", "{t:#}\n{}", out.render());
    assert_eq!(t["attempts"].as_array().unwrap().len(), 1, "not started again: {t:#}\n{}", out.render());
    assert!(out.render().contains("task run k/a` runs it again"), "the run says how to go on:\n{}", out.render());
    assert!(survivors(&run, &env.path("")).is_empty(), "{:?}", survivors(&run, &env.path("")));
}

#[test]
fn task_stop_refuses_a_task_no_run_holds_and_changes_nothing() {
    let env = TestEnv::new();
    let dir = setup(&env);
    let before = env.state_tip(&dir);
    let out = env.run(&dir, &["task", "stop", "k/a"]);
    assert_eq!(out.code, 1, "{}", out.render());
    assert!(out.stderr.contains("k/a is ready, not running"), "{}", out.render());
    assert!(out.stderr.contains("task show k/a"), "with a hint: {}", out.render());
    assert_eq!(env.state_tip(&dir), before, "nothing was written");
    let json = env.run(&dir, &["task", "stop", "k/a", "--json"]);
    assert_eq!(json.code, 1, "{}", json.render());
    assert!(json.stdout.contains("not-running") || json.stderr.contains("not-running"), "{}", json.render());
    let missing = env.run(&dir, &["task", "stop", "k/zzz"]);
    assert_eq!(missing.code, 1, "{}", missing.render());
}
