//! Git config the way git has it (issue 15, item 4): `git -c` and `GIT_CONFIG_COUNT` reach
//! git-maestro when it runs as `git maestro`, booleans take git syntax, and a SHA-256
//! repository is refused clearly. git hands `-c` to subcommands in `GIT_CONFIG_PARAMETERS`,
//! which gix does not read.

use std::path::Path;

use crate::common::{Run, TestEnv, fixtures_dir};
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// `git` in `dir`, where `maestro` is git-maestro (the test PATH holds the binary), with the
/// per-command clock and seed, and without the harness's `MAESTRO_ACTOR`.
fn git_command(env: &TestEnv, dir: &Path) -> std::process::Command {
    let maestro = env.command(dir);
    let mut git = std::process::Command::new("git");
    git.env_clear();
    for (key, value) in maestro.get_envs() {
        if let (Some(value), false) = (value, key == "MAESTRO_ACTOR") {
            git.env(key, value);
        }
    }
    git.current_dir(dir).stdin(std::process::Stdio::null());
    git
}

/// `git <args>` in `dir` through [`git_command`].
fn git_maestro(env: &TestEnv, dir: &Path, args: &[&str]) -> Run {
    git_command(env, dir).args(args).output().expect("spawn git").into()
}

fn last_actor(env: &TestEnv, dir: &Path) -> String {
    let decisions = env.run(dir, &["decisions", "--json"]).success().json();
    let all = decisions.as_array().unwrap();
    all.last().unwrap()["actor"].as_str().unwrap().to_owned()
}

#[test]
fn git_c_user_name_with_a_quote_is_the_actor_of_a_decision() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    git_maestro(&env, &dir, &["-c", "user.name=Jane O'Brien", "maestro", "decide", "-m", "x"]).success();
    assert_eq!(last_actor(&env, &dir), "Jane O'Brien", "git -c user.name names the actor");
    git_maestro(&env, &dir, &["-c", "maestro.actor=zed", "maestro", "decide", "-m", "y"]).success();
    assert_eq!(last_actor(&env, &dir), "zed", "git -c maestro.actor wins over user.name");
}

#[test]
fn git_c_overrides_what_the_repository_config_says() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.git(&dir, &["config", "maestro.actor", "from-config"]).success_git();
    git_maestro(&env, &dir, &["maestro", "decide", "-m", "x"]).success();
    assert_eq!(last_actor(&env, &dir), "from-config", "without -c, .git/config is read");
    git_maestro(&env, &dir, &["-c", "maestro.actor=from-cli!", "maestro", "decide", "-m", "y"]).success();
    assert_eq!(last_actor(&env, &dir), "from-cli!", "-c beats .git/config, `!` survives git's quoting");

    // `git --config-env=<key>=<VAR>` reaches the subcommand the same way as `-c`.
    let run: Run = git_command(&env, &dir)
        .env("WHO", "Ann 'the' Env")
        .args(["--config-env=maestro.actor=WHO", "maestro", "decide", "-m", "w"])
        .output()
        .unwrap()
        .into();
    run.success();
    assert_eq!(last_actor(&env, &dir), "Ann 'the' Env", "--config-env is honoured");

    // GIT_CONFIG_COUNT (what scripts and CI set in the environment) is honoured too.
    let run: Run = {
        let mut cmd = env.command(&dir);
        cmd.env_remove("MAESTRO_ACTOR")
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "maestro.actor")
            .env("GIT_CONFIG_VALUE_0", "from-env")
            .args(["decide", "-m", "z"]);
        cmd.output().unwrap().into()
    };
    run.success();
    assert_eq!(last_actor(&env, &dir), "from-env");
}

#[test]
fn a_malformed_git_config_parameters_is_a_user_error() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let run: Run =
        env.command(&dir).env("GIT_CONFIG_PARAMETERS", "'unterminated").arg("status").output().unwrap().into();
    let run = run.user_error();
    assert!(run.stderr.contains("bogus format in GIT_CONFIG_PARAMETERS"), "{}", run.render());
}

