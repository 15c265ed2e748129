//! The `agent:<performer>` approval step, with fake-performer as the reviewer (the real CLIs
//! review in test_agents).

use std::path::PathBuf;

use crate::common::TestEnv;
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// A submitted task `v/t0` (fake `author` wrote `t0.txt`) whose chain is `approval`, and a
/// reviewer performer `reviewer` whose fake env is `reviewer_env`.
fn submitted(env: &TestEnv, approval: &str, reviewer_env: &str) -> PathBuf {
    let dir = env.repo("r");
    let score = format!(
        "format = 1\nid = \"v\"\ntarget = \"main\"\napproval = {approval}\n[[tasks]]\nid = \"t0\"\n\
         title = \"Write zero\"\nspec = \"Write zero into t0.txt.\"\nacceptance = [\"t0.txt says zero\"]\n\
         checks = [\"test\"]\n"
    );
    env.write("v.toml", &score);
    env.run(&dir, &["plan", "--from", "../v.toml"]).success();
    env.run(&dir, &["approve", "v"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let config = format!(
        "[performers.author]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nenv = {{ FAKE_WRITE = \"t0.txt=zero\" }}\n\n\
         [performers.reviewer]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nsandbox = \"off\"\nenv = {{ {reviewer_env} }}\n\n\
         [checks.test]\nrun = \"test -f t0.txt\"\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.run(&dir, &["task", "run", "v/t0", "--performer", "author"]).success();
    dir
}

fn status(env: &TestEnv, dir: &std::path::Path) -> String {
    env.run(dir, &["task", "show", "v/t0", "--json"]).success().json()["status"].as_str().unwrap().to_owned()
}

#[test]
fn a_reviewer_that_approves_gets_the_diff_and_its_verdict_is_recorded() {
    let env = TestEnv::new();
    let prompt = env.path("review-prompt.txt");
    let reviewer_env = format!(
        "FAKE_PROMPT_COPY = \"{}\", FAKE_SAY = 'Checked.\\n{{\"verdict\": \"approve\", \"reasons\": [\"t0.txt says zero\"]}}'",
        prompt.display()
    );
    let dir = submitted(&env, "[\"checks\", \"agent:reviewer\"]", &reviewer_env);
    let run = env.run(&dir, &["task", "review", "v/t0"]).success();
    assert_eq!(run.stdout, "v/t0  approved\n", "{}", run.render());
    assert!(run.stderr.contains("review by reviewer in"), "{}", run.render());
    assert_eq!(status(&env, &dir), "approved");

    let prompt = std::fs::read_to_string(prompt).unwrap();
    assert!(
        prompt
            .contains("diff --git a/t0.txt b/t0.txt\nnew file\n--- /dev/null\n+++ b/t0.txt\n@@ -1,0 +1,1 @@\n+zero\n"),
        "{prompt}"
    );
    assert!(prompt.contains("Write zero into t0.txt.") && prompt.contains("- t0.txt says zero"), "{prompt}");
    assert!(prompt.contains(r#"{"verdict": "approve" | "reject", "reasons": ["..."]}"#), "{prompt}");

    let d = env.run(&dir, &["decisions", "--task", "v/t0", "--kind", "approval", "--json"]).success().json();
    let verdicts: Vec<&str> = d.as_array().unwrap().iter().map(|d| d["actor"].as_str().unwrap()).collect();
    assert_eq!(verdicts.len(), 2, "one decision per step: {d:#}");
    assert!(verdicts.contains(&"checks") && verdicts.contains(&"reviewer"), "{d:#}");
    let review = d.as_array().unwrap().iter().find(|d| d["actor"] == "reviewer").unwrap();
    assert_eq!(review["review"]["approve"], true);
    assert_eq!(review["review"]["reasons"], serde_json::json!(["t0.txt says zero"]));
    assert_eq!(review["review"]["author"], "author");
    assert_eq!(review["review"]["cross_vendor"], true, "two different commands: {review:#}");
    assert_eq!(review["evidence"][0]["check"], "agent:reviewer");

    // The reviewer's scratch worktree goes with `worktrees prune`.
    let pruned = env.run(&dir, &["worktrees", "prune", "--json"]).success().json();
    let scratch =
        pruned.as_array().unwrap().iter().find(|p| p["score"] == "v" && p["task"] == "t0.review").expect("pruned");
    assert_eq!(scratch["action"], "removed", "{pruned:#}");
    assert!(!std::path::Path::new(scratch["path"].as_str().unwrap()).exists());
}

#[test]
fn a_reviewer_without_a_verdict_rejects_and_cannot_touch_the_task_branch() {
    let env = TestEnv::new();
    let dir =
        submitted(&env, "[\"agent:reviewer\", \"human\"]", "FAKE_WRITE = \"t0.txt=tampered\", FAKE_SAY = \"LGTM\"");
    let before = env.git(&dir, &["rev-parse", "maestro/v/tasks/t0"]).success_git();
    let run = env.run(&dir, &["task", "review", "v/t0"]).user_error();
    assert!(run.stderr.contains("v/t0 was rejected: the reviewer gave no verdict line"), "{}", run.render());
    assert!(run.stderr.contains("LGTM"), "the message it gave is quoted: {}", run.render());
    assert_eq!(status(&env, &dir), "rejected");
    assert_eq!(env.git(&dir, &["rev-parse", "maestro/v/tasks/t0"]).success_git(), before, "the task branch stays");
    let file = env.git(&dir, &["show", "maestro/v/tasks/t0:t0.txt"]).success_git();
    assert_eq!(file, "zero\n");
    let d = env.run(&dir, &["decisions", "--kind", "rejection", "--json"]).success().json();
    assert_eq!(d[0]["actor"], "reviewer");
    assert_eq!(d[0]["review"]["approve"], false);
}

#[test]
fn auto_picks_a_reviewer_other_than_the_author_and_a_rejection_carries_reasons() {
    let env = TestEnv::new();
    let say = "FAKE_SAY = '{\"verdict\": \"reject\", \"reasons\": [\"zero is spelled out\", \"no test\"]}'";
    let dir = submitted(&env, "[\"agent:auto\"]", say);
    let run = env.run(&dir, &["task", "review", "v/t0"]).user_error();
    assert!(run.stderr.contains("v/t0 was rejected: zero is spelled out; no test"), "{}", run.render());
    let d = env.run(&dir, &["decisions", "--kind", "rejection", "--json"]).success().json();
    assert_eq!(d[0]["review"]["reviewer"], "reviewer", "the author does not review itself: {d:#}");
    assert_eq!(d[0]["review"]["reasons"], serde_json::json!(["zero is spelled out", "no test"]));
}

#[test]
fn an_unknown_reviewer_is_a_clear_error_that_changes_nothing() {
    let env = TestEnv::new();
    let dir = submitted(&env, "[\"agent:nobody\"]", "FAKE_SAY = \"x\"");
    let state = env.git(&dir, &["rev-parse", "refs/maestro/state"]).success_git();
    let run = env.run(&dir, &["task", "review", "v/t0"]).user_error();
    assert!(run.stderr.contains("no performer named \"nobody\" is configured to review"), "{}", run.render());
    assert!(run.stderr.contains("Hint:"), "{}", run.render());
    assert_eq!(env.git(&dir, &["rev-parse", "refs/maestro/state"]).success_git(), state);
    assert_eq!(status(&env, &dir), "submitted");
}

#[test]
fn after_a_human_approves_mid_chain_the_next_step_runs() {
    let env = TestEnv::new();
    let say = "FAKE_SAY = '{\"verdict\": \"approve\", \"reasons\": [\"fine\"]}'";
    let dir = submitted(&env, "[\"checks\", \"human\", \"agent:reviewer\"]", say);
    let run = env.run(&dir, &["task", "review", "v/t0"]).success();
    assert_eq!(run.stdout, "v/t0  waiting for human\n", "{}", run.render());
    let approved = env.run(&dir, &["approve", "v/t0", "-m", "looks right"]).success();
    assert_eq!(approved.stdout, "v/t0  submitted\n", "{}", approved.render());
    assert!(approved.stderr.contains("`git maestro task review v/t0` runs the rest of the chain"));
    let task = env.run(&dir, &["task", "show", "v/t0", "--json"]).success().json();
    assert_eq!(task["passed"], serde_json::json!(["checks", "human"]));
    let run = env.run(&dir, &["task", "review", "v/t0"]).success();
    assert_eq!(run.stdout, "v/t0  approved\n", "{}", run.render());
    assert!(!run.stderr.contains("check test"), "checks are not run again: {}", run.render());
    let d = env.run(&dir, &["decisions", "--task", "v/t0", "--kind", "approval", "--json"]).success().json();
    let actors: Vec<&str> = d.as_array().unwrap().iter().map(|d| d["actor"].as_str().unwrap()).collect();
    assert_eq!(actors.len(), 3, "{d:#}");
    for actor in ["checks", "tester", "reviewer"] {
        assert!(actors.contains(&actor), "{actors:?}");
    }
}
