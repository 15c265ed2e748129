//! Benchmark: spawn 8 task worktrees (branch + linked worktree + checkout) on a repository of
//! about 5,000 files, against `git worktree add -b` ×8 in the same run. Reports the ratio.
//!
//! Run with `cargo bench --bench worktrees`. `MAESTRO_BENCH_QUICK=1` uses fewer rounds.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use git_maestro::git::Repo;
use git_maestro::store::{Clock, Session, Store};

#[path = "common/summary.rs"]
mod summary;

fn main() {
    let rounds = if summary::quick() { 3 } else { 7 };
    let tmp = std::env::temp_dir().join(format!("maestro-bench-wt-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repo-large.sh");
    let repo_dir = tmp.join("repo");
    let built = Instant::now();
    assert!(Command::new("bash").arg(&fixture).arg(&repo_dir).status().expect("bash").success());
    println!("fixture: 5,000 files, built in {:.1?}; {rounds} rounds of 8 worktrees each side\n", built.elapsed());
    let session = Session::new("bench".into(), "bench@localhost".into(), String::new(), Clock::System, None);
    let store = Store::new(Repo::discover(&repo_dir).expect("repo"), session);
    let repo = &store.repo;
    let base = repo.read_ref("refs/heads/main").expect("read main").expect("main exists");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let start = Instant::now();
        for t in 0..8 {
            let branch = format!("maestro/bench/tasks/r{round}-t{t}");
            store.ensure_branch(&branch, base).expect("branch");
            repo.add_worktree(&tmp.join(format!("ours/{round}/{t}")), &branch).expect("worktree");
        }
        ours.push(start.elapsed());
        let start = Instant::now();
        for t in 0..8 {
            let path = tmp.join(format!("git/{round}/{t}"));
            let status = Command::new("git")
                .current_dir(&repo_dir)
                .args([
                    "worktree",
                    "add",
                    "-q",
                    "-b",
                    &format!("git/r{round}-t{t}"),
                    path.to_str().expect("utf-8"),
                    "main",
                ])
                .status()
                .expect("git worktree add");
            assert!(status.success());
        }
        theirs.push(start.elapsed());
    }
    // Same checkout on both sides, or the comparison means nothing.
    let count = |dir: &Path| walk(dir);
    assert_eq!(count(&tmp.join("ours/0/0/src")), count(&tmp.join("git/0/0/src")));
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "8 worktrees: git-maestro {ours:>9.1?}   git worktree add {theirs:>9.1?}   ratio {:.2}x   target at most 0.3x with a warm pool",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    summary::record(
        "worktrees",
        vec![summary::Measure::ratio("8 worktrees", ours, theirs, "at most 0.3x with a warm pool")],
    );
    std::fs::remove_dir_all(&tmp).ok();
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map_or(0, |entries| entries.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
