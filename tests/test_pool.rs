//! The warm worktree pool: `gc` parks finished task worktrees, the next `task run` reuses one
//! (the same directory, moved, with only the differing files rewritten), nothing unsaved is
//! ever reused, the cap holds, `worktrees prune` empties it, and a crash mid-reuse is settled.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::common::TestEnv;
use crate::test_cli::GitRun;
use crate::test_gc::{landed, plan, run_with, worktree_of};

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).ino()
}

/// The pool beside the repository's task worktrees: `.pool` in its worktree root,
/// `<maestro.worktreeRoot>/<repo>-<id>`.
fn pool_dir(dir: &Path) -> PathBuf {
    let config = std::process::Command::new("git").arg("-C").arg(dir).args(["config", "maestro.worktreeRoot"]).output();
    let root = PathBuf::from(String::from_utf8(config.unwrap().stdout).unwrap().trim());
    let prefix = format!("{}-", dir.file_name().unwrap().to_string_lossy());
    let mut entries = std::fs::read_dir(&root).into_iter().flatten().flatten().map(|e| e.path());
    let repo_root = entries.find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix)));
    repo_root.unwrap_or(root).join(".pool")
}

/// The pool's entries, by name.
fn pool(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(pool_dir(dir))
        .map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.retain(|n| !n.starts_with('.'));
    names.sort();
    names
}

