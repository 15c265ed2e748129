//! Reliability: contention (T1), claim races (T2), and kill -9 during writes (T3).

use std::collections::{BTreeMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use crate::common::{Run, TestEnv};

fn plan_many(env: &TestEnv, dir: &std::path::Path, id: &str, n: usize) {
    let text = env.fixture("score-many.sh", &[id, &n.to_string()]);
    let file = env.write(&format!("{id}.toml"), &text);
    env.run(dir, &["plan", "--from", file.to_str().unwrap()]).success();
}

/// T1: 8 processes × 250 writes, half claims of distinct tasks, half decision appends.
#[test]
fn t1_contention_loses_no_write() {
    const PROCS: usize = 8;
    const WRITES: usize = 250;
    let env = TestEnv::new();
    let dir = env.repo("r");
    plan_many(&env, &dir, "load", PROCS * WRITES / 2);
    std::thread::scope(|s| {
        for p in 0..PROCS {
            let (env, dir) = (&env, &dir);
            s.spawn(move || {
                for i in 0..WRITES {
                    let run = if i % 2 == 0 {
                        let task = format!("load/t{}", p * WRITES / 2 + i / 2);
                        env.run(dir, &["task", "claim", &task, "--as", &format!("w{p}")])
                    } else {
                        env.run(dir, &["decide", "-m", &format!("w{p} decision {i}")])
                    };
                    assert_eq!(run.code, 0, "writer {p}, write {i}:\n{}", run.render());
                }
            });
        }
    });
    let tasks = env.run(&dir, &["task", "list", "load", "--json"]).success().json();
    for t in tasks.as_array().unwrap() {
        let n: usize = t["id"].as_str().unwrap()[1..].parse().unwrap();
        assert_eq!(t["claim"]["holder"], format!("w{}", n / (WRITES / 2)), "claim of {} is lost", t["id"]);
    }
    let decisions = env.run(&dir, &["decisions", "--json"]).success().json();
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mut summaries = HashSet::new();
    for d in decisions.as_array().unwrap() {
        *by_kind.entry(d["kind"].as_str().unwrap().to_owned()).or_default() += 1;
        assert!(summaries.insert(d["summary"].as_str().unwrap().to_owned()), "duplicate decision {d}");
    }
    let total = PROCS * WRITES;
    assert_eq!(by_kind["design"] + by_kind["assignment"], total, "every write left its decision record: {by_kind:?}");
    assert_eq!(by_kind["design"], total / 2);
    let log = env.run(&dir, &["log", "--json"]).success().json();
    assert_eq!(log.as_array().unwrap().len(), total + 2, "one state commit per write, plus init and plan");
    let fsck = env.git(&dir, &["fsck", "--no-progress"]);
    assert_eq!(fsck.code, 0, "{}", fsck.render());
}

/// T2: 16 processes race to claim each of 20 tasks; exactly one wins each.
#[test]
fn t2_claim_race_has_exactly_one_winner_per_task() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    plan_many(&env, &dir, "race", 20);
    for t in 0..20 {
        let task = format!("race/t{t}");
        let children: Vec<_> = (0..16)
            .map(|p| {
                env.command(&dir)
                    .args(["task", "claim", &task, "--as", &format!("p{p}"), "--json"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let runs: Vec<Run> = children.into_iter().map(|c| c.wait_with_output().unwrap().into()).collect();
        let winners: Vec<usize> = (0..16).filter(|p| runs[*p].code == 0).collect();
        assert_eq!(winners.len(), 1, "{task}: winners {winners:?}");
        let winner = format!("p{}", winners[0]);
        for (p, run) in runs.iter().enumerate().filter(|(p, _)| *p != winners[0]) {
            assert_eq!(run.code, 1, "loser p{p}:\n{}", run.render());
            assert_eq!(run.json()["error"]["code"], "already-claimed", "p{p}:\n{}", run.render());
            assert!(
                run.stderr.contains(&format!("already claimed by {winner}")),
                "the loser is told who won:\n{}",
                run.render()
            );
        }
        let shown = env.run(&dir, &["task", "show", &task, "--json"]).success().json();
        assert_eq!(shown["claim"]["holder"], winner);
    }
}

/// T3: kill -9 at random moments during writes, at least 100 times. After each, the state
/// parses, fsck is clean, and the next write succeeds, also after a lock was left behind.
#[test]
fn t3_kill_9_during_writes_never_corrupts_the_state() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    plan_many(&env, &dir, "crash", 4);
    let lock = dir.join(".git/refs/maestro/state.lock");
    // How long one write takes here, to aim the kills inside it.
    let started = Instant::now();
    for i in 0..5 {
        env.run(&dir, &["decide", "-m", &format!("warm-up {i}")]).success();
    }
    let write_time = started.elapsed() / 5;
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let (mut killed, mut locks_left, mut iterations) = (0, 0, 0);
    while killed < 100 {
        iterations += 1;
        assert!(iterations < 1000, "only {killed} of {iterations} processes were killed mid-run");
        let task = format!("crash/t{}", iterations % 4);
        let args: Vec<String> = match iterations % 3 {
            0 => vec!["task".into(), "claim".into(), task, "--as".into(), format!("k{iterations}")],
            1 => vec!["task".into(), "release".into(), task],
            _ => vec!["decide".into(), "-m".into(), format!("crash {iterations}")],
        };
        let mut child = env.command(&dir).args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(write_time.mul_f64(rng.f64() * 1.2));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.signal() == Some(9) {
            killed += 1;
        }
        let left = lock.exists();
        if left {
            // Age the lock as if 60 s had passed: no live process holds it.
            locks_left += 1;
            let old = SystemTime::now() - Duration::from_secs(60);
            std::fs::File::options().write(true).open(&lock).unwrap().set_modified(old).unwrap();
        }
        let doctor = env.run(&dir, &["doctor", "--json"]);
        assert_eq!(doctor.code, 0, "after kill {killed}:\n{}", doctor.render());
        let fsck = env.git(&dir, &["fsck", "--no-progress", "--no-dangling"]);
        assert!(
            fsck.code == 0 && fsck.stderr.is_empty() && fsck.stdout.is_empty(),
            "fsck after kill {killed}:\n{}",
            fsck.render()
        );
        let next = env.run(&dir, &["decide", "-m", &format!("after {iterations}")]).success();
        if left {
            assert!(
                next.stderr.contains("Warning: removed stale lock"),
                "the left lock was recovered:\n{}",
                next.render()
            );
        }
    }
    eprintln!("t3: {killed} kills in {iterations} runs; {locks_left} left a lock; write time {write_time:?}");
    let decisions = env.run(&dir, &["decisions", "--json"]).success().json();
    let afters =
        decisions.as_array().unwrap().iter().filter(|d| d["summary"].as_str().unwrap().starts_with("after ")).count();
    assert_eq!(afters, iterations, "every write after a crash landed");
}
