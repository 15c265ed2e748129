//! Tasks that must never get stuck, and worktree prune that never loses work (DESIGN.md §12.3):
//! a broken or hijacked worktree, a run killed with `kill -9`, and `worktrees prune` next to
//! runs and results. Every test ends with the task out of `running` (or in it only while its
//! run is alive) and `doctor` passing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{Run, TestEnv};
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// One task `s/t` whose check `test` passes when `out.txt` exists.
const SCORE: &str = "format = 1\nid = \"s\"\ntarget = \"main\"\napproval = [\"checks\"]\n\n[[tasks]]\nid = \"t\"\n\
                     title = \"Write out\"\nspec = \"Write out.txt.\"\nchecks = [\"test\"]\n";

/// A repository with the Score `s` planned and approved, task worktrees under `worktrees/`.
fn setup(env: &TestEnv) -> PathBuf {
    let dir = env.repo("r");
    env.write("s.toml", SCORE);
    env.run(&dir, &["plan", "--from", "../s.toml"]).success();
    env.run(&dir, &["approve", "s"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    dir
}

/// Configure the one performer `p`: `command` with `env` (a TOML inline table body). Unconfined
/// and only warned of outside writes: these performers commit, detach and branch as agents
/// without git-maestro's sandbox can, which is what the repairs here are for.
fn performer(dir: &Path, command: &str, env: &str) {
    let config = format!(
        "[performers.p]\nadapter = \"command\"\ncommand = \"{command}\"\ntimeout = \"1m\"\nsandbox = \"off\"\n\
         outside_writes = \"warn\"\nenv = {{ {env} }}\n\n\
         [checks.test]\nrun = \"test -f out.txt\"\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
}

/// An executable shell script `name` in the temp root, run as a `command` performer.
fn script(env: &TestEnv, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = env.write(name, &format!("#!/bin/sh\nset -e\ncat >/dev/null\n{body}"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn run(env: &TestEnv, dir: &Path) -> Run {
    env.run(dir, &["task", "run", "s/t"])
}

fn task(env: &TestEnv, dir: &Path) -> serde_json::Value {
    env.run(dir, &["task", "show", "s/t", "--json"]).success().json()
}

/// The last attempt of `s/t`.
fn last_attempt(task: &serde_json::Value) -> serde_json::Value {
    task["attempts"].as_array().unwrap().last().unwrap().clone()
}

/// The task worktree of `s/t` (`<root>/<repo>-<id>/s/t`).
fn worktree(env: &TestEnv) -> PathBuf {
    let root = env.path("worktrees");
    std::fs::read_dir(&root).unwrap().next().unwrap().unwrap().path().join("s/t")
}

/// The status `status --json` shows for `s/t`.
fn shown_status(env: &TestEnv, dir: &Path) -> String {
    let status = env.run(dir, &["status", "--json"]).success().json();
    status[0]["tasks"][0]["status"].as_str().unwrap().to_owned()
}

#[track_caller]
fn doctor_passes(env: &TestEnv, dir: &Path) {
    let doctor = env.run(dir, &["doctor"]);
    assert_eq!(doctor.code, 0, "doctor:\n{}", doctor.render());
    let fsck = env.git(dir, &["fsck", "--no-progress", "--no-dangling"]);
    assert_eq!(fsck.code, 0, "{}", fsck.render());
}

/// A first run that fails (the performer exits 3 after writing `out.txt`), so the task may run
/// again; then the performer succeeds.
fn failed_once(env: &TestEnv, dir: &Path) {
    performer(dir, FAKE, "FAKE_WRITE = \"out.txt=first\", FAKE_EXIT = \"3\"");
    run(env, dir).user_error();
    assert_eq!(task(env, dir)["status"], "failed");
    performer(dir, FAKE, "FAKE_WRITE = \"out.txt=second\"");
}

/// Wait until `file` holds a line starting with `prefix` (FAKE_LOG), for up to 20 s.
fn wait_for_line(file: &Path, prefix: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(file).unwrap_or_default().lines().any(|l| l.starts_with(prefix)) {
        assert!(Instant::now() < deadline, "{} never said {prefix:?}", file.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The processes whose environment holds `needle`.
fn processes_with_env(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter(|e| {
            std::fs::read(e.path().join("environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
        })
        .map(|e| e.file_name().to_str().unwrap().to_owned())
        .collect()
}

/// Kill the performer a killed run left behind (its environment holds `needle`) and wait until
/// it is gone, so nothing outlives the test.
fn kill_orphans(needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pids = processes_with_env(needle);
        if pids.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "the orphaned performer {pids:?} does not go");
        let _ = std::process::Command::new("kill").arg("-9").args(&pids).status();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_worktree_that_lost_its_git_file_is_relinked_and_the_task_runs_again() {
    let env = TestEnv::new();
    let dir = setup(&env);
    failed_once(&env, &dir);
    std::fs::remove_file(worktree(&env).join(".git")).unwrap();

    let again = run(&env, &dir);
    let task = task(&env, &dir);
    assert_eq!(task["status"], "submitted", "{}\n{task:#}", again.render());
    assert!(
        last_attempt(&task)["reason"].as_str().unwrap().contains("it was relinked"),
        "the attempt tells what was repaired: {task:#}"
    );
    let wt = worktree(&env);
    assert!(wt.join(".git").is_file(), "relinked");
    let branch = env.git(&wt, &["rev-parse", "--abbrev-ref", "HEAD"]).success_git();
    assert_eq!(branch.trim(), "maestro/s/tasks/t");
    let out = env.git(&dir, &["show", "maestro/s/tasks/t:out.txt"]).success_git();
    assert_eq!(out, "second\n", "the new run's work is on the task branch");
    doctor_passes(&env, &dir);
}

#[test]
fn a_worktree_git_forgot_is_moved_aside_with_its_files_and_replaced() {
    let env = TestEnv::new();
    let dir = setup(&env);
    failed_once(&env, &dir);
    let wt = worktree(&env);
    std::fs::write(wt.join("notes.txt"), "never committed\n").unwrap();
    // Its admin dir `.git/worktrees/<id>` goes: git no longer knows the worktree.
    let admin = std::fs::read_to_string(wt.join(".git")).unwrap();
    let admin = PathBuf::from(admin.trim().strip_prefix("gitdir: ").unwrap());
    assert!(admin.starts_with(dir.join(".git/worktrees")), "{}", admin.display());
    std::fs::remove_dir_all(&admin).unwrap();

    let again = run(&env, &dir);
    let task = task(&env, &dir);
    assert_ne!(task["status"], "running", "{}", again.render());
    assert_eq!(task["status"], "submitted", "{}\n{task:#}", again.render());
    let reason = last_attempt(&task)["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("its files were moved to "), "{reason}");
    // Nothing was deleted: the old files are where the attempt says.
    let siblings: Vec<PathBuf> = std::fs::read_dir(wt.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("t.broken-"))
        .collect();
    assert_eq!(siblings.len(), 1, "{siblings:?}");
    assert!(reason.contains(&siblings[0].display().to_string()), "{reason}");
    assert_eq!(std::fs::read_to_string(siblings[0].join("notes.txt")).unwrap(), "never committed\n");
    assert_eq!(std::fs::read_to_string(siblings[0].join("out.txt")).unwrap(), "first\n");
    // A new worktree, known to git, on the task branch.
    let listed = env.run(&dir, &["worktrees", "list", "--json"]).success().json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed:#}");
    assert_eq!(listed[0]["branch"], "maestro/s/tasks/t");
    assert_eq!(listed[0]["path"], std::fs::canonicalize(&wt).unwrap().display().to_string());
    assert!(!wt.join("notes.txt").exists(), "the new worktree starts from the branch");
    doctor_passes(&env, &dir);
}

/// Run a performer script that leaves the worktree off its branch; the run must still submit
/// on the task branch. Returns the task record.
fn run_hijacker(env: &TestEnv, dir: &Path, body: &str) -> serde_json::Value {
    let performer_script = script(env, "agent.sh", body);
    performer(dir, performer_script.to_str().unwrap(), "");
    let ran = run(env, dir);
    let task = task(env, dir);
    assert_eq!(task["status"], "submitted", "{}\n{task:#}", ran.render());
    ran.success();
    let wt = worktree(env);
    let head = env.git(&wt, &["symbolic-ref", "HEAD"]).success_git();
    assert_eq!(head.trim(), "refs/heads/maestro/s/tasks/t", "the worktree is back on its branch");
    let status = env.git(&wt, &["status", "--porcelain"]).success_git();
    assert_eq!(status, "", "everything was committed");
    assert_eq!(
        last_attempt(&task)["commit"].as_str().unwrap(),
        env.git(dir, &["rev-parse", "maestro/s/tasks/t"]).success_git().trim(),
        "the result is the task branch"
    );
    doctor_passes(env, dir);
    task
}

/// The commit the attempt's reason says was kept under refs/maestro/keep/, checked to exist.
fn kept_head(env: &TestEnv, dir: &Path, task: &serde_json::Value) -> String {
    let reason = last_attempt(task)["reason"].as_str().unwrap().to_owned();
    let (_, rest) = reason.split_once("kept as ").unwrap_or_else(|| panic!("{reason}"));
    // Other notes may follow, after a "; " (on a loaded machine: a `git gc --auto` the agent's
    // commit left running, killed with the run).
    let keep = rest.split([';', ' ']).next().unwrap_or_default();
    assert!(keep.starts_with("refs/maestro/keep/"), "{reason}");
    env.git(dir, &["rev-parse", "--verify", keep]).success_git().trim().to_owned()
}

#[test]
fn a_performer_that_detaches_head_still_submits_its_work_on_the_task_branch() {
    let env = TestEnv::new();
    let dir = setup(&env);
    let task = run_hijacker(
        &env,
        &dir,
        "echo one > out.txt\ngit add out.txt\n\
         git -c user.name=agent -c user.email=a@example.com commit -q -m 'on the branch'\n\
         git checkout -q --detach\n\
         echo two > detached.txt\ngit add detached.txt\n\
         git -c user.name=agent -c user.email=a@example.com commit -q -m 'while detached'\n\
         echo three > loose.txt\n",
    );
    for (file, content) in [("out.txt", "one\n"), ("detached.txt", "two\n"), ("loose.txt", "three\n")] {
        let shown = env.git(&dir, &["show", &format!("maestro/s/tasks/t:{file}")]).success_git();
        assert_eq!(shown, content, "{file} is on the task branch");
    }
    let log = env.git(&dir, &["log", "--format=%s", "maestro/s/tasks/t"]).success_git();
    assert!(log.contains("on the branch\n"), "the agent's own commit on its branch stays: {log}");
    // The commit made while detached is kept, not left dangling.
    let kept = kept_head(&env, &dir, &task);
    let subject = env.git(&dir, &["log", "-1", "--format=%s", &kept]).success_git();
    assert_eq!(subject, "while detached\n");
}

#[test]
fn a_performer_that_switches_branch_still_submits_its_work_on_the_task_branch() {
    let env = TestEnv::new();
    let dir = setup(&env);
    let task = run_hijacker(
        &env,
        &dir,
        "git checkout -q -b agent-branch\n\
         echo one > out.txt\ngit add out.txt\n\
         git -c user.name=agent -c user.email=a@example.com commit -q -m 'on its own branch'\n\
         echo two > loose.txt\n",
    );
    for (file, content) in [("out.txt", "one\n"), ("loose.txt", "two\n")] {
        let shown = env.git(&dir, &["show", &format!("maestro/s/tasks/t:{file}")]).success_git();
        assert_eq!(shown, content, "{file} is on the task branch");
    }
    let kept = kept_head(&env, &dir, &task);
    assert_eq!(kept, env.git(&dir, &["rev-parse", "agent-branch"]).success_git().trim());
    let outside = &task["attempts"][0]["outside_writes"];
    assert_eq!(outside, &serde_json::json!(["refs/heads/agent-branch"]), "the new branch is noticed: {task:#}");
}

#[test]
fn a_task_left_running_by_a_killed_run_can_be_released_and_run_again() {
    let env = TestEnv::new();
    let dir = setup(&env);
    let log = env.path("performer.log");
    performer(
        &dir,
        FAKE,
        &format!("FAKE_LOG = \"{}\", FAKE_WRITE = \"out.txt=partial\", FAKE_HANG = \"1\"", log.display()),
    );
    let mut child = env
        .command(&dir)
        .args(["task", "run", "s/t"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_line(&log, "start ");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(worktree(&env).join("out.txt")).ok().as_deref() != Some("partial\n") {
        assert!(Instant::now() < deadline, "the performer never wrote out.txt");
        std::thread::sleep(Duration::from_millis(20));
    }

    // While the run lives, its task is not released and its worktree not pruned.
    let refused = env.run(&dir, &["task", "release", "s/t"]).user_error();
    assert!(refused.stderr.contains("s/t is being run by p"), "{}", refused.render());
    let pruned = env.run(&dir, &["worktrees", "prune", "--json"]).success().json();
    assert_eq!(pruned[0]["action"], "kept", "{pruned:#}");
    assert!(worktree(&env).exists());

    child.kill().unwrap(); // SIGKILL: no destructor, no closing transaction.
    child.wait().unwrap();
    // The performer outlives the killed run (it hangs): end it, as a person would.
    kill_orphans(&format!("FAKE_LOG={}", log.display()));
    assert_eq!(task(&env, &dir)["status"], "running", "the kill left it running");

    let released = env.run(&dir, &["task", "release", "s/t"]).success();
    assert_eq!(released.stdout, "s/t  ready  unclaimed\n", "{}", released.render());
    let t = task(&env, &dir);
    assert_eq!(t["status"], "ready");
    assert!(t["lease"].is_null() && t["claim"].is_null(), "{t:#}");
    assert_eq!(last_attempt(&t)["outcome"], "interrupted");
    assert_ne!(shown_status(&env, &dir), "running");
    let decisions = env.run(&dir, &["decisions", "--task", "s/t", "--kind", "assignment", "--json"]).success().json();
    assert!(
        decisions.as_array().unwrap().iter().any(|d| d["summary"] == "p released s/t"),
        "the release is recorded: {decisions:#}"
    );
    doctor_passes(&env, &dir);

    // The next run takes it from there: what the killed run wrote is not lost.
    performer(&dir, FAKE, "FAKE_WRITE = \"more.txt=rest\"");
    run(&env, &dir).success();
    assert_eq!(task(&env, &dir)["status"], "submitted");
    let out = env.git(&dir, &["show", "maestro/s/tasks/t:out.txt"]).success_git();
    assert_eq!(out, "partial\n");
    doctor_passes(&env, &dir);
}

#[test]
fn a_task_left_running_at_a_crash_point_is_released_and_runs_again() {
    let env = TestEnv::new();
    let dir = setup(&env);
    performer(&dir, FAKE, "FAKE_WRITE = \"out.txt=done\"");
    let crashed: Run = env
        .command(&dir)
        .args(["task", "run", "s/t"])
        .env("MAESTRO_FAILPOINTS", "task-run:worktree")
        .output()
        .unwrap()
        .into();
    assert_eq!(crashed.code, -1, "killed by SIGKILL at the failpoint:\n{}", crashed.render());
    assert_eq!(task(&env, &dir)["status"], "running");

    env.run(&dir, &["task", "release", "s/t"]).success();
    assert_eq!(task(&env, &dir)["status"], "ready");
    assert_ne!(shown_status(&env, &dir), "running");
    doctor_passes(&env, &dir);
    run(&env, &dir).success();
    assert_eq!(task(&env, &dir)["status"], "submitted");
    doctor_passes(&env, &dir);
}

#[test]
fn prune_keeps_the_worktree_of_a_submitted_task_and_review_still_works() {
    let env = TestEnv::new();
    let dir = setup(&env);
    performer(&dir, FAKE, "FAKE_WRITE = \"out.txt=done\"");
    run(&env, &dir).success();
    let pruned = env.run(&dir, &["worktrees", "prune", "--json"]).success().json();
    assert_eq!(pruned.as_array().unwrap().len(), 1, "{pruned:#}");
    assert_eq!(pruned[0]["action"], "kept", "{pruned:#}");
    assert!(pruned[0]["reason"].as_str().unwrap().contains("submitted"), "{pruned:#}");
    assert!(worktree(&env).join("out.txt").exists(), "the result waiting for review stays checked out");

    let review = env.run(&dir, &["task", "review", "s/t"]).success();
    assert_eq!(review.stdout, "s/t  approved\n", "{}", review.render());
    // An approved result waits for its merge: still kept.
    let pruned = env.run(&dir, &["worktrees", "prune", "--json"]).success().json();
    assert_eq!(pruned[0]["action"], "kept", "{pruned:#}");
    doctor_passes(&env, &dir);
}

/// `s/t` submitted with `out.txt`, then its worktree removed by hand.
fn submitted_without_its_worktree(env: &TestEnv) -> PathBuf {
    let dir = setup(env);
    performer(&dir, FAKE, "FAKE_WRITE = \"out.txt=done\"");
    run(env, &dir).success();
    std::fs::remove_dir_all(worktree(env)).unwrap();
    dir
}

#[test]
fn review_checks_out_again_a_worktree_removed_by_hand() {
    let env = TestEnv::new();
    let dir = submitted_without_its_worktree(&env);

    let review = env.run(&dir, &["task", "review", "s/t"]);
    assert_eq!(review.code, 0, "{}", review.render());
    assert_eq!(review.stdout, "s/t  approved\n", "the check found out.txt:\n{}", review.render());
    assert!(worktree(&env).join("out.txt").exists(), "checked out again");
    doctor_passes(&env, &dir);
}

/// With its branch deleted too, the result is gone: the review refuses, says which commit
/// restores the branch, changes nothing, and works once the branch is back.
#[test]
fn review_of_a_result_whose_branch_was_deleted_names_the_commit_that_restores_it() {
    let env = TestEnv::new();
    let dir = submitted_without_its_worktree(&env);
    env.git(&dir, &["worktree", "prune"]).success_git();
    env.git(&dir, &["branch", "-D", "maestro/s/tasks/t"]).success_git();
    let state = env.git(&dir, &["rev-parse", "refs/maestro/state"]).success_git();

    let review = env.run(&dir, &["task", "review", "s/t", "--json"]);
    assert_eq!(review.code, 1, "{}", review.render());
    let error = &review.json()["error"];
    assert_eq!(error["code"], "result-gone", "{error:#}");
    let commit = last_attempt(&task(&env, &dir))["commit"].as_str().unwrap().to_owned();
    let restore = format!("git branch maestro/s/tasks/t {commit}");
    assert!(error["hints"][0].as_str().unwrap().contains(&restore), "{error:#}");
    assert_eq!(env.git(&dir, &["rev-parse", "refs/maestro/state"]).success_git(), state, "nothing written");

    env.git(&dir, &["branch", "maestro/s/tasks/t", &commit]).success_git();
    let review = env.run(&dir, &["task", "review", "s/t"]).success();
    assert_eq!(review.stdout, "s/t  approved\n", "{}", review.render());
    doctor_passes(&env, &dir);
}

#[test]
fn task_run_checks_out_again_a_worktree_removed_by_hand() {
    let env = TestEnv::new();
    let dir = setup(&env);
    failed_once(&env, &dir);
    std::fs::remove_dir_all(worktree(&env)).unwrap();

    let again = run(&env, &dir);
    let task = task(&env, &dir);
    assert_eq!(task["status"], "submitted", "{}\n{task:#}", again.render());
    assert!(worktree(&env).join("out.txt").exists());
    doctor_passes(&env, &dir);
}

#[test]
fn prune_commits_a_staged_change_instead_of_dropping_it() {
    let env = TestEnv::new();
    let dir = setup(&env);
    failed_once(&env, &dir);
    let wt = worktree(&env);
    // Staged and never committed: a new file and an edit. Their blobs are in no commit yet.
    std::fs::write(wt.join("staged.txt"), "staged, not committed\n").unwrap();
    std::fs::write(wt.join("README.md"), "# Demo\nstaged edit\n").unwrap();
    env.git(&wt, &["add", "staged.txt", "README.md"]).success_git();
    let blobs: Vec<String> = ["staged.txt", "README.md"]
        .iter()
        .map(|f| env.git(&wt, &["rev-parse", &format!(":{f}")]).success_git().trim().to_owned())
        .collect();
    let before = env.git(&dir, &["rev-parse", "maestro/s/tasks/t"]).success_git().trim().to_owned();

    let pruned = env.run(&dir, &["worktrees", "prune", "--json"]).success().json();
    assert_eq!(pruned[0]["action"], "archived", "{pruned:#}");
    let tip = pruned[0]["tip"].as_str().unwrap().to_owned();
    assert_ne!(tip, before, "a new commit holds the staged work");
    assert!(!wt.exists(), "the failed task's worktree was pruned");
    env.git(&dir, &["rev-parse", "--verify", &format!("refs/maestro/keep/{tip}")]).success_git();
    assert_eq!(env.git(&dir, &["rev-parse", "maestro/s/tasks/t"]).success_git().trim(), tip, "on the task branch");
    for (file, blob) in ["staged.txt", "README.md"].iter().zip(&blobs) {
        let at_tip = env.git(&dir, &["rev-parse", &format!("{tip}:{file}")]).success_git();
        assert_eq!(at_tip.trim(), blob, "the staged blob of {file} is committed");
    }
    let subject = env.git(&dir, &["log", "-1", "--format=%B", &tip]).success_git();
    assert!(subject.contains("Maestro-Task: t"), "{subject}");
    doctor_passes(&env, &dir);
}

#[test]
fn prune_recovers_a_task_left_running_by_a_killed_run_and_keeps_its_work() {
    let env = TestEnv::new();
    let dir = setup(&env);
    performer(&dir, FAKE, "FAKE_WRITE = \"out.txt=unsaved\"");
    // Killed after the performer wrote its work, before maestro committed it.
    let crashed: Run = env
        .command(&dir)
        .args(["task", "run", "s/t"])
        .env("MAESTRO_FAILPOINTS", "task-run:performed")
        .output()
        .unwrap()
        .into();
    assert_eq!(crashed.code, -1, "{}", crashed.render());
    assert_eq!(task(&env, &dir)["status"], "running");
    assert!(worktree(&env).join("out.txt").exists(), "the work is in the worktree, uncommitted");

    let pruned = env.run(&dir, &["worktrees", "prune", "--json"]).success().json();
    let tip = pruned[0]["tip"].as_str().unwrap_or_else(|| panic!("{pruned:#}")).to_owned();
    assert_eq!(env.git(&dir, &["show", &format!("{tip}:out.txt")]).success_git(), "unsaved\n", "its work is committed");
    env.git(&dir, &["rev-parse", "--verify", &format!("refs/maestro/keep/{tip}")]).success_git();

    let t = task(&env, &dir);
    assert_eq!(t["status"], "ready", "released: {t:#}");
    assert!(t["lease"].is_null() && t["claim"].is_null(), "{t:#}");
    let attempt = last_attempt(&t);
    assert_eq!(attempt["outcome"], "interrupted");
    let reason = attempt["reason"].as_str().unwrap();
    assert!(reason.contains("its run was gone") && reason.contains(&tip[..12]), "{reason}");
    let decisions = env.run(&dir, &["decisions", "--task", "s/t", "--kind", "assignment", "--json"]).success().json();
    let released = decisions.as_array().unwrap().iter().find(|d| d["summary"].as_str().unwrap().contains("released"));
    assert!(released.is_some_and(|d| d["summary"].as_str().unwrap().contains(reason)), "{decisions:#}");
    assert_ne!(shown_status(&env, &dir), "running");
    doctor_passes(&env, &dir);

    // The next run stands on the recovered work.
    run(&env, &dir).success();
    assert_eq!(task(&env, &dir)["status"], "submitted");
    assert_eq!(env.git(&dir, &["show", "maestro/s/tasks/t:out.txt"]).success_git(), "unsaved\n");
}

#[test]
fn prune_keeps_a_staged_version_that_the_file_on_disk_no_longer_has() {
    let env = TestEnv::new();
    let dir = setup(&env);
    failed_once(&env, &dir);
    let wt = worktree(&env);
    // Staged, then the file is put back as HEAD has it: only the index holds the edit.
    std::fs::write(wt.join("README.md"), "# Demo\nstaged edit\n").unwrap();
    env.git(&wt, &["add", "README.md"]).success_git();
    std::fs::write(wt.join("README.md"), "# Demo\n").unwrap();
    let blob = env.git(&wt, &["rev-parse", ":README.md"]).success_git().trim().to_owned();

    let pruned = env.run(&dir, &["worktrees", "prune", "--json"]).success().json();
    assert_eq!(pruned[0]["reason"], "it had uncommitted changes, now committed", "{pruned:#}");
    let reachable = env.git(&dir, &["rev-list", "--objects", "--all"]).success_git();
    assert!(reachable.contains(&blob), "the staged blob {blob} is reachable from a ref:\n{pruned:#}");
}
