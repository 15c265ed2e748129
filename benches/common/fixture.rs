//! The repositories the benches start from.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run git-maestro (`bin`) in `dir`; a failure ends the bench.
pub fn maestro(bin: &str, dir: &Path, args: &[&str]) {
    let out = Command::new(bin).current_dir(dir).args(args).output().expect("git-maestro");
    assert!(out.status.success(), "git-maestro {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A repository at `tmp/name` with an initialised state and a Score `bench` of `tasks`
/// independent tasks, planned by `bin`.
pub fn repo_with_score(bin: &str, tmp: &Path, name: &str, tasks: usize) -> PathBuf {
    let dir = tmp.join(name);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let status = Command::new("bash").arg(fixtures.join("repo-basic.sh")).arg(&dir).status().expect("bash");
    assert!(status.success());
    maestro(bin, &dir, &["init", "-q"]);
    let score = Command::new("bash").arg(fixtures.join("score-many.sh")).args(["bench", &tasks.to_string()]).output();
    let score_file = dir.join(".git/bench-score.toml");
    std::fs::write(&score_file, score.expect("score-many.sh").stdout).expect("write score");
    maestro(bin, &dir, &["plan", "-q", "--from", score_file.to_str().expect("utf-8 path")]);
    dir
}
