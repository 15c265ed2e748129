//! Issue 15, performers: `task run` routes to the only fitting performer, refuses a
//! configuration its CLI cannot work with before anything changes, and shows the real cause of
//! a failure (the performer's stderr) with the path of its log.

use std::path::{Path, PathBuf};

use crate::common::{Run, TestEnv, fixtures_dir};
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");
const TASK: &str = "auth-tokens/token-types";

/// A repo with the sample Score approved and `config` as its performers. `token-types` is an
/// `interface` task.
fn setup(env: &TestEnv, config: &str) -> PathBuf {
    let dir = env.repo("r");
    env.run(&dir, &["plan", "--from", &fixtures_dir().join("score.toml").display().to_string()]).success();
    env.run(&dir, &["approve", "auth-tokens"]).success();
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    dir
}

fn fake(name: &str, kinds: &str) -> String {
    format!(
        "[performers.{name}]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nkinds = [{kinds}]\n\
         env = {{ FAKE_WRITE = \"src/auth/token.rs=pub struct Token;\" }}\n\n"
    )
}

fn script(env: &TestEnv, name: &str, body: &str) -> PathBuf {
    let path = env.path(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    path
}

fn show(env: &TestEnv, dir: &Path) -> Run {
    env.run(dir, &["task", "show", TASK])
}

#[test]
fn task_run_takes_the_only_performer_whose_kinds_fit_the_task() {
    let env = TestEnv::new();
    let dir = setup(&env, &format!("{}{}", fake("writer", "\"docs\""), fake("shaper", "\"interface\", \"implement\"")));
    let run = env.run(&dir, &["task", "run", TASK]).success();
    assert!(run.stderr.contains("Running auth-tokens/token-types with shaper"), "{}", run.render());
    let task = env.run(&dir, &["task", "show", TASK, "--json"]).success().json();
    assert_eq!(task["attempts"][0]["performer"], "shaper", "writer takes only docs tasks: {task:#}");
    assert_eq!(task["status"], "submitted");
}

#[test]
fn task_run_with_several_fitting_performers_names_them_and_changes_nothing() {
    let env = TestEnv::new();
    let dir =
        setup(&env, &format!("{}{}{}", fake("alpha", ""), fake("beta", "\"interface\""), fake("docs", "\"docs\"")));
    let before = env.state_tip(&dir);
    let run = env.run(&dir, &["task", "run", TASK]).user_error();
    assert!(
        run.stderr.contains("Error: several performers can take auth-tokens/token-types (interface task)"),
        "{}",
        run.render()
    );
    assert!(
        run.stderr.contains("Hint: add --performer with one of: alpha, beta\n"),
        "docs does not fit: {}",
        run.render()
    );
    assert_eq!(env.state_tip(&dir), before, "nothing was claimed");
    env.run(&dir, &["task", "run", TASK, "--performer", "beta"]).success();
}

#[test]
fn gemini_with_base_url_but_no_isolated_home_is_refused_before_the_run() {
    let env = TestEnv::new();
    let marker = env.path("gemini-ran");
    let gemini = script(&env, "gemini", &format!("echo ran > '{}'\nexit 41\n", marker.display()));
    let config = format!(
        "[performers.gem]\nadapter = \"gemini\"\ncommand = \"{}\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:9\"\n\
         api_key_env = \"GEM_KEY\"\n",
        gemini.display()
    );
    let dir = setup(&env, &config);
    let before = env.state_tip(&dir);
    let run: Run = env.command(&dir).env("GEM_KEY", "k").args(["task", "run", TASK]).output().unwrap().into();
    let run = run.user_error();
    assert!(
        run.stderr.contains("Error: performer gem: Gemini with base_url needs isolate_home = true"),
        "{}",
        run.render()
    );
    assert!(run.stderr.contains("Hint: add `isolate_home = true` to [performers.gem]"), "{}", run.render());
    assert_eq!(env.state_tip(&dir), before, "the task was not claimed, no attempt recorded");
    assert!(!marker.exists(), "gemini never ran");
    assert!(!env.path("worktrees").exists(), "no worktree was made");

    // Without the key in the environment, api_key_env is what is missing.
    let mut fixed = config.clone();
    fixed.push_str("isolate_home = true\n");
    std::fs::write(dir.join(".maestro/config.toml"), fixed).unwrap();
    let run = env.run(&dir, &["task", "run", TASK]).user_error();
    assert!(run.stderr.contains("api_key_env names GEM_KEY, which is not set in this environment"), "{}", run.render());
    assert_eq!(env.state_tip(&dir), before);
}

#[test]
fn a_failed_run_shows_the_performers_stderr_in_full_and_names_its_log() {
    let env = TestEnv::new();
    let cause = format!("fatal: the endpoint refused the key for model scripted-model ({})", "detail ".repeat(25));
    let agent = script(
        &env,
        "agent.sh",
        &format!("echo 'starting up'\necho 'warming up' >&2\nprintf '\\033[31m%s\\033[0m\\n' '{cause}' >&2\nexit 3\n"),
    );
    let dir = setup(&env, &format!("[performers.agent]\nadapter = \"command\"\ncommand = \"{}\"\n", agent.display()));
    let run = env.run(&dir, &["task", "run", TASK]).user_error();
    let reason = format!("the performer exited with status 3; stderr: warming up / {}", cause.trim_end());
    assert!(run.stderr.contains(&format!("failed: {reason}")), "{}", run.render());
    let task = env.run(&dir, &["task", "show", TASK, "--json"]).success().json();
    let run_id = task["attempts"][0]["run"].as_str().unwrap().to_owned();
    assert_eq!(task["attempts"][0]["reason"], reason.as_str(), "the whole reason, colour codes dropped");
    let log = dir.join(".git/maestro/logs/auth-tokens/token-types").join(format!("{run_id}.stderr"));
    assert!(std::fs::read_to_string(&log).unwrap().contains("refused the key"), "the log holds stderr");
    assert!(run.stderr.contains(&format!("Hint: the performer's stderr is in {}", log.display())), "{}", run.render());

    let shown = show(&env, &dir).success();
    assert!(reason.chars().count() > 120, "the reason is longer than the old cut");
    assert!(
        shown.stdout.contains(&format!("     reason: {reason}\n")),
        "task show prints it whole:\n{}",
        shown.render()
    );
    assert!(shown.stdout.contains(&format!("{} (stderr)", log.display())), "{}", shown.render());
    assert!(shown.stdout.contains("  1.  agent  failed  exit 3\n"), "{}", shown.render());
    let verbose = env.run(&dir, &["task", "show", "auth-tokens/token-types", "-v"]).success();
    assert!(verbose.stdout.contains(&format!("     run {run_id}, command, started ")), "{}", verbose.render());
    assert!(!shown.stdout.contains('\u{1b}'), "no escape sequence reaches the terminal");

    let board = env.run(&dir, &["status"]).success().stdout;
    let line = board.lines().find(|l| l.contains("token-types")).unwrap();
    assert!(line.ends_with('…') && line.contains("a retry: the last run failed: the performer exited"), "{board}");
}