/// Score `m` landed, then main moves on: a file deleted, one changed, an executable and a
/// symlink added, so a reused worktree has every kind of change to make. An ignored file sits
/// in `m/t0`'s worktree, to show the pool keeps it warm, and an ignored symlink out of it
/// where main now has a directory, which a reuse must not write through.
fn landed_then_moved(env: &TestEnv) -> PathBuf {
    let dir = landed(env);
    let t0 = worktree_of(env, &dir, "maestro/m/tasks/t0").expect("m/t0 has a worktree");
    std::fs::write(dir.join(".git/info/exclude"), "warm/\nout\n").unwrap();
    std::fs::create_dir_all(t0.join("warm")).unwrap();
    std::fs::write(t0.join("warm/cache"), "built").unwrap();
    std::fs::create_dir_all(env.path("outside")).unwrap();
    std::os::unix::fs::symlink(env.path("outside"), t0.join("out")).unwrap();
    env.git(&dir, &["checkout", "-q", "main"]).success_git();
    std::fs::write(dir.join("t2.txt"), "changed on main\n").unwrap();
    std::fs::write(dir.join("run.sh"), "#!/bin/sh\necho run\n").unwrap();
    std::fs::set_permissions(dir.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("t0.txt", dir.join("link")).unwrap();
    env.git(&dir, &["rm", "-q", "t1.txt"]).success_git();
    std::fs::create_dir_all(dir.join("out")).unwrap();
    std::fs::write(dir.join("out/x"), "tracked\n").unwrap();
    env.git(&dir, &["add", "-f", "t2.txt", "run.sh", "link", "out/x"]).success_git();
    env.git(&dir, &["commit", "-q", "-m", "main moves on"]).success_git();
    dir
}

/// The worktree at `wt` holds exactly `base` plus the task's own `extra` files: nothing
/// staged or changed, and the same tree as `base` apart from them.
fn checkout_matches(env: &TestEnv, wt: &Path, base: &str, extra: &[&str]) {
    let status = env.git(wt, &["status", "--porcelain"]).success_git();
    assert_eq!(status, "", "the reused worktree is clean");
    let changed = env.git(wt, &["diff", "--name-only", base, "HEAD"]).success_git();
    let changed: Vec<&str> = changed.lines().collect();
    assert_eq!(changed, extra, "the reused worktree differs from {base} only by the task's files");
    let diff = env.git(wt, &["diff", "--stat", base, "--", ".", ":(exclude)n.txt"]).success_git();
    assert_eq!(diff, "", "its files equal a fresh checkout of {base}");
    assert!(!wt.join("t1.txt").exists(), "a file deleted on main is gone");
    assert_eq!(std::fs::read_to_string(wt.join("t2.txt")).unwrap(), "changed on main\n");
    let mode = std::fs::metadata(wt.join("run.sh")).unwrap().permissions().mode();
    assert!(mode & 0o111 != 0, "run.sh is executable: {mode:o}");
    assert_eq!(std::fs::read_link(wt.join("link")).unwrap(), Path::new("t0.txt"), "link is a symlink");
    assert!(std::fs::symlink_metadata(wt.join("out")).unwrap().is_dir(), "out is a real directory");
    assert_eq!(std::fs::read_to_string(wt.join("out/x")).unwrap(), "tracked\n");
    let outside = env.path("outside/x");
    assert!(!outside.exists(), "nothing was written through the ignored symlink: {}", outside.display());
}

#[test]
fn gc_parks_finished_worktrees_and_the_next_task_reuses_one_with_only_the_differences_written() {
    let env = TestEnv::new();
    let dir = landed_then_moved(&env);
    let before: Vec<u64> = ["t0", "t1", "t2"]
        .iter()
        .map(|t| inode(&worktree_of(&env, &dir, &format!("maestro/m/tasks/{t}")).unwrap()))
        .collect();
    let report = env.run(&dir, &["gc", "--json"]).success().json();
    let m = report.as_array().unwrap().iter().find(|s| s["score"] == "m").unwrap();
    let pooled = m["worktrees"].as_array().unwrap().iter().filter(|w| w["action"] == "pooled").count();
    assert_eq!(pooled, 3, "the three finished worktrees are parked:\n{report:#}");
    assert_eq!(pool(&dir), ["0", "1", "2"]);
    let parked: Vec<u64> = pool(&dir).iter().map(|n| inode(&pool_dir(&dir).join(n))).collect();
    assert_eq!(parked, before, "the same directories, moved");
    let list = env.git(&dir, &["worktree", "list", "--porcelain"]).success_git();
    assert!(!list.contains("branch refs/heads/maestro/m/"), "no pooled worktree holds a branch:\n{list}");
    assert!(env.git(&dir, &["branch", "--list", "maestro/m/*"]).success_git().is_empty(), "gc removed m's branches");
    let doctor = env.run(&dir, &["doctor"]);
    assert_eq!(doctor.code, 0, "pool entries are no strays:\n{}", doctor.render());

    plan(&env, &dir, "n", 1);
    run_with(&env, &dir, "n/t0", "n.txt=n");
    let wt = worktree_of(&env, &dir, "maestro/n/tasks/t0").expect("n/t0 has a worktree");
    assert_eq!(inode(&wt), before[0], "n/t0 took the first pooled worktree (m/t0's)");
    assert_eq!(pool(&dir), ["1", "2"], "it left the pool");
    checkout_matches(&env, &wt, "main", &["n.txt"]);
    assert_eq!(std::fs::read_to_string(wt.join("warm/cache")).unwrap(), "built", "ignored files stay warm");
    let doctor = env.run(&dir, &["doctor"]);
    assert_eq!(doctor.code, 0, "{}", doctor.render());
}

#[test]
fn a_pooled_worktree_with_anything_unsaved_is_never_reused_and_prune_keeps_it() {
    let env = TestEnv::new();
    let dir = landed_then_moved(&env);
    env.run(&dir, &["gc"]).success();
    assert_eq!(pool(&dir), ["0", "1", "2"]);
    let entry = |n: &str| pool_dir(&dir).join(n);
    std::fs::write(entry("0").join("untracked.txt"), "mine").unwrap();
    std::fs::write(entry("1").join("t0.txt"), "a local change\n").unwrap();
    let third = inode(&entry("2"));

    plan(&env, &dir, "n", 1);
    run_with(&env, &dir, "n/t0", "n.txt=n");
    let wt = worktree_of(&env, &dir, "maestro/n/tasks/t0").unwrap();
    assert_eq!(inode(&wt), third, "only the clean entry is reused");
    assert_eq!(pool(&dir), ["0", "1"], "the others stay where they are");
    assert_eq!(std::fs::read_to_string(entry("0").join("untracked.txt")).unwrap(), "mine");
    assert_eq!(std::fs::read_to_string(entry("1").join("t0.txt")).unwrap(), "a local change\n");
    checkout_matches(&env, &wt, "main", &["n.txt"]);

    let report = env.run(&dir, &["worktrees", "prune", "--json"]).success().json();
    let rows: Vec<&serde_json::Value> = report.as_array().unwrap().iter().filter(|r| r["score"] == "pool").collect();
    assert_eq!(rows.len(), 2, "{report:#}");
    assert!(rows.iter().all(|r| r["action"] == "kept"), "nothing unsaved is removed:\n{report:#}");
    assert_eq!(std::fs::read_to_string(entry("0").join("untracked.txt")).unwrap(), "mine");

    std::fs::remove_file(entry("0").join("untracked.txt")).unwrap();
    env.git(&entry("1"), &["checkout", "--", "t0.txt"]).success_git();
    let report = env.run(&dir, &["worktrees", "prune", "--json"]).success().json();
    let rows: Vec<&serde_json::Value> = report.as_array().unwrap().iter().filter(|r| r["score"] == "pool").collect();
    assert_eq!(rows.len(), 2, "{report:#}");
    assert!(rows.iter().all(|r| r["action"] == "removed"), "the pool's entries are removed:\n{report:#}");
    assert_eq!(pool(&dir), Vec::<String>::new(), "prune emptied the pool");
    let list = env.git(&dir, &["worktree", "list", "--porcelain"]).success_git();
    assert!(!list.contains("/.pool/"), "no pooled worktree is registered:\n{list}");
}

/// `worktrees prune` also empties a pool under a worktree root that `maestro.worktreeRoot` no
/// longer names: its entries are still worktrees of the repository.
#[test]
fn prune_empties_the_pool_of_an_earlier_worktree_root_too() {
    let env = TestEnv::new();
    let dir = landed(&env);
    env.run(&dir, &["gc"]).success();
    let old = pool_dir(&dir);
    assert_eq!(pool(&dir), ["0", "1", "2"]);
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("elsewhere").to_str().unwrap()]).success_git();
    let report = env.run(&dir, &["worktrees", "prune", "--json"]).success().json();
    let rows: Vec<&serde_json::Value> = report.as_array().unwrap().iter().filter(|r| r["score"] == "pool").collect();
    assert_eq!(rows.len(), 3, "{report:#}");
    assert!(rows.iter().all(|r| r["action"] == "removed"), "{report:#}");
    let list = env.git(&dir, &["worktree", "list", "--porcelain"]).success_git();
    assert_eq!(list.matches("worktree ").count(), 1, "only the main checkout is left:\n{list}");
    let left: Vec<_> = std::fs::read_dir(&old).unwrap().flatten().filter(|e| e.path().is_dir()).collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A pooled worktree's HEAD is saved while any ref reaches it: the branch it was parked from,
