//! Loops that must end (issue 12, "Loops" and item 5): `run` with a task record it cannot use,
//! `run`'s exit status when a Score stops on something only a person can fix (and what `status`
//! says about it), and `sync` past a ref lock left by a killed writer.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use crate::common::{Run, TestEnv};
use crate::test_cli::GitRun;

/// How long a `run` here may take before it counts as spinning. Generous: each finishes in a
/// second or two; this only keeps a regression from hanging the suite.
const SAFETY: Duration = Duration::from_secs(60);

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