#[test]
fn git_c_worktree_root_with_a_space_and_a_quote_places_the_task_worktree() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.run(&dir, &["plan", "--from", &fixtures_dir().join("score.toml").display().to_string()]).success();
    env.run(&dir, &["approve", "auth-tokens"]).success();
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\ntimeout = \"1m\"\nenv = {{ FAKE_WRITE = \"src/auth/token.rs=pub struct Token;\" }}\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    // Also in .git/config, so the override has something to beat.
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("ignored").to_str().unwrap()]).success_git();
    let root = env.path("work trees/it's here");
    let setting = format!("maestro.worktreeRoot={}", root.display());
    git_maestro(&env, &dir, &["-c", &setting, "maestro", "task", "run", "auth-tokens/token-types"]).success();
    let repo_dir = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("the worktree root {} from git -c is used: {e}", root.display()))
        .next()
        .unwrap()
        .unwrap()
        .path();
    let worktree = repo_dir.join("auth-tokens/token-types");
    assert!(worktree.join(".git").is_file(), "the task's worktree is at {}", worktree.display());
    assert!(!env.path("ignored").exists(), "the .git/config value lost to git -c");
}

#[test]
fn git_c_booleans_take_git_syntax_and_a_bad_one_names_its_key() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let performer = ["-c", "maestro.performer.g.adapter=command", "-c", "maestro.performer.g.command=true"];
    let with = |extra: &[&str]| {
        let mut args = performer.to_vec();
        args.extend_from_slice(extra);
        args.extend_from_slice(&["maestro", "performers", "--json"]);
        git_maestro(&env, &dir, &args)
    };
    // A key without `=` is true; git's words are accepted in any case.
    let run = with(&["-c", "maestro.performer.g.isolateHome", "-c", "maestro.performer.g.contextFile=TRUE"]).success();
    assert_eq!(run.json()[0]["name"], "g", "{}", run.render());
    with(&["-c", "maestro.performer.g.isolateHome=", "-c", "maestro.performer.g.contextFile=Off"]).success();
    let bad = with(&["-c", "maestro.performer.g.isolateHome=maybe"]).user_error();
    assert!(
        bad.stderr.contains("git config: maestro.performer.g.isolatehome: not a boolean"),
        "the problem names the key:\n{}",
        bad.render()
    );
}

#[test]
fn a_sha256_repository_is_refused_clearly_with_exit_1_and_a_hint() {
    let env = TestEnv::new();
    let dir = env.path("sha");
    env.git(env.root.path(), &["init", "-q", "--object-format=sha256", "-b", "main", "sha"]).success_git();
    env.git(&dir, &["commit", "-q", "--allow-empty", "-m", "first"]).success_git();
    env.git(&dir, &["worktree", "add", "-q", "../sha-linked"]).success_git();
    for from in [dir.clone(), env.path("sha-linked")] {
        let run = git_maestro(&env, &from, &["maestro", "init"]).user_error();
        assert!(
            run.stderr.starts_with(
                "Error: this repository uses sha256 object ids (extensions.objectFormat); git-maestro supports SHA-1 only\n"
            ),
            "no raw gix text:\n{}",
            run.render()
        );
        assert!(run.stderr.contains("Hint: use git-maestro in a SHA-1 repository"), "{}", run.render());
        assert!(!from.join(".maestro").exists(), "nothing is written:\n{}", run.render());
    }
}

#[test]
fn git_c_core_hooks_path_is_where_init_installs_the_pre_push_hook() {
    let env = TestEnv::new();
    env.fixture("repo-basic.sh", &["r"]);
    let dir = env.path("r");
    let run = git_maestro(&env, &dir, &["-c", "core.hooksPath=my hooks", "maestro", "init"]).success();
    assert!(dir.join("my hooks/pre-push").is_file(), "the hook follows git -c core.hooksPath:\n{}", run.render());
    assert!(!dir.join(".git/hooks/pre-push").exists(), "and is not put in .git/hooks:\n{}", run.render());
}
