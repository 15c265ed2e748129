//! Preparing new worktrees (issue 18): `.worktreeinclude` copies ignored files from the main
//! checkout, `[setup]` runs before the performer and its output is the baseline (never
//! committed unless the performer changes it), each live worktree gets its own ports, the
//! repository's own setup files run only when trusted config imports them, and bad input (an
//! escaping pattern, a failing or hanging setup) fails the attempt with a clear reason.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::{Run, TestEnv};
use crate::test_cli::GitRun;

/// A repository whose `.gitignore` ignores `.env` and `*.local`, with the Score `m` of three
/// independent tasks, its plan approved, worktrees under the test's temp dir. `extra` files
/// (path, content) are committed first.
fn repo(env: &TestEnv, extra: &[(&str, &str)]) -> PathBuf {
    let dir = env.repo("r");
    std::fs::write(dir.join(".gitignore"), ".env\n*.local\n").unwrap();
    for (path, content) in extra {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    env.git(&dir, &["add", "-A", ".gitignore", "src"]).success_git();
    for (path, _) in extra {
        env.git(&dir, &["add", path]).success_git();
    }
    env.git(&dir, &["commit", "-q", "-m", "ignore local files"]).success_git();
    let text = env.fixture("score-many.sh", &["m", "3"]);
    env.write("m.toml", &text);
    env.run(&dir, &["plan", "--from", "../m.toml"]).success();
    env.run(&dir, &["approve", "m"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    dir
}

/// An executable shell script at `name` in the temp root: the `command` performer.
fn script(env: &TestEnv, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = env.write(name, &format!("#!/bin/sh\ncat > /dev/null\n{body}"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Trusted config: the performer `agent` running `command` unconfined, with `performer_env`
/// (an inline table body), and `setup` (the body of a `[setup]` table; empty: none).
fn config(dir: &Path, command: &Path, performer_env: &str, setup: &str) {
    let mut text = format!(
        "[performers.agent]\nadapter = \"command\"\ncommand = \"{}\"\nsandbox = \"off\"\ntimeout = \"2m\"\n\
         env = {{ {performer_env} }}\n",
        command.display()
    );
    if !setup.is_empty() {
        text.push_str(&format!("\n[setup]\n{setup}\n"));
    }
    std::fs::write(dir.join(".maestro/config.toml"), text).unwrap();
}

fn worktree(env: &TestEnv, task: &str) -> PathBuf {
    let root = env.path("worktrees");
    let repo_dir = std::fs::read_dir(&root).unwrap().next().unwrap().unwrap().path();
    repo_dir.join("m").join(task)
}

fn task_json(env: &TestEnv, dir: &Path, task: &str) -> serde_json::Value {
    env.run(dir, &["task", "show", &format!("m/{task}"), "--json"]).success().json()
}

/// The files of the commit the last attempt of `task` recorded.
fn committed_files(env: &TestEnv, dir: &Path, task: &str) -> Vec<String> {
    let t = task_json(env, dir, task);
    let commit = t["attempts"].as_array().unwrap().last().unwrap()["commit"].as_str().unwrap().to_owned();
    let files = env.git(dir, &["ls-tree", "-r", "--name-only", &commit]).success_git();
    files.lines().map(str::to_owned).collect()
}

fn last_reason(env: &TestEnv, dir: &Path, task: &str) -> String {
    let t = task_json(env, dir, task);
    assert_eq!(t["status"], "failed", "{t:#}");
    t["attempts"].as_array().unwrap().last().unwrap()["reason"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_new_worktree_gets_the_included_files_and_the_setup_output_which_is_committed_only_when_changed() {
    let env = TestEnv::new();
    let dir = repo(&env, &[]);
    std::fs::write(dir.join(".env"), "KEY=1\n").unwrap();
    std::fs::write(dir.join("draft.txt"), "untracked, not ignored\n").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", dir.join("outside.local")).unwrap();
    std::fs::write(dir.join(".worktreeinclude"), "# copied into new worktrees\n.env\n*.local\ndraft.txt\nREADME.md\n")
        .unwrap();
    let runs = env.path("setup-runs");
    let agent = script(
        &env,
        "agent.sh",
        "[ \"$(cat .env)\" = KEY=1 ] || { echo 'no .env' >&2; exit 3; }\n\
         [ -f gen.txt ] || { echo 'the setup output is missing' >&2; exit 4; }\n\
         [ \"$(cat setup-port.txt)\" = \"$MAESTRO_PORT\" ] && [ \"$PORT\" = \"$MAESTRO_PORT\" ] || exit 5\n\
         echo changed > tweak.txt\necho run >> result.txt\n",
    );
    let setup = format!(
        "run = \"echo generated > gen.txt; echo base > tweak.txt; echo $MAESTRO_PORT > setup-port.txt; \
         echo ran >> {}\"\nsandbox = \"off\"\ntimeout = \"1m\"",
        runs.display()
    );
    config(&dir, &agent, "", &setup);
    let checked = env.run(&dir, &["performers", "--check"]).success();
    assert!(checked.stderr.contains("Worktree setup: .worktreeinclude copies .env."), "{}", checked.render());
    assert!(checked.stderr.contains("outside.local is skipped: a symbolic link"), "{}", checked.render());

    let run = env.run(&dir, &["task", "run", "m/t0"]);
    assert_eq!(run.code, 0, "the performer found .env and the setup's output:\n{}", run.render());
    let wt = worktree(&env, "t0");
    assert_eq!(std::fs::read_to_string(wt.join(".env")).unwrap(), "KEY=1\n");
    assert!(!wt.join("outside.local").exists(), "a symbolic link is never copied");
    assert!(!wt.join("draft.txt").exists(), "an untracked file that git does not ignore is not copied");
    let files = committed_files(&env, &dir, "t0");
    assert!(files.contains(&"tweak.txt".to_owned()), "the performer changed it after setup: {files:?}");
    assert!(files.contains(&"result.txt".to_owned()), "{files:?}");
    for baseline in ["gen.txt", "setup-port.txt", ".env"] {
        assert!(!files.contains(&baseline.to_owned()), "{baseline} is setup's, not the result: {files:?}");
        assert!(wt.join(baseline).exists(), "{baseline} stays in the worktree");
    }
    let commit = task_json(&env, &dir, "t0")["attempts"][0]["commit"].as_str().unwrap().to_owned();
    let tweak = env.git(&dir, &["show", &format!("{commit}:tweak.txt")]).success_git();
    assert_eq!(tweak, "changed\n");

    // A rework runs in the same worktree: it is not set up again, and setup's files stay out.
    env.run(&dir, &["reject", "m/t0", "-m", "once more"]).success();
    env.run(&dir, &["task", "run", "m/t0"]).success();
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "ran\n", "setup runs once per new worktree");
    let files = committed_files(&env, &dir, "t0");
    assert!(!files.contains(&"gen.txt".to_owned()), "{files:?}");
}

#[test]
fn a_failing_setup_fails_the_attempt_with_its_output_and_the_performer_never_starts() {
    let env = TestEnv::new();
    let dir = repo(&env, &[]);
    let marker = env.path("performer-ran");
    let agent = script(&env, "agent.sh", &format!("touch {}\necho x > out.txt\n", marker.display()));
    config(&dir, &agent, "", "run = \"echo npm ERR! missing lockfile; exit 7\"\nsandbox = \"off\"");
    let run = env.run(&dir, &["task", "run", "m/t0"]).user_error();
    assert!(run.stderr.contains("failed with exit 7"), "{}", run.render());
    assert!(run.stderr.contains("npm ERR! missing lockfile"), "the output's tail is the reason:\n{}", run.render());
    assert!(!marker.exists(), "the performer does not start without its setup");
    let reason = last_reason(&env, &dir, "t0");
    assert!(reason.starts_with("setup ([setup] run in "), "{reason}");

    // Fixed, the next run sets the same worktree up and goes on.
    config(&dir, &agent, "", "run = \"echo ok > gen.txt\"\nsandbox = \"off\"");
    env.run(&dir, &["task", "run", "m/t0"]).success();
    assert!(marker.exists() && worktree(&env, "t0").join("gen.txt").exists());
}

#[test]
fn a_hanging_setup_times_out_and_its_process_tree_is_killed() {
    let env = TestEnv::new();
    let dir = repo(&env, &[]);
    let pidfile = env.path("child.pid");
    let agent = script(&env, "agent.sh", "echo x > out.txt\n");
    let setup = format!(
        "run = \"sleep 300 & echo $! > {}; echo waiting; wait\"\ntimeout = \"1s\"\nsandbox = \"off\"",
        pidfile.display()
    );
    config(&dir, &agent, "", &setup);
    let run = env.run(&dir, &["task", "run", "m/t0"]).user_error();
    assert!(run.stderr.contains("did not finish within 1s"), "{}", run.render());
    let reason = last_reason(&env, &dir, "t0");
    assert!(reason.contains("every process it started were killed"), "{reason}");
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next().unwrap_or(' '));
    assert!(stat.is_empty() || state == Some('Z'), "the setup's background child is gone: {stat}");
}

#[test]
fn an_include_pattern_that_escapes_the_checkout_is_refused_with_its_line() {
    let env = TestEnv::new();
    let dir = repo(&env, &[]);
    std::fs::write(env.path("secret.env"), "TOKEN=x\n").unwrap();
    std::fs::write(dir.join(".worktreeinclude"), "# local files\n../secret.env\n").unwrap();
    let marker = env.path("performer-ran");
    let agent = script(&env, "agent.sh", &format!("touch {}\necho x > out.txt\n", marker.display()));
    config(&dir, &agent, "", "");
    let want = ".worktreeinclude:2: \"../secret.env\" reaches outside the repository";
    let checked = env.run(&dir, &["performers", "--check"]).user_error();
    assert!(checked.stderr.contains(want), "--check finds it before any run:\n{}", checked.render());
    let doctor = env.run(&dir, &["doctor"]).user_error();
    assert!(doctor.stdout.contains(&format!("error include     {want}")), "{}", doctor.render());
    let run = env.run(&dir, &["task", "run", "m/t0"]).user_error();
    assert!(run.stderr.contains(want), "{}", run.render());
    assert!(last_reason(&env, &dir, "t0").contains(want));
    assert!(!marker.exists(), "nothing runs in a worktree that could not be prepared");
    assert!(!worktree(&env, "t0").join("secret.env").exists());
    assert!(!worktree(&env, "t0").join("../secret.env").exists());
}

#[test]
fn two_concurrent_tasks_get_ports_that_both_can_bind_at_once() {
    let env = TestEnv::new();
    let dir = repo(&env, &[]);
    let meeting = env.path("meeting");
    std::fs::create_dir_all(&meeting).unwrap();
    // Each binds its MAESTRO_PORT, connects to it, and holds it until the other has bound its own.
    let agent = script(
        &env,
        "agent.sh",
        "exec python3 - \"$MAESTRO_PORT\" \"$MEETING\" \"$MAESTRO_TASK\" <<'EOF'\n\
         import os, socket, sys, time\n\
         port, meeting, task = int(sys.argv[1]), sys.argv[2], sys.argv[3]\n\
         s = socket.socket()\n\
         s.bind(('127.0.0.1', port))\n\
         s.listen()\n\
         socket.create_connection(('127.0.0.1', port)).close()\n\
         open(os.path.join(meeting, task), 'w').write(str(port))\n\
         for _ in range(1200):\n\
         \x20   if len(os.listdir(meeting)) >= 2:\n\
         \x20       break\n\
         \x20   time.sleep(0.05)\n\
         else:\n\
         \x20   sys.exit('the other task never held its port at the same time')\n\
         open('port.txt', 'w').write(str(port))\n\
         EOF\n",
    );
    config(&dir, &agent, &format!("MEETING = \"{}\"", meeting.display()), "");
    // Confined where the kernel allows: its own ports are among those it may connect to.
    let text = std::fs::read_to_string(dir.join(".maestro/config.toml")).unwrap();
    let confined =
        text.replace("sandbox = \"off\"", &format!("sandbox = \"auto\"\nwritable = [\"{}\"]", meeting.display()));
    std::fs::write(dir.join(".maestro/config.toml"), confined).unwrap();
    let spawn = |task: &str| {
        env.command(&dir)
            .args(["task", "run", &format!("m/{task}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("t0"), spawn("t1"));
    for child in [a, b] {
        let run: Run = child.wait_with_output().unwrap().into();
        assert_eq!(run.code, 0, "{}", run.render());
    }
    let port = |task: &str| std::fs::read_to_string(meeting.join(task)).unwrap();
    assert_ne!(port("t0"), port("t1"), "live worktrees never share a port");
    let registry = std::fs::read_to_string(env.path("home/.local/share/git-maestro/ports.toml")).unwrap();
    assert!(!registry.contains("[[block]]"), "each block is freed when its run ends:\n{registry}");
}

#[test]
fn repository_setup_files_run_only_when_trusted_config_imports_them() {
    let env = TestEnv::new();
    let conductor = r#"{"scripts": {"setup": "echo \"$CONDUCTOR_ROOT_PATH\" > conductor-ran.txt", "run": "x"}}"#;
    let codex = "version = 1\nname = \"r\"\n\n[setup]\nscript = \"echo $CODEX_WORKTREE_PATH > codex-ran.txt\"\n";
    let dir = repo(&env, &[("conductor.json", conductor), (".codex/environments/environment.toml", codex)]);
    let agent = script(&env, "agent.sh", "echo x > \"out-$MAESTRO_TASK.txt\"\n");
    config(&dir, &agent, "", "");
    let checked = env.run(&dir, &["performers", "--check"]).success();
    assert!(!checked.stderr.contains("conductor.json"), "not imported, not run:\n{}", checked.render());
    env.run(&dir, &["task", "run", "m/t0"]).success();
    assert!(!worktree(&env, "t0").join("conductor-ran.txt").exists(), "repository content never runs by itself");
    assert!(!worktree(&env, "t0").join("codex-ran.txt").exists());

    config(&dir, &agent, "", "import = [\"conductor.json\", \".codex/environments/environment.toml\"]");
    let checked = env.run(&dir, &["performers", "--check"]).success();
    assert!(
        checked.stderr.contains("Worktree setup: conductor.json (imported) runs `echo \"$CONDUCTOR_ROOT_PATH\""),
        "{}",
        checked.render()
    );
    assert!(checked.stderr.contains(".codex/environments/environment.toml (imported) runs"), "{}", checked.render());
    env.run(&dir, &["task", "run", "m/t1"]).success();
    let wt = worktree(&env, "t1");
    let root = std::fs::read_to_string(wt.join("conductor-ran.txt")).unwrap();
    assert_eq!(Path::new(root.trim()), dir.canonicalize().unwrap(), "CONDUCTOR_ROOT_PATH is the main checkout");
    let codex_ran = std::fs::read_to_string(wt.join("codex-ran.txt")).unwrap();
    assert_eq!(Path::new(codex_ran.trim()), wt, "CODEX_WORKTREE_PATH is the new worktree");
    let files = committed_files(&env, &dir, "t1");
    assert_eq!(files.iter().filter(|f| f.ends_with("-ran.txt")).count(), 0, "setup output is the baseline: {files:?}");
}

#[test]
fn checks_get_the_worktree_ports_and_a_worktree_made_again_is_set_up_again() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let score = "format = 1\nid = \"c\"\ntarget = \"main\"\napproval = [\"checks\"]\n[[tasks]]\nid = \"t0\"\nchecks = [\"ready\"]\n";
    env.write("c.toml", score);
    env.run(&dir, &["plan", "--from", "../c.toml"]).success();
    env.run(&dir, &["approve", "c"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let agent = script(&env, "agent.sh", "echo x > out.txt\n");
    config(&dir, &agent, "", "run = \"echo generated > gen.txt\"\nsandbox = \"off\"");
    let check = "test -f gen.txt && test \\\"$PORT\\\" = \\\"$MAESTRO_PORT\\\" && test \\\"$MAESTRO_PORT\\\" -ge 41000";
    let text = std::fs::read_to_string(dir.join(".maestro/config.toml")).unwrap();
    std::fs::write(dir.join(".maestro/config.toml"), format!("{text}\n[checks.ready]\nrun = \"{check}\"\n")).unwrap();
    env.run(&dir, &["task", "run", "c/t0"]).success();

    // The worktree is gone (pruned by hand); review checks the result out again, sets it up.
    let root = env.path("worktrees");
    let wt = std::fs::read_dir(&root).unwrap().next().unwrap().unwrap().path().join("c/t0");
    std::fs::remove_dir_all(&wt).unwrap();
    env.git(&dir, &["worktree", "prune"]).success_git();
    let run = env.run(&dir, &["task", "review", "c/t0"]);
    assert_eq!(run.code, 0, "the check found setup's output and its ports:\n{}", run.render());
    assert_eq!(run.stdout, "c/t0  approved\n", "{}", run.render());
    assert!(wt.join("gen.txt").exists(), "the worktree made again was set up again");
}

#[test]
fn a_setup_that_fails_in_the_integration_worktree_reverts_the_unchecked_merge() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let score = "format = 1\nid = \"p\"\ntarget = \"main\"\npost_merge_checks = [\"ok\"]\n[[tasks]]\nid = \"t0\"\n";
    env.write("p.toml", score);
    env.run(&dir, &["plan", "--from", "../p.toml"]).success();
    env.run(&dir, &["approve", "p"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let agent = script(&env, "agent.sh", "echo x > out.txt\n");
    // Setup works in the task's worktree and fails in the integration worktree.
    let setup =
        "run = \"case $MAESTRO_WORKTREE in *post-merge) echo no database >&2; exit 5;; esac\"\nsandbox = \"off\"";
    config(&dir, &agent, "", setup);
    let text = std::fs::read_to_string(dir.join(".maestro/config.toml")).unwrap();
    std::fs::write(dir.join(".maestro/config.toml"), format!("{text}\n[checks.ok]\nrun = \"true\"\n")).unwrap();
    env.run(&dir, &["task", "run", "p/t0"]).success();
    env.run(&dir, &["approve", "p/t0"]).success();
    let run = env.run(&dir, &["merge", "p/t0"]).user_error();
    assert!(run.stderr.contains("p/t0 was merged and reverted"), "{}", run.render());
    assert!(run.stderr.contains("post-merge setup ([setup] run in "), "{}", run.render());
    assert!(run.stderr.contains("no database"), "{}", run.render());
    let t = env.run(&dir, &["task", "show", "p/t0", "--json"]).success().json();
    assert_eq!(t["status"], "ready", "an unchecked merge does not stand: the task is sent back");
    assert!(t["rework"].as_str().unwrap_or_default().contains("post-merge setup"), "{t:#}");
}
