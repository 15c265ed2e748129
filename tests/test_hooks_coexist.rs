//! The pre-push verifier next to the user's own hooks, through real `git push` to a local bare
//! remote: plain `.git/hooks`, an existing hook, a `core.hooksPath` outside and inside the work
//! tree, and real husky 9 (pinned in fixtures/husky). After `init` both the user's hook and the
//! verifier run; `init` twice changes nothing; `doctor` reports a verifier a hook manager
//! overwrote, and `init --hooks` repairs it.
//!
//! The verifier is seen at work by a push it must refuse: a commit that claims to be the result
//! of a task this state does not know. The user's hook is seen by the marker file it writes,
//! holding the refs it read on stdin (so stdin still reaches it).

use std::path::{Path, PathBuf};

use crate::common::{Run, TestEnv, fixtures_dir, required_tool, which};
use crate::test_cli::GitRun;

/// A repository with a bare remote, not yet initialised.
fn repo(env: &TestEnv) -> PathBuf {
    env.fixture("repo-basic.sh", &["r"]);
    env.git(env.root.path(), &["init", "-q", "--bare", "remote.git"]).success_git();
    let dir = env.path("r");
    env.git(&dir, &["remote", "add", "origin", "../remote.git"]).success_git();
    dir
}

/// A user hook body that appends the refs it reads on stdin to `marker`, and fails with
/// status 3 while `deny` exists.
fn user_hook(env: &TestEnv) -> String {
    let marker = env.path("marker").display().to_string();
    let deny = env.path("deny").display().to_string();
    format!(
        "while read local rest; do echo \"user hook: $local $1\" >> '{marker}'; done\n\
         if [ -e '{deny}' ]; then echo 'user hook says no' >&2; exit 3; fi\n"
    )
}

fn marker(env: &TestEnv) -> String {
    std::fs::read_to_string(env.path("marker")).unwrap_or_default()
}

fn write_exec(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::process::Command::new("chmod").arg("+x").arg(path).status().unwrap();
}

fn push(env: &TestEnv, dir: &Path) -> Run {
    env.git(dir, &["push", "origin", "main"])
}

/// The verifier refuses a push carrying an unknown task's result, and the user's hook runs
/// (with the refs on stdin) on a push it lets through, whose status it decides.
#[track_caller]
fn both_hooks_run(env: &TestEnv, dir: &Path) {
    let trailers = "Maestro-Score: s\nMaestro-Task: t\nMaestro-Run: r1";
    env.git(dir, &["commit", "-q", "--allow-empty", "-m", "forged result", "-m", trailers]).success_git();
    let refused = push(env, dir);
    assert_ne!(refused.code, 0, "the verifier ran and refused:\n{}", refused.render());
    assert!(refused.stderr.contains("git-maestro refused the push to origin"), "{}", refused.render());
    assert!(refused.stderr.contains("the result of s/t, which this state does not know"), "{}", refused.render());
    env.git(dir, &["reset", "-q", "--hard", "HEAD~1"]).success_git();

    let before = marker(env).lines().count();
    env.git(dir, &["commit", "-q", "--allow-empty", "-m", "ordinary"]).success_git();
    std::fs::write(env.path("deny"), "").unwrap();
    let denied = push(env, dir);
    assert_ne!(denied.code, 0, "the user's hook decides:\n{}", denied.render());
    assert!(denied.stderr.contains("user hook says no"), "{}", denied.render());
    std::fs::remove_file(env.path("deny")).unwrap();
    let ok = push(env, dir);
    assert_eq!(ok.code, 0, "{}", ok.render());
    let lines: Vec<String> = marker(env).lines().skip(before).map(str::to_owned).collect();
    assert_eq!(
        lines,
        ["user hook: refs/heads/main origin", "user hook: refs/heads/main origin"],
        "the user's hook ran on both pushes, with the refs on stdin and the remote as $1"
    );
}

/// git pushing as a teammate without git-maestro on PATH would.
fn push_without_maestro(env: &TestEnv, dir: &Path) -> Run {
    let system = std::env::var("PATH").unwrap_or_default();
    let maestro_dirs: Vec<_> = std::env::split_paths(&system).filter(|d| d.join("git-maestro").exists()).collect();
    assert!(maestro_dirs.is_empty(), "git-maestro must not be on the system PATH for this test: {maestro_dirs:?}");
    let out = env.base_command("git").current_dir(dir).env("PATH", system).args(["push", "origin", "main"]).output();
    out.expect("spawn git").into()
}

