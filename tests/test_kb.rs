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

/// What a run recalls (knowledge, design and lesson decisions) is kept in the clone's cache
/// with the state commit it was read from, so the next run reads only what changed since. A
/// decision made since is found; a cache that does not parse, or names a commit the
/// repository does not have, is replaced; one that cannot be written is no error.
#[test]
fn search_finds_decisions_made_since_the_last_whatever_the_cache_holds() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let decide = |kind: &str, summary: &str| {
        let out = env.run(&dir, &["decide", "--json", "--kind", kind, "-m", summary]).success().json();
        out["id"].as_str().unwrap().to_owned()
    };
    for i in 0..12 {
        decide("plan", &format!("Plan number {i} of the opaque work"));
    }
    let first = decide("design", "Session tokens are opaque");
    assert_eq!(search(&env, &dir, &["opaque", "tokens"]), std::slice::from_ref(&first), "plans are not recalled");
    let cache = dir.join(".git/maestro/cache/recall.json");
    let kept = std::fs::read_to_string(&cache).unwrap();
    assert!(kept.contains("Session tokens are opaque") && !kept.contains("Plan number"), "{kept}");

    let second = decide("lesson", "Opaque tokens need a lookup table");
    let mut both = search(&env, &dir, &["opaque", "tokens"]);
    both.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(both, expected, "the decision made since is found");

    let now = std::fs::read_to_string(&cache).unwrap();
    assert!(now.contains(&env.state_tip(&dir)), "the cache names the state commit it was read from: {now}");
    let unknown = now.replace(&env.state_tip(&dir), &"0".repeat(40));
    std::fs::write(&cache, unknown).unwrap();
    assert_eq!(search(&env, &dir, &["opaque", "tokens"]).len(), 2, "a commit it does not have means a full read");

    std::fs::write(&cache, b"\x00 not json").unwrap();
    assert_eq!(search(&env, &dir, &["opaque", "tokens"]).len(), 2);
    assert!(std::fs::read_to_string(&cache).unwrap().starts_with('{'), "the garbage was replaced");

    std::fs::remove_file(&cache).unwrap();
    std::fs::create_dir(&cache).unwrap();
    assert_eq!(search(&env, &dir, &["opaque", "tokens"]).len(), 2, "an unwritable cache is no error");
}
