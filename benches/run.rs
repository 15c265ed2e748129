//! Benchmark: `git maestro run` of 100 tasks with an instant performer on a 1,000-file
//! repository, end to end (routing, worktree, commit, a check, the merge), against a git script
//! doing the same per task in the same run (`git worktree add -b`, commit, the check,
//! `git merge-tree --write-tree` + `commit-tree` + `update-ref`), run before and after ours, the
//! faster of the two counting. Reports the orchestration overhead per task: wall time / tasks,
//! one task at a time.
//!
//! Run with `cargo bench --bench run`. `MAESTRO_BENCH_QUICK=1` runs 30 tasks.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "common/summary.rs"]
mod summary;

const MAESTRO: &str = env!("CARGO_BIN_EXE_git-maestro");

/// The performer: reads its prompt, writes `<task>.txt`, exits.
const PERFORMER: &str = "#!/bin/sh\ncat > /dev/null\necho \"$MAESTRO_TASK\" > \"$MAESTRO_TASK.txt\"\n";

fn main() {
    let tasks: usize = if summary::quick() { 30 } else { 100 };
    let tmp = std::env::temp_dir().join(format!("maestro-bench-run-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repo-large.sh");
    for side in ["ours", "git", "git-again"] {
        let dir = tmp.join(side);
        assert!(Command::new("bash").arg(&fixture).arg(&dir).arg("1000").status().expect("bash").success());
    }
    // A checkout as people have it: its index written after its files, so a status trusts
    // their stat. The fixture writes both within one second, which leaves every entry racily
    // clean (read again by every status) until a later `git status` writes the index anew.
    std::thread::sleep(Duration::from_millis(1100));
    for side in ["ours", "git", "git-again"] {
        git(&tmp.join(side), &["status", "--short"]);
    }
    let performer = tmp.join("performer.sh");
    std::fs::write(&performer, PERFORMER).expect("performer");
    assert!(Command::new("chmod").arg("+x").arg(&performer).status().expect("chmod").success());

    // The git script, task by task; once before our run and once after, in a checkout of its
    // own each time, and the faster counts. Only this side creates a file per task and file in
    // the repository (30,000 in quick mode), and right after a large delete (an earlier
    // bench's) this machine's file system allocates them many times slower: its best of two
    // keeps that from being counted against git.
    let first = git_script(&tmp, "git", tasks);

    // git-maestro: init, plan, approve, run one task at a time, between the script's two runs.
    let ours = tmp.join("ours");
    maestro(&ours, &["init"]);
    let mut score = String::from("format = 1\nid = \"b\"\ntarget = \"main\"\napproval = [\"checks\"]\n");
    for i in 0..tasks {
        let deps = if i >= 10 { format!("\"t{}\"", i - 10) } else { String::new() };
        score.push_str(&format!("[[tasks]]\nid = \"t{i}\"\nchecks = [\"ok\"]\ndeps = [{deps}]\n"));
    }
    std::fs::write(tmp.join("b.toml"), score).expect("score");
    let config = format!(
        "[performers.instant]\nadapter = \"command\"\ncommand = \"{}\"\nmax_parallel = 4\n\n[checks.ok]\nrun = \"true\"\n",
        performer.display()
    );
    maestro(&ours, &["plan", "--from", tmp.join("b.toml").to_str().expect("utf-8")]);
    std::fs::write(ours.join(".maestro/config.toml"), config).expect("config");
    maestro(&ours, &["approve", "b"]);
    let start = Instant::now();
    maestro(&ours, &["run", "b", "--max-parallel", "1"]);
    let serial = start.elapsed();
    let again = git_script(&tmp, "git-again", tasks);
    let script = first.min(again);
    let merged = git_out(&ours, &["rev-list", "--merges", "--count", "maestro/b/integration"]);
    assert_eq!(merged.trim(), tasks.to_string(), "every task merged");

    let per = |d: Duration| d.as_secs_f64() * 1000.0 / tasks as f64;
    println!(
        "{tasks} tasks, one at a time: git-maestro run {serial:>8.2?} ({:.1} ms/task)   git script {script:>8.2?} ({:.1} ms/task; \
         {:.1} before, {:.1} after)   ratio {:.2}x   target at most 0.5x",
        per(serial),
        per(script),
        per(first),
        per(again),
        serial.as_secs_f64() / script.as_secs_f64()
    );
    summary::record(
        "run",
        vec![summary::Measure::ratio("run per task", serial / tasks as u32, script / tasks as u32, "at most 0.5x")],
    );
    summary::remove_temp(&tmp);
}

/// The git script in the checkout `tmp/<name>`, task by task; how long it took.
fn git_script(tmp: &Path, name: &str, tasks: usize) -> Duration {
    let theirs = &tmp.join(name);
    git(theirs, &["branch", "integration", "main"]);
    let start = Instant::now();
    for i in 0..tasks {
        let wt = tmp.join(format!("{name}-wt/t{i}"));
        let branch = format!("t{i}");
        let base = git_out(theirs, &["rev-parse", "integration"]);
        git(theirs, &["worktree", "add", "-q", "-b", &branch, wt.to_str().expect("utf-8"), base.trim()]);
        std::fs::write(wt.join(format!("t{i}.txt")), format!("t{i}\n")).expect("write");
        git(&wt, &["add", "-A"]);
        git(&wt, &["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", &format!("t{i}")]);
        assert!(Command::new("sh").args(["-c", "true"]).current_dir(&wt).status().expect("sh").success());
        let tree = git_out(theirs, &["merge-tree", "--write-tree", "integration", &branch]);
        let commit = git_out(
            theirs,
            &[
                "-c",
                "user.name=b",
                "-c",
                "user.email=b@b",
                "commit-tree",
                tree.trim(),
                "-p",
                "integration",
                "-p",
                &branch,
                "-m",
                "merge",
            ],
        );
        git(theirs, &["update-ref", "refs/heads/integration", commit.trim()]);
    }
    start.elapsed()
}

fn maestro(dir: &Path, args: &[&str]) {
    // Task worktrees go under the bench's temp dir (XDG_DATA_HOME), so they are cleaned up too.
    let data = dir.parent().expect("temp dir").join("data");
    let out = Command::new(MAESTRO)
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("MAESTRO_ACTOR", "bench")
        .env("XDG_DATA_HOME", data)
        .output()
        .expect("run");
    assert!(out.status.success(), "git maestro {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn git(dir: &Path, args: &[&str]) {
    git_out(dir, args);
}

fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").current_dir(dir).args(args).output().expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
