//! The knowledge base: add, search, supersede, retire, promote, and retrieval into prompts.

use crate::common::TestEnv;
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

fn add(env: &TestEnv, dir: &std::path::Path, args: &[&str]) -> String {
    let mut all = vec!["kb", "add", "--json"];
    all.extend_from_slice(args);
    env.run(dir, &all).success().json()["id"].as_str().unwrap().to_owned()
}

fn search(env: &TestEnv, dir: &std::path::Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["kb", "search", "--json"];
    all.extend_from_slice(args);
    let hits = env.run(dir, &all).success().json();
    hits.as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn entries_are_searched_superseded_retired_and_promoted() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let expiry = add(&env, &dir, &["--title", "Token expiry is checked in Token::is_expired", "--tag", "rust"]);
    let layout = add(&env, &dir, &["--title", "Auth code lives in src/auth", "--path", "src/auth/*"]);
    add(&env, &dir, &["--title", "Releases are tagged by CI", "-m", "Never tag by hand."]);
    assert_eq!(search(&env, &dir, &["token", "expiry"]), vec![expiry.clone()]);

    let newer = add(&env, &dir, &["--title", "Token expiry moved to auth::clock", "--supersedes", &expiry]);
    assert_eq!(search(&env, &dir, &["token", "expiry"]), vec![newer.clone()], "the superseded entry is gone");
    let old = env.run(&dir, &["kb", "show", &expiry]).success().stdout;
    assert!(old.contains(&format!("superseded by {newer}")), "it stays in history: {old}");
    env.run(&dir, &["kb", "retire", &newer]).success();
    assert!(search(&env, &dir, &["token", "expiry"]).is_empty());

    // By task: the scope finds the layout entry, with no shared words.
    env.run(&dir, &["plan", "--from", &crate::common::fixtures_dir().join("score.toml").display().to_string()])
        .success();
    assert!(search(&env, &dir, &["--task", "auth-tokens/token-types"]).contains(&layout));

    let decision = env
        .run(
            &dir,
            &["decide", "-m", "Sign tokens with HS256", "--rationale", "one key", "--task", "auth-tokens/token-types"],
        )
        .success()
        .stdout;
    let promoted = env.run(&dir, &["kb", "promote", decision.trim(), "--json"]).success().json();
    assert_eq!(promoted["source"], format!("decision:{}", decision.trim()));
    assert_eq!(promoted["paths"], serde_json::json!(["src/auth/token.rs"]), "the task's scope");
    assert_eq!(promoted["body"], "one key");

    let state = env.state_tip(&dir);
    let bad = env.run(&dir, &["kb", "add", "--title", "x", "--confidence", "2"]).user_error();
    assert!(bad.stderr.contains("confidence must be between 0 and 1"), "{}", bad.render());
    let unknown = env.run(&dir, &["kb", "show", "nope"]).user_error();
    assert!(unknown.stderr.contains("no knowledge entry \"nope\""), "{}", unknown.render());
    let not_proposed = env.run(&dir, &["kb", "accept", &layout]).user_error();
    assert!(not_proposed.stderr.contains("only proposed entries can be accepted"), "{}", not_proposed.render());
    assert_eq!(env.state_tip(&dir), state, "refusals change nothing");
    env.run(&dir, &["doctor"]).success();
}

#[test]
fn a_task_prompt_carries_the_relevant_knowledge() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.run(&dir, &["plan", "--from", &crate::common::fixtures_dir().join("score.toml").display().to_string()])
        .success();
    env.run(&dir, &["approve", "auth-tokens"]).success();
    add(&env, &dir, &["--title", "TokenClaims must stay serde-compatible", "--path", "src/auth/*"]);
    add(&env, &dir, &["--title", "The changelog is generated", "--tag", "docs"]);
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let prompt = env.path("prompt.txt");
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nsandbox = \"off\"\n\
         env = {{ FAKE_WRITE = \"src/auth/token.rs=pub struct Token;\", FAKE_PROMPT_COPY = \"{}\" }}\n",
        prompt.display()
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.run(&dir, &["task", "run", "auth-tokens/token-types"]).success();
    let prompt = std::fs::read_to_string(prompt).unwrap();
    assert!(prompt.contains("knowledge"), "{prompt}");
    assert!(prompt.contains("TokenClaims must stay serde-compatible"), "{prompt}");
    assert!(!prompt.contains("The changelog is generated"), "irrelevant entries stay out: {prompt}");
}