fn hook_finding(env: &TestEnv, dir: &Path) -> serde_json::Value {
    let run = env.run(dir, &["doctor", "--json"]);
    let findings = run.json();
    let hook = findings.as_array().unwrap().iter().find(|f| f["check"] == "hook").cloned();
    hook.unwrap_or_else(|| panic!("doctor has a hook finding:\n{}", run.render()))
}

#[test]
fn plain_hooks_dir_runs_the_verifier_and_init_twice_changes_nothing() {
    let env = TestEnv::new();
    let dir = repo(&env);
    let first = env.run(&dir, &["init"]).success();
    assert!(first.stdout.contains("created  "), "{}", first.render());
    let hook = std::fs::read_to_string(dir.join(".git/hooks/pre-push")).unwrap();
    let again = env.run(&dir, &["init"]).success();
    assert!(again.stdout.contains("kept     "), "{}", again.render());
    assert_eq!(std::fs::read_to_string(dir.join(".git/hooks/pre-push")).unwrap(), hook, "init twice changes nothing");
    let hooks = env.run(&dir, &["init", "--hooks", "--json"]).success().json();
    assert_eq!(hooks["hook"]["action"], "already-installed", "{hooks:#}");
    assert!(hooks.get("state").is_none() && hooks.get("files").is_none(), "--hooks does only the hooks: {hooks:#}");
    assert_eq!(hook_finding(&env, &dir)["status"], "ok");

    // Without a user hook, only the verifier: it refuses, and lets the ordinary push through.
    let trailers = "Maestro-Score: s\nMaestro-Task: t\nMaestro-Run: r1";
    env.git(&dir, &["commit", "-q", "--allow-empty", "-m", "forged", "-m", trailers]).success_git();
    let refused = push(&env, &dir);
    assert!(refused.stderr.contains("which this state does not know"), "{}", refused.render());
    env.git(&dir, &["reset", "-q", "--hard", "HEAD~1"]).success_git();
    assert_eq!(push(&env, &dir).code, 0);
}

#[test]
fn an_existing_pre_push_hook_keeps_running_and_an_overwritten_shim_is_reported_and_repaired() {
    let env = TestEnv::new();
    let dir = repo(&env);
    let hook = dir.join(".git/hooks/pre-push");
    let user = format!("#!/bin/sh\n{}", user_hook(&env));
    write_exec(&hook, &user);
    let run = env.run(&dir, &["init"]).success();
    assert!(run.stdout.contains("chained  "), "{}", run.render());
    both_hooks_run(&env, &dir);
    env.run(&dir, &["init"]).success();
    both_hooks_run(&env, &dir);

    // A tool writes the user's hook again over the shim (as hook managers do on reinstall).
    write_exec(&hook, &user);
    let found = hook_finding(&env, &dir);
    assert_eq!(found["status"], "error", "{found:#}");
    assert!(found["detail"].as_str().unwrap().contains("was overwritten"), "{found:#}");
    assert_eq!(found["hint"], "run `git maestro init --hooks` to put it back");
    let doctor = env.run(&dir, &["doctor"]).user_error();
    assert!(doctor.stdout.contains("Hint: run `git maestro init --hooks`"), "{}", doctor.render());
    let repaired = env.run(&dir, &["init", "--hooks"]).success();
    assert!(repaired.stderr.contains("Repaired: removed "), "{}", repaired.render());
    assert_eq!(hook_finding(&env, &dir)["status"], "ok");
    both_hooks_run(&env, &dir);

    // Two different hooks of the user's are never merged by guesswork: nothing changes.
    write_exec(&hook, "#!/bin/sh\nexit 0\n");
    let refused = env.run(&dir, &["init", "--hooks"]).user_error();
    assert!(refused.stderr.contains("both are yours"), "{}", refused.render());
    assert!(refused.stderr.contains("Hint: combine the two"), "{}", refused.render());
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), "#!/bin/sh\nexit 0\n");
}

#[test]
fn a_core_hooks_path_outside_the_work_tree_is_chained() {
    let env = TestEnv::new();
    let dir = repo(&env);
    let shared = env.path("shared-hooks");
    write_exec(&shared.join("pre-push"), &format!("#!/bin/sh\n{}", user_hook(&env)));
    env.git(&dir, &["config", "core.hooksPath", shared.to_str().unwrap()]).success_git();
    let run = env.run(&dir, &["init"]).success();
    assert!(run.stdout.contains(&format!("chained  {}", shared.join("pre-push").display())), "{}", run.render());
    assert!(!dir.join(".git/hooks/pre-push").exists(), "{}", run.render());
    both_hooks_run(&env, &dir);
    assert_eq!(hook_finding(&env, &dir)["status"], "ok");
}

