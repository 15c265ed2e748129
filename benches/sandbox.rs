//! Benchmark: the cost of the Landlock sandbox on a whole `git maestro task run` (an instant
//! performer on a 1,000-file repository: claim, worktree, supervised run, commit, record), with
//! `sandbox = "required"` against `sandbox = "off"`, tasks alternating between the two in the
//! same run. Reports the median per task on each side and their ratio, and the ABI seen.
//!
//! Run with `cargo bench --bench sandbox`. `MAESTRO_BENCH_QUICK=1` runs 10 tasks per side.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "common/summary.rs"]
mod summary;

const MAESTRO: &str = env!("CARGO_BIN_EXE_git-maestro");

/// The performer: reads its prompt, writes `<task>.txt`, exits.
const PERFORMER: &str = "#!/bin/sh\ncat > /dev/null\necho \"$MAESTRO_TASK\" > \"$MAESTRO_TASK.txt\"\n";

fn main() {
    let tasks: usize = if summary::quick() { 10 } else { 40 };
    let abi = git_maestro::sandbox::probe();
    assert!(abi > 0, "this kernel has no Landlock: nothing to measure");
    let tmp = std::env::temp_dir().join(format!("maestro-bench-sandbox-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let performer = tmp.join("performer.sh");
    std::fs::write(&performer, PERFORMER).expect("performer");
    assert!(Command::new("chmod").arg("+x").arg(&performer).status().expect("chmod").success());
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repo-large.sh");
    let mut score = "format = 1\nid = \"b\"\ntarget = \"main\"\napproval = [\"human\"]\n".to_owned();
    for i in 0..tasks {
        score.push_str(&format!("[[tasks]]\nid = \"t{i}\"\n"));
    }
    std::fs::write(tmp.join("score.toml"), score).expect("score");
    for side in ["off", "required"] {
        let dir = tmp.join(side);
        assert!(Command::new("bash").arg(&fixture).arg(&dir).arg("1000").status().expect("bash").success());
        maestro(&dir, &["init"]);
        // The task worktrees go in the temp dir too, which is removed at the end.
        let root = tmp.join(format!("worktrees-{side}"));
        let status = Command::new("git")
            .current_dir(&dir)
            .args(["config", "maestro.worktreeRoot", root.to_str().expect("utf-8")])
            .status()
            .expect("git config");
        assert!(status.success());
        let config = format!(
            "[performers.p]\nadapter = \"command\"\ncommand = \"{}\"\nsandbox = \"{side}\"\n",
            performer.display()
        );
        std::fs::write(dir.join(".maestro/config.toml"), config).expect("config");
        maestro(&dir, &["plan", "--from", tmp.join("score.toml").to_str().expect("utf-8")]);
        maestro(&dir, &["approve", "b"]);
    }
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for i in 0..tasks {
        for (side, times) in [("off", &mut off), ("required", &mut on)] {
            let start = Instant::now();
            maestro(&tmp.join(side), &["task", "run", &format!("b/t{i}"), "--performer", "p"]);
            times.push(start.elapsed());
        }
    }
    let (off, on) = (median(off), median(on));
    println!(
        "task run, {tasks} per side (Landlock ABI {abi}): sandbox off {off:>9.1?}   required {on:>9.1?}   ratio {:.3}x",
        on.as_secs_f64() / off.as_secs_f64()
    );
    summary::record("sandbox", vec![summary::Measure::ratio("task run required vs off", on, off, "close to 1.0x")]);
    summary::remove_temp(&tmp);
}

fn maestro(dir: &Path, args: &[&str]) {
    let out = Command::new(MAESTRO).current_dir(dir).args(args).output().expect("git-maestro");
    assert!(out.status.success(), "git maestro {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}
