//! Handover packets from the command line: push, post, pull (atomic), broadcast, and the
//! packet a rework writes into the next run's prompt.

use crate::common::{TestEnv, fixtures_dir};
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

fn planned(env: &TestEnv) -> std::path::PathBuf {
    let dir = env.repo("r");
    env.run(&dir, &["plan", "--from", &fixtures_dir().join("score.toml").display().to_string()]).success();
    dir
}

#[test]
fn packets_are_pushed_posted_broadcast_and_pulled_once() {
    let env = TestEnv::new();
    let dir = planned(&env);
    let pushed = env
        .run(&dir, &["handover", "push", "auth-tokens/token-types", "--to", "claude", "-m", "Codex ran out of budget"])
        .success()
        .stdout;
    for section in [
        "## Task",
        "## Context\nCodex ran out of budget",
        "## Relevant files\n- src/auth/token.rs",
        "## Acceptance criteria",
        "## Constraints",
    ] {
        assert!(pushed.contains(section), "{section:?} in:\n{pushed}");
    }
    for task in ["token-types", "issue-tokens", "verify-tokens"] {
        env.run(&dir, &["handover", "post", &format!("auth-tokens/{task}")]).success();
    }
    env.run(&dir, &["handover", "broadcast", "auth-tokens", "-m", "Freeze: no new dependencies"]).success();

    // Eight pullers race for three queued packets: each packet goes to exactly one of them.
    let pullers: Vec<_> = (0..8)
        .map(|i| {
            env.command(&dir)
                .args(["handover", "pull", "--as", &format!("p{i}"), "--json"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut got = Vec::new();
    for p in pullers {
        let out = p.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if !v.is_null() {
            got.push(v["id"].as_str().unwrap().to_owned());
        }
    }
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 3, "three packets, three pullers: {got:?}");
    let none = env.run(&dir, &["handover", "pull", "--as", "late"]).success();
    assert!(none.stderr.contains("No packet is waiting."), "{}", none.render());

    let all = env.run(&dir, &["handover", "list", "--json"]).success().json();
    let statuses: Vec<&str> = all.as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "delivered").count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == "open").count(), 2, "the push and the broadcast wait: {statuses:?}");
    let unknown = env.run(&dir, &["handover", "show", "nope"]).user_error();
    assert!(unknown.stderr.contains("no handover packet \"nope\""), "{}", unknown.render());
    env.run(&dir, &["doctor"]).success();
}

#[test]
fn a_run_receives_its_push_packet_and_the_broadcast() {
    let env = TestEnv::new();
    let dir = planned(&env);
    env.run(&dir, &["approve", "auth-tokens"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let prompt = env.path("prompt.txt");
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nsandbox = \"off\"\ncontext_file = true\n\
         env = {{ FAKE_WRITE = \"src/auth/token.rs=pub struct Token;\", FAKE_PROMPT_COPY = \"{}\", \
         FAKE_READ = \"AGENTS.md={}\" }}\n",
        prompt.display(),
        env.path("agents.md").display()
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.run(&dir, &["handover", "push", "auth-tokens/token-types", "--to", "fake", "-m", "Start from the claims"])
        .success();
    env.run(&dir, &["handover", "push", "auth-tokens/token-types", "--to", "other", "-m", "Not for fake"]).success();
    env.run(&dir, &["handover", "broadcast", "auth-tokens", "-m", "Freeze: no new dependencies"]).success();
    env.run(&dir, &["task", "run", "auth-tokens/token-types"]).success();
    let prompt = std::fs::read_to_string(prompt).unwrap();
    assert!(prompt.contains("Start from the claims"), "{prompt}");
    assert!(prompt.contains("Freeze: no new dependencies"), "{prompt}");
    assert!(!prompt.contains("Not for fake"), "{prompt}");
    assert!(prompt.contains("handover_ack"), "{prompt}");
    let all = env.run(&dir, &["handover", "list", "--json"]).success().json();
    let delivered: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["delivered_to"] == "fake")
        .map(|h| h["reason"].as_str().unwrap())
        .collect();
    assert_eq!(delivered.len(), 2, "{all:#}");
    // The context file carried the packet during the run, and was never committed.
    let agents = std::fs::read_to_string(env.path("agents.md")).unwrap();
    assert!(agents.contains("Start from the claims") && agents.contains("never committed"), "{agents}");
    let files = env.git(&dir, &["ls-tree", "-r", "--name-only", "maestro/auth-tokens/tasks/token-types"]).success_git();
    assert!(!files.contains("AGENTS.md"), "{files}");
}
