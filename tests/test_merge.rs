//! Approval verdicts and merges into the integration branch, checked against plain git.

use std::path::{Path, PathBuf};

use crate::common::{Run, TestEnv};
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// A repo with the three-task Score `m`, still a draft.
fn setup_draft(env: &TestEnv) -> PathBuf {
    let dir = env.repo("r");
    let text = env.fixture("score-many.sh", &["m", "3"]);
    env.write("m.toml", &text);
    env.run(&dir, &["plan", "--from", "../m.toml"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    dir
}

/// A repo with the three-task Score `m`, its plan approved so that its tasks may run.
fn setup(env: &TestEnv) -> PathBuf {
    let dir = setup_draft(env);
    env.run(&dir, &["approve", "m"]).success();
    dir
}

/// Run `m/<task>` with a fake performer that writes `files` (`path=content` lines).
fn run_with(env: &TestEnv, dir: &Path, task: &str, files: &str) {
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nenv = {{ FAKE_WRITE = \"{files}\" }}\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.run(dir, &["task", "run", &format!("m/{task}")]).success();
}

fn rev(env: &TestEnv, dir: &Path, name: &str) -> String {
    env.git(dir, &["rev-parse", name]).success_git().trim().to_owned()
}

/// The tree `git merge-tree --write-tree` makes, or `None` when git finds conflicts.
fn git_merge_tree(env: &TestEnv, dir: &Path, ours: &str, theirs: &str) -> Option<String> {
    let run: Run = env.git(dir, &["merge-tree", "--write-tree", ours, theirs]);
    (run.code == 0).then(|| run.stdout.lines().next().unwrap().to_owned())
}

#[test]
fn approved_tasks_merge_to_exactly_the_tree_git_would_make() {
    let env = TestEnv::new();
    let dir = setup(&env);
    run_with(&env, &dir, "t0", "t0.txt=zero");
    run_with(&env, &dir, "t1", "t1.txt=one");
    let not_yet = env.run(&dir, &["merge", "m/t0"]).user_error();
    assert!(not_yet.stderr.contains("Hint: approve it first: `git maestro approve m/t0`"), "{}", not_yet.render());

    env.run(&dir, &["approve", "m/t0", "-m", "looks right"]).success();
    let main = rev(&env, &dir, "main");
    let expected = git_merge_tree(&env, &dir, &main, "maestro/m/tasks/t0").unwrap();
    let merged = env.run(&dir, &["merge", "m/t0", "--json"]).success().json();
    assert_eq!(merged["outcome"], "merged");
    let first = rev(&env, &dir, "maestro/m/integration");
    assert_eq!(rev(&env, &dir, &format!("{first}^{{tree}}")), expected, "same tree as git merge-tree");
    let parents = env.git(&dir, &["log", "-1", "--format=%P%n%B", &first]).success_git();
    assert!(parents.starts_with(&format!("{main} {}", rev(&env, &dir, "maestro/m/tasks/t0"))), "{parents}");
    assert!(parents.contains("Maestro-Score: m\nMaestro-Task: t0"), "{parents}");

    env.run(&dir, &["approve", "m/t1"]).success();
    let expected = git_merge_tree(&env, &dir, &first, "maestro/m/tasks/t1").unwrap();
    env.run(&dir, &["merge", "m/t1"]).success();
    let second = rev(&env, &dir, "maestro/m/integration");
    assert_eq!(rev(&env, &dir, &format!("{second}^{{tree}}")), expected);
    assert_eq!(rev(&env, &dir, &format!("{second}^1")), first, "the branch grew by one merge");

    let task = env.run(&dir, &["task", "show", "m/t1", "--json"]).success().json();
    assert_eq!(task["status"], "merged");
    assert_eq!(task["merge_commit"], second.as_str());
    let score = env.run(&dir, &["score", "show", "m", "--json"]).success().json();
    assert_eq!(score["base"], main.as_str(), "the integration branch's base is recorded");
    // (kind, task) of every decision; the plan approval names no task.
    let kinds: Vec<(String, Option<String>)> = env
        .run(&dir, &["decisions", "--score", "m", "--json"])
        .success()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["kind"].as_str().unwrap().to_owned(), d["task"].as_str().map(str::to_owned)))
        .collect();
    assert_eq!(kinds.iter().filter(|(k, t)| k == "approval" && t.is_some()).count(), 2, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|(k, t)| k == "approval" && t.is_none()).count(), 1, "the plan's: {kinds:?}");
    assert_eq!(kinds.iter().filter(|(k, _)| k == "merge").count(), 2, "{kinds:?}");
}

#[test]
fn a_conflicting_merge_moves_nothing_and_records_the_paths() {
    let env = TestEnv::new();
    let dir = setup(&env);
    run_with(&env, &dir, "t0", "README.md=# Zero");
    run_with(&env, &dir, "t1", "README.md=# One");
    env.run(&dir, &["approve", "m/t0"]).success();
    env.run(&dir, &["approve", "m/t1"]).success();
    env.run(&dir, &["merge", "m/t0"]).success();
    let before = rev(&env, &dir, "maestro/m/integration");
    assert_eq!(git_merge_tree(&env, &dir, &before, "maestro/m/tasks/t1"), None, "git agrees it conflicts");
    let run = env.run(&dir, &["merge", "m/t1"]).user_error();
    assert!(run.stderr.contains("m/t1 conflicts with maestro/m/integration in: README.md"), "{}", run.render());
    assert_eq!(rev(&env, &dir, "maestro/m/integration"), before, "the integration ref did not move");
    let task = env.run(&dir, &["task", "show", "m/t1", "--json"]).success().json();
    assert_eq!(task["status"], "conflict");
    assert_eq!(task["conflicts"], serde_json::json!(["README.md"]));

    // The way out by hand: run it again. Its branch restarts from the integration tip (the old
    // result is kept), so the new result merges; building on the old one would conflict again.
    let old = rev(&env, &dir, "maestro/m/tasks/t1");
    run_with(&env, &dir, "t1", "README.md=# Zero and one");
    assert_eq!(rev(&env, &dir, "maestro/m/tasks/t1^"), before, "the new result sits on the integration tip");
    let kept = env.git(&dir, &["for-each-ref", "--format=%(objectname)", "refs/maestro/keep/"]).success_git();
    assert!(kept.contains(&old), "the old result is kept: {kept}");
    let conflicts = &env.run(&dir, &["task", "show", "m/t1", "--json"]).success().json()["conflicts"];
    assert!(conflicts.as_array().is_none_or(Vec::is_empty), "a new run clears the old conflicts: {conflicts}");
    env.run(&dir, &["approve", "m/t1"]).success();
    env.run(&dir, &["merge", "m/t1"]).success();
    let readme = env.git(&dir, &["show", "maestro/m/integration:README.md"]).success_git();
    assert_eq!(readme.trim(), "# Zero and one");
}

#[test]
fn a_checked_out_integration_branch_is_never_moved() {
    let env = TestEnv::new();
    let dir = setup(&env);
    run_with(&env, &dir, "t0", "t0.txt=zero");
    run_with(&env, &dir, "t1", "t1.txt=one");
    env.run(&dir, &["approve", "m/t0"]).success();
    env.run(&dir, &["merge", "m/t0"]).success();
    env.git(&dir, &["worktree", "add", "-q", "../int", "maestro/m/integration"]).success_git();
    let before = rev(&env, &dir, "maestro/m/integration");
    env.run(&dir, &["approve", "m/t1"]).success();
    let run = env.run(&dir, &["merge", "m/t1"]).user_error();
    assert!(run.stderr.contains("maestro/m/integration is checked out in a worktree"), "{}", run.render());
    assert_eq!(rev(&env, &dir, "maestro/m/integration"), before);
    assert_eq!(env.run(&dir, &["task", "show", "m/t1", "--json"]).success().json()["status"], "approved");
}

#[test]
fn a_rejection_records_the_reason() {
    let env = TestEnv::new();
    let dir = setup_draft(&env);
    let plan = env.run(&dir, &["approve", "m", "--json"]).success().json();
    assert_eq!(plan["status"], "approved", "a Score id approves the plan");
    assert_eq!(plan["approved"], "plan");
    run_with(&env, &dir, "t0", "t0.txt=zero");
    env.run(&dir, &["reject", "m/t0"]).code.eq(&2).then_some(()).expect("a rejection needs -m");
    let run = env.run(&dir, &["reject", "m/t0", "-m", "missing tests", "--json"]).success();
    assert_eq!(run.json()["status"], "rejected");
    let d = env.run(&dir, &["decisions", "--kind", "rejection", "--json"]).success().json();
    assert_eq!(d[0]["rationale"], "missing tests");
    // After the plan, a Score id asks for landing approval, which a Score whose tasks are not
    // merged cannot get (landing approval itself is checked in the land test below).
    let tip = env.state_tip(&dir);
    let early = env.run(&dir, &["approve", "m"]).user_error();
    assert!(early.stderr.contains("Error: m cannot land yet: t0, t1, t2 not merged"), "{}", early.render());
    assert_eq!(env.state_tip(&dir), tip, "nothing was recorded");
}

/// Property: after N random task merges, rolling back one task gives exactly the tree that
/// merging all the others gives (built here with plain git), and rolling back the Score gives
/// the base tree. Later merges stay intact; history only grows.
#[test]
fn rollback_leaves_exactly_the_other_merges_and_then_the_base() {
    for seed in 0..4u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let n = rng.usize(3..=5);
        let env = TestEnv::new();
        let dir = env.repo("r");
        let text = env.fixture("score-many.sh", &["m", &n.to_string()]);
        env.write("m.toml", &text);
        env.run(&dir, &["plan", "--from", "../m.toml"]).success();
        env.run(&dir, &["approve", "m"]).success();
        env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
        for i in 0..n {
            // Each task adds a file; task 0 also edits a file the base already has.
            let files = if i == 0 {
                "src/t0.rs=zero\ndocs/usage.md=Usage: changed by t0.".to_owned()
            } else {
                format!("src/t{i}.rs=task {i}")
            };
            run_with(&env, &dir, &format!("t{i}"), &files.replace('\n', "\\n"));
        }
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        for i in &order {
            env.run(&dir, &["approve", &format!("m/t{i}")]).success();
            env.run(&dir, &["merge", &format!("m/t{i}")]).success();
        }
        let base = rev(&env, &dir, "main");
        let victim = order[rng.usize(..n)];
        let before = rev(&env, &dir, "maestro/m/integration");
        env.run(&dir, &["rollback", &format!("m/t{victim}")]).success();
        let after = rev(&env, &dir, "maestro/m/integration");
        assert_eq!(
            rev(&env, &dir, &format!("{after}^")),
            before,
            "seed {seed}: a revert is appended, nothing rewritten"
        );

        // What merging all the other tasks gives, in the same order, with plain git.
        let mut expected = base.clone();
        for j in order.iter().filter(|j| **j != victim) {
            let branch = format!("maestro/m/tasks/t{j}");
            let tree = git_merge_tree(&env, &dir, &expected, &branch).expect("clean");
            expected = env
                .git(&dir, &["commit-tree", &tree, "-p", &expected, "-p", &branch, "-m", "expected"])
                .success_git()
                .trim()
                .to_owned();
        }
        assert_eq!(
            rev(&env, &dir, &format!("{after}^{{tree}}")),
            rev(&env, &dir, &format!("{expected}^{{tree}}")),
            "seed {seed}: rolling back t{victim} of {order:?} keeps exactly the others"
        );
        let task = env.run(&dir, &["task", "show", &format!("m/t{victim}"), "--json"]).success().json();
        assert_eq!(task["status"], "reverted");

        let whole = env.run(&dir, &["rollback", "m", "--json"]).success().json();
        assert_eq!(whole["tasks"].as_array().unwrap().len(), n - 1, "seed {seed}: the rest, newest first");
        assert_eq!(
            rev(&env, &dir, "maestro/m/integration^{tree}"),
            rev(&env, &dir, &format!("{base}^{{tree}}")),
            "seed {seed}: rolling back the Score gives the base tree"
        );
        env.run(&dir, &["rollback", &format!("m/t{victim}")]).user_error();
    }
}

