//! Task worktrees through the git layer: create, commit everything, list, remove.

use git_maestro::git::Repo;
use git_maestro::store::{Clock, Session, Store};

use crate::common::TestEnv;
use crate::test_cli::GitRun;

/// A store over the repository at `dir`, as the commands open it.
fn store(dir: &std::path::Path) -> Store {
    let session = Session::new("maestro".into(), "maestro@localhost".into(), String::new(), Clock::System, Some(1));
    Store::new(Repo::discover(dir).unwrap(), session)
}

#[test]
fn a_worktree_commit_records_everything_but_ignored_files() {
    let env = TestEnv::new();
    env.fixture("repo-basic.sh", &["r"]);
    let dir = env.path("r");
    std::fs::write(dir.join(".gitignore"), "target/\n").unwrap();
    env.git(&dir, &["add", ".gitignore"]).success_git();
    env.git(&dir, &["commit", "-q", "-m", "ignore target"]).success_git();
    let store = store(&dir);
    let repo = &store.repo;
    let base = repo.read_ref("refs/heads/main").unwrap().unwrap();
    let branch = "maestro/s/tasks/t";
    assert_eq!(store.ensure_branch(branch, base).unwrap(), base);
    let wt = env.path("wt/s/t");
    repo.add_worktree(&wt, branch).unwrap();
    assert_eq!(std::fs::read_to_string(wt.join("README.md")).unwrap(), "# Demo\n", "checked out");

    // What an agent might leave behind.
    std::fs::write(wt.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::remove_file(wt.join("README.md")).unwrap();
    std::fs::create_dir_all(wt.join("src/auth")).unwrap();
    std::fs::write(wt.join("src/auth/token.rs"), "pub struct Token;\n").unwrap();
    std::fs::write(wt.join("run.sh"), "#!/bin/sh\n").unwrap();
    std::process::Command::new("chmod").arg("+x").arg(wt.join("run.sh")).status().unwrap();
    std::os::unix::fs::symlink("src/main.rs", wt.join("main-link")).unwrap();
    std::fs::create_dir_all(wt.join("target")).unwrap();
    std::fs::write(wt.join("target/build.o"), "junk").unwrap();

    let done = store.commit_worktree(&wt, &[], "task t\n\nMaestro-Task: t\n").unwrap();
    let commit = done.commit.expect("changes were committed").to_string();
    assert_eq!(done.paths, ["README.md", "main-link", "run.sh", "src/auth/token.rs", "src/main.rs"]);
    let tree = env.git(&dir, &["ls-tree", "-r", "--format=%(objectmode) %(path)", &commit]).success_git();
    assert_eq!(
        tree,
        "100644 .gitignore\n100644 docs/usage.md\n120000 main-link\n100755 run.sh\n100644 src/auth/token.rs\n100644 src/main.rs\n"
    );
    let tip = env.git(&dir, &["rev-parse", branch]).success_git();
    assert_eq!(tip.trim(), commit, "the task branch moved");
    let status = env.git(&wt, &["status", "--porcelain"]).success_git();
    assert_eq!(status, "", "the worktree is clean for git afterwards");

    let again = store.commit_worktree(&wt, &[], "nothing").unwrap();
    assert_eq!(again.commit, None, "no changes, no commit");

    // Reverting a change is a change too: the index was reset to the committed tree.
    std::fs::write(wt.join("src/main.rs"), "fn main() {\n    println!(\"hello\");\n}\n").unwrap();
    let revert = store.commit_worktree(&wt, &[], "revert").unwrap();
    assert_eq!(revert.paths, ["src/main.rs"]);
    let shown = env.git(&dir, &["show", &format!("{branch}:src/main.rs")]).success_git();
    assert!(shown.contains("hello"), "{shown}");

    let listed = repo.worktrees().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].branch.as_deref(), Some(branch));
    assert_eq!(listed[0].path, std::fs::canonicalize(&wt).unwrap());

    repo.remove_worktree(&wt).unwrap();
    assert!(!wt.exists());
    assert!(repo.worktrees().unwrap().is_empty());
    let list = env.git(&dir, &["worktree", "list", "--porcelain"]).success_git();
    assert!(!list.contains("wt/s/t"), "git agrees it is gone:\n{list}");
}