#[test]
fn a_tracked_core_hooks_path_script_gets_one_line_that_a_teammate_without_git_maestro_ignores() {
    let env = TestEnv::new();
    let dir = repo(&env);
    let script = dir.join(".githooks/pre-push");
    write_exec(&script, &format!("#!/bin/sh\n{}", user_hook(&env)));
    env.git(&dir, &["add", ".githooks"]).success_git();
    env.git(&dir, &["commit", "-q", "-m", "hooks"]).success_git();
    env.git(&dir, &["config", "core.hooksPath", ".githooks"]).success_git();
    let run = env.run(&dir, &["init"]).success();
    assert!(run.stdout.contains("added    "), "{}", run.render());
    let text = std::fs::read_to_string(&script).unwrap();
    assert_eq!(text.lines().filter(|l| l.contains("git-maestro")).count(), 1, "one line:\n{text}");
    assert!(text.ends_with(&user_hook(&env)), "the user's script is kept as it was:\n{text}");
    let status = env.git(&dir, &["status", "--porcelain", "--", ".githooks"]).success_git();
    assert_eq!(status, " M .githooks/pre-push\n", "the tracked file is edited in place, never moved");
    assert!(run.stderr.contains("commit .githooks/pre-push"), "{}", run.render());
    env.run(&dir, &["init"]).success();
    assert_eq!(std::fs::read_to_string(&script).unwrap(), text, "init twice changes nothing");
    env.git(&dir, &["commit", "-q", "-am", "verify pushes with git-maestro"]).success_git();
    both_hooks_run(&env, &dir);

    // A teammate without git-maestro: the line does nothing, the user's hook still decides.
    let trailers = "Maestro-Score: s\nMaestro-Task: t\nMaestro-Run: r1";
    env.git(&dir, &["commit", "-q", "--allow-empty", "-m", "forged", "-m", trailers]).success_git();
    let before = marker(&env).lines().count();
    let pushed = push_without_maestro(&env, &dir);
    assert_eq!(pushed.code, 0, "{}", pushed.render());
    assert_eq!(marker(&env).lines().count(), before + 1, "the user's hook ran:\n{}", pushed.render());
}

/// husky's own binary from fixtures/husky (what `npx husky` and `npm install` run), or `None`
/// after a loud skip when it is not installed (a failure under MAESTRO_E2E_REQUIRED=1).
fn husky_bin() -> Option<PathBuf> {
    let bin = fixtures_dir().join("husky/node_modules/husky/bin.js");
    let found = bin.is_file() && which("node").is_some();
    required_tool("husky 9.1.7 (and node)", found, "run `npm ci --prefix fixtures/husky`").then_some(bin)
}

fn husky_install(env: &TestEnv, dir: &Path, bin: &Path) {
    let out = env.base_command("node").current_dir(dir).arg(bin).output().expect("spawn node");
    let run = Run::from(out);
    assert_eq!(run.code, 0, "husky installs:\n{}", run.render());
    let path = env.git(dir, &["config", "core.hooksPath"]).success_git();
    assert_eq!(path.trim(), ".husky/_", "husky 9 set core.hooksPath");
}

#[test]
fn husky_keeps_running_the_users_hook_and_a_reinstall_is_reported_and_repaired() {
    let env = TestEnv::new();
    let Some(bin) = husky_bin() else { return };
    let dir = repo(&env);
    husky_install(&env, &dir, &bin);
    let script = dir.join(".husky/pre-push");
    std::fs::write(&script, user_hook(&env)).unwrap();
    env.git(&dir, &["add", ".husky/pre-push"]).success_git();
    env.git(&dir, &["commit", "-q", "-m", "husky hook"]).success_git();

    let run = env.run(&dir, &["init"]).success();
    assert!(run.stdout.contains(&format!("added    {}", script.display())), "{}", run.render());
    assert!(!dir.join(".husky/_/pre-push.maestro-chained").exists(), "husky's directory is left alone");
    env.run(&dir, &["init"]).success();
    env.git(&dir, &["commit", "-q", "-am", "verify pushes with git-maestro"]).success_git();
    both_hooks_run(&env, &dir);

    // `npm install` runs husky again: it rewrites .husky/_, and nothing of ours was there.
    husky_install(&env, &dir, &bin);
    let found = hook_finding(&env, &dir);
    assert_eq!(found["status"], "ok", "{found:#}");
    both_hooks_run(&env, &dir);

    // The user rewrites .husky/pre-push without the line: reported, and repaired.
    std::fs::write(&script, user_hook(&env)).unwrap();
    env.git(&dir, &["commit", "-q", "-am", "rewrite the hook"]).success_git();
    let found = hook_finding(&env, &dir);
    assert_eq!(found["status"], "error", "{found:#}");
    assert!(found["detail"].as_str().unwrap().contains("was removed from"), "{found:#}");
    env.run(&dir, &["init", "--hooks"]).success();
    assert_eq!(hook_finding(&env, &dir)["status"], "ok");
    env.git(&dir, &["commit", "-q", "-am", "verify pushes again"]).success_git();
    both_hooks_run(&env, &dir);
}