/// or, once that branch is gone, a merge. A commit made on it that no ref reaches keeps it out.
#[test]
fn a_pooled_worktree_is_reused_while_any_ref_reaches_its_head() {
    let env = TestEnv::new();
    let dir = landed_then_moved(&env);
    env.run(&dir, &["gc"]).success();
    assert_eq!(pool(&dir), ["0", "1", "2"]);
    let branches = env.git(&dir, &["branch", "--list", "maestro/m/tasks/*"]).success_git();
    assert_eq!(branches, "", "gc removed the merged task branches: only the merges reach their work");
    let entry = |n: &str| pool_dir(&dir).join(n);
    for n in ["0", "1"] {
        env.git(&entry(n), &["commit", "-q", "--allow-empty", "-m", "on no ref"]).success_git();
    }
    let third = inode(&entry("2"));

    plan(&env, &dir, "n", 1);
    run_with(&env, &dir, "n/t0", "n.txt=n");
    let wt = worktree_of(&env, &dir, "maestro/n/tasks/t0").unwrap();
    assert_eq!(inode(&wt), third, "the entry whose HEAD a merge reaches is reused");
    assert_eq!(pool(&dir), ["0", "1"], "the others stay where they are");
    checkout_matches(&env, &wt, "main", &["n.txt"]);
}

