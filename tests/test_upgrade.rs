//! Upgrades of the state format (DESIGN.md §12.7): a state the previous release wrote
//! (format 1, rebuilt by `fixtures/state-format1.sh`) is read as it is and moved to format 2 by
//! the first write; a binary meeting a newer format than its own refuses it and says to
//! upgrade.

use std::path::Path;

use crate::common::{Run, TestEnv};
use crate::test_cli::GitRun;

/// Replace `path` in the state with `edit` of its text, in a new state commit on top (plain
/// git plumbing, as another binary would have written it).
fn rewrite_state_file(env: &TestEnv, dir: &Path, path: &str, edit: impl Fn(&str) -> String) {
    let tip = env.state_tip(dir);
    let text = env.git(dir, &["cat-file", "blob", &format!("{tip}:{path}")]).success_git();
    let file = env.write("edited.toml", &edit(&text));
    let blob = env.git(dir, &["hash-object", "-w", file.to_str().unwrap()]).success_git();
    let index = env.path("state.index");
    let git = |args: &[&str]| -> String {
        let out = env.base_command("git").current_dir(dir).env("GIT_INDEX_FILE", &index).args(args).output();
        Run::from(out.unwrap()).success_git()
    };
    git(&["read-tree", &tip]);
    git(&["update-index", "--cacheinfo", &format!("100644,{},{path}", blob.trim())]);
    let tree = git(&["write-tree"]);
    let commit = git(&["commit-tree", tree.trim(), "-p", &tip, "-m", &format!("edit {path}")]);
    git(&["update-ref", "refs/maestro/state", commit.trim(), &tip]);
}

/// The state's `maestro.toml` format.
fn root_format(env: &TestEnv, dir: &Path) -> i64 {
    let text = env.git(dir, &["show", "refs/maestro/state:maestro.toml"]).success_git();
    let root: toml::Table = text.parse().unwrap();
    root["format"].as_integer().unwrap()
}

/// Every command refuses a state of format 3 with exit 1, naming the format, with the hint
/// to upgrade; nothing is written.
#[track_caller]
fn refuses_format_3(env: &TestEnv, dir: &Path) {
    rewrite_state_file(env, dir, "maestro.toml", |t| {
        t.replacen("format = 2", "format = 3", 1).replacen("format = 1", "format = 3", 1)
    });
    assert_eq!(root_format(env, dir), 3);
    let before = env.state_tip(dir);
    for args in [&["status"][..], &["kb", "add", "--title", "a fact"], &["decide", "-m", "a decision"]] {
        let run = env.run(dir, args).user_error();
        assert!(
            run.stderr.contains("Error: maestro.toml has format 3, newer than this git-maestro understands (2)"),
            "{args:?}:\n{}",
            run.render()
        );
        let hint = run.stderr.lines().find(|l| l.starts_with("Hint: ")).unwrap_or_default();
        assert!(hint.contains("upgrade git-maestro"), "{args:?}:\n{}", run.render());
        let json = env.run(dir, &[args, &["--json"][..]].concat());
        assert_eq!(json.code, 1, "{}", json.render());
        assert_eq!(json.json()["error"]["code"], "future-format", "{}", json.render());
    }
    assert_eq!(env.state_tip(dir), before, "a refused state is never written");
}

#[test]
fn a_state_of_a_newer_format_is_refused_with_the_hint_to_upgrade() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    assert_eq!(root_format(&env, &dir), 2, "a new state starts at format 2");
    refuses_format_3(&env, &dir);
}
