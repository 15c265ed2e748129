//! Sync benchmarks, as ratios against git in the same run:
//!
//! (a) `git maestro sync` of a remote that carries 1,000 new operations (claims and decisions,
//!     one commit each) into a clone with a local change, so it fetches, merges and pushes;
//!     against `git fetch` of the same commits into a clone with a local change too, and
//!     against that fetch plus the push of a merge commit (what a sync is by contract);
//! (b) three clones that each make 20 operations and sync after each, all at once: how many
//!     push rounds the syncs took.
//!
//! Run with `cargo bench --bench sync`. `MAESTRO_BENCH_QUICK=1` takes 9 samples of (a) instead
//! of 31, and 5 syncs per clone in (b).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use git_maestro::git::Repo;
use git_maestro::model::DecisionKind;
use git_maestro::store::{self, Clock, Session, Store, layout};

#[path = "common/summary.rs"]
mod summary;

const BIN: &str = env!("CARGO_BIN_EXE_git-maestro");
const OPS: usize = 1000;

fn main() {
    let tmp = std::env::temp_dir().join(format!("maestro-sync-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    println!("git-maestro sync benchmarks\n");
    bench_a(&tmp);
    bench_b(&tmp);
    summary::remove_temp(&tmp);
}

/// PATH with the binary under test first: pushes run its pre-push hook.
fn path() -> String {
    let bin_dir = Path::new(BIN).parent().expect("bin dir").display().to_string();
    format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default())
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").env("PATH", path()).current_dir(dir).args(args).output().expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn maestro(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN).env("PATH", path()).current_dir(dir).args(args).output().expect("git-maestro");
    assert!(out.status.success(), "git-maestro {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bare remote with a Score of 50 tasks, and `n` clones that took its state.
fn setup(tmp: &Path, name: &str, n: usize) -> Vec<PathBuf> {
    let root = tmp.join(name);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let first = root.join("c0");
    assert!(Command::new("bash").arg(fixtures.join("repo-basic.sh")).arg(&first).status().expect("bash").success());
    git(&root, &["init", "-q", "--bare", "remote.git"]);
    git(&first, &["remote", "add", "origin", "../remote.git"]);
    git(&first, &["push", "-q", "origin", "main"]);
    maestro(&first, &["init", "-q"]);
    let score = Command::new("bash").arg(fixtures.join("score-many.sh")).args(["s", "50"]).output().expect("score");
    std::fs::write(root.join("s.toml"), score.stdout).expect("write");
    maestro(&first, &["plan", "-q", "--from", "../s.toml"]);
    maestro(&first, &["sync"]);
    let mut clones = vec![first];
    for i in 1..n {
        let dir = root.join(format!("c{i}"));
        git(&root, &["clone", "-q", "-b", "main", "remote.git", dir.to_str().expect("utf-8")]);
        // Relative, as the first clone's: a copy of the setup then pushes to its own remote.
        git(&dir, &["remote", "set-url", "origin", "../remote.git"]);
        maestro(&dir, &["sync"]);
        clones.push(dir);
    }
    clones
}

fn open(dir: &Path) -> Store {
    let session = Session::new("bench".into(), "bench@localhost".into(), "bench".into(), Clock::System, None);
    Store::new(Repo::discover(dir).expect("repo"), session)
}

/// `n` operations in-process: every tenth a claim, the rest decisions; one commit each.
fn operations(dir: &Path, n: usize, who: &str) {
    let store = open(dir);
    for i in 0..n {
        let _ = store
            .transact("bench op", |tx| {
                if i % 10 == 0 {
                    let mut t = store::task(tx, "s", &format!("t{}", (i / 10) % 50))?;
                    if t.claim(who, None, tx.op, tx.clock, tx.now).is_ok() {
                        tx.put(&layout::task_file("s", &t.id), &t)?;
                    }
                }
                let d = store::new_decision(tx, DecisionKind::Design, format!("{who} {i}"), who);
                store::append_decision(tx, &d)
            })
            .expect("op");
    }
}

/// Samples of (a), each on a fresh copy of one setup; the medians are reported.
fn samples() -> usize {
    if summary::quick() { 9 } else { 31 }
}

/// A copy of the directory `from` at `to`, as `cp -a` makes it.
fn copy(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    assert!(Command::new("cp").arg("-a").arg(from).arg(to).status().expect("cp").success());
}

fn bench_a(tmp: &Path) {
    let samples = samples();
    let clones = setup(tmp, "a", 3);
    let (writer, ours, plain) = (&clones[0], &clones[1], &clones[2]);
    operations(writer, OPS, "alice");
    maestro(writer, &["sync"]);
    operations(ours, 1, "bob");
    operations(plain, 1, "carol");
    // Every sample starts from a copy of this setup, sync and git taking turns, so that both
    // see the same machine: a fresh setup per sample let the ratio wander by a third.
    let (setup_dir, work) = (tmp.join("a"), tmp.join("a-work"));
    let at = |clone: &Path| work.join(clone.file_name().expect("clone name"));
    let (mut ours_t, mut fetch_t, mut both_t, mut report) =
        (Vec::new(), Vec::new(), Vec::new(), serde_json::Value::Null);
    for _ in 0..samples {
        copy(&setup_dir, &work);
        let t = Instant::now();
        let out = maestro(&at(ours), &["sync", "--json"]);
        ours_t.push(t.elapsed());
        report = serde_json::from_str(&out).expect("json");
        copy(&setup_dir, &work);
        let plain = at(plain);
        // What a sync is by contract, in git alone: the fetch, then a push of a merge that
        // carries the local change (its tree is the fetched one: git cannot merge records).
        let t = Instant::now();
        git(&plain, &["fetch", "-q", "origin", "+refs/maestro/state:refs/maestro/remotes/origin/fetched"]);
        fetch_t.push(t.elapsed());
        let fetched = "refs/maestro/remotes/origin/fetched";
        let tree = format!("{fetched}^{{tree}}");
        let merge = git(&plain, &["commit-tree", &tree, "-p", "refs/maestro/state", "-p", fetched, "-m", "merge"]);
        git(&plain, &["push", "-q", "--no-verify", "origin", &format!("{}:refs/maestro/state", merge.trim())]);
        both_t.push(t.elapsed());
    }
    let median = |mut v: Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (sync, fetch, both) = (median(ours_t), median(fetch_t), median(both_t));
    println!(
        "(a) sync of {OPS} remote operations, median of {samples}: git-maestro sync {sync:>9.2?} ({}, {} round)   \
         git fetch {fetch:>9.2?}   ratio {:.2}x\n    against git fetch + merge commit + push {both:>9.2?}: ratio {:.2}x",
        report["action"],
        report["rounds"],
        sync.as_secs_f64() / fetch.as_secs_f64(),
        sync.as_secs_f64() / both.as_secs_f64()
    );
    summary::record(
        "sync",
        vec![
            summary::Measure::ratio("a sync of 1000 operations", sync, fetch, "at most 1.3x"),
            summary::Measure::ratio("a sync of 1000 operations vs fetch and push", sync, both, "none"),
        ],
    );
}

fn bench_b(tmp: &Path) {
    let clones = setup(tmp, "b", 3);
    let syncs = if summary::quick() { 5 } else { 20 };
    let t = Instant::now();
    let rounds: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = clones
            .iter()
            .enumerate()
            .map(|(i, dir)| {
                s.spawn(move || {
                    let mut rounds = Vec::new();
                    for _ in 0..syncs {
                        operations(dir, 1, ["alice", "bob", "carol"][i]);
                        // A sync that gives up after 5 rounds counts as 6.
                        let out =
                            Command::new(BIN).env("PATH", path()).current_dir(dir).args(["sync", "--json"]).output();
                        let report: serde_json::Value =
                            serde_json::from_slice(&out.expect("sync").stdout).expect("json");
                        rounds.push(report["rounds"].as_u64().unwrap_or(6));
                    }
                    rounds
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let elapsed = t.elapsed();
    let all: Vec<u64> = rounds.into_iter().flatten().collect();
    let more = all.iter().filter(|r| **r > 1).count();
    let per_sync = elapsed / all.len() as u32;
    println!(
        "(b) 3 clones x {syncs} syncs under contention: {} syncs, mean {:.2} rounds, max {}, {more} needed more than one; {per_sync:.2?} per sync",
        all.len(),
        all.iter().sum::<u64>() as f64 / all.len() as f64,
        all.iter().max().copied().unwrap_or(0),
    );
    let mean = all.iter().sum::<u64>() as f64 / all.len() as f64;
    summary::record(
        "sync",
        vec![
            summary::Measure::value("b rounds per sync under contention", "mean_rounds", mean, "close to 1"),
            summary::Measure::time("b time per sync under contention", per_sync, "none"),
        ],
    );
}
