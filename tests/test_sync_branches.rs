//! Sharing a Score's branches between machines: `run --remote` on two clones builds one
//! integration branch, a reviewer on another machine sees the task branch, and merges made
//! apart are merged on sync (or, when they conflict, left for a person).

use std::path::Path;

use crate::common::TestEnv;
use crate::test_cli::GitRun;
use crate::test_sync::{Daemon, clones_of, sync};

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// A fake performer on `dir` writing `write` (`{task}` is the task id), with its own worktrees.
fn performer(env: &TestEnv, dir: &Path, write: &str) {
    performer_with(env, dir, write, "");
}

/// [`performer`] with more of the fake performer's settings (`, KEY = "value"`).
fn performer_with(env: &TestEnv, dir: &Path, write: &str, more: &str) {
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nmax_parallel = 2\n\
         env = {{ FAKE_WRITE = \"{write}\"{more} }}\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    let name = dir.file_name().unwrap().to_str().unwrap();
    let root = env.path(&format!("worktrees-{name}"));
    env.git(dir, &["config", "maestro.worktreeRoot", root.to_str().unwrap()]).success_git();
}

fn rev(env: &TestEnv, dir: &Path, rev: &str) -> String {
    env.git(dir, &["rev-parse", rev]).success_git().trim().to_owned()
}

/// The tasks merged on `rev`, by the Maestro-Task trailers of its merge commits, sorted.
fn merged(env: &TestEnv, dir: &Path, rev: &str) -> Vec<String> {
    let log = env.git(dir, &["log", "--merges", "--format=%(trailers:key=Maestro-Task,valueonly)", rev]);
    let mut tasks: Vec<String> = log.success_git().lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
    tasks.sort();
    tasks
}

fn files(env: &TestEnv, dir: &Path, rev: &str) -> String {
    env.git(dir, &["ls-tree", "--name-only", rev]).success_git()
}

#[test]
fn two_machines_running_one_score_build_one_integration_branch() {
    let env = TestEnv::new();
    let tasks = "[[tasks]]\nid = \"a\"\n[[tasks]]\nid = \"b\"\n\
                 [[tasks]]\nid = \"c\"\ndeps = [\"a\", \"b\"]\napproval = [\"checks\", \"human\"]\n";
    let (_daemon, [a, b, _]) = clones_of(&env, tasks);
    let remote = env.path("remote.git");
    for dir in [&a, &b] {
        performer(&env, dir, "{task}.txt={task}");
    }
    // b takes task b; a's run does a, leaves b to b's machine, and c waits for both.
    env.run(&b, &["task", "claim", "s/b", "--as", "fake"]).success();
    sync(&env, &b);
    env.run(&a, &["run", "s", "--remote", "origin"]).success();
    let a_merge = rev(&env, &a, "maestro/s/integration");
    assert_eq!(rev(&env, &remote, "maestro/s/integration"), a_merge, "a's merge was pushed at once");
    assert_eq!(merged(&env, &a, "maestro/s/integration"), ["a"]);

    // b's run takes the shared branch, merges b on top of a's merge, then runs c on top of both;
    // c waits for a person, and its branch is pushed for review.
    let run = env.run(&b, &["run", "s", "--remote", "origin"]).success();
    assert!(!run.stderr.contains("Error"), "{}", run.render());
    let c_branch = "maestro/s/tasks/c";
    env.git(&b, &["merge-base", "--is-ancestor", &a_merge, c_branch]).success_git();
    assert_eq!(rev(&env, &remote, c_branch), rev(&env, &b, c_branch), "the result waiting for review was pushed");

    // A reviewer on a sees it, approves it; b's next run merges it. The checks cannot run on
    // a: the result's branch is b's, and only its remote-tracking ref is here.
    sync(&env, &a);
    let state = rev(&env, &a, "refs/maestro/state");
    let review = env.run(&a, &["task", "review", "s/c"]).user_error();
    assert!(review.stderr.contains("s/c's result is not in this repository"), "{}", review.render());
    assert!(review.stderr.contains("git maestro approve|reject s/c"), "{}", review.render());
    assert_eq!(rev(&env, &a, "refs/maestro/state"), state, "nothing was written");
    let diff = env.git(&a, &["diff", "--name-only", "origin/maestro/s/integration", &format!("origin/{c_branch}")]);
    assert_eq!(diff.success_git().trim(), "c.txt");
    env.run(&a, &["approve", "s/c"]).success();
    sync(&env, &a);
    let run = env.run(&b, &["run", "s", "--remote", "origin", "--json"]).success();
    let summary: serde_json::Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["summary"]["score_status"], "done", "{}", run.render());

    let text = sync(&env, &a).stdout;
    assert!(text.contains("maestro/s/integration: fast-forwarded to origin's"), "{text}");
    let tip = rev(&env, &remote, "maestro/s/integration");
    assert_eq!(rev(&env, &a, "maestro/s/integration"), tip);
    assert_eq!(rev(&env, &b, "maestro/s/integration"), tip);
    assert_eq!(merged(&env, &a, &tip), ["a", "b", "c"], "each task merged exactly once");
    assert_eq!(files(&env, &a, &tip), "README.md\na.txt\nb.txt\nc.txt\ndocs\nsrc\n");
    env.run(&a, &["approve", "s"]).success();
    env.run(&a, &["land", "s"]).success();
    assert_eq!(rev(&env, &a, "main^{tree}"), rev(&env, &a, &format!("{tip}^{{tree}}")));
}

/// `t0` merged on a and `t1` on b, each offline; then a syncs, then b. The remote is served
/// while the returned daemon lives.
fn merge_apart(env: &TestEnv, write: &str) -> (Daemon, [std::path::PathBuf; 2]) {
    let (daemon, [a, b, _]) = clones_of(env, "[[tasks]]\nid = \"t0\"\n[[tasks]]\nid = \"t1\"\n");
    for dir in [&a, &b] {
        performer(env, dir, write);
    }
    env.run(&b, &["task", "claim", "s/t1", "--as", "fake"]).success();
    sync(env, &b);
    env.run(&a, &["task", "claim", "s/t0", "--as", "fake"]).success();
    sync(env, &a);
    sync(env, &b);
    env.run(&a, &["run", "s"]).success();
    env.run(&b, &["run", "s"]).success();
    assert_eq!(merged(env, &a, "maestro/s/integration"), ["t0"]);
    assert_eq!(merged(env, &b, "maestro/s/integration"), ["t1"]);
    let text = sync(env, &a).stdout;
    assert!(text.contains("maestro/s/integration: pushed "), "{text}");
    (daemon, [a, b])
}

#[test]
fn merges_made_apart_are_merged_on_the_integration_branch() {
    let env = TestEnv::new();
    let (_daemon, [a, b]) = merge_apart(&env, "{task}.txt={task}");
    let before = rev(&env, &b, "maestro/s/integration");
    let run = env.run(&b, &["sync", "--json"]).success();
    assert_eq!(run.json()["settled"], serde_json::json!([{ "score": "s", "status": "done" }]));
    let branches = run.json()["branches"].clone();
    let integration = branches.as_array().unwrap().iter().find(|x| x["branch"] == "maestro/s/integration").unwrap();
    assert_eq!(integration["action"], "merged", "{branches:#}");
    let tip = integration["commit"].as_str().unwrap().to_owned();
    assert_eq!(rev(&env, &b, "maestro/s/integration"), tip);
    assert_eq!(rev(&env, &env.path("remote.git"), "maestro/s/integration"), tip);
    assert_eq!(rev(&env, &b, &format!("{tip}^1")), before, "the local branch is the first parent");
    assert_eq!(merged(&env, &b, &tip), ["t0", "t1"]);
    let status = |dir| env.run(dir, &["score", "show", "s", "--json"]).success().json()["status"].clone();
    assert_eq!(status(&b), "done", "each side merged one task, so the merge of the two states is done");
    sync(&env, &a);
    assert_eq!(rev(&env, &a, "maestro/s/integration"), tip);
    assert_eq!(files(&env, &a, &tip), "README.md\ndocs\nsrc\nt0.txt\nt1.txt\n");
    assert_eq!(status(&a), "done");
}

#[test]
fn merges_made_apart_that_conflict_are_left_for_a_person() {
    let env = TestEnv::new();
    let (_daemon, [a, b]) = merge_apart(&env, "shared.txt={task}");
    let (ours, theirs) = (rev(&env, &b, "maestro/s/integration"), rev(&env, &a, "maestro/s/integration"));
    let run = sync(&env, &b);
    assert!(
        run.stderr.contains(
            "maestro/s/integration here and on the remote both merged tasks, and they conflict in shared.txt"
        ),
        "{}",
        run.render()
    );
    assert!(run.stderr.contains("Hint: roll back one of the conflicting tasks here"), "{}", run.render());
    assert_eq!(rev(&env, &b, "maestro/s/integration"), ours, "nothing moved here");
    assert_eq!(rev(&env, &env.path("remote.git"), "maestro/s/integration"), theirs, "nor there");
    // What the hint says works: roll one back here, and the branches merge.
    env.run(&b, &["rollback", "s/t1"]).success();
    let run = env.run(&b, &["sync", "--json"]).success();
    assert!(run.stdout.contains("\"action\": \"merged\""), "{}", run.render());
    let tip = rev(&env, &b, "maestro/s/integration");
    assert_eq!(env.git(&b, &["show", &format!("{tip}:shared.txt")]).success_git(), "t0\n");
}

#[test]
fn a_score_one_machine_finished_while_another_rolled_back_a_task_runs_again_after_sync() {
    let env = TestEnv::new();
    let (_daemon, [a, b, _]) = clones_of(&env, "[[tasks]]\nid = \"t0\"\n[[tasks]]\nid = \"t1\"\n");
    performer(&env, &a, "{task}.txt={task}");
    let status = |dir| env.run(dir, &["score", "show", "s", "--json"]).success().json()["status"].clone();
    // a merges t0 while a person holds t1; b gets that.
    env.run(&a, &["task", "claim", "s/t1", "--as", "someone"]).success();
    env.run(&a, &["run", "s"]).success();
    sync(&env, &a);
    sync(&env, &b);
    // Apart: a merges t1, which finishes the Score; b rolls t0 back, which leaves it running.
    env.run(&a, &["task", "release", "s/t1"]).success();
    env.run(&a, &["run", "s"]).success();
    assert_eq!(status(&a), "done");
    env.run(&b, &["rollback", "s/t0"]).success();
    assert_eq!(status(&b), "running");
    sync(&env, &a);
    let text = sync(&env, &b).stdout;
    assert!(text.contains("\ns  running: a task is reverted or still to do\n"), "{text}");
    assert_eq!(status(&b), "running", "a reverted task keeps the Score from being done");
    sync(&env, &a);
    assert_eq!(status(&a), "running");
    let list = env.run(&a, &["task", "list", "s", "--json"]).success().json();
    let statuses: Vec<_> = list.as_array().unwrap().iter().map(|t| t["status"].clone()).collect();
    assert_eq!(statuses, ["reverted", "merged"]);
}

/// `gc` keeps an integration branch whose remote lacks some of its commits (a rollback's
/// revert, which the shared state names), and a sync after `gc` does not take the archived
/// branch back from the remote.
#[test]
fn gc_keeps_what_the_remote_lacks_and_sync_does_not_bring_back_what_gc_archived() {
    let env = TestEnv::new();
    let (_daemon, [a, b, _]) = clones_of(&env, "[[tasks]]\nid = \"t0\"\n[[tasks]]\nid = \"t1\"\n");
    performer(&env, &a, "{task}.txt={task}");
    env.run(&a, &["run", "s"]).success();
    sync(&env, &a);
    env.run(&a, &["rollback", "s/t0"]).success();
    env.run(&a, &["approve", "s"]).success();
    env.run(&a, &["land", "s"]).success();
    let (tip, branch) = (rev(&env, &a, "maestro/s/integration"), "refs/heads/maestro/s/integration");
    let gc = env.run(&a, &["gc"]).success();
    assert!(
        gc.stdout.contains("origin shares it but lacks some of its commits: run `git maestro sync origin`"),
        "{}",
        gc.render()
    );
    assert_eq!(rev(&env, &a, branch), tip, "kept");
    sync(&env, &a);
    env.run(&a, &["gc"]).success();
    assert!(env.git(&a, &["rev-parse", "--verify", "-q", branch]).stdout.is_empty(), "archived");
    let again = sync(&env, &a);
    assert!(!again.stdout.contains("maestro/s/integration"), "{}", again.render());
    assert!(env.git(&a, &["rev-parse", "--verify", "-q", branch]).stdout.is_empty(), "still archived");
    // The other clone has the revert the state names.
    sync(&env, &b);
    env.git(&b, &["merge-base", "--is-ancestor", &tip, "maestro/s/integration"]).success_git();
}

#[test]
fn two_machines_running_one_score_at_once_merge_every_task_once() {
    let env = TestEnv::new();
    let tasks: String = (0..6).map(|i| format!("[[tasks]]\nid = \"t{i}\"\n")).collect();
    let (_daemon, [a, b, _]) = clones_of(&env, &tasks);
    for dir in [&a, &b] {
        performer_with(&env, dir, "{task}.txt={task}", ", FAKE_SLEEP_MS = \"300\"");
    }
    let runs: Vec<_> = [&a, &b]
        .into_iter()
        .map(|dir| env.command(dir).args(["run", "s", "--remote", "origin", "--max-parallel", "2"]).spawn().unwrap())
        .collect();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    for dir in [&a, &b, &a] {
        sync(&env, dir);
    }
    let tip = rev(&env, &env.path("remote.git"), "maestro/s/integration");
    assert_eq!(rev(&env, &a, "maestro/s/integration"), tip);
    assert_eq!(rev(&env, &b, "maestro/s/integration"), tip);
    assert_eq!(merged(&env, &a, &tip), ["t0", "t1", "t2", "t3", "t4", "t5"], "each task merged exactly once");
    for dir in [&a, &b] {
        let list = env.run(dir, &["task", "list", "s", "--json"]).success().json();
        assert!(list.as_array().unwrap().iter().all(|t| t["status"] == "merged"), "{list:#}");
        assert_eq!(env.run(dir, &["score", "show", "s", "--json"]).success().json()["status"], "done");
    }
    assert_eq!(
        env.git(&a, &["rev-parse", "refs/maestro/state^{tree}"]).stdout,
        env.git(&b, &["rev-parse", "refs/maestro/state^{tree}"]).stdout
    );
}

#[test]
fn a_task_never_starts_on_a_branch_that_lacks_its_dependencies_merges() {
    let env = TestEnv::new();
    let (_daemon, [a, b, _]) = clones_of(&env, "[[tasks]]\nid = \"t0\"\n[[tasks]]\nid = \"t1\"\ndeps = [\"t0\"]\n");
    for dir in [&a, &b] {
        performer(&env, dir, "{task}.txt={task}");
    }
    // A person holds t1 on a, so a's run merges t0 only.
    env.run(&a, &["task", "claim", "s/t1", "--as", "someone"]).success();
    env.run(&a, &["run", "s", "--remote", "origin"]).success();
    // b gets the state that says t0 is merged, but its integration branch is behind.
    sync(&env, &b);
    let merge = rev(&env, &b, "maestro/s/integration");
    env.git(&b, &["update-ref", "refs/heads/maestro/s/integration", "main"]).success_git();
    env.git(&b, &["update-ref", "-d", "refs/remotes/origin/maestro/s/integration"]).success_git();
    env.run(&b, &["task", "release", "s/t1"]).success();
    let run = env.run(&b, &["task", "run", "s/t1", "--json"]);
    assert_eq!(run.code, 1, "{}", run.render());
    let err = &run.json()["error"];
    assert_eq!(err["code"], "base-behind", "{err:#}");
    assert!(err["message"].as_str().unwrap().contains(&format!("lacks the merge of s/t0 ({merge})")), "{err:#}");
    assert_eq!(env.run(&b, &["task", "show", "s/t1", "--json"]).success().json()["status"], "ready", "nothing claimed");
    // What the hint says: sync, and it runs on top of t0.
    let text = sync(&env, &b).stdout;
    assert!(text.contains("maestro/s/integration: fast-forwarded to origin's"), "{text}");
    env.run(&b, &["task", "run", "s/t1"]).success();
    env.git(&b, &["merge-base", "--is-ancestor", &merge, "maestro/s/tasks/t1"]).success_git();
}

/// One task run and merged on two machines apart (neither saw the other's claim), with
/// different results; then `first` syncs, the other, and `first` again. The merge pushed first
/// stays, and the other is reverted where it is, so both machines and the remote end on one
/// branch that holds the task once, as the state says, and `doctor` finds nothing wrong.
fn merged_twice_apart(first: usize) {
    let env = TestEnv::new();
    let (_daemon, [a, b, _]) = clones_of(&env, "[[tasks]]\nid = \"t0\"\n");
    performer(&env, &a, "t0.txt=from a");
    performer(&env, &b, "t0.txt=from b");
    env.run(&a, &["run", "s"]).success();
    env.run(&b, &["run", "s"]).success();
    let clones = [&a, &b];
    let merges = clones.map(|dir| rev(&env, dir, "maestro/s/integration"));
    for i in [first, 1 - first, first] {
        sync(&env, clones[i]);
    }
    let (kept, lost) = (&merges[first], &merges[1 - first]);
    let tip = rev(&env, &env.path("remote.git"), "maestro/s/integration");
    for dir in clones {
        assert_eq!(rev(&env, dir, "maestro/s/integration"), tip, "one branch everywhere");
        let task = env.run(dir, &["task", "show", "s/t0", "--json"]).success().json();
        assert_eq!(task["merge_commit"], kept.as_str(), "the merge pushed first stays");
        let doctor = env.run(dir, &["doctor"]);
        assert_eq!(doctor.code, 0, "{}", doctor.render());
    }
    let content = env.git(&a, &["show", &format!("{tip}:t0.txt")]).success_git();
    assert_eq!(content.trim(), ["from a", "from b"][first]);
    let log = env.git(&a, &["log", "--format=%B", &tip]).success_git();
    assert!(log.contains(&format!("This reverts merge {lost}.")), "the other merge is reverted, not rewritten: {log}");
    assert!(!log.contains(&format!("This reverts merge {kept}.")), "{log}");
}

#[test]
fn a_task_merged_on_two_machines_apart_is_kept_once_when_the_first_syncs_first() {
    merged_twice_apart(0);
}

#[test]
fn a_task_merged_on_two_machines_apart_is_kept_once_when_the_second_syncs_first() {
    merged_twice_apart(1);
}

#[test]
fn run_remote_as_the_first_command_in_a_fresh_clone_fetches_the_state_first() {
    let env = TestEnv::new();
    let (daemon, [a, _, _]) = clones_of(&env, "[[tasks]]\nid = \"a\"\n");
    env.git(env.root.path(), &["clone", "-q", "-b", "main", &daemon.url, "fresh"]).success_git();
    let fresh = env.path("fresh");
    let status = env.run(&fresh, &["status"]).user_error();
    assert!(
        status.stderr.contains("`git maestro sync` fetches its state"),
        "the hint names sync:\n{}",
        status.render()
    );
    std::fs::create_dir(fresh.join(".maestro")).unwrap();
    performer(&env, &fresh, "{task}.txt={task}");
    let run = env.run(&fresh, &["run", "s", "--remote", "origin"]).success();
    assert!(run.stdout.contains("s  done: 1 merged"), "{}", run.render());
    sync(&env, &a);
    assert_eq!(merged(&env, &a, "maestro/s/integration"), ["a"], "the fresh clone's merge reached the other machine");
}