#[test]
fn the_pool_holds_at_most_its_cap_and_the_rest_is_removed() {
    let env = TestEnv::new();
    let dir = landed(&env);
    let config = std::fs::read_to_string(dir.join(".maestro/config.toml")).unwrap();
    std::fs::write(dir.join(".maestro/config.toml"), format!("{config}\n[worktrees]\npool = 2\n")).unwrap();
    let report = env.run(&dir, &["gc", "--json"]).success().json();
    let m = report.as_array().unwrap().iter().find(|s| s["score"] == "m").unwrap();
    let actions: Vec<&str> = m["worktrees"].as_array().unwrap().iter().map(|w| w["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["pooled", "pooled", "removed"], "{report:#}");
    assert_eq!(pool(&dir), ["0", "1"]);
    let bad = format!("{config}\n[worktrees]\npool = -1\n");
    std::fs::write(dir.join(".maestro/config.toml"), bad).unwrap();
    let refused = env.run(&dir, &["gc"]).user_error();
    assert!(refused.stderr.contains("worktrees.pool"), "{}", refused.render());
}

#[test]
fn a_crash_mid_reuse_is_settled_by_the_next_command() {
    let env = TestEnv::new();
    let dir = landed_then_moved(&env);
    env.run(&dir, &["gc"]).success();
    let first = inode(&pool_dir(&dir).join("0"));
    plan(&env, &dir, "n", 1);
    let fake = env!("CARGO_BIN_EXE_fake-performer");
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{fake}\"\nenv = {{ FAKE_WRITE = \"n.txt=n\" }}\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    let out = env.command(&dir).args(["task", "run", "n/t0"]).env("MAESTRO_FAILPOINTS", "pool:moved").output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(9), "killed at the point:\n{}", crate::common::Run::from(out).render());
    assert_eq!(pool(&dir), ["1", "2"], "the entry had moved when the process died");

    env.run(&dir, &["task", "run", "n/t0"]).success();
    let wt = worktree_of(&env, &dir, "maestro/n/tasks/t0").expect("n/t0 has its worktree");
    assert_eq!(inode(&wt), first, "the pooled worktree the crash moved is the task's");
    checkout_matches(&env, &wt, "main", &["n.txt"]);
    let doctor = env.run(&dir, &["doctor"]);
    assert_eq!(doctor.code, 0, "{}", doctor.render());
}

/// The Score `id` of `tasks` independent tasks, planned and approved in `dir`, with the fake
/// performer and a check that passes as its trusted config.
fn approved(env: &TestEnv, dir: &Path, id: &str, tasks: usize) {
    let mut text = format!("format = 1\nid = \"{id}\"\ntarget = \"main\"\napproval = [\"checks\"]\n");
    for t in 0..tasks {
        text.push_str(&format!("[[tasks]]\nid = \"t{t}\"\nchecks = [\"ok\"]\n"));
    }
    env.write(&format!("{id}.toml"), &text);
    env.run(dir, &["plan", "--from", &format!("../{id}.toml")]).success();
    env.run(dir, &["approve", id]).success();
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{}\"\nenv = {{ FAKE_WRITE = \"{{task}}.txt={{task}}\" }}\n\n\
         [checks.ok]\nrun = \"true\"\n",
        env!("CARGO_BIN_EXE_fake-performer")
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
}

#[test]
fn run_parks_each_merged_worktree_and_its_next_task_starts_from_it() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    approved(&env, &dir, "m", 3);
    env.run(&dir, &["run", "m", "--max-parallel", "1"]).success();
    let merged = env.git(&dir, &["rev-list", "--merges", "--count", "maestro/m/integration"]).success_git();
    assert_eq!(merged.trim(), "3", "every task merged");
    // Each task took the worktree its predecessor left: one directory served all three, and
    // after the last merge it waits in the pool.
    assert_eq!(pool(&dir), ["0"], "the last merged worktree is parked");
    for t in ["t0", "t1", "t2"] {
        assert_eq!(worktree_of(&env, &dir, &format!("maestro/m/tasks/{t}")), None, "m/{t}'s worktree moved on");
    }
    let parked = pool_dir(&dir).join("0");
    let status = env.git(&parked, &["status", "--porcelain"]).success_git();
    assert_eq!(status, "", "the parked worktree is clean");
    let doctor = env.run(&dir, &["doctor"]);
    assert_eq!(doctor.code, 0, "{}", doctor.render());

    // With `pool = 0`, run leaves merged worktrees for gc, as before.
    approved(&env, &dir, "n", 2);
    let text = std::fs::read_to_string(dir.join(".maestro/config.toml")).unwrap();
    std::fs::write(dir.join(".maestro/config.toml"), format!("{text}\n[worktrees]\npool = 0\n")).unwrap();
    env.run(&dir, &["run", "n", "--max-parallel", "1"]).success();
    for t in ["t0", "t1"] {
        assert!(worktree_of(&env, &dir, &format!("maestro/n/tasks/{t}")).is_some(), "pool = 0: n/{t} keeps its own");
    }
    assert_eq!(pool(&dir), ["0"]);
}

/// A temporary directory on another file system than `dir`: in `/dev/shm` (tmpfs). `None`
/// when there is none; the test then says it skipped, and fails under `MAESTRO_E2E_REQUIRED=1`.
fn dir_on_another_file_system(dir: &Path) -> Option<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let other = shm.is_dir() && std::fs::metadata(shm).unwrap().dev() != std::fs::metadata(dir).unwrap().dev();
    if !crate::common::required_tool("a second file system at /dev/shm (tmpfs)", other, "mount a tmpfs at /dev/shm") {
        return None;
    }
    Some(tempfile::tempdir_in(shm).unwrap())
}

/// The worktree root on another file system than the repository (the default root is in
/// `$XDG_DATA_HOME`, a repository often on another mount): the pool still serves every task,
/// and no worktree is left behind detached. The pool used to live in `.git`, where every park
/// failed with EXDEV and left the worktree detached where it was.
#[test]
fn the_pool_works_when_the_worktree_root_is_on_another_file_system() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let Some(root) = dir_on_another_file_system(&dir) else { return };
    env.git(&dir, &["config", "maestro.worktreeRoot", root.path().to_str().unwrap()]).success_git();
    approved(&env, &dir, "m", 3);
    env.run(&dir, &["run", "m", "--max-parallel", "1"]).success();
    let merged = env.git(&dir, &["rev-list", "--merges", "--count", "maestro/m/integration"]).success_git();
    assert_eq!(merged.trim(), "3", "every task merged");
    assert_eq!(pool(&dir), ["0"], "one worktree served all three and waits in the pool");
    let list = env.git(&dir, &["worktree", "list", "--porcelain"]).success_git();
    assert_eq!(list.matches("\ndetached").count(), 1, "only the pooled worktree is detached:\n{list}");
    env.run(&dir, &["worktrees", "prune"]).success();
    let list = env.git(&dir, &["worktree", "list", "--porcelain"]).success_git();
    assert_eq!(list.matches("worktree ").count(), 1, "prune emptied the pool:\n{list}");
}

