//! The `checks` approval step: named commands from trusted config, evidence recorded.

use std::path::{Path, PathBuf};

use crate::common::TestEnv;
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// A submitted task `c/t0` (it wrote `t0.txt`) whose chain is `approval`, with check `test`
/// defined as `check`.
fn submitted(env: &TestEnv, approval: &str, check: &str) -> PathBuf {
    let dir = env.repo("r");
    let score = format!(
        "format = 1\nid = \"c\"\ntarget = \"main\"\napproval = {approval}\n[[tasks]]\nid = \"t0\"\nchecks = [\"test\"]\n"
    );
    env.write("c.toml", &score);
    env.run(&dir, &["plan", "--from", "../c.toml"]).success();
    env.run(&dir, &["approve", "c"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nenv = {{ FAKE_WRITE = \"t0.txt=zero\" }}\n\n[checks.test]\nrun = \"{check}\"\ntimeout = \"1m\"\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.run(&dir, &["task", "run", "c/t0"]).success();
    dir
}

fn status(env: &TestEnv, dir: &Path) -> String {
    env.run(dir, &["task", "show", "c/t0", "--json"]).success().json()["status"].as_str().unwrap().to_owned()
}

#[test]
fn passing_checks_approve_the_task_with_evidence() {
    let env = TestEnv::new();
    let dir = submitted(&env, "[\"checks\"]", "test -f t0.txt && echo all good");
    let run = env.run(&dir, &["task", "review", "c/t0"]).success();
    assert_eq!(run.stdout, "c/t0  approved\n", "{}", run.render());
    assert_eq!(status(&env, &dir), "approved");
    let d = env.run(&dir, &["decisions", "--kind", "approval", "--task", "c/t0", "--json"]).success().json();
    assert_eq!(d.as_array().unwrap().len(), 1, "{d:#}");
    let evidence = &d[0]["evidence"][0];
    assert_eq!(evidence["check"], "test");
    assert_eq!(evidence["exit"], "0");
    assert_eq!(evidence["tail"], "all good\n");
    assert_eq!(evidence["digest"].as_str().unwrap().len(), 40, "{evidence}");
}

#[test]
fn a_failing_check_rejects_the_task_and_keeps_the_output() {
    let env = TestEnv::new();
    let dir = submitted(&env, "[\"checks\", \"human\"]", "echo compiling; echo broken build >&2; exit 4");
    let run = env.run(&dir, &["task", "review", "c/t0"]).user_error();
    assert!(run.stderr.contains("c/t0 was rejected: check test failed (exit 4)"), "{}", run.render());
    assert_eq!(status(&env, &dir), "rejected");
    let d = env.run(&dir, &["decisions", "--kind", "rejection", "--json"]).success().json();
    assert_eq!(d[0]["actor"], "checks");
    assert_eq!(d[0]["evidence"][0]["exit"], "4");
    assert_eq!(d[0]["evidence"][0]["tail"], "compiling\nbroken build\n");
}

#[test]
fn checks_then_human_waits_for_a_person() {
    let env = TestEnv::new();
    let dir = submitted(&env, "[\"checks\", \"human\"]", "true");
    let run = env.run(&dir, &["task", "review", "c/t0", "--json"]).success();
    assert_eq!(run.json()["outcome"], "waiting");
    assert_eq!(run.json()["step"], "human");
    assert_eq!(status(&env, &dir), "submitted");
    env.run(&dir, &["approve", "c/t0", "-m", "read the diff"]).success();
    assert_eq!(status(&env, &dir), "approved");
}

#[test]
fn a_check_missing_from_trusted_config_is_refused_and_nothing_runs() {
    let env = TestEnv::new();
    let dir = submitted(&env, "[\"checks\"]", "true");
    let config = std::fs::read_to_string(dir.join(".maestro/config.toml")).unwrap();
    let without = config.split("[checks.test]").next().unwrap().to_owned();
    std::fs::write(dir.join(".maestro/config.toml"), without).unwrap();
    let before = env.state_tip(&dir);
    let run = env.run(&dir, &["task", "review", "c/t0"]).user_error();
    assert!(run.stderr.contains("check \"test\" is not defined in trusted config"), "{}", run.render());
    assert!(run.stderr.contains("Hint: define it in .maestro/config.toml: [checks.test]"), "{}", run.render());
    assert_eq!(env.state_tip(&dir), before);
}

#[test]
fn a_failing_post_merge_check_reverts_the_merge() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let score = "format = 1\nid = \"p\"\ntarget = \"main\"\npost_merge_checks = [\"clean\"]\n[[tasks]]\nid = \"good\"\n[[tasks]]\nid = \"bad\"\n";
    env.write("p.toml", score);
    env.run(&dir, &["plan", "--from", "../p.toml"]).success();
    env.run(&dir, &["approve", "p"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    for (task, file) in [("good", "good.txt"), ("bad", "bad.txt")] {
        let config = format!(
            "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nenv = {{ FAKE_WRITE = \"{file}=x\" }}\n\n[checks.clean]\nrun = \"test ! -f bad.txt || {{ echo bad.txt must not exist >&2; exit 3; }}\"\n"
        );
        std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
        env.run(&dir, &["task", "run", &format!("p/{task}")]).success();
        env.run(&dir, &["approve", &format!("p/{task}")]).success();
    }
    env.run(&dir, &["merge", "p/good"]).success();
    let good_tip = env.git(&dir, &["rev-parse", "maestro/p/integration"]).success_git();

    let run = env.run(&dir, &["merge", "p/bad"]).user_error();
    assert!(run.stderr.contains("p/bad was merged and reverted"), "{}", run.render());
    assert!(run.stderr.contains("post-merge check clean failed (exit 3)"), "{}", run.render());
    let tree = |r: &str| env.git(&dir, &["rev-parse", &format!("{r}^{{tree}}")]).success_git();
    assert_eq!(tree("maestro/p/integration"), tree(good_tip.trim()), "the bad merge is undone, the good one stays");
    let log = env.git(&dir, &["log", "--format=%s", "-3", "maestro/p/integration"]).success_git();
    assert!(log.starts_with("Revert p/bad: bad\nMerge p/bad: bad\nMerge p/good: good\n"), "history only grows:\n{log}");
    let bad = env.run(&dir, &["task", "show", "p/bad", "--json"]).success().json();
    assert_eq!(bad["status"], "ready", "sent back for rework with the check's output (see test_feedback)");
    assert!(bad["rework"].as_str().unwrap().contains("bad.txt must not exist"), "{bad:#}");
    let good = env.run(&dir, &["task", "show", "p/good", "--json"]).success().json();
    assert_eq!(good["status"], "merged");
    let d = env.run(&dir, &["decisions", "--kind", "rollback", "--json"]).success().json();
    let why = d
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["summary"] == "post-merge check clean failed (exit 3)")
        .expect("the reason is recorded");
    assert_eq!(why["evidence"][0]["tail"], "bad.txt must not exist\n");
}
