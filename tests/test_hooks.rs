//! The pre-push hook, through real `git push`: state refs must fast-forward and parse, the
//! state ref is never deleted, and unrelated pushes pass untouched.

use crate::common::{Run, TestEnv, fixtures_dir};
use crate::test_cli::{GitRun, write_state_file};

fn setup(env: &TestEnv) -> std::path::PathBuf {
    let dir = env.repo("r");
    env.git(env.root.path(), &["init", "-q", "--bare", "remote.git"]).success_git();
    env.git(&dir, &["remote", "add", "origin", "../remote.git"]).success_git();
    dir
}

fn push(env: &TestEnv, dir: &std::path::Path, refspec: &str) -> Run {
    env.git(dir, &["push", "origin", refspec])
}

#[test]
fn a_fast_forward_of_the_state_is_pushed() {
    let env = TestEnv::new();
    let dir = setup(&env);
    push(&env, &dir, "refs/maestro/state").success_git();
    env.run(&dir, &["plan", "--from", &fixtures_dir().join("score.toml").display().to_string()]).success();
    let run = push(&env, &dir, "refs/maestro/state");
    assert_eq!(run.code, 0, "{}", run.render());
    let remote = env.git(&env.path("remote.git"), &["rev-parse", "refs/maestro/state"]).success_git();
    assert_eq!(remote.trim(), env.state_tip(&dir));
    assert_eq!(push(&env, &dir, "refs/maestro/state").code, 0, "an up-to-date push is fine");
}

#[test]
fn a_forced_rewind_of_the_state_is_refused() {
    let env = TestEnv::new();
    let dir = setup(&env);
    let first = env.state_tip(&dir);
    env.run(&dir, &["decide", "-m", "one"]).success();
    push(&env, &dir, "refs/maestro/state").success_git();
    let pushed = env.state_tip(&dir);
    env.git(&dir, &["update-ref", "refs/maestro/state", &first]).success_git();
    let run = push(&env, &dir, "+refs/maestro/state");
    assert_ne!(run.code, 0, "{}", run.render());
    assert!(run.stderr.contains("git-maestro refused the push to origin"), "{}", run.render());
    assert!(run.stderr.contains("is not a fast-forward"), "{}", run.render());
    assert!(run.stderr.contains("Hint: run `git maestro sync`"), "{}", run.render());
    let remote = env.git(&env.path("remote.git"), &["rev-parse", "refs/maestro/state"]).success_git();
    assert_eq!(remote.trim(), pushed, "the remote keeps its state");
}

#[test]
fn an_unparseable_state_is_refused() {
    let env = TestEnv::new();
    let dir = setup(&env);
    let tip = env.state_tip(&dir);
    let bad = write_state_file(&env, &dir, &tip, "scores/x/score.toml", "format = 1\nid = [\n");
    env.git(&dir, &["update-ref", "refs/maestro/state", &bad, &tip]).success_git();
    let run = push(&env, &dir, "refs/maestro/state");
    assert_ne!(run.code, 0, "{}", run.render());
    assert!(run.stderr.contains("does not parse: scores/x/score.toml does not parse"), "{}", run.render());
    let remote = env.git(&env.path("remote.git"), &["rev-parse", "-q", "--verify", "refs/maestro/state"]);
    assert_ne!(remote.code, 0, "nothing reached the remote");
}

#[test]
fn deleting_the_remote_state_is_refused_but_other_refs_pass() {
    let env = TestEnv::new();
    let dir = setup(&env);
    push(&env, &dir, "refs/maestro/state").success_git();
    let run = push(&env, &dir, ":refs/maestro/state");
    assert_ne!(run.code, 0, "{}", run.render());
    assert!(run.stderr.contains("deleting refs/maestro/state would drop every Score"), "{}", run.render());
    let run = push(&env, &dir, "main");
    assert_eq!(run.code, 0, "unrelated pushes are untouched:\n{}", run.render());
    assert!(!run.stderr.contains("git-maestro"), "{}", run.render());
}