#[test]
fn husky_broken_by_an_older_install_is_reported_and_repaired_after_a_reinstall() {
    let env = TestEnv::new();
    let Some(bin) = husky_bin() else { return };
    let dir = repo(&env);
    husky_install(&env, &dir, &bin);
    let script = dir.join(".husky/pre-push");
    std::fs::write(&script, user_hook(&env)).unwrap();
    env.run(&dir, &["init"]).success();
    std::fs::write(&script, user_hook(&env)).unwrap();

    // What an older git-maestro did: the shim in place of husky's runner, which it moved aside.
    let runner = dir.join(".husky/_/pre-push");
    std::fs::rename(&runner, dir.join(".husky/_/pre-push.maestro-chained")).unwrap();
    write_exec(&runner, include_str!("../hooks/pre-push"));
    let found = hook_finding(&env, &dir);
    assert_eq!(found["status"], "error", "{found:#}");
    assert!(found["detail"].as_str().unwrap().contains("replaced husky's runner"), "{found:#}");
    env.git(&dir, &["commit", "-q", "--allow-empty", "-m", "ordinary"]).success_git();
    assert_eq!(push(&env, &dir).code, 0);
    assert_eq!(marker(&env), "", "the user's .husky/pre-push did not run: the bug being repaired");

    // `npm install` puts husky's runner back: now the verifier is gone.
    husky_install(&env, &dir, &bin);
    let found = hook_finding(&env, &dir);
    assert_eq!(found["status"], "error", "{found:#}");
    assert!(found["detail"].as_str().unwrap().contains("was overwritten"), "{found:#}");
    let repaired = env.run(&dir, &["init", "--hooks"]).success();
    assert!(repaired.stderr.contains("left by an older install"), "{}", repaired.render());
    assert!(!dir.join(".husky/_/pre-push.maestro-chained").exists());
    assert_eq!(hook_finding(&env, &dir)["status"], "ok");
    both_hooks_run(&env, &dir);
}

#[test]
fn git_c_core_hooks_path_is_followed_by_init_and_doctor() {
    let env = TestEnv::new();
    let dir = repo(&env);
    let git_maestro = |args: &[&str]| -> Run {
        let mut cmd = env.base_command("git");
        cmd.current_dir(&dir).args(["-c", "core.hooksPath=my hooks", "maestro"]).args(args);
        cmd.output().expect("spawn git").into()
    };
    git_maestro(&["init"]).success();
    assert!(dir.join("my hooks/pre-push").is_file());
    let doctor = git_maestro(&["doctor", "--json"]).success().json();
    let hook = doctor.as_array().unwrap().iter().find(|f| f["check"] == "hook").unwrap().clone();
    assert_eq!(hook["status"], "ok", "{hook:#}");
    let plain = hook_finding(&env, &dir);
    assert_eq!(plain["status"], "error", "without -c, git runs .git/hooks, which lacks the verifier: {plain:#}");
}

/// The pre-commit framework (pinned, from PyPI) in a venv of its own under `dir`, or `None`
/// (after saying so) when it cannot be installed and it is not required.
fn pre_commit(dir: &Path) -> Option<PathBuf> {
    let venv = dir.join("venv");
    let venv_arg = venv.display().to_string();
    let steps = [
        (PathBuf::from("python3"), vec!["-m", "venv", venv_arg.as_str()]),
        (venv.join("bin/pip"), vec!["install", "--quiet", "--disable-pip-version-check", "pre-commit==4.3.0"]),
    ];
    for (program, args) in steps {
        // pip runs with the developer's environment: its index, proxy and certificate settings.
        let out = std::process::Command::new(&program).args(&args).stdin(std::process::Stdio::null()).output();
        let failure = match out {
            Ok(out) if out.status.success() => continue,
            Ok(out) => format!("{} {args:?} failed:\n{}", program.display(), String::from_utf8_lossy(&out.stderr)),
            Err(e) => format!("cannot run {}: {e}", program.display()),
        };
        required_tool(
            "the pre-commit framework",
            false,
            &format!("{failure}\n(install python3-venv; pip must reach its index)"),
        );
        return None;
    }
    Some(venv.join("bin/pre-commit"))
}

