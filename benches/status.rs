//! Benchmark: whole-process `git maestro status` in a repository whose Score has 10,000 tasks
//! (the design's limit) against the same command with a 10-task Score, interleaved so both see
//! the same machine. Reports the ratio (issue 19: at most 3x).
//!
//! Run with `cargo bench --bench status`. `MAESTRO_BENCH_QUICK=1` takes 5 samples instead of 15.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "common/fixture.rs"]
mod fixture;
#[path = "common/summary.rs"]
mod summary;

const BIN: &str = env!("CARGO_BIN_EXE_git-maestro");

fn main() {
    let samples = if summary::quick() { 5 } else { 15 };
    let tmp = std::env::temp_dir().join(format!("maestro-bench-status-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let built = Instant::now();
    let small = repo_with_score(&tmp, "small", 10);
    let large = repo_with_score(&tmp, "large", 10_000);
    println!("fixtures: Scores of 10 and 10,000 tasks, built in {:.1?}; {samples} samples each", built.elapsed());
    let (mut s, mut l) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        s.push(timed(&small));
        l.push(timed(&large));
    }
    let (s, l) = (median(s), median(l));
    println!(
        "status: 10,000 tasks {l:>9.1?}   10 tasks {s:>9.1?}   ratio {:.2}x   target at most 3x",
        l.as_secs_f64() / s.as_secs_f64()
    );
    summary::record("status", vec![summary::Measure::ratio("status 10,000 tasks vs 10", l, s, "at most 3x")]);
    summary::remove_temp(&tmp);
}

fn timed(dir: &Path) -> Duration {
    let start = Instant::now();
    maestro(dir, &["status"]);
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn maestro(dir: &Path, args: &[&str]) {
    fixture::maestro(BIN, dir, args);
}

/// A repository with an approved Score `bench` of `tasks` tasks.
fn repo_with_score(tmp: &Path, name: &str, tasks: usize) -> PathBuf {
    let dir = fixture::repo_with_score(BIN, tmp, name, tasks);
    maestro(&dir, &["approve", "-q", "bench"]);
    dir
}
