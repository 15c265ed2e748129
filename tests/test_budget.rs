//! Budgets end to end, with a scripted performer that speaks Claude Code's stream-json: a cap
//! reached mid-run stops it at once (its whole process tree), the attempt says `budget` with
//! the figures, the task is blocked while the others go on, the day cap stops new attempts
//! across Scores, and `budget raise` lets the task go on.

use std::path::PathBuf;

use crate::common::{Run, TestEnv};
use crate::test_cli::GitRun;

const SCORE: &str = "format = 1\nid = \"s\"\ntarget = \"main\"\napproval = [\"checks\"]\n\n\
    [[tasks]]\nid = \"a\"\nspec = \"Spend.\"\nchecks = [\"ok\"]\n\n\
    [[tasks]]\nid = \"b\"\nspec = \"Quick.\"\nchecks = [\"ok\"]\n";

/// Speaks Claude Code's stream-json. Task `a` reports 100k input tokens a message ($0.30 at
/// $3/M), for ever, pausing after the first until `$GATE` exists, and leaves a child running;
/// told its budget was raised, it finishes. Task `b` reports 1,000 tokens and finishes; `c`
/// 200k; `d` reports a negative count.
const FAKE: &str = r#"#!/usr/bin/env python3
import json, os, subprocess, sys, time
prompt = sys.stdin.read()
task = os.environ["MAESTRO_TASK"]
def out(v):
    print(json.dumps(v), flush=True)
def usage(i, n):
    out({"type": "assistant", "message": {"id": "m%d" % i, "content": [{"type": "text", "text": "step %d" % i}], "usage": {"input_tokens": n, "output_tokens": 0}}})
out({"type": "system", "subtype": "init", "session_id": "sess-" + task, "model": "fake-model"})
if task == "a" and "budget was raised" not in prompt:
    subprocess.Popen(["sleep", "300"])
    i = 0
    while True:
        i += 1
        # Its work first, then the message that reports it: a stop the report triggers then
        # finds the work on disk, however fast it comes.
        with open("spent.txt", "a") as f:
            f.write("%d\n" % i)
        usage(i, 100000)
        while i == 1 and not os.path.exists(os.environ["GATE"]):
            time.sleep(0.05)
        time.sleep(1)
tokens = {"a": 1000, "b": 1000, "c": 200000, "d": -5}[task]
usage(1, tokens)
with open(task + ".txt", "w") as f:
    f.write("done\n")
out({"type": "result", "subtype": "success", "is_error": False, "result": "done", "session_id": "sess-" + task})
"#;

struct Fixture {
    env: TestEnv,
    dir: PathBuf,
    gate: PathBuf,
}

