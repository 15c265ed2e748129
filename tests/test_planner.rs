//! Planning with an agent (fake-performer as the planner; a real CLI plans in test_agents), and
//! editing a draft in $EDITOR.

use std::path::PathBuf;

use crate::common::TestEnv;
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// A Score file on one line, `\n` for line breaks, as FAKE_WRITE takes it.
const GOOD: &str = r#"format = 1\nid = "p"\ntitle = "Planned"\ntarget = "main"\n[[tasks]]\nid = "api"\nkind = "interface"\nscope = ["src/api.rs"]\n[[tasks]]\nid = "impl"\nscope = ["src/api.rs"]\n[[tasks]]\nid = "use"\nscope = ["src/api.rs"]\ndeps = ["api"]\n"#;

fn repo_with_planner(env: &TestEnv, fake_env: &str) -> PathBuf {
    let dir = env.repo("r");
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let config = format!(
        "[performers.planner]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nsandbox = \"off\"\nenv = {{ {fake_env} }}\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    dir
}

#[test]
fn a_planner_writes_a_valid_score_which_is_stored_as_a_draft_with_warnings() {
    let env = TestEnv::new();
    let prompt = env.path("prompt.txt");
    let fake_env = format!("FAKE_WRITE = 'score.toml={GOOD}', FAKE_PROMPT_COPY = \"{}\"", prompt.display());
    let dir = repo_with_planner(&env, &fake_env);
    let run = env.run(&dir, &["plan", "Add an API and use it", "--with", "planner"]).success();
    assert_eq!(run.stdout, "p  draft  3 tasks\n", "{}", run.render());
    assert!(
        run.stderr.contains("task impl shares scope with interface task api but does not depend on it"),
        "{}",
        run.render()
    );
    assert!(!run.stderr.contains("task use shares"), "use depends on api: {}", run.render());
    let prompt = std::fs::read_to_string(prompt).unwrap();
    assert!(prompt.contains("Add an API and use it"), "the requirement");
    assert!(prompt.contains("README.md"), "the repository outline: {prompt}");
    assert!(prompt.contains("interface-first"), "{prompt}");
    assert!(prompt.contains("[[tasks]]"), "the schema example");
    let d = env.run(&dir, &["decisions", "--kind", "plan", "--json"]).success().json();
    assert!(d[0]["summary"].as_str().unwrap().contains("from the planner planner"), "{d:#}");
}

#[test]
fn an_invalid_plan_is_sent_back_once_then_refused_showing_what_was_written() {
    let env = TestEnv::new();
    let prompt = env.path("prompt.txt");
    let bad = r#"format = 1\nid = "p"\ntarget = "main"\n[[tasks]]\nid = "a"\ndeps = ["a"]\n"#;
    let fake_env = format!("FAKE_WRITE = 'score.toml={bad}', FAKE_PROMPT_COPY = \"{}\"", prompt.display());
    let dir = repo_with_planner(&env, &fake_env);
    let state = env.state_tip(&dir);
    let run = env.run(&dir, &["plan", "Anything", "--with", "planner"]).user_error();
    assert!(run.stderr.contains("still invalid") || run.stderr.contains("the Score planner wrote"), "{}", run.render());
    assert!(run.stderr.contains("cycle"), "the problem is named: {}", run.render());
    assert!(run.stderr.contains("what it wrote:"), "{}", run.render());
    assert_eq!(env.state_tip(&dir), state, "nothing stored");
    let second = std::fs::read_to_string(prompt).unwrap();
    assert!(second.contains("Your previous Score was invalid"), "{second}");
    assert!(second.contains("cycle"), "the second prompt carries the problems: {second}");
}

#[test]
fn score_edit_stores_a_valid_edit_and_keeps_an_invalid_one() {
    let env = TestEnv::new();
    let dir = repo_with_planner(&env, &format!("FAKE_WRITE = 'score.toml={GOOD}'"));
    env.run(&dir, &["plan", "x", "--with", "planner"]).success();
    let edited = env
        .command(&dir)
        .env("EDITOR", "sed -i -e 's/title = \"Planned\"/title = \"Edited\"/'")
        .args(["score", "edit", "p"])
        .output()
        .unwrap();
    assert!(edited.status.success(), "{}", String::from_utf8_lossy(&edited.stderr));
    let score = env.run(&dir, &["score", "show", "p", "--json"]).success().json();
    assert_eq!(score["title"], "Edited", "{score:#}");

    let state = env.state_tip(&dir);
    let broken = env
        .command(&dir)
        .env("EDITOR", "sed -i -e 's/deps = \\[\"api\"\\]/deps = [\"nope\"]/'")
        .args(["score", "edit", "p"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert_eq!(broken.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nope"), "{stderr}");
    assert!(stderr.contains("your edit is kept in"), "{stderr}");
    assert_eq!(env.state_tip(&dir), state, "nothing stored");
}