fn pre_commit_install(env: &TestEnv, dir: &Path, bin: &Path) -> Run {
    let mut cmd = env.base_command(bin.to_str().unwrap());
    cmd.current_dir(dir).args(["install", "--hook-type", "pre-push"]);
    let run = Run::from(cmd.output().expect("spawn pre-commit"));
    assert_eq!(run.code, 0, "pre-commit installs:\n{}", run.render());
    run
}

/// A pre-commit config with one local hook that appends to the marker file.
fn pre_commit_config(env: &TestEnv, dir: &Path) {
    let marker = env.path("marker").display().to_string();
    let config = format!(
        "repos:\n-   repo: local\n    hooks:\n    -   id: mark\n        name: mark\n        \
         entry: sh -c 'echo pre-commit hook >> {marker}'\n        language: system\n        \
         stages: [pre-push]\n        pass_filenames: false\n        always_run: true\n"
    );
    std::fs::write(dir.join(".pre-commit-config.yaml"), config).unwrap();
}

#[test]
fn the_pre_commit_framework_runs_the_verifier_as_its_legacy_hook_in_either_order() {
    let env = TestEnv::new();
    let Some(bin) = pre_commit(env.root.path()) else { return };
    let dir = repo(&env);
    pre_commit_config(&env, &dir);

    // pre-commit first: the verifier becomes the legacy hook pre-commit runs before its own.
    pre_commit_install(&env, &dir, &bin);
    let run = env.run(&dir, &["init"]).success();
    let legacy = dir.join(".git/hooks/pre-push.legacy");
    assert!(run.stdout.contains(&format!("created  {}", legacy.display())), "{}", run.render());
    let trailers = "Maestro-Score: s\nMaestro-Task: t\nMaestro-Run: r1";
    env.git(&dir, &["commit", "-q", "--allow-empty", "-m", "forged", "-m", trailers]).success_git();
    let refused = push(&env, &dir);
    assert_ne!(refused.code, 0, "{}", refused.render());
    assert!(refused.stderr.contains("which this state does not know"), "{}", refused.render());
    env.git(&dir, &["reset", "-q", "--hard", "HEAD~1"]).success_git();
    std::fs::remove_file(env.path("marker")).unwrap();
    env.git(&dir, &["commit", "-q", "--allow-empty", "-m", "ordinary"]).success_git();
    let ok = push(&env, &dir);
    assert_eq!(ok.code, 0, "{}", ok.render());
    assert_eq!(marker(&env), "pre-commit hook\n", "pre-commit's own hooks ran:\n{}", ok.render());
    pre_commit_install(&env, &dir, &bin);
    assert!(env.run(&dir, &["init"]).success().stdout.contains("kept     "), "init twice changes nothing");
    assert_eq!(hook_finding(&env, &dir)["status"], "ok");

    // git-maestro first: `pre-commit install` moves the shim to pre-push.legacy itself. (The
    // first environment, and so the venv, lives on, shadowed.)
    let env = TestEnv::new();
    let dir = repo(&env);
    pre_commit_config(&env, &dir);
    env.run(&dir, &["init"]).success();
    let run = pre_commit_install(&env, &dir, &bin);
    assert!(run.stdout.contains("migration mode"), "{}", run.render());
    assert_eq!(hook_finding(&env, &dir)["status"], "ok");
    env.git(&dir, &["commit", "-q", "--allow-empty", "-m", "ordinary"]).success_git();
    assert_eq!(push(&env, &dir).code, 0);
    assert_eq!(marker(&env), "pre-commit hook\n");

    // What an older git-maestro left once pre-commit was installed again: pre-commit's hook
    // chained behind the shim that pre-commit runs as its legacy hook. Every push failed.
    let hooks = dir.join(".git/hooks");
    std::fs::copy(hooks.join("pre-push"), hooks.join("pre-push.maestro-chained")).unwrap();
    env.git(&dir, &["commit", "-q", "--allow-empty", "-m", "another"]).success_git();
    let failed = push(&env, &dir);
    assert_ne!(failed.code, 0, "the state being repaired:\n{}", failed.render());
    let found = hook_finding(&env, &dir);
    assert_eq!(found["status"], "error", "{found:#}");
    assert!(found["detail"].as_str().unwrap().contains("refuses to run from its own legacy hook"), "{found:#}");
    let repaired = env.run(&dir, &["init", "--hooks"]).success();
    assert!(repaired.stderr.contains("Repaired: removed "), "{}", repaired.render());
    assert_eq!(hook_finding(&env, &dir)["status"], "ok");
    assert_eq!(push(&env, &dir).code, 0);
}
