//! Benchmark: peak memory of a whole `git maestro task run` whose performer leaves a 200 MB
//! file (random bytes, so it does not deflate), measured as the maximum resident set size of
//! the git-maestro process (GNU `/usr/bin/time -f %M`: the child's `ru_maxrss`). The commit of
//! the worktree must stream the file into the object store, not hold it. For scale, the same
//! figure for a performer that writes a 1 KB file. Checks that the blob is the one git makes.
//!
//! Run with `cargo bench --bench memory`. `MAESTRO_BENCH_QUICK=1` runs once instead of 3 times.

use std::path::Path;
use std::process::Command;

#[path = "common/summary.rs"]
mod summary;

const MAESTRO: &str = env!("CARGO_BIN_EXE_git-maestro");
const TIME: &str = "/usr/bin/time";
const BIG_MB: usize = 200;

/// The performer: reads its prompt, writes `$BENCH_MB` MB of random bytes to `big.bin`.
const PERFORMER: &str = "#!/bin/sh\ncat > /dev/null\nhead -c \"${BENCH_BYTES}\" /dev/urandom > big.bin\n";

fn main() {
    assert!(Path::new(TIME).exists(), "{TIME} (GNU time) is needed to read a child's peak memory");
    let rounds = if summary::quick() { 1 } else { 3 };
    let tmp = std::env::temp_dir().join(format!("maestro-bench-memory-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let performer = tmp.join("performer.sh");
    std::fs::write(&performer, PERFORMER).expect("performer");
    assert!(Command::new("chmod").arg("+x").arg(&performer).status().expect("chmod").success());
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repo-basic.sh");
    let dir = tmp.join("repo");
    assert!(Command::new("bash").arg(&fixture).arg(&dir).status().expect("bash").success());
    maestro(&dir, &["init", "-q"]);
    let root = tmp.join("worktrees");
    git(&dir, &["config", "maestro.worktreeRoot", root.to_str().expect("utf-8")]);
    let config = format!(
        "[performers.small]\nadapter = \"command\"\ncommand = \"{p}\"\nenv = {{ BENCH_BYTES = \"1024\" }}\n\n\
         [performers.big]\nadapter = \"command\"\ncommand = \"{p}\"\nenv = {{ BENCH_BYTES = \"{}\" }}\n",
        BIG_MB << 20,
        p = performer.display(),
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).expect("config");
    let mut score = "format = 1\nid = \"b\"\ntarget = \"main\"\napproval = [\"human\"]\n".to_owned();
    for i in 0..2 * rounds {
        score.push_str(&format!("[[tasks]]\nid = \"t{i}\"\n"));
    }
    std::fs::write(tmp.join("score.toml"), score).expect("score");
    maestro(&dir, &["plan", "-q", "--from", tmp.join("score.toml").to_str().expect("utf-8")]);
    maestro(&dir, &["approve", "-q", "b"]);

    let (mut small, mut big) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        small.push(peak_mib(&dir, &format!("b/t{}", 2 * round), "small"));
        let task = format!("b/t{}", 2 * round + 1);
        big.push(peak_mib(&dir, &task, "big"));
        // The blob is the one git would write for the file, and the repository is sound.
        // Task worktrees are at `<root>/<repository>/<score>/<task>`.
        let repo_dir = std::fs::read_dir(&root).expect("worktree root").next().expect("one repository").expect("entry");
        let file = repo_dir.path().join(format!("b/t{}/big.bin", 2 * round + 1));
        let expected = git(&dir, &["hash-object", file.to_str().expect("utf-8")]);
        let committed = git(&dir, &["rev-parse", &format!("maestro/b/tasks/t{}:big.bin", 2 * round + 1)]);
        assert_eq!(committed.trim(), expected.trim(), "{task}: the committed blob is git's blob of the file");
    }
    git(&dir, &["fsck", "--no-progress"]);
    let (small, big) = (max(&small), max(&big));
    println!(
        "task run, peak RSS of git-maestro (max of {rounds}): 1 KB file {small:>6.1} MiB   {BIG_MB} MB file {big:>6.1} MiB   \
         target at most 64 MiB"
    );
    summary::record(
        "memory",
        vec![
            summary::Measure::memory("task run leaving a 200 MB file", big, "at most 64 MiB"),
            summary::Measure::memory("task run leaving a 1 KB file", small, "for scale"),
        ],
    );
    summary::remove_temp(&tmp);
}

/// Run `task run <task> --performer <performer>` under GNU time; its peak RSS in MiB.
fn peak_mib(dir: &Path, task: &str, performer: &str) -> f64 {
    let out = Command::new(TIME)
        .args(["-f", "maxrss-kib %M", "--"])
        .arg(MAESTRO)
        .args(["task", "run", task, "--performer", performer])
        .current_dir(dir)
        .env("MAESTRO_ACTOR", "bench")
        .output()
        .expect("/usr/bin/time");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "git maestro task run {task}: {stderr}");
    let kib: f64 = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("maxrss-kib "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak memory in {stderr:?}"));
    kib / 1024.0
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

fn maestro(dir: &Path, args: &[&str]) {
    let out = Command::new(MAESTRO).current_dir(dir).args(args).env("MAESTRO_ACTOR", "bench").output().expect("run");
    assert!(out.status.success(), "git maestro {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").current_dir(dir).args(args).output().expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
