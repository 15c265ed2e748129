//! Loops that must end (issue 12, "Loops" and item 5): `run` with a task record it cannot use,
//! `run`'s exit status when a Score stops on something only a person can fix (and what `status`
//! says about it), and `sync` past a ref lock left by a killed writer.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use crate::common::{Run, TestEnv};
use crate::test_cli::{GitRun, write_state_file};

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// How long a `run` here may take before it counts as spinning. Generous: each finishes in a
/// second or two; this only keeps a regression from hanging the suite.
const SAFETY: Duration = Duration::from_secs(60);

/// Repo `r` with the auto-approved Score `s` of `tasks` and a fake performer, whose check `ok`
/// passes.
fn setup(env: &TestEnv, tasks: &str, extra: &str) -> PathBuf {
    let dir = env.repo("r");
    let score = format!(
        "format = 1\nid = \"s\"\ntarget = \"main\"\napproval = [\"checks\"]\nplan_approval = \"auto\"\n{extra}\n{tasks}"
    );
    env.write("s.toml", &score);
    env.run(&dir, &["plan", "--from", "../s.toml"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\n\
         env = {{ FAKE_WRITE = \"{{task}}.txt={{task}}\", FAKE_EXIT = \"7\", FAKE_EXIT_FOR = \"broken\" }}\n\n\
         [checks.ok]\nrun = \"true\"\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    dir
}

/// Replace the file at `path` in the state with git plumbing, as a person or another tool
/// might; returns what was there.
fn rewrite_state_file(env: &TestEnv, dir: &Path, path: &str, edit: impl Fn(&str) -> String) -> String {
    let tip = env.state_tip(dir);
    let old = env.git(dir, &["show", &format!("{tip}:{path}")]).success_git();
    let new = write_state_file(env, dir, &tip, path, &edit(&old));
    env.git(dir, &["update-ref", "refs/maestro/state", &new, &tip]).success_git();
    old
}

/// `git maestro <args>`, killed if it outlives [`SAFETY`] (a failure: it spun).
fn run_bounded(env: &TestEnv, dir: &Path, args: &[&str]) -> Run {
    let mut child = env.command(dir).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Drain the pipes meanwhile, so a chatty spin cannot block on a full pipe instead.
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || std::io::read_to_string(&mut out).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(&mut err).unwrap_or_default());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > SAFETY {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = Run {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    let shown: String = run.render().chars().take(4000).collect();
    assert!(
        status.is_some(),
        "`git maestro {}` still ran after {SAFETY:?}, so it was killed:\n{shown}",
        args.join(" ")
    );
    run
}

fn state_commits(env: &TestEnv, dir: &Path) -> usize {
    env.git(dir, &["rev-list", "--count", "refs/maestro/state"]).success_git().trim().parse().unwrap()
}

fn status_of(env: &TestEnv, dir: &Path, task: &str) -> serde_json::Value {
    let board = env.run(dir, &["status", "--json"]).success().json();
    board[0]["tasks"].as_array().unwrap().iter().find(|t| t["id"] == task).cloned().unwrap()
}

/// Issue 12, item 5: a task file whose `id` disagrees with its path made `run` retry about
/// 850 times a second until killed: each round wrote (it thought) for the task at one path and
/// read it back from the other. Here `a.toml` says it is `b`, the Score's other task.
fn a_misplaced_task_record_is_reported_once_and_the_run_ends(tasks: &str) {
    let env = TestEnv::new();
    let dir = setup(&env, tasks, "");
    let original =
        rewrite_state_file(&env, &dir, "scores/s/tasks/8/2/a.toml", |t| t.replace("id = \"a\"", "id = \"b\""));
    let before = state_commits(&env, &dir);

    let run = run_bounded(&env, &dir, &["run", "s"]).user_error();
    let warning = "Warning: scores/s/tasks/8/2/a.toml: its ids place it at \"scores/s/tasks/6/e/b.toml\", not here";
    assert_eq!(run.stderr.matches(warning).count(), 1, "the record is reported once, with its path:\n{}", run.render());
    assert!(
        run.stderr.contains("Error: s cannot go on: the run cannot use scores/s/tasks/8/2/a.toml"),
        "{}",
        run.render()
    );
    assert!(run.stderr.contains("Hint: `git maestro doctor`"), "{}", run.render());
    assert!(run.stdout.contains("scores/s/tasks/8/2/a.toml cannot be used"), "{}", run.render());
    // The other tasks went on as usual: about five state writes each, not hundreds.
    let written = state_commits(&env, &dir) - before;
    assert!(written < 40, "{written} state commits for two tasks:\n{}", run.render());
    let b = env.run(&dir, &["task", "show", "s/b", "--json"]).success().json();
    assert_eq!(b["status"], "merged", "the real b went on as usual: {b:#}");
    // `status` names it too (issue 13: a record this version refuses is never used).
    let status = env.run(&dir, &["status"]).user_error();
    assert!(status.stderr.contains("scores/s/tasks/8/2/a.toml is refused: its ids place it at"), "{}", status.render());

    // Running again says the same and writes nothing.
    let again_before = state_commits(&env, &dir);
    let again = run_bounded(&env, &dir, &["run", "s"]).user_error();
    assert_eq!(again.stderr.matches(warning).count(), 1, "{}", again.render());
    assert_eq!(state_commits(&env, &dir), again_before, "{}", again.render());

    // Once a person puts the record right, the Score finishes.
    rewrite_state_file(&env, &dir, "scores/s/tasks/8/2/a.toml", |_| original.clone());
    let fixed = run_bounded(&env, &dir, &["run", "s"]).success();
    assert!(fixed.stdout.starts_with("s  done: "), "{}", fixed.render());
}

#[test]
fn a_misplaced_ready_task_record_is_reported_once_and_the_run_ends() {
    // `a` is ready: the run gave it to a worker, which ran `b` (merged) and then failed on it
    // over and over, since the error parked the task by b's record, not a's.
    a_misplaced_task_record_is_reported_once_and_the_run_ends(
        "[[tasks]]\nid = \"a\"\nchecks = [\"ok\"]\n[[tasks]]\nid = \"b\"\nchecks = [\"ok\"]\n",
    );
}

#[test]
fn a_misplaced_pending_task_record_is_reported_once_and_the_run_ends() {
    // `a` is pending on `c`: once c merged, reconciling made it ready, by writing b.toml, which
    // was not pending; it wrote nothing, said it had, and the loop went round again, silently.
    a_misplaced_task_record_is_reported_once_and_the_run_ends(
        "[[tasks]]\nid = \"c\"\nchecks = [\"ok\"]\n[[tasks]]\nid = \"a\"\ndeps = [\"c\"]\nchecks = [\"ok\"]\n\
         [[tasks]]\nid = \"b\"\nchecks = [\"ok\"]\n",
    );
}

/// Issue 12: a task whose approval chain errors stopped the run with "waits for attention"
/// and exit 0, and `status` said it waited for its checks.
#[test]
fn run_exits_1_when_a_task_stops_on_an_error_and_status_says_what_the_error_is() {
    let env = TestEnv::new();
    let dir = setup(
        &env,
        "[[tasks]]\nid = \"a\"\nchecks = [\"ok\", \"missing\"]\n[[tasks]]\nid = \"b\"\nchecks = [\"ok\"]\n",
        "",
    );
    let run = run_bounded(&env, &dir, &["run", "s"]).user_error();
    let error = "check \"missing\" is not defined in trusted config";
    assert!(run.stdout.contains(&format!("s/a stopped on an error: {error}")), "{}", run.render());
    assert!(run.stderr.contains("Error: s stopped on an error in a\n"), "{}", run.render());
    assert!(run.stderr.contains("Hint: "), "{}", run.render());
    assert!(!run.stdout.contains("waits for"), "an error is not a wait:\n{}", run.render());
    assert_eq!(status_of(&env, &dir, "b")["status"], "merged", "the other task went on");

    let a = status_of(&env, &dir, "a");
    assert_eq!(a["status"], "submitted", "{a:#}");
    assert_eq!(a["waiting_for"], "a person", "not its checks: {a:#}");
    assert_eq!(a["reason"], format!("error: {error}"), "{a:#}");
    let board = env.run(&dir, &["status"]).success().stdout;
    assert!(board.contains(&format!("a person: error: {error}\n")), "{board}");

    // With the check defined, the same run goes on and finishes.
    let config = std::fs::read_to_string(dir.join(".maestro/config.toml")).unwrap();
    std::fs::write(dir.join(".maestro/config.toml"), format!("{config}\n[checks.missing]\nrun = \"true\"\n")).unwrap();
    let run = run_bounded(&env, &dir, &["run", "s"]).success();
    assert!(run.stdout.starts_with("s  done: 2 merged\n"), "{}", run.render());
}

#[test]
fn status_says_why_a_blocked_task_stopped() {
    let env = TestEnv::new();
    let dir = setup(&env, "[[tasks]]\nid = \"broken\"\n[[tasks]]\nid = \"b\"\n", "max_attempts = 2");
    let run = run_bounded(&env, &dir, &["run", "s"]).user_error();
    assert!(run.stderr.contains("Error: s cannot finish: broken blocked"), "{}", run.render());
    let t = status_of(&env, &dir, "broken");
    assert_eq!(t["status"], "blocked", "{t:#}");
    assert_eq!(t["waiting_for"], "a person", "{t:#}");
    let why = "blocked after 2 attempts: the last run failed: the performer exited with status 7";
    assert!(t["reason"].as_str().unwrap().starts_with(why), "{t:#}");
    let board = env.run(&dir, &["status"]).success().stdout;
    assert!(board.contains(&format!("  broken  blocked  fake      2         -     a person: {why}")), "{board}");
}

#[test]
fn run_exits_1_when_no_performer_can_take_a_task_and_0_when_it_only_waits_for_a_person() {
    let env = TestEnv::new();
    let dir = setup(&env, "[[tasks]]\nid = \"a\"\nperformer = \"ghost\"\n[[tasks]]\nid = \"b\"\n", "");
    let run = run_bounded(&env, &dir, &["run", "s"]).user_error();
    assert!(
        run.stdout.contains(
            "s/a stopped on an error: no performer can take it now; candidates: fake excluded: the task names ghost"
        ),
        "{}",
        run.render()
    );
    assert!(run.stderr.contains("Error: s stopped on an error in a\n"), "{}", run.render());

    // A Score that only waits for the approval it announced is no error.
    let env = TestEnv::new();
    let dir = setup(&env, "[[tasks]]\nid = \"a\"\napproval = [\"checks\", \"human\"]\n", "");
    let run = run_bounded(&env, &dir, &["run", "s"]).success();
    assert!(run.stdout.contains("s/a waits for a person to approve or reject it"), "{}", run.render());
}

/// Issue 12, "Loops": `sync` gave up on a ref lock that a killed writer left behind; only a
/// later ordinary write removed it. It now removes a stale one as every state write does.
#[test]
fn sync_gets_past_a_state_lock_left_by_a_killed_writer() {
    let env = TestEnv::new();
    let a = env.repo("a");
    env.git(env.root.path(), &["init", "-q", "--bare", "remote.git"]).success_git();
    let remote = env.path("remote.git");
    env.git(&a, &["remote", "add", "origin", remote.to_str().unwrap()]).success_git();
    env.git(&a, &["push", "-q", "origin", "main"]).success_git();
    env.run(&a, &["decide", "-m", "first"]).success();
    env.run(&a, &["sync"]).success();
    env.git(env.root.path(), &["clone", "-q", "-b", "main", remote.to_str().unwrap(), "b"]).success_git();
    let b = env.path("b");
    env.run(&b, &["sync"]).success();

    // A writer in b died holding the state's lock, a minute ago.
    let leave_lock = || {
        let lock = b.join(".git/refs/maestro/state.lock");
        std::fs::write(&lock, format!("{}\n", env.state_tip(&b))).unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options().write(true).open(&lock).unwrap().set_modified(old).unwrap();
        lock
    };

    // Fast-forward: sync moves the state ref itself.
    env.run(&a, &["decide", "-m", "second"]).success();
    env.run(&a, &["sync"]).success();
    let lock = leave_lock();
    let run = run_bounded(&env, &b, &["sync"]).success();
    assert!(run.stdout.starts_with("fast-forwarded to origin's state"), "{}", run.render());
    assert!(run.stderr.contains("Warning: removed stale lock"), "the removal is said:\n{}", run.render());
    assert!(!lock.exists());
    assert_eq!(env.state_tip(&b), env.state_tip(&a));

    // Merge: the transaction recovers it, and sync now says so too.
    env.run(&a, &["decide", "-m", "third"]).success();
    env.run(&a, &["sync"]).success();
    env.run(&b, &["decide", "-m", "meanwhile in b"]).success();
    let lock = leave_lock();
    let run = run_bounded(&env, &b, &["sync"]).success();
    assert!(run.stdout.starts_with("merged origin's state and pushed"), "{}", run.render());
    assert!(run.stderr.contains("Warning: removed stale lock"), "{}", run.render());
    assert!(!lock.exists());
}
