//! The real agent CLIs, offline, against the scripted model server on 127.0.0.1.
//!
//! The pinned CLIs come from `npm ci --prefix fixtures/agents`. When one is missing the test
//! fails if `MAESTRO_E2E_REQUIRED=1` (as in CI), and otherwise says loudly that it skipped.

use std::path::{Path, PathBuf};

use crate::common::model_server::{ModelServer, Scenario};
use crate::common::{Run, TestEnv, fixtures_dir};
use crate::test_cli::GitRun;

/// The CLI `name` from fixtures/agents, or `None` (after saying so) when it is not installed
/// and not required.
fn agent(name: &str) -> Option<PathBuf> {
    let bin = fixtures_dir().join("agents/node_modules/.bin").join(name);
    if bin.exists() {
        return Some(bin);
    }
    let required = std::env::var("MAESTRO_E2E_REQUIRED").is_ok_and(|v| v == "1");
    assert!(!required, "{name} is not installed and MAESTRO_E2E_REQUIRED=1: run `npm ci --prefix fixtures/agents`");
    eprintln!("SKIPPED: {name} is not installed; run `npm ci --prefix fixtures/agents` to run this test");
    None
}

struct Setup {
    env: TestEnv,
    dir: PathBuf,
    server: ModelServer,
}

fn setup(adapter: &str, bin: &Path, scenario: &str, timeout: &str, extra: &str) -> Setup {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.run(&dir, &["plan", "--from", &fixtures_dir().join("score.toml").display().to_string()]).success();
    let server = ModelServer::start(Scenario::load(scenario), &env.path("requests.jsonl"));
    let config = format!(
        "[performers.agent]\nadapter = \"{adapter}\"\ncommand = \"{}\"\nmodel = \"scripted-model\"\nbase_url = \"{}\"\n\
         api_key_env = \"MAESTRO_TEST_KEY\"\nisolate_home = true\ntimeout = \"{timeout}\"\n{extra}\n",
        bin.display(),
        server.base_url(),
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    Setup { env, dir, server }
}

fn run_task(s: &Setup) -> Run {
    s.env
        .command(&s.dir)
        .env("MAESTRO_TEST_KEY", "sk-scripted-test-key")
        .args(["task", "run", "auth-tokens/token-types", "--performer", "agent"])
        .output()
        .unwrap()
        .into()
}

fn task(s: &Setup) -> serde_json::Value {
    s.env.run(&s.dir, &["task", "show", "auth-tokens/token-types", "--json"]).success().json()
}

/// The checks shared by every adapter's happy path.
fn assert_submitted_with_file(s: &Setup, run: &Run) {
    assert_eq!(run.code, 0, "{}", run.render());
    let task = task(s);
    assert_eq!(task["status"], "submitted", "{task:#}");
    let attempt = &task["attempts"][0];
    let commit = attempt["commit"].as_str().expect("a result commit");
    let file = s.env.git(&s.dir, &["show", &format!("{commit}:src/auth/token.rs")]).success_git();
    assert_eq!(file, "pub struct Token;\n", "the agent's shell tool wrote the file");
    assert!(attempt["session"].as_str().is_some_and(|id| !id.is_empty()), "the session id is recorded: {attempt:#}");
    assert!(attempt["input_tokens"].as_u64().is_some_and(|n| n > 0), "token usage is recorded: {attempt:#}");
    assert!(attempt["output_tokens"].as_u64().is_some_and(|n| n > 0), "{attempt:#}");
    let requests = s.server.requests();
    assert!(
        requests.iter().any(|r| r["body"].to_string().contains("Add TokenClaims (subject, issued-at, expiry)")),
        "the task spec reached the model in the prompt"
    );
}

#[test]
fn claude_writes_a_file_and_the_task_is_submitted() {
    let Some(bin) = agent("claude") else { return };
    let s = setup("claude", &bin, "write-only", "3m", "env = { CLAUDE_CODE_MAX_RETRIES = \"0\" }");
    let run = run_task(&s);
    assert_submitted_with_file(&s, &run);
}