#[test]
fn a_secret_in_a_state_file_is_refused() {
    let env = TestEnv::new();
    let dir = setup(&env);
    push(&env, &dir, "refs/maestro/state").success_git();
    env.run(&dir, &["kb", "add", "--title", "Deploy key rotation"]).success();
    let path = env
        .git(&dir, &["ls-tree", "-r", "--name-only", "refs/maestro/state", "knowledge"])
        .success_git()
        .trim()
        .to_owned();
    let text = env.git(&dir, &["show", &format!("refs/maestro/state:{path}")]).success_git();
    let leaked = text.replace("body = \"\"", "body = \"use ghp_abcdefghijklmnopqrstuvwxyz0123456789\"");
    assert_ne!(leaked, text, "{text}");
    let tip = env.state_tip(&dir);
    let bad = write_state_file(&env, &dir, &tip, &path, &leaked);
    env.git(&dir, &["update-ref", "refs/maestro/state", &bad, &tip]).success_git();
    let run = push(&env, &dir, "refs/maestro/state");
    assert_ne!(run.code, 0, "{}", run.render());
    assert!(run.stderr.contains(&format!("{path} in the state at")), "{}", run.render());
    assert!(run.stderr.contains("looks like a secret"), "{}", run.render());
    assert!(!run.stderr.contains("ghp_abc"), "the secret is not echoed: {}", run.render());
    let remote = env.git(&env.path("remote.git"), &["rev-parse", "refs/maestro/state"]).success_git();
    assert_ne!(remote.trim(), bad, "the remote keeps its state");
}

#[test]
fn a_branch_push_carrying_unapproved_or_unlanded_maestro_work_is_refused() {
    let env = TestEnv::new();
    let dir = setup(&env);
    push(&env, &dir, "main").success_git();
    let score = "format = 1\nid = \"h\"\ntarget = \"main\"\napproval = [\"human\"]\n[[tasks]]\nid = \"t\"\n";
    env.write("h.toml", score);
    env.run(&dir, &["plan", "--from", "../h.toml"]).success();
    env.run(&dir, &["approve", "h"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let fake = env!("CARGO_BIN_EXE_fake-performer");
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{fake}\"\nenv = {{ FAKE_WRITE = \"t.txt=t\" }}\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.run(&dir, &["task", "run", "h/t"]).success();
    let main = env.git(&dir, &["rev-parse", "main"]).success_git().trim().to_owned();

    // The submitted result, merged into main by hand, may not be pushed.
    env.git(&dir, &["merge", "-q", "--ff-only", "maestro/h/tasks/t"]).success_git();
    let run = push(&env, &dir, "main");
    assert_ne!(run.code, 0, "{}", run.render());
    assert!(run.stderr.contains("contains the result of h/t, which is submitted"), "{}", run.render());
    assert!(run.stderr.contains("git maestro approve h/t"), "{}", run.render());

    // Approved and merged into the integration branch: the result may go, but the integration
    // merge may not until it is landed.
    env.run(&dir, &["approve", "h/t"]).success();
    env.run(&dir, &["merge", "h/t"]).success();
    env.git(&dir, &["merge", "-q", "--ff-only", "maestro/h/integration"]).success_git();
    let run = push(&env, &dir, "main");
    assert_ne!(run.code, 0, "{}", run.render());
    assert!(run.stderr.contains("integration work of h that was never landed"), "{}", run.render());

    // Landed by git-maestro, it goes; so does the task branch itself at any time.
    env.git(&dir, &["reset", "-q", "--hard", &main]).success_git();
    env.run(&dir, &["approve", "h"]).success();
    env.run(&dir, &["land", "h"]).success();
    let run = push(&env, &dir, "main");
    assert_eq!(run.code, 0, "{}", run.render());
    assert_eq!(push(&env, &dir, "maestro/h/tasks/t").code, 0);
}