/// A pool the worktrees cannot be moved into (here its directory links to another file
/// system; a mount does the same): each worktree `gc` or `run` would park is removed instead,
/// as without a pool, and none is left detached where no listing shows it.
#[test]
fn a_worktree_the_pool_cannot_take_is_removed_not_left_detached() {
    let env = TestEnv::new();
    let dir = landed(&env);
    let Some(elsewhere) = dir_on_another_file_system(&dir) else { return };
    std::os::unix::fs::symlink(elsewhere.path(), pool_dir(&dir)).unwrap();
    let report = env.run(&dir, &["gc", "--json"]).success().json();
    let m = report.as_array().unwrap().iter().find(|s| s["score"] == "m").unwrap();
    let actions: Vec<&str> = m["worktrees"].as_array().unwrap().iter().map(|w| w["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["removed", "removed", "removed"], "{report:#}");
    let reasons = m["worktrees"].as_array().unwrap().iter().map(|w| w["reason"].as_str().unwrap());
    assert!(reasons.clone().all(|r| r.contains("it is removed instead")), "{report:#}");
    let list = env.git(&dir, &["worktree", "list", "--porcelain"]).success_git();
    assert_eq!(list.matches("worktree ").count(), 1, "only the main checkout is left:\n{list}");

    // Score n's tasks write t0.txt and t1.txt anew.
    env.git(&dir, &["rm", "-q", "t0.txt", "t1.txt"]).success_git();
    env.git(&dir, &["commit", "-q", "-m", "make room for n"]).success_git();
    approved(&env, &dir, "n", 2);
    env.run(&dir, &["run", "n", "--max-parallel", "1"]).success();
    let merged = env.git(&dir, &["rev-list", "--merges", "--count", "main..maestro/n/integration"]).success_git();
    assert_eq!(merged.trim(), "2", "every task merged");
    let list = env.git(&dir, &["worktree", "list", "--porcelain"]).success_git();
    assert_eq!(list.matches("worktree ").count(), 1, "run removed each merged worktree:\n{list}");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().flatten().filter(|e| e.path().is_dir()).count(), 0);
}
