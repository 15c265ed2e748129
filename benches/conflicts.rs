//! Benchmark: the conflict forecast over 16 active task branches (and the target) against
//! `git merge-tree --write-tree` on every pair, in the same run. Reports the ratio.
//!
//! Run with `cargo bench --bench conflicts`. `MAESTRO_BENCH_QUICK=1` takes 3 samples instead of 5.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use git_maestro::git::Repo;
use git_maestro::model::TaskStatus;
use git_maestro::store::{self, Clock, Session, Store, layout};

#[path = "common/summary.rs"]
mod summary;

const BRANCHES: usize = 16;

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git").current_dir(dir).args(args).output().expect("git")
}

fn main() {
    let tmp = std::env::temp_dir().join(format!("maestro-bench-cf-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let dir = tmp.join("repo");
    assert!(
        Command::new("bash")
            .arg(fixtures.join("repo-large.sh"))
            .arg(&dir)
            .arg("1000")
            .status()
            .expect("bash")
            .success()
    );
    let bin = env!("CARGO_BIN_EXE_git-maestro");
    let score = Command::new("bash")
        .arg(fixtures.join("score-many.sh"))
        .args(["b", &BRANCHES.to_string()])
        .output()
        .expect("score");
    std::fs::write(tmp.join("b.toml"), score.stdout).expect("write score");
    for args in [vec!["init", "-q"], vec!["plan", "-q", "--from", tmp.join("b.toml").to_str().expect("utf-8")]] {
        assert!(Command::new(bin).current_dir(&dir).args(&args).status().expect("git-maestro").success());
    }
    // 16 branches, each editing 10 files; neighbours share one file, so some pairs conflict.
    for i in 0..BRANCHES {
        let branch = format!("maestro/b/tasks/t{i}");
        assert!(git(&dir, &["checkout", "-q", "-b", &branch, "main"]).status.success());
        for f in 0..10 {
            let path = dir.join(format!("src/mod{}/file{}.rs", (i * 10 + f) % 50, (i * 10 + f) % 1000));
            let _ = path.exists() || std::fs::write(&path, "").is_ok();
            std::fs::write(&path, format!("// edited by t{i}\n")).expect("edit");
        }
        let shared = dir.join(format!("src/mod0/file{}.rs", (i / 2) * 50));
        std::fs::write(&shared, format!("// t{i} was here\n")).expect("edit shared");
        assert!(
            git(&dir, &["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qam", &format!("t{i}")])
                .status
                .success()
        );
    }
    assert!(git(&dir, &["checkout", "-q", "main"]).status.success());
    let session = Session::new("bench".into(), "bench@localhost".into(), "bench".into(), Clock::System, None);
    let store = Store::new(Repo::discover(&dir).expect("repo"), session);
    let _ = store
        .transact("bench: tasks are submitted", |tx| {
            for i in 0..BRANCHES {
                let mut t = store::task(tx, "b", &format!("t{i}"))?;
                for s in [TaskStatus::Assigned, TaskStatus::Running, TaskStatus::Submitted] {
                    t.transition(s, tx.now)?;
                }
                tx.put(&layout::task_file("b", &t.id), &t)?;
            }
            Ok::<_, store::Error>(())
        })
        .expect("mark submitted");

    let mut sides = vec!["main".to_owned()];
    sides.extend((0..BRANCHES).map(|i| format!("maestro/b/tasks/t{i}")));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let mut counts = (0, 0);
    for _ in 0..if summary::quick() { 3 } else { 5 } {
        let start = Instant::now();
        let (_, found) = git_maestro::approval::conflicts(&store, "b").expect("forecast");
        ours.push(start.elapsed());
        let start = Instant::now();
        let mut conflicting = 0;
        for (i, a) in sides.iter().enumerate() {
            for b in &sides[i + 1..] {
                if git(&dir, &["merge-tree", "--write-tree", a, b]).status.code() == Some(1) {
                    conflicting += 1;
                }
            }
        }
        theirs.push(start.elapsed());
        counts = (found.len(), conflicting);
    }
    assert_eq!(counts.0, counts.1, "the forecast and git agree on the conflicting pairs");
    let (ours, theirs) = (median(ours), median(theirs));
    let pairs = sides.len() * (sides.len() - 1) / 2;
    println!(
        "{pairs} pairs ({} conflicting): forecast {ours:>9.1?}   git merge-tree per pair {theirs:>9.1?}   ratio {:.2}x   target at most 0.5x",
        counts.0,
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    summary::record("conflicts", vec![summary::Measure::ratio("forecast", ours, theirs, "at most 0.5x")]);
    summary::remove_temp(&tmp);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
