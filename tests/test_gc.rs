//! `git maestro gc`: finished Scores are cleaned up, and every removed tip stays reachable.

use std::path::{Path, PathBuf};

use crate::common::TestEnv;
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// A repo with the Score `m` (3 tasks) run, merged task by task and landed on main.
pub(crate) fn landed(env: &TestEnv) -> PathBuf {
    let dir = env.repo("r");
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    plan(env, &dir, "m", 3);
    for t in ["t0", "t1", "t2"] {
        run_with(env, &dir, &format!("m/{t}"), &format!("{t}.txt={t}"));
        env.run(&dir, &["approve", &format!("m/{t}")]).success();
        env.run(&dir, &["merge", &format!("m/{t}")]).success();
    }
    env.run(&dir, &["approve", "m"]).success();
    env.run(&dir, &["land", "m"]).success();
    dir
}

pub(crate) fn plan(env: &TestEnv, dir: &Path, score: &str, tasks: usize) {
    let text = env.fixture("score-many.sh", &[score, &tasks.to_string()]);
    env.write(&format!("{score}.toml"), &text);
    env.run(dir, &["plan", "--from", &format!("../{score}.toml")]).success();
    env.run(dir, &["approve", score]).success();
}

pub(crate) fn run_with(env: &TestEnv, dir: &Path, address: &str, files: &str) {
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nenv = {{ FAKE_WRITE = \"{files}\" }}\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.run(dir, &["task", "run", address]).success();
}

fn refs(env: &TestEnv, dir: &Path) -> String {
    env.git(dir, &["for-each-ref", "--format=%(refname) %(objectname)"]).success_git()
}

fn worktrees(env: &TestEnv, dir: &Path) -> String {
    env.git(dir, &["worktree", "list", "--porcelain"]).success_git()
}

/// `(name, tip)` of every ref whose name starts with `prefix`.
fn refs_under(env: &TestEnv, dir: &Path, prefix: &str) -> Vec<(String, String)> {
    refs(env, dir)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(|l| {
            let (name, tip) = l.split_once(' ').unwrap();
            (name.to_owned(), tip.to_owned())
        })
        .collect()
}

/// The path of the worktree that has `branch` checked out.
pub(crate) fn worktree_of(env: &TestEnv, dir: &Path, branch: &str) -> Option<PathBuf> {
    let list = worktrees(env, dir);
    let mut path = None;
    for line in list.lines() {
        if let Some(p) = line.strip_prefix("worktree ") {
            path = Some(PathBuf::from(p));
        }
        if line == format!("branch refs/heads/{branch}") {
            return path;
        }
    }
    None
}

fn reachable(env: &TestEnv, dir: &Path, tip: &str, from: &str) -> bool {
    env.git(dir, &["merge-base", "--is-ancestor", tip, from]).code == 0
}

#[test]
fn gc_archives_a_landed_score_removes_its_refs_and_worktrees_and_then_does_nothing() {
    let env = TestEnv::new();
    let dir = landed(&env);
    // Work of m kept aside, on no branch: a keep ref whose commit names the Score.
    let t1 = env.git(&dir, &["rev-parse", "maestro/m/tasks/t1"]).success_git().trim().to_owned();
    let aside = env
        .git(&dir, &["commit-tree", &format!("{t1}^{{tree}}"), "-p", &t1, "-m", "aside\n\nMaestro-Score: m"])
        .success_git()
        .trim()
        .to_owned();
    env.git(&dir, &["update-ref", &format!("refs/maestro/keep/{aside}"), &aside]).success_git();
    let mut gone = refs_under(&env, &dir, "refs/heads/maestro/m/");
    gone.extend(refs_under(&env, &dir, "refs/maestro/keep/"));
    assert!(gone.iter().any(|(n, _)| n.ends_with(&aside)), "{gone:?}");
    // A second Score, still going: left alone, its kept results too.
    plan(&env, &dir, "n", 1);
    run_with(&env, &dir, "n/t0", "n.txt=n");
    let n_keeps: Vec<_> =
        refs_under(&env, &dir, "refs/maestro/keep/").into_iter().filter(|r| !gone.contains(r)).collect();
    assert!(worktree_of(&env, &dir, "maestro/m/tasks/t0").is_some(), "task worktrees exist before gc");
    let n_before = refs_under(&env, &dir, "refs/heads/maestro/n/");
    assert!(!n_before.is_empty(), "n has a branch");

    let (refs_before, worktrees_before) = (refs(&env, &dir), worktrees(&env, &dir));
    let dry = env.run(&dir, &["gc", "--dry-run"]).success();
    assert_eq!(refs(&env, &dir), refs_before, "--dry-run moves no ref:\n{}", dry.render());
    assert_eq!(worktrees(&env, &dir), worktrees_before, "--dry-run removes no worktree:\n{}", dry.render());
    for (name, _) in &gone {
        assert!(dry.stdout.contains(&format!("would remove {name} at")), "{name} listed:\n{}", dry.render());
    }
    assert!(dry.stdout.contains("m  would archive refs/maestro/archive/m"), "{}", dry.render());
    let alone = "n  left alone: it is running, not finished";
    assert!(dry.stdout.contains(alone), "a Score whose task ran is running, and left alone:\n{}", dry.render());

    let report = env.run(&dir, &["gc", "--json"]).success().json();
    let m = report.as_array().unwrap().iter().find(|s| s["score"] == "m").unwrap();
    assert_eq!(m["status"], "landed");
    assert_eq!(m["refs"].as_array().unwrap().len(), gone.len(), "{report:#}");
    assert!(m["refs"].as_array().unwrap().iter().all(|r| r["action"] == "removed"), "{report:#}");
    // Parked in the warm worktree pool (4 by default), not removed: see test_pool.
    assert_eq!(m["worktrees"].as_array().unwrap().iter().filter(|w| w["action"] == "pooled").count(), 3);

    assert_eq!(refs_under(&env, &dir, "refs/heads/maestro/m/"), vec![], "no branch of m is left");
    assert_eq!(refs_under(&env, &dir, "refs/maestro/keep/"), n_keeps, "m's keep refs are gone, n's stay");
    assert!(!worktrees(&env, &dir).contains("/m/"), "no worktree of m is left:\n{}", worktrees(&env, &dir));
    let archives = refs_under(&env, &dir, "refs/maestro/archive/");
    assert_eq!(archives.len(), 1, "one archive ref: {archives:?}");
    assert_eq!(archives[0].0, "refs/maestro/archive/m");
    for (name, tip) in &gone {
        assert!(reachable(&env, &dir, tip, "refs/maestro/archive/m"), "{name}'s tip {tip} is still reachable");
    }
    assert_eq!(refs_under(&env, &dir, "refs/heads/maestro/n/"), n_before, "the running Score is untouched");
    env.git(&dir, &["fsck", "--no-dangling"]).success_git();
    env.run(&dir, &["doctor"]).success();

    let (refs_after, worktrees_after) = (refs(&env, &dir), worktrees(&env, &dir));
    let again = env.run(&dir, &["gc"]).success();
    assert_eq!(refs(&env, &dir), refs_after, "a second gc moves nothing:\n{}", again.render());
    assert_eq!(worktrees(&env, &dir), worktrees_after, "a second gc removes nothing:\n{}", again.render());
    assert!(!again.stdout.contains("m  "), "nothing about m the second time:\n{}", again.render());
    assert!(again.stderr.contains("Nothing changed."), "{}", again.render());
}

/// A rollback of a task of a Score gc cleaned up names the archived integration tip, and how to
/// bring the branch back; with it back, the rollback works.
#[test]
fn a_rollback_after_gc_says_how_to_bring_back_the_archived_branch() {
    let env = TestEnv::new();
    let dir = landed(&env);
    let tip = env.git(&dir, &["rev-parse", "maestro/m/integration"]).success_git().trim().to_owned();
    env.run(&dir, &["gc"]).success();
    let state = env.state_tip(&dir);
    let refused = env.run(&dir, &["rollback", "m/t1"]).user_error();
    assert!(
        refused.stderr.contains(&format!(
            "maestro/m/integration was cleaned up by gc: its tip {tip} is archived under refs/maestro/archive/m"
        )),
        "{}",
        refused.render()
    );
    assert!(refused.stderr.contains(&format!("`git branch maestro/m/integration {tip}`")), "{}", refused.render());
    assert_eq!(env.state_tip(&dir), state, "nothing was written");
    env.git(&dir, &["branch", "maestro/m/integration", &tip]).success_git();
    env.run(&dir, &["rollback", "m/t1"]).success();
    env.run(&dir, &["doctor"]).success();
}

#[test]
fn gc_leaves_a_score_merged_by_hand_alone_and_says_how_to_land_it() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    plan(&env, &dir, "n", 1);
    run_with(&env, &dir, "n/t0", "n.txt=n");
    env.run(&dir, &["approve", "n/t0"]).success();
    env.run(&dir, &["merge", "n/t0"]).success();
    let (refs_before, worktrees_before) = (refs(&env, &dir), worktrees(&env, &dir));
    let run = env.run(&dir, &["gc"]).success();
    let hint =
        "n  left alone: it is done but not landed: land it with `git maestro approve n` and `git maestro land n` first";
    assert!(run.stdout.contains(hint), "{}", run.render());
    assert_eq!((refs(&env, &dir), worktrees(&env, &dir)), (refs_before, worktrees_before), "{}", run.render());
}

#[test]
fn gc_keeps_a_checked_out_branch_and_a_worktree_with_uncommitted_changes() {
    let env = TestEnv::new();
    let dir = landed(&env);
    let t0_worktree = worktree_of(&env, &dir, "maestro/m/tasks/t0").unwrap();
    std::fs::write(t0_worktree.join("scratch.txt"), "not committed\n").unwrap();
    let elsewhere = env.path("elsewhere");
    env.git(&dir, &["worktree", "add", elsewhere.to_str().unwrap(), "maestro/m/integration"]).success_git();
    let t1 = env.git(&dir, &["rev-parse", "maestro/m/tasks/t1"]).success_git().trim().to_owned();

    let run = env.run(&dir, &["gc"]).success();
    assert!(run.stdout.contains("uncommitted changes"), "{}", run.render());
    assert!(run.stdout.contains("kept         refs/heads/maestro/m/integration"), "{}", run.render());
    assert!(run.stdout.contains("it is checked out in a worktree"), "the reason is given:\n{}", run.render());
    assert!(t0_worktree.join("scratch.txt").exists(), "the uncommitted file is still there");
    let left: Vec<String> = refs_under(&env, &dir, "refs/heads/maestro/m/").into_iter().map(|(n, _)| n).collect();
    assert_eq!(left, ["refs/heads/maestro/m/integration", "refs/heads/maestro/m/tasks/t0"], "{}", run.render());
    assert!(reachable(&env, &dir, &t1, "refs/maestro/archive/m"), "t1's tip was archived before removal");
    env.git(&dir, &["fsck", "--no-dangling"]).success_git();
}

#[test]
fn gc_after_the_demo_leaves_no_maestro_branch_or_extra_worktree_and_loses_no_tip() {
    let env = TestEnv::new();
    let demo = env.path("demo");
    env.run(&env.path(""), &["demo", "--dir", demo.to_str().unwrap()]).success();
    let dir = demo.join("calc");
    let mut gone = refs_under(&env, &dir, "refs/heads/maestro/");
    gone.extend(refs_under(&env, &dir, "refs/maestro/keep/"));
    assert!(!gone.is_empty(), "the demo leaves branches behind");

    let run = env.run(&dir, &["gc"]).success();
    assert_eq!(refs_under(&env, &dir, "refs/heads/maestro/"), vec![], "no maestro/* branch:\n{}", run.render());
    assert_eq!(refs_under(&env, &dir, "refs/maestro/keep/"), vec![], "no keep ref:\n{}", run.render());
    let worktrees = worktrees(&env, &dir);
    let pooled = worktrees.matches("/.pool/").count();
    assert_eq!(pooled, worktrees.matches("\ndetached").count(), "pooled worktrees are detached:\n{worktrees}");
    assert_eq!(worktrees.matches("worktree ").count() - pooled, 1, "only the main checkout is left:\n{worktrees}");
    for (name, tip) in &gone {
        assert!(reachable(&env, &dir, tip, "refs/maestro/archive/calc"), "{name}'s tip {tip} is reachable");
    }
    env.git(&dir, &["fsck", "--no-dangling"]).success_git();
    env.run(&dir, &["doctor"]).success();
}

#[test]
fn gc_of_a_rolled_back_score_archives_its_unlanded_work_and_drops_nothing_else() {
    let env = TestEnv::new();
    // Landed, then rolled back as a whole: the integration branch ends in reverts that never land.
    let dir = landed(&env);
    env.run(&dir, &["rollback", "m"]).success();
    let score = env.run(&dir, &["score", "show", "m", "--json"]).success().json();
    assert_eq!(score["status"], "rolled-back", "{score:#}");
    let main = refs_under(&env, &dir, "refs/heads/main");
    let before = refs_under(&env, &dir, "refs/");

    let run = env.run(&dir, &["gc"]).success();
    assert_eq!(refs_under(&env, &dir, "refs/heads/maestro/m/"), vec![], "{}", run.render());
    assert_eq!(refs_under(&env, &dir, "refs/heads/main"), main, "the target is never touched");
    let after = refs_under(&env, &dir, "refs/");
    for (name, tip) in &before {
        if name == "refs/maestro/state" {
            assert!(reachable(&env, &dir, tip, name), "the state only grows");
            continue;
        }
        let kept = after.iter().any(|(n, t)| n == name && t == tip);
        assert!(
            kept || reachable(&env, &dir, tip, "refs/maestro/archive/m"),
            "{name} at {tip} is either still there or archived:\n{}",
            run.render()
        );
    }
    env.git(&dir, &["fsck", "--no-dangling"]).success_git();
    env.run(&dir, &["doctor"]).success();
}
