//! Benchmark: spawn 8 task worktrees (branch + linked worktree + checkout) on a repository of
//! about 5,000 files, against `git worktree add -b` ×8 in the same run (cold), and 8 task
//! worktrees taken from a warm pool of 8 (the previous round's, each with one file changed by
//! its task) against the same `git worktree add` ×8. Reports both ratios.
//!
//! Run with `cargo bench --bench worktrees`. `MAESTRO_BENCH_QUICK=1` uses fewer rounds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use git_maestro::git::Repo;
use git_maestro::kernel::{pool, prune};
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
    let _initialized = store.initialize().expect("initialise the state");
    let repo = &store.repo;
    let base = repo.read_ref("refs/heads/main").expect("read main").expect("main exists");
    let (mut ours, mut theirs, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    // Task worktrees where maestro puts them, `<root>/<score>/<task>`: the pool is `<root>/.pool`.
    let task_dir = |task: &str| tmp.join("root/bench").join(task);
    for round in 0..rounds {
        let start = Instant::now();
        for t in 0..8 {
            let branch = format!("maestro/bench/tasks/r{round}-t{t}");
            store.ensure_branch(&branch, base).expect("branch");
            repo.add_worktree(&task_dir(&format!("r{round}-t{t}")), &branch).expect("worktree");
        }
        ours.push(start.elapsed());
        theirs.push(git_worktree_add(&repo_dir, &tmp, &format!("r{round}")));
        // The warm side: last round's worktrees (the cold ones, the first time), each with one
        // file its task changed, parked; then 8 new tasks take them.
        let previous = if round == 0 { "r0".to_owned() } else { format!("w{}", round - 1) };
        park_all(&store, &task_dir, &previous, round);
        let start = Instant::now();
        for t in 0..8 {
            let task = format!("w{round}-t{t}");
            let path = task_dir(&task);
            let branch = format!("maestro/bench/tasks/{task}");
            store.ensure_branch(&branch, base).expect("branch");
            assert!(pool::take(&store, ("bench", &task), &path, base).expect("take"), "the pool has an entry");
            repo.attach_worktree(&path, &branch).expect("attach");
        }
        warm.push(start.elapsed());
        theirs.push(git_worktree_add(&repo_dir, &tmp, &format!("w{round}")));
    }
    // Same checkout on all sides, or the comparison means nothing.
    let count = |dir: &Path| walk(dir);
    assert_eq!(count(&task_dir("r1-t0").join("src")), count(&tmp.join("git/r0/0/src")));
    // The last round's warm worktrees are still in place (earlier ones went back to the pool).
    assert_eq!(count(&task_dir(&format!("w{}-t0", rounds - 1)).join("src")), count(&tmp.join("git/r0/0/src")));
    let (ours, warm, theirs) = (median(ours), median(warm), median(theirs));
    println!(
        "8 worktrees: git-maestro {ours:>9.1?}   git worktree add {theirs:>9.1?}   ratio {:.2}x   (cold, for reference)",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    println!(
        "8 worktrees from a warm pool: git-maestro {warm:>9.1?}   git worktree add {theirs:>9.1?}   ratio {:.2}x   target at most 0.3x",
        warm.as_secs_f64() / theirs.as_secs_f64()
    );
    summary::record(
        "worktrees",
        vec![
            summary::Measure::ratio("8 worktrees, cold", ours, theirs, "-"),
            summary::Measure::ratio("8 worktrees from a warm pool", warm, theirs, "at most 0.3x"),
        ],
    );
    summary::remove_temp(&tmp);
}

/// `git worktree add -b` ×8, timed.
fn git_worktree_add(repo_dir: &Path, tmp: &Path, name: &str) -> Duration {
    let start = Instant::now();
    for t in 0..8 {
        let path = tmp.join(format!("git/{name}/{t}"));
        let status = Command::new("git")
            .current_dir(repo_dir)
            .args(["worktree", "add", "-q", "-b", &format!("git/{name}-t{t}"), path.to_str().expect("utf-8"), "main"])
            .status()
            .expect("git worktree add");
        assert!(status.success());
    }
    start.elapsed()
}

/// Commit one changed file in each of the 8 worktrees of the tasks `<prefix>-t<n>` (as a task
/// would), then park them all in the pool.
fn park_all(store: &Store, task_dir: &dyn Fn(&str) -> PathBuf, prefix: &str, round: usize) {
    for t in 0..8 {
        let task = format!("{prefix}-t{t}");
        let path = task_dir(&task);
        std::fs::write(path.join("README.md"), format!("changed by task {t} of round {round}\n")).expect("write");
        store.commit_worktree(&path, &[], "a task's change").expect("commit");
        let pruned = prune::prune_one(store, ("bench", &task), &path, false, 8).expect("park");
        assert_eq!(pruned.action, prune::Action::Pooled, "{}", pruned.reason);
    }
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map_or(0, |entries| entries.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
