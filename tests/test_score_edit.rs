//! `score edit` keeps an edit that was not stored, and reopens it next time (issue 12: running
//! `score edit` again used to overwrite the kept edit with the stored Score).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::{Run, TestEnv, fixtures_dir};

const SCORE: &str = "auth-tokens";

/// A repository with the sample Score planned as a draft.
fn planned(env: &TestEnv) -> PathBuf {
    let dir = env.repo("r");
    let from = fixtures_dir().join("score.toml");
    env.run(&dir, &["plan", "--from", from.to_str().unwrap()]).success();
    dir
}

/// An executable editor script in the temp root; it gets the file to edit as `$1`.
fn editor(env: &TestEnv, name: &str, body: &str) -> PathBuf {
    let path = env.write(name, &format!("#!/bin/sh\nset -e\n{body}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn edit(env: &TestEnv, dir: &Path, editor: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["score", "edit", SCORE];
    args.extend_from_slice(extra);
    env.command(dir).env("EDITOR", editor).args(&args).output().unwrap().into()
}

fn kept(dir: &Path) -> PathBuf {
    dir.join(".git/maestro/edit").join(format!("{SCORE}.toml"))
}

fn title(env: &TestEnv, dir: &Path) -> String {
    let score = env.run(dir, &["score", "show", SCORE, "--json"]).success().json();
    score["title"].as_str().unwrap().to_owned()
}

/// Retitles the Score and names a dependency that does not exist, so the edit is refused.
fn breaking(env: &TestEnv, name: &str, new_title: &str) -> PathBuf {
    editor(
        env,
        name,
        &format!(
            "sed -i -e 's/^title = .*/title = \"{new_title}\"/' -e 's/deps = \\[\"token-types\"\\]/deps = [\"nope\"]/' \"$1\""
        ),
    )
}

#[test]
fn a_second_score_edit_reopens_the_kept_invalid_edit_instead_of_overwriting_it() {
    let env = TestEnv::new();
    let dir = planned(&env);
    let state = env.state_tip(&dir);

    let run = edit(&env, &dir, &breaking(&env, "break.sh", "Kept title"), &[]).user_error();
    assert!(run.stderr.contains("nope"), "the problem is named:\n{}", run.render());
    assert!(run.stderr.contains("your edit is kept in"), "{}", run.render());
    assert_eq!(env.state_tip(&dir), state, "an invalid edit stores nothing");
    let kept_text = std::fs::read_to_string(kept(&dir)).expect("the invalid edit is kept");
    assert!(kept_text.contains("Kept title") && kept_text.contains("\"nope\""), "{kept_text}");

    let seen = env.path("seen.toml");
    let fix = editor(
        &env,
        "fix.sh",
        &format!("cp \"$1\" '{}'\nsed -i -e 's/\"nope\"/\"token-types\"/' \"$1\"", seen.display()),
    );
    let run = edit(&env, &dir, &fix, &[]).success();
    let seen_text = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(seen_text, kept_text, "the editor opens the kept edit, not the stored Score:\n{}", run.render());
    assert!(run.stderr.contains("Reopening your earlier edit of auth-tokens"), "{}", run.render());
    assert!(
        run.stderr.contains("git maestro score edit auth-tokens --discard"),
        "how to start over:\n{}",
        run.render()
    );
    assert!(run.stderr.contains("Stored your edit of auth-tokens."), "{}", run.render());
    assert_eq!(title(&env, &dir), "Kept title", "the fixed edit is what was stored");
    assert!(!kept(&dir).exists(), "a stored edit is no longer kept");
}

#[test]
fn score_edit_discard_drops_the_kept_edit_and_starts_from_the_stored_score() {
    let env = TestEnv::new();
    let dir = planned(&env);
    edit(&env, &dir, &breaking(&env, "break.sh", "Lost title"), &[]).user_error();
    assert!(kept(&dir).exists(), "the invalid edit is kept");

    let seen = env.path("seen.toml");
    let retitle = editor(
        &env,
        "retitle.sh",
        &format!("cp \"$1\" '{}'\nsed -i -e 's/^title = .*/title = \"Fresh title\"/' \"$1\"", seen.display()),
    );
    let run = edit(&env, &dir, &retitle, &["--discard"]).success();
    let seen_text = std::fs::read_to_string(&seen).unwrap();
    assert!(
        !seen_text.contains("Lost title") && !seen_text.contains("nope"),
        "the kept edit was dropped:\n{seen_text}"
    );
    assert!(seen_text.contains("Move auth to signed tokens"), "the stored Score is opened:\n{seen_text}");
    assert!(!run.stderr.contains("Reopening"), "{}", run.render());
    assert_eq!(title(&env, &dir), "Fresh title");
    assert!(!kept(&dir).exists());
}

#[test]
fn a_failed_editor_keeps_the_edit_and_an_edit_back_to_the_stored_score_drops_it() {
    let env = TestEnv::new();
    let dir = planned(&env);
    let state = env.state_tip(&dir);
    let failing = editor(&env, "fail.sh", "echo '# half done' >> \"$1\"\nexit 3");
    let run = edit(&env, &dir, &failing, &[]).user_error();
    assert!(run.stderr.contains("nothing was stored"), "{}", run.render());
    let kept_text = std::fs::read_to_string(kept(&dir)).expect("an editor that fails keeps the file");
    assert!(kept_text.contains("# half done"), "{kept_text}");

    // Undoing the edit leaves the stored Score as it was: nothing to store, nothing to keep.
    let undo = editor(&env, "undo.sh", "sed -i -e '/^# half done$/d' \"$1\"");
    let run = edit(&env, &dir, &undo, &[]).success();
    assert!(run.stderr.contains("Reopening"), "{}", run.render());
    assert!(run.stderr.contains("Nothing changed."), "{}", run.render());
    assert_eq!(env.state_tip(&dir), state, "nothing stored");
    assert!(!kept(&dir).exists(), "an edit equal to the stored Score is not kept");
}
