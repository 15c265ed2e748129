//! The README's quick start, run exactly as printed (issue 15): a newcomer who types it line by
//! line must get to the end without an error.

use std::path::Path;

use crate::common::{Run, TestEnv};
use crate::test_cli::GitRun;

/// The first `sh` block under `heading` in README.md, byte for byte.
fn shell_block(heading: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme.split_once(&format!("\n{heading}\n")).unwrap_or_else(|| panic!("README has {heading:?}")).1;
    let block = section.split_once("```sh\n").expect("a sh block in the section").1;
    block.split_once("\n```\n").expect("the block ends").0.to_owned() + "\n"
}

#[test]
fn the_readme_quick_start_runs_as_printed() {
    let env = TestEnv::new();
    let script = env.write("quick-start.sh", &shell_block("## Quick start"));
    let dir = env.path("scratch");
    std::fs::create_dir(&dir).unwrap();
    // `git maestro` finds `git-maestro` on PATH, as after `cargo install`; -e stops at the
    // first command that fails, as a reader would.
    let run: Run = env.base_command("bash").current_dir(&dir).arg("-e").arg(&script).output().unwrap().into();
    assert_eq!(run.code, 0, "the quick start fails as printed:\n{}", run.render());
    assert!(run.stdout.contains("Hello from greeting\n"), "the task's result landed:\n{}", run.render());
    let repo = dir.join("hello");
    let files = env.git(&repo, &["ls-tree", "-r", "--name-only", "main"]).success_git();
    assert_eq!(files, ".maestro/config.toml\nhello.txt\n", "main holds the config and the landed result");
    let board = env.run(&repo, &["status", "--json"]).success().json();
    assert_eq!(board[0]["status"], "landed", "{board:#}");
    assert_eq!(board[0]["tasks"][0]["status"], "merged", "{board:#}");
}
