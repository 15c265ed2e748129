//! `git maestro doctor` checks the lifecycle invariants of DESIGN.md §12.4: a healthy Score
//! passes, each invariant broken with plain git is named with its task, and `doctor --fix`
//! repairs what is safe to repair (I3 dead runs and leases, I4 unreachable commits).

use std::path::{Path, PathBuf};

use crate::common::{Run, TestEnv};
use crate::test_cli::{GitRun, write_state_file};

pub const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// Score `s`: tasks `a` and `b`, and `c` that depends on `a`; every result is approved by the
/// check `ok` alone, so `run` needs no person.
pub const SCORE: &str = "format = 1\nid = \"s\"\ntarget = \"main\"\napproval = [\"checks\"]\n\n\
    [[tasks]]\nid = \"a\"\nchecks = [\"ok\"]\n\n\
    [[tasks]]\nid = \"b\"\nchecks = [\"ok\"]\n\n\
    [[tasks]]\nid = \"c\"\ndeps = [\"a\"]\nchecks = [\"ok\"]\n";

/// Repo `r` with Score `s` planned and its plan approved, worktrees under the test root, and a
/// fake performer that writes `<task>.txt`.
pub fn setup(env: &TestEnv) -> PathBuf {
    let dir = env.repo("r");
    env.write("s.toml", SCORE);
    env.run(&dir, &["plan", "--from", "../s.toml"]).success();
    env.run(&dir, &["approve", "s"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nmax_parallel = 4\n\
         env = {{ FAKE_WRITE = \"{{task}}.txt={{task}}\" }}\n\n[checks.ok]\nrun = \"true\"\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    dir
}

/// `s/a` merged, `s/b` submitted, `s/c` pending; doctor passes.
fn healthy(env: &TestEnv) -> PathBuf {
    let dir = setup(env);
    env.run(&dir, &["task", "run", "s/a"]).success();
    env.run(&dir, &["approve", "s/a"]).success();
    env.run(&dir, &["merge", "s/a"]).success();
    env.run(&dir, &["task", "run", "s/b"]).success();
    doctor_passes(env, &dir);
    dir
}

/// The findings of `doctor --json`, with the run.
pub fn doctor(env: &TestEnv, dir: &Path, extra: &[&str]) -> (Run, Vec<serde_json::Value>) {
    let mut args = vec!["doctor", "--json"];
    args.extend_from_slice(extra);
    let run = env.run(dir, &args);
    let findings = run.json().as_array().unwrap().clone();
    (run, findings)
}

/// `doctor` exits 0, reports no error, and has checked every invariant.
#[track_caller]
pub fn doctor_passes(env: &TestEnv, dir: &Path) -> Vec<serde_json::Value> {
    let (run, findings) = doctor(env, dir, &[]);
    assert_eq!(run.code, 0, "doctor should pass:\n{}", run.render());
    assert!(findings.iter().all(|f| f["status"] != "error"), "{}", run.render());
    for i in ["I1", "I2", "I3", "I4", "I5", "I6", "I7"] {
        assert!(findings.iter().any(|f| f["check"] == i && f["status"] == "ok"), "{i} is checked:\n{}", run.render());
    }
    findings
}

/// `doctor` exits 1 and reports `invariant` about `subject`; returns that finding.
#[track_caller]
fn doctor_fails(env: &TestEnv, dir: &Path, invariant: &str, subject: &str) -> serde_json::Value {
    let (run, findings) = doctor(env, dir, &[]);
    assert_eq!(run.code, 1, "doctor should fail on {invariant}:\n{}", run.render());
    let found = findings
        .iter()
        .find(|f| f["check"] == invariant && f["status"] == "error" && f["subject"] == subject)
        .unwrap_or_else(|| panic!("no {invariant} error about {subject}:\n{}", run.render()))
        .clone();
    assert!(found["hint"].as_str().is_some_and(|h| h.contains('`')), "a hint with a command: {found:#}");
    // The text form names the invariant and the task too, with the hint.
    let text = env.run(dir, &["doctor"]).user_error();
    assert!(text.stdout.lines().any(|l| l.starts_with(&format!("error {invariant} "))), "{}", text.render());
    assert!(text.stdout.contains(subject) && text.stdout.contains("Hint: "), "{}", text.render());
    found
}

fn rev(env: &TestEnv, dir: &Path, name: &str) -> String {
    env.git(dir, &["rev-parse", name]).success_git().trim().to_owned()
}

fn task(env: &TestEnv, dir: &Path, id: &str) -> serde_json::Value {
    env.run(dir, &["task", "show", &format!("s/{id}"), "--json"]).success().json()
}

/// Replace the record of `s/<id>` in the state with `edit` of it, with git plumbing.
fn edit_task(env: &TestEnv, dir: &Path, id: &str, edit: impl FnOnce(String) -> String) {
    let path = env.run(dir, &["task", "show", &format!("s/{id}"), "-v"]).success().stdout;
    let path = path.lines().find_map(|l| l.strip_prefix("State file: ")).unwrap().trim().to_owned();
    let tip = env.state_tip(dir);
    let text = env.git(dir, &["show", &format!("{tip}:{path}")]).success_git();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changes the record");
    let commit = write_state_file(env, dir, &tip, &path, &edited);
    env.git(dir, &["update-ref", "refs/maestro/state", &commit, &tip]).success_git();
}

/// Set the status of Score `s` in the state to `status`, with git plumbing.
fn set_score_status(env: &TestEnv, dir: &Path, status: &str) {
    let (tip, path) = (env.state_tip(dir), "scores/s/score.toml");
    let text = env.git(dir, &["show", &format!("{tip}:{path}")]).success_git();
    let line = text.lines().find(|l| l.starts_with("status = ")).unwrap();
    let commit = write_state_file(env, dir, &tip, path, &text.replace(line, &format!("status = \"{status}\"")));
    env.git(dir, &["update-ref", "refs/maestro/state", &commit, &tip]).success_git();
}

fn score_status(env: &TestEnv, dir: &Path) -> String {
    env.run(dir, &["score", "show", "s", "--json"]).success().json()["status"].as_str().unwrap().to_owned()
}

#[test]
fn i7_a_score_whose_status_its_tasks_contradict_is_reported_and_fixed() {
    let env = TestEnv::new();
    let dir = healthy(&env);
    assert_eq!(score_status(&env, &dir), "running");
    set_score_status(&env, &dir, "done");
    let found = doctor_fails(&env, &dir, "I7", "s");
    assert_eq!(found["detail"], "s is done though s/b is submitted", "{found:#}");
    let (fixed, findings) = doctor(&env, &dir, &["--fix"]);
    assert_eq!(fixed.code, 0, "{}", fixed.render());
    assert!(findings.iter().any(|f| f["check"] == "I7" && f["detail"] == "fixed: set s to running, as its tasks say"));
    assert_eq!(score_status(&env, &dir), "running");
    doctor_passes(&env, &dir);

    // Every task merged, and the Score says running: done is what its tasks say.
    env.run(&dir, &["run", "s"]).success();
    assert_eq!(score_status(&env, &dir), "done");
    set_score_status(&env, &dir, "running");
    let found = doctor_fails(&env, &dir, "I7", "s");
    assert_eq!(found["detail"], "s is running though every task is merged", "{found:#}");
    assert_eq!(doctor(&env, &dir, &["--fix"]).0.code, 0);
    assert_eq!(score_status(&env, &dir), "done");
    let log = env.run(&dir, &["decisions", "--json"]).success().stdout;
    assert!(log.contains("doctor set s to done, as its tasks say"), "the fix is in the decision log: {log}");
}

/// The last merge finished the Score; its branch move did not happen, so its settling undoes
/// the merge, and the Score is running again.
#[test]
fn a_last_merge_undone_by_its_settling_leaves_the_score_running() {
    let env = TestEnv::new();
    let dir = setup(&env);
    for t in ["a", "b"] {
        env.run(&dir, &["task", "run", &format!("s/{t}")]).success();
        env.run(&dir, &["approve", &format!("s/{t}")]).success();
        env.run(&dir, &["merge", &format!("s/{t}")]).success();
    }
    env.run(&dir, &["task", "run", "s/c"]).success();
    env.run(&dir, &["approve", "s/c"]).success();
    merge_killed_after_recording_it(&env, &dir, "s/c");
    assert_eq!(score_status(&env, &dir), "done", "recorded, with its intent");
    // Someone commits on the integration branch before the move is settled.
    let tip = rev(&env, &dir, "maestro/s/integration");
    let commit = env.git(&dir, &["commit-tree", &format!("{tip}^{{tree}}"), "-p", &tip, "-m", "by hand"]).success_git();
    env.git(&dir, &["update-ref", "refs/heads/maestro/s/integration", commit.trim(), &tip]).success_git();
    // The next write settles the intent.
    env.run(&dir, &["decide", "-m", "any write"]).success();
    assert_eq!(task(&env, &dir, "c")["status"], "approved", "the merge was undone");
    assert_eq!(score_status(&env, &dir), "running", "and the Score it had finished runs again");
    doctor_passes(&env, &dir);
}

#[test]
fn i1_a_merged_task_whose_merge_left_the_branch_is_reported() {
    let env = TestEnv::new();
    let dir = healthy(&env);
    let tip = rev(&env, &dir, "maestro/s/integration");
    let base = rev(&env, &dir, "main");
    env.git(&dir, &["update-ref", "refs/heads/maestro/s/integration", &base, &tip]).success_git();
    let found = doctor_fails(&env, &dir, "I1", "s/a");
    assert!(found["detail"].as_str().unwrap().contains("is not on maestro/s/integration"), "{found:#}");
    // Nothing to fix safely: --fix changes no branch and still fails.
    let (run, _) = doctor(&env, &dir, &["--fix"]);
    assert_eq!(run.code, 1, "{}", run.render());
    assert_eq!(rev(&env, &dir, "maestro/s/integration"), base);
}

#[test]
fn i2_a_reverted_task_whose_revert_left_the_branch_is_reported() {
    let env = TestEnv::new();
    let dir = healthy(&env);
    env.run(&dir, &["rollback", "s/a"]).success();
    doctor_passes(&env, &dir);
    let revert = rev(&env, &dir, "maestro/s/integration");
    let merge = rev(&env, &dir, "maestro/s/integration^");
    env.git(&dir, &["update-ref", "refs/heads/maestro/s/integration", &merge, &revert]).success_git();
    let found = doctor_fails(&env, &dir, "I2", "s/a");
    assert!(found["detail"].as_str().unwrap().contains("no commit on maestro/s/integration reverts"), "{found:#}");
}

#[test]
fn i3_a_running_task_without_a_run_is_released_by_fix() {
    let env = TestEnv::new();
    let dir = healthy(&env);
    edit_task(&env, &dir, "b", |t| t.replace("status = \"submitted\"", "status = \"running\""));
    let found = doctor_fails(&env, &dir, "I3", "s/b");
    assert!(found["detail"].as_str().unwrap().contains("s/b is running without a lease"), "{found:#}");
    let before = env.state_tip(&dir);
    doctor_fails(&env, &dir, "I3", "s/b");
    assert_eq!(env.state_tip(&dir), before, "doctor without --fix writes nothing");

    let (run, findings) = doctor(&env, &dir, &["--fix"]);
    assert_eq!(run.code, 0, "{}", run.render());
    let fixed = findings.iter().find(|f| f["check"] == "I3" && f["subject"] == "s/b").expect("the fix is reported");
    assert!(fixed["detail"].as_str().unwrap().starts_with("fixed: released s/b"), "{fixed:#}");
    doctor_passes(&env, &dir);
    assert_eq!(task(&env, &dir, "b")["status"], "ready");
    let decisions = env.run(&dir, &["decisions", "--kind", "assignment", "--json"]).success().json();
    let last = decisions.as_array().unwrap().last().unwrap();
    assert!(last["summary"].as_str().unwrap().starts_with("doctor released s/b"), "{last:#}");
}

#[test]
fn i3_a_lease_left_on_a_merged_task_is_dropped_by_fix() {
    let env = TestEnv::new();
    let dir = healthy(&env);
    let read = |p: &str| std::fs::read_to_string(p).unwrap().trim().to_owned();
    // This host, and a process that is not the one named: the test process with another start.
    let lease = format!(
        "\n[lease]\nrun = \"01jdeadrun00000000000000000\"\nstarted = \"2026-01-01T00:00:00Z\"\n\
         heartbeat = \"2026-01-01T00:00:00Z\"\n\n[lease.origin]\nclone = \"c\"\nhost = \"{}\"\nboot = \"{}\"\n\
         pid = {}\nstart = 1\n",
        read("/proc/sys/kernel/hostname"),
        read("/proc/sys/kernel/random/boot_id"),
        std::process::id()
    );
    edit_task(&env, &dir, "a", |t| t + &lease);
    let found = doctor_fails(&env, &dir, "I3", "s/a");
    assert!(found["detail"].as_str().unwrap().contains("is merged but still holds the lease"), "{found:#}");
    let (run, _) = doctor(&env, &dir, &["--fix"]);
    assert_eq!(run.code, 0, "{}", run.render());
    doctor_passes(&env, &dir);
    assert!(task(&env, &dir, "a").get("lease").is_none_or(serde_json::Value::is_null));
}

#[test]
fn i4_an_unreachable_result_is_kept_by_fix() {
    let env = TestEnv::new();
    let dir = healthy(&env);
    let result = task(&env, &dir, "b")["attempts"][0]["commit"].as_str().unwrap().to_owned();
    let worktree = env.run(&dir, &["worktrees", "list", "--json"]).success().json();
    let path =
        worktree.as_array().unwrap().iter().find(|w| w["score"] == "s" && w["task"] == "b").unwrap()["path"].clone();
    env.git(&dir, &["worktree", "remove", "--force", path.as_str().unwrap()]).success_git();
    env.git(&dir, &["branch", "-D", "maestro/s/tasks/b"]).success_git();
    env.git(&dir, &["update-ref", "-d", &format!("refs/maestro/keep/{result}")]).success_git();

    let found = doctor_fails(&env, &dir, "I4", "s/b");
    assert!(found["detail"].as_str().unwrap().contains("is reachable from no ref"), "{found:#}");
    let (run, _) = doctor(&env, &dir, &["--fix"]);
    assert_eq!(run.code, 0, "{}", run.render());
    doctor_passes(&env, &dir);
    assert_eq!(rev(&env, &dir, &format!("refs/maestro/keep/{result}")), result, "kept under its own name");

    // A run's result that is not here at all was made by a clone that never shared it: its
    // merge, if any, is what I1 and I6 check, so it is no violation here.
    let missing = "0123456789abcdef0123456789abcdef01234567";
    edit_task(&env, &dir, "b", |t| t.replace(&result, missing));
    doctor_passes(&env, &dir);
}

#[test]
fn i5_a_target_moved_back_past_its_landing_is_reported() {
    let env = TestEnv::new();
    let dir = setup(&env);
    // Through `run`: a Score whose tasks were all merged by hand stays `approved`, and
    // `land` then refuses with "score s cannot go from approved to landed".
    let run = env.run(&dir, &["run", "s"]).success();
    assert!(run.stdout.starts_with("s  done: 3 merged"), "{}", run.render());
    let before = rev(&env, &dir, "main");
    env.run(&dir, &["approve", "s"]).success();
    env.run(&dir, &["land", "s"]).success();
    doctor_passes(&env, &dir);
    let landed = rev(&env, &dir, "main");
    env.git(&dir, &["update-ref", "refs/heads/main", &before, &landed]).success_git();
    let found = doctor_fails(&env, &dir, "I5", "s");
    assert!(found["detail"].as_str().unwrap().starts_with("main does not hold"), "{found:#}");
}

#[test]
fn i6_a_merge_the_state_never_recorded_is_reported() {
    let env = TestEnv::new();
    let dir = healthy(&env);
    let tip = rev(&env, &dir, "maestro/s/integration");
    let b = rev(&env, &dir, "maestro/s/tasks/b");
    let tree = env.git(&dir, &["merge-tree", "--write-tree", &tip, &b]).success_git().trim().to_owned();
    let message = "Merge s/b by hand\n\nMaestro-Score: s\nMaestro-Task: b\n";
    let forged = env.git(&dir, &["commit-tree", &tree, "-p", &tip, "-p", &b, "-m", message]).success_git();
    env.git(&dir, &["update-ref", "refs/heads/maestro/s/integration", forged.trim(), &tip]).success_git();
    let found = doctor_fails(&env, &dir, "I6", "s/b");
    assert!(found["detail"].as_str().unwrap().contains("the state never recorded"), "{found:#}");
}

/// The rule of I6: the first merge of a task that was rolled back, reworked and merged again
/// is known (a merge decision names it and a revert undoes it); its second merge is its
/// `merge_commit`.
#[test]
fn i6_a_task_merged_reverted_reworked_and_merged_again_passes() {
    let env = TestEnv::new();
    let dir = healthy(&env);
    let first = task(&env, &dir, "a")["merge_commit"].as_str().unwrap().to_owned();
    env.run(&dir, &["rollback", "s/a"]).success();
    env.run(&dir, &["task", "run", "s/a"]).success();
    doctor_passes(&env, &dir);
    env.run(&dir, &["approve", "s/a"]).success();
    env.run(&dir, &["merge", "s/a"]).success();
    let second = task(&env, &dir, "a")["merge_commit"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    doctor_passes(&env, &dir);
    let merges = env.git(&dir, &["log", "--first-parent", "--merges", "--format=%H", "maestro/s/integration"]);
    assert_eq!(merges.success_git().lines().collect::<Vec<_>>(), [second.as_str(), first.as_str()]);
}

/// [`setup`], with `s/a` run, approved and merged by a `merge` killed after recording the merge
/// and before moving the integration branch: the move is left due, in an intent.
fn merge_stopped_before_moving_the_branch(env: &TestEnv) -> PathBuf {
    let dir = setup(env);
    env.run(&dir, &["task", "run", "s/a"]).success();
    env.run(&dir, &["approve", "s/a"]).success();
    merge_killed_after_recording_it(env, &dir, "s/a");
    assert_eq!(task(env, &dir, "a")["status"], "merged", "recorded, with its intent");
    dir
}

/// `merge <task>`, killed after recording the merge and before moving the integration branch.
fn merge_killed_after_recording_it(env: &TestEnv, dir: &Path, task: &str) {
    let crashed = env.command(dir).args(["merge", task]).env("MAESTRO_FAILPOINTS", "tx:after-cas#1").output().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&crashed.status), Some(9));
}

/// A merge whose process died after recording it, and whose branch someone moved meanwhile,
/// cannot happen any more: doctor reports the open intent (and does not judge the task), the
/// next write undoes the step, and the merge commit its decision names is then kept by `--fix`
/// (the undo itself does not keep it: a kernel gap, see the report of this change).
#[test]
fn a_merge_undone_by_its_settling_leaves_no_violation_after_fix() {
    let env = TestEnv::new();
    let dir = merge_stopped_before_moving_the_branch(&env);
    // Someone creates the integration branch elsewhere before the intent is settled.
    env.git(&dir, &["branch", "maestro/s/integration", "main"]).success_git();
    let (run, findings) = doctor(&env, &dir, &[]);
    let intent = findings.iter().find(|f| f["check"] == "intent").expect("the open intent is reported");
    assert_eq!(intent["status"], "warn", "{}", run.render());
    assert!(intent["detail"].as_str().unwrap().contains("can no longer happen"), "{intent:#}");
    assert!(
        findings.iter().all(|f| f["check"] != "I1" || f["status"] == "ok"),
        "s/a is not judged yet:\n{}",
        run.render()
    );
    let unreachable =
        findings.iter().find(|f| f["check"] == "I4" && f["subject"] == "s/a").expect("I4 names the merge");
    let merge = task(&env, &dir, "a")["merge_commit"].as_str().unwrap().to_owned();
    assert!(unreachable["detail"].as_str().unwrap().contains(&merge[..12]), "{unreachable:#}");

    let (fixed, findings) = doctor(&env, &dir, &["--fix"]);
    assert_eq!(fixed.code, 0, "{}", fixed.render());
    assert!(
        findings.iter().any(|f| f["check"] == "intent" && f["detail"].as_str().unwrap().starts_with("fixed: settled"))
    );
    assert_eq!(task(&env, &dir, "a")["status"], "approved", "the step was undone");
    assert_eq!(rev(&env, &dir, &format!("refs/maestro/keep/{merge}")), merge, "its decision still names it");
    doctor_passes(&env, &dir);
}

/// Found by the model test (seed 317): `task run` of a dependant looked for its dependency's
/// merge on the integration branch before settling the branch move a crash had left due, and
/// refused with "the branch would start from lacks the merge".
#[test]
fn a_dependant_runs_when_its_dependency_merge_stopped_before_moving_the_branch() {
    let env = TestEnv::new();
    let dir = merge_stopped_before_moving_the_branch(&env);
    env.run(&dir, &["task", "run", "s/c"]).success();
    let merge = task(&env, &dir, "a")["merge_commit"].as_str().unwrap().to_owned();
    env.git(&dir, &["merge-base", "--is-ancestor", &merge, "maestro/s/tasks/c"]).success_git();
    doctor_passes(&env, &dir);
}

/// A rollback reads the integration branch before its first write, like `task run`: it too
/// settles a crashed merge's branch move first, instead of refusing for want of the branch.
#[test]
fn a_rollback_reverts_a_merge_whose_branch_move_a_crash_left_due() {
    let env = TestEnv::new();
    let dir = merge_stopped_before_moving_the_branch(&env);
    env.run(&dir, &["rollback", "s/a"]).success();
    assert_eq!(task(&env, &dir, "a")["status"], "reverted");
    doctor_passes(&env, &dir);
}

/// The landing approval names the integration tip it approves: read after the settling of
/// its own write, it includes the last merge even when a crash left that merge's branch move
/// due, and the landing that follows is not refused as stale.
#[test]
fn a_landing_approval_names_the_merge_whose_branch_move_a_crash_left_due() {
    let env = TestEnv::new();
    let dir = setup(&env);
    for t in ["s/a", "s/b", "s/c"] {
        env.run(&dir, &["task", "run", t]).success();
        env.run(&dir, &["approve", t]).success();
        if t != "s/c" {
            env.run(&dir, &["merge", t]).success();
        }
    }
    merge_killed_after_recording_it(&env, &dir, "s/c");
    env.run(&dir, &["approve", "s"]).success();
    let merge = task(&env, &dir, "c")["merge_commit"].as_str().unwrap().to_owned();
    let landed = env.run(&dir, &["land", "s", "--json"]).success();
    env.git(&dir, &["merge-base", "--is-ancestor", &merge, "main"]).success_git();
    assert!(landed.json()["commit"].is_string(), "{}", landed.render());
    doctor_passes(&env, &dir);
}

/// Found while writing the I6 test: the rework of a reverted task starts from its old branch,
/// whose tip the integration branch already holds (through the reverted merge), so the second
/// merge merges nothing and the task is `merged` without its work on the branch.
#[test]
fn a_task_reworked_after_its_rollback_brings_its_work_back() {
    let env = TestEnv::new();
    let dir = healthy(&env);
    env.run(&dir, &["rollback", "s/a"]).success();
    env.run(&dir, &["task", "run", "s/a"]).success();
    env.run(&dir, &["approve", "s/a"]).success();
    env.run(&dir, &["merge", "s/a"]).success();
    assert_eq!(task(&env, &dir, "a")["status"], "merged");
    let tree = env.git(&dir, &["ls-tree", "--name-only", "maestro/s/integration"]).success_git();
    assert!(tree.lines().any(|f| f == "a.txt"), "the second merge brings the work back:\n{tree}");
}

#[test]
fn a_task_record_at_the_wrong_place_is_reported() {
    let env = TestEnv::new();
    let dir = healthy(&env);
    edit_task(&env, &dir, "b", |t| t.replace("id = \"b\"", "id = \"x\""));
    let run = env.run(&dir, &["doctor"]).user_error();
    let needle = "scores/s/tasks/6/e/b.toml is refused: its ids place it at \"scores/s/tasks/0/6/x.toml\", not here";
    assert!(run.stdout.contains(needle), "{}", run.render());
}