#[test]
fn a_revert_that_conflicts_is_refused_with_the_paths() {
    let env = TestEnv::new();
    let dir = setup(&env);
    run_with(&env, &dir, "t0", "README.md=# Zero");
    env.run(&dir, &["approve", "m/t0"]).success();
    env.run(&dir, &["merge", "m/t0"]).success();
    // Someone builds on t0's change directly on the integration branch.
    let tip = rev(&env, &dir, "maestro/m/integration");
    let index = env.path("idx");
    let git = |args: &[&str]| {
        let out = env.base_command("git").current_dir(&dir).env("GIT_INDEX_FILE", &index).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    git(&["read-tree", &tip]);
    std::fs::write(env.path("readme"), "# Zero, edited later\n").unwrap();
    let blob = git(&["hash-object", "-w", env.path("readme").to_str().unwrap()]);
    git(&["update-index", "--cacheinfo", &format!("100644,{blob},README.md")]);
    let tree = git(&["write-tree"]);
    let later = git(&["commit-tree", &tree, "-p", &tip, "-m", "later edit"]);
    git(&["update-ref", "refs/heads/maestro/m/integration", &later, &tip]);

    let run = env.run(&dir, &["rollback", "m/t0"]).user_error();
    assert!(run.stderr.contains("reverting m/t0 conflicts with later changes in: README.md"), "{}", run.render());
    assert_eq!(rev(&env, &dir, "maestro/m/integration"), later, "nothing moved");
    assert_eq!(env.run(&dir, &["task", "show", "m/t0", "--json"]).success().json()["status"], "merged");
}

#[test]
fn land_needs_a_fresh_score_approval_and_updates_a_clean_checkout() {
    let env = TestEnv::new();
    let dir = setup(&env);
    run_with(&env, &dir, "t0", "t0.txt=zero");
    run_with(&env, &dir, "t1", "t1.txt=one");
    run_with(&env, &dir, "t2", "t2.txt=two");
    for t in ["t0", "t1"] {
        env.run(&dir, &["approve", &format!("m/{t}")]).success();
        env.run(&dir, &["merge", &format!("m/{t}")]).success();
    }
    let main = rev(&env, &dir, "main");
    // While a task is not merged, the Score can neither be approved for landing nor landed.
    let early = env.run(&dir, &["approve", "m"]).user_error();
    assert!(early.stderr.contains("m cannot land yet: t2 not merged"), "{}", early.render());
    let unfinished = env.run(&dir, &["land", "m"]).user_error();
    assert!(unfinished.stderr.contains("m cannot land yet: t2 not merged"), "{}", unfinished.render());
    env.run(&dir, &["approve", "m/t2"]).success();
    env.run(&dir, &["merge", "m/t2"]).success();

    let refused = env.run(&dir, &["land", "m"]).user_error();
    assert!(refused.stderr.contains("landing m needs Score-level approval"), "{}", refused.render());
    assert!(
        refused.stderr.contains(
            "Hint: review the integration branch, then run `git maestro approve m`, or land it through a pull \
             request: `git maestro land m --pr`"
        ),
        "{}",
        refused.render()
    );
    assert_eq!(
        env.run(&dir, &["approve", "m", "-m", "ship it"]).success().stdout,
        "m  landing approved\n",
        "after the plan, a Score id approves landing"
    );
    let again = env.run(&dir, &["approve", "m"]).user_error();
    assert!(again.stderr.contains("landing m at this integration tip is already approved"), "{}", again.render());

    // A change of the integration branch after the approval makes it stale. (Merges and
    // reverts clear the approval in the state; a commit made there by hand is caught by land.)
    let approved = rev(&env, &dir, "maestro/m/integration");
    let fixup = env
        .git(&dir, &["commit-tree", &format!("{approved}^{{tree}}"), "-p", &approved, "-m", "fixup by hand"])
        .success_git()
        .trim()
        .to_owned();
    env.git(&dir, &["update-ref", "refs/heads/maestro/m/integration", &fixup, &approved]).success_git();
    let stale = env.run(&dir, &["land", "m"]).user_error();
    assert!(
        stale.stderr.contains(&format!(
            "the landing approval of m is for an older integration tip ({}); it moved since",
            &approved[..12]
        )),
        "{}",
        stale.render()
    );
    assert_eq!(rev(&env, &dir, "main"), main, "nothing moved");
    env.run(&dir, &["approve", "m"]).success();

    // main is checked out in the main worktree: a dirty one is refused, a clean one updated.
    std::fs::write(dir.join("README.md"), "local edit\n").unwrap();
    let dirty = env.run(&dir, &["land", "m"]).user_error();
    assert!(dirty.stderr.contains("main is checked out in"), "{}", dirty.render());
    assert_eq!(rev(&env, &dir, "main"), main, "nothing moved");
    env.git(&dir, &["checkout", "--", "README.md"]).success_git();

    let landed = env.run(&dir, &["land", "m", "--json"]).success().json();
    assert_eq!(landed["fast_forward"], true);
    assert_eq!(rev(&env, &dir, "main"), rev(&env, &dir, "maestro/m/integration"));
    let score = env.run(&dir, &["score", "show", "m", "--json"]).success().json();
    assert_eq!(score["status"], "landed", "a Score run task by task (never by `run`) lands too");
    assert_eq!(score["landed"]["integration"], rev(&env, &dir, "maestro/m/integration").as_str());
    for f in ["t0.txt", "t1.txt", "t2.txt"] {
        assert!(dir.join(f).exists(), "{f} is in the checkout");
    }
    let status = env.git(&dir, &["status", "--porcelain", "--untracked-files=no"]).success_git();
    assert_eq!(status, "", "the checkout's files and index match the landed commit");
    let landed_decision = env.run(&dir, &["decisions", "--kind", "merge", "--json"]).success().json();
    assert!(
        landed_decision.as_array().unwrap().last().unwrap()["summary"]
            .as_str()
            .unwrap()
            .starts_with("landed m on main at ")
    );
}