fn fixture(budget: &str, score: &str) -> Fixture {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let dir = env.repo("r");
    let fake = env.write("fake-claude", FAKE);
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let gate = env.path("gate");
    let config = format!(
        "[performers.p]\nadapter = \"claude\"\ncommand = \"{}\"\ntimeout = \"2m\"\nsandbox = \"off\"\n\
         env = {{ GATE = \"{}\" }}\n\n[checks.ok]\nrun = \"true\"\n\n\
         [prices.fake-model]\ninput = 3.0\noutput = 15.0\n\n[budget]\n{budget}\n",
        fake.display(),
        gate.display()
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    env.write("s.toml", score);
    env.run(&dir, &["plan", "--from", "../s.toml"]).success();
    env.run(&dir, &["approve", "s"]).success();
    Fixture { env, dir, gate }
}

fn task(f: &Fixture, address: &str) -> serde_json::Value {
    f.env.run(&f.dir, &["task", "show", address, "--json"]).success().json()
}

fn status_row(f: &Fixture, id: &str) -> serde_json::Value {
    let board = f.env.run(&f.dir, &["status", "--json"]).success().json();
    board[0]["tasks"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap().clone()
}

/// Poll until `done` holds (the performer is a separate process); fails after a minute.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("gave up waiting for {what}");
}

#[test]
fn a_cap_reached_mid_run_stops_the_performer_and_blocks_the_task_until_a_person_raises_it() {
    let f = fixture("task = \"$1\"", SCORE);
    let child = f
        .env
        .command(&f.dir)
        .args(["task", "run", "s/a"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While it runs, `status` and `task show` show what it used so far.
    wait_for("live usage in status", || status_row(&f, "a")["spent"]["tokens"] == 100_000);
    let row = status_row(&f, "a");
    assert_eq!(row["status"], "running", "{row:#}");
    assert!((row["spent"]["usd"].as_f64().unwrap() - 0.3).abs() < 1e-9, "priced live: {row:#}");
    let human = f.env.run(&f.dir, &["status"]).success();
    assert!(human.stdout.contains("100.0k · $0.30"), "{}", human.stdout);
    std::fs::write(&f.gate, "").unwrap();
    let run: Run = child.wait_with_output().unwrap().into();
    assert_eq!(run.code, 1, "{}", run.render());
    assert!(run.stderr.contains("budget raise s"), "the hint names the way on: {}", run.render());

    let t = task(&f, "s/a");
    assert_eq!(t["status"], "blocked", "{t:#}");
    let attempt = &t["attempts"][0];
    assert_eq!(attempt["outcome"], "budget");
    assert_eq!(attempt["input_tokens"], 400_000, "stopped at the 4th message, $1.20: {attempt:#}");
    let reason = attempt["reason"].as_str().unwrap();
    assert!(reason.starts_with("the task's budget of $1.00 is spent ($1.20 used)"), "{reason}");
    // Stopped at once: no message after the one that crossed; what it left is committed.
    let commit = attempt["commit"].as_str().expect("its work is committed");
    let spent = f.env.git(&f.dir, &["show", &format!("{commit}:spent.txt")]).success_git();
    assert_eq!(spent, "1\n2\n3\n4\n", "no message after the crossing one");
    let run_id = attempt["run"].as_str().unwrap();
    assert_eq!(
        crate::test_agents::survivors(run_id, &f.env.path("")),
        Vec::<String>::new(),
        "its whole process tree is gone"
    );

    // The next attempt is refused before anything is claimed.
    let tip = f.env.state_tip(&f.dir);
    let again = f.env.run(&f.dir, &["task", "run", "s/a"]).user_error();
    assert!(again.stderr.contains("cannot start: the task's budget of $1.00 is spent"), "{}", again.render());
    assert_eq!(f.env.state_tip(&f.dir), tip, "a refused start writes nothing");

    // The other task of the Score goes on; the blocked one waits for a person.
    let run = f.env.run(&f.dir, &["run", "s"]);
    assert_eq!(run.code, 1, "{}", run.render());
    assert_eq!(task(&f, "s/b")["status"], "merged");
    assert_eq!(task(&f, "s/a")["status"], "blocked");

    // A person raises the budget (a decision), and the run goes on with it.
    let raised =
        f.env.run(&f.dir, &["budget", "raise", "s", "--by", "$1", "-m", "worth it", "--json"]).success().json();
    assert_eq!(raised["ready"][0]["task"], "a", "{raised:#}");
    let decisions = f.env.run(&f.dir, &["decisions", "--json"]).success().json();
    assert!(decisions.to_string().contains("raised the budget of s by $1.00"), "{decisions:#}");
    f.env.run(&f.dir, &["run", "s"]).success();
    let t = task(&f, "s/a");
    assert_eq!(t["status"], "merged", "{t:#}");
    let show = f.env.run(&f.dir, &["budget", "show", "s", "--json"]).success().json();
    assert!((show[0]["caps"]["task"]["usd"].as_f64().unwrap() - 2.0).abs() < 1e-9, "{show:#}");
}

#[test]
fn the_day_cap_stops_new_attempts_across_scores() {
    let two = format!("{SCORE}\n[[tasks]]\nid = \"c\"\nspec = \"Spend more.\"\nchecks = [\"ok\"]\n");
    let f = fixture("day = \"$0.50\"", &two);
    // 200k tokens, $0.60: the report that crosses today's cap stops it.
    let run = f.env.run(&f.dir, &["task", "run", "s/c"]).user_error();
    assert!(run.stderr.contains("today's budget of $0.50 is spent ($0.60 used)"), "{}", run.render());
    assert!(run.stderr.contains("[budget] day"), "the day cap is trusted config: {}", run.render());
    // Another Score's task may not start today.
    f.env.write("s2.toml", &SCORE.replace("id = \"s\"", "id = \"s2\""));
    f.env.run(&f.dir, &["plan", "--from", "../s2.toml"]).success();
    f.env.run(&f.dir, &["approve", "s2"]).success();
    let tip = f.env.state_tip(&f.dir);
    let refused = f.env.run(&f.dir, &["task", "run", "s2/b"]).user_error();
    assert!(refused.stderr.contains("today's budget"), "{}", refused.render());
    assert_eq!(f.env.state_tip(&f.dir), tip);
    // `run` leaves them waiting, as for an approval, and says why.
    let run = f.env.run(&f.dir, &["run", "s2"]).success();
    assert!(run.stdout.contains("s2/b waits for its budget (today's budget of $0.50 is spent"), "{}", run.render());
    assert_eq!(task(&f, "s2/b")["attempts"].as_array().map_or(0, Vec::len), 0, "no attempt was started");
}

#[test]
fn a_score_file_budget_only_tightens_and_nonsense_usage_is_not_trusted() {
    let tight = SCORE.replace("approval = [\"checks\"]\n", "approval = [\"checks\"]\n[budget]\ntask = \"$0.20\"\n")
        + "\n[[tasks]]\nid = \"c\"\nspec = \"Spend more.\"\nchecks = [\"ok\"]\n\n[[tasks]]\nid = \"d\"\nspec = \"Lie.\"\nchecks = [\"ok\"]\n";
    let f = fixture("task = \"$5\"", &tight);
    let run = f.env.run(&f.dir, &["task", "run", "s/c"]).user_error();
    assert!(run.stderr.contains("the task's budget of $0.20 is spent"), "the Score's own cap: {}", run.render());
    // A negative token count is recorded as unknown, with a warning, not trusted.
    let run = f.env.run(&f.dir, &["task", "run", "s/d"]).success();
    assert!(run.stderr.contains("usage not trusted"), "{}", run.render());
    let attempt = &task(&f, "s/d")["attempts"][0];
    assert!(attempt.get("input_tokens").is_none_or(serde_json::Value::is_null), "{attempt:#}");
    assert!(attempt["reason"].as_str().unwrap_or_default().contains("usage not trusted"), "{attempt:#}");
}

#[test]
fn bad_caps_and_prices_are_refused_by_config_validation_naming_the_key() {
    let f = fixture("task = \"-$1\"\nscore = \"lots\"", SCORE);
    let config = f.dir.join(".maestro/config.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace("input = 3.0", "input = -3.0");
    std::fs::write(&config, text).unwrap();
    let run = f.env.run(&f.dir, &["budget", "show"]).user_error();
    for key in ["budget.task", "budget.score", "prices.fake-model.input"] {
        assert!(run.stderr.contains(key), "{key}: {}", run.render());
    }
    // A raise needs an amount.
    let bad = f.env.run(&f.dir, &["budget", "raise", "s", "--by", "lots"]);
    assert_ne!(bad.code, 0);
}
