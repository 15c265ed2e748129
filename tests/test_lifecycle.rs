//! The lifecycle kernel (DESIGN.md §12.1) through the real binary: the plan guard, derived
//! readiness, the structured landing approval, rollback after landing and of a task others
//! build on, and a performer whose only change is staged.

use std::path::{Path, PathBuf};

use crate::common::{Run, TestEnv};
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// Repo `r` with Score `d` planned (still a draft): task t0, and t1 which depends on t0 when
/// `chained`. Every task's chain is a person's approval.
fn planned(env: &TestEnv, chained: bool) -> PathBuf {
    let dir = env.repo("r");
    let deps = if chained { "deps = [\"t0\"]\n" } else { "" };
    let score = format!(
        "format = 1\nid = \"d\"\ntarget = \"main\"\nplan_approval = \"human\"\napproval = [\"human\"]\n\
         [[tasks]]\nid = \"t0\"\ntitle = \"Task 0\"\nspec = \"Write t0.txt.\"\n\
         [[tasks]]\nid = \"t1\"\ntitle = \"Task 1\"\nspec = \"Write t1.txt.\"\n{deps}"
    );
    env.write("d.toml", &score);
    env.run(&dir, &["plan", "--from", "../d.toml"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    // Each task writes its own file, so no two branches conflict.
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nenv = {{ FAKE_WRITE = \"{{task}}.txt={{task}} done\" }}\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    dir
}

/// `planned`, with the plan approved.
fn approved(env: &TestEnv, chained: bool) -> PathBuf {
    let dir = planned(env, chained);
    env.run(&dir, &["approve", "d"]).success();
    dir
}

/// Run, approve and merge `d/<task>`.
fn run_and_merge(env: &TestEnv, dir: &Path, task: &str) {
    let address = format!("d/{task}");
    env.run(dir, &["task", "run", &address]).success();
    env.run(dir, &["approve", &address]).success();
    env.run(dir, &["merge", &address]).success();
}

fn task_status(env: &TestEnv, dir: &Path, task: &str) -> String {
    let task = env.run(dir, &["task", "show", &format!("d/{task}"), "--json"]).success().json();
    task["status"].as_str().unwrap().to_owned()
}

fn score_json(env: &TestEnv, dir: &Path) -> serde_json::Value {
    env.run(dir, &["score", "show", "d", "--json"]).success().json()
}

fn rev(env: &TestEnv, dir: &Path, name: &str) -> String {
    env.git(dir, &["rev-parse", name]).success_git().trim().to_owned()
}

fn tree(env: &TestEnv, dir: &Path, name: &str) -> String {
    rev(env, dir, &format!("{name}^{{tree}}"))
}

/// Whether `path` is in the tree of `commit`.
fn has_file(env: &TestEnv, dir: &Path, commit: &str, path: &str) -> bool {
    env.git(dir, &["cat-file", "-e", &format!("{commit}:{path}")]).code == 0
}

#[test]
fn a_dependant_runs_once_its_dependency_is_merged_without_anyone_running_run() {
    let env = TestEnv::new();
    let dir = approved(&env, true);
    let early = env.run(&dir, &["task", "run", "d/t1"]).user_error();
    assert!(early.stderr.contains("Error: d/t1 waits for t0"), "{}", early.render());

    run_and_merge(&env, &dir, "t0");
    // Nothing but task run, approve and merge happened: t1's readiness is derived from t0.
    let run = env.run(&dir, &["task", "run", "d/t1"]).success();
    assert!(run.stdout.starts_with("d/t1  submitted, commit "), "{}", run.render());
    assert_eq!(task_status(&env, &dir, "t1"), "submitted");
    let branch = rev(&env, &dir, "maestro/d/tasks/t1");
    assert!(has_file(&env, &dir, &branch, "t0.txt"), "t1 started from the integration branch holding t0");
    assert!(has_file(&env, &dir, &branch, "t1.txt"));
}

#[test]
fn a_score_worked_by_single_commands_runs_and_is_done_as_under_run() {
    let env = TestEnv::new();
    let dir = approved(&env, true);
    assert_eq!(score_json(&env, &dir)["status"], "approved");
    env.run(&dir, &["task", "run", "d/t0"]).success();
    assert_eq!(score_json(&env, &dir)["status"], "running", "its first task run starts the Score");
    // Its result keeps the claim of who made it, merged too.
    let state = env.state_tip(&dir);
    let refused = env.run(&dir, &["task", "release", "d/t0"]).user_error();
    assert!(
        refused.stderr.contains("d/t0 is submitted: its result waits for approval or merge"),
        "{}",
        refused.render()
    );
    assert!(refused.stderr.contains("Hint: review it with `git maestro task review d/t0`"), "{}", refused.render());
    assert_eq!(env.state_tip(&dir), state, "a refusal writes nothing");
    env.run(&dir, &["approve", "d/t0"]).success();
    env.run(&dir, &["merge", "d/t0"]).success();
    let state = env.state_tip(&dir);
    let refused = env.run(&dir, &["task", "release", "d/t0", "--json"]).user_error();
    assert_eq!(refused.json()["error"]["code"], "already-merged", "{}", refused.render());
    assert_eq!(env.state_tip(&dir), state, "a refusal writes nothing");
    assert_eq!(score_json(&env, &dir)["status"], "running", "t1 is not merged yet");
    env.run(&dir, &["task", "run", "d/t1"]).success();
    env.run(&dir, &["approve", "d/t1"]).success();
    let last = env.run(&dir, &["merge", "d/t1"]).success();
    assert!(last.stdout.contains("d  done: every task is merged"), "{}", last.render());
    assert!(
        last.stderr.contains("Hint: land it with `git maestro approve d` and `git maestro land d`"),
        "{}",
        last.render()
    );
    assert_eq!(score_json(&env, &dir)["status"], "done", "its last merge finishes it");
    let status = env.run(&dir, &["status", "--json"]).success().json();
    assert_eq!(status[0]["status"], "done", "{status:#}");
    env.run(&dir, &["approve", "d"]).success();
    env.run(&dir, &["land", "d"]).success();
    assert_eq!(score_json(&env, &dir)["status"], "landed");

    // t1 rolled back, and the revert landed: a rework of t1 makes the Score run again, and
    // its merge finishes it.
    env.run(&dir, &["rollback", "d/t1"]).success();
    env.run(&dir, &["approve", "d"]).success();
    env.run(&dir, &["land", "d"]).success();
    assert_eq!(score_json(&env, &dir)["status"], "landed");
    env.run(&dir, &["task", "run", "d/t1"]).success();
    assert_eq!(score_json(&env, &dir)["status"], "running", "a landed Score whose task runs again is running");
    env.run(&dir, &["approve", "d/t1"]).success();
    env.run(&dir, &["merge", "d/t1"]).success();
    assert_eq!(score_json(&env, &dir)["status"], "done");
}

#[test]
fn a_task_record_gone_from_the_state_is_not_merged_and_the_others_still_merge() {
    let env = TestEnv::new();
    let dir = approved(&env, false);
    env.run(&dir, &["task", "run", "d/t0"]).success();
    env.run(&dir, &["approve", "d/t0"]).success();
    // t1's record is gone (a hand edit of the state): the Score still lists it.
    env.rewrite_state(&dir, &[], &[&git_maestro::store::layout::task_file("d", "t1")]);
    let merge = env.run(&dir, &["merge", "d/t0"]).success();
    assert!(!merge.stdout.contains("done"), "{}", merge.render());
    let score = env.git(&dir, &["show", "refs/maestro/state:scores/d/score.toml"]).success_git();
    assert!(score.contains("status = \"running\""), "a task not there is not merged:\n{score}");
}

#[test]
fn task_run_on_a_draft_score_whose_plan_a_human_must_approve_is_refused_and_changes_nothing() {
    let env = TestEnv::new();
    let dir = planned(&env, false);
    let status = task_status(&env, &dir, "t0");
    let before = env.state_tip(&dir);
    let run = env.run(&dir, &["task", "run", "d/t0"]).user_error();
    assert!(run.stderr.contains("Error: the plan of d is not approved yet"), "{}", run.render());
    assert!(run.stderr.contains("Hint: run `git maestro approve d` first"), "{}", run.render());
    let json = env.run(&dir, &["task", "run", "d/t0", "--json"]).user_error().json();
    assert_eq!(json["error"]["code"], "not-approved", "{json:#}");

    assert_eq!(env.state_tip(&dir), before, "the state did not change");
    let task = env.run(&dir, &["task", "show", "d/t0", "--json"]).success().json();
    assert_eq!(task["status"], status.as_str(), "{task:#}");
    assert!(task.get("claim").is_none_or(serde_json::Value::is_null), "nobody claimed it: {task:#}");
    assert!(task.get("attempts").is_none_or(|a| a.as_array().is_some_and(Vec::is_empty)), "{task:#}");
    assert_eq!(score_json(&env, &dir)["status"], "draft");
    let branches = env.git(&dir, &["for-each-ref", "--format=%(refname)", "refs/heads/maestro/"]).success_git();
    assert_eq!(branches, "", "no task branch was created");
    let worktrees = env.path("worktrees");
    assert!(
        !worktrees.exists() || walk_files(&worktrees).is_empty(),
        "no worktree was created: {:?}",
        walk_files(&worktrees)
    );
    assert!(!env.path("worktrees").join("t0.txt").exists());
}

/// Every file under `dir` (none when it does not exist).
fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            } else {
                found.push(e.path());
            }
        }
    }
    found
}

#[test]
fn approving_a_score_twice_before_any_task_ran_records_no_landing_approval() {
    let env = TestEnv::new();
    let dir = planned(&env, false);
    let plan = env.run(&dir, &["approve", "d", "--json"]).success().json();
    assert_eq!(plan["approved"], "plan");
    assert_eq!(plan["status"], "approved");

    let before = env.state_tip(&dir);
    let again = env.run(&dir, &["approve", "d"]).user_error();
    assert!(again.stderr.contains("Error: d cannot land yet: t0, t1 not merged"), "{}", again.render());
    assert!(again.stderr.contains("Hint: run `git maestro run d` to finish its tasks"), "{}", again.render());
    assert_eq!(env.state_tip(&dir), before, "no decision was written");

    let approvals = env.run(&dir, &["decisions", "--kind", "approval", "--json"]).success().json();
    let summaries: Vec<&str> = approvals.as_array().unwrap().iter().map(|d| d["summary"].as_str().unwrap()).collect();
    assert_eq!(summaries, ["tester approved the plan of d"], "the plan's approval only");
    let score = score_json(&env, &dir);
    assert!(score.get("landing").is_none_or(serde_json::Value::is_null), "no landing approval: {score:#}");
    assert_eq!(score["status"], "approved");
}

#[test]
fn land_is_refused_while_tasks_are_still_pending() {
    let env = TestEnv::new();
    let dir = approved(&env, true);
    let main = rev(&env, &dir, "main");
    // Nothing ran yet (there is no integration branch either).
    let run = env.run(&dir, &["land", "d"]).user_error();
    assert!(run.stderr.contains("Error: d cannot land yet: t0, t1 not merged"), "{}", run.render());
    assert!(run.stderr.contains("Hint: run `git maestro run d` to finish its tasks"), "{}", run.render());
    assert_eq!(rev(&env, &dir, "main"), main, "{}", run.render());

    // t0 merged, t1 still pending.
    run_and_merge(&env, &dir, "t0");
    assert_eq!(task_status(&env, &dir, "t1"), "pending");
    let before = env.state_tip(&dir);
    let run = env.run(&dir, &["land", "d"]).user_error();
    assert!(run.stderr.contains("Error: d cannot land yet: t1 not merged"), "{}", run.render());
    let json = env.run(&dir, &["land", "d", "--json"]).user_error().json();
    assert_eq!(json["error"]["code"], "unfinished", "{json:#}");
    let approve = env.run(&dir, &["approve", "d"]).user_error();
    assert!(approve.stderr.contains("d cannot land yet: t1 not merged"), "{}", approve.render());
    assert_eq!(rev(&env, &dir, "main"), main, "the target did not move");
    assert_eq!(env.state_tip(&dir), before, "nothing was recorded");
    assert_ne!(score_json(&env, &dir)["status"], "landed");
}

#[test]
fn a_rollback_after_land_warns_reopens_the_score_and_landing_again_brings_the_revert() {
    let env = TestEnv::new();
    let dir = approved(&env, false);
    run_and_merge(&env, &dir, "t0");
    run_and_merge(&env, &dir, "t1");
    env.run(&dir, &["approve", "d"]).success();
    env.run(&dir, &["land", "d"]).success();
    assert_eq!(score_json(&env, &dir)["status"], "landed");
    let landed = rev(&env, &dir, "main");
    assert_eq!(landed, rev(&env, &dir, "maestro/d/integration"));

    let run = env.run(&dir, &["rollback", "d/t1"]).success();
    assert!(run.stdout.contains("d/t1  reverted"), "{}", run.render());
    assert!(run.stderr.contains("Warning: d had landed: main still holds the reverted changes"), "{}", run.render());
    assert!(
        run.stderr.contains("Hint: land the revert with `git maestro approve d` and `git maestro land d`"),
        "{}",
        run.render()
    );
    let score = score_json(&env, &dir);
    assert_eq!(score["status"], "running", "no longer landed: {score:#}");
    assert_eq!(rev(&env, &dir, "main"), landed, "the rollback does not touch the target");
    assert!(has_file(&env, &dir, "main", "t1.txt"), "the target still holds t1");
    let rollback = env.run(&dir, &["decisions", "--kind", "rollback", "--json"]).success().json();
    assert_eq!(rollback[0]["rationale"], "main still holds it: land d again to bring the revert there", "{rollback:#}");

    // Landing again needs a new approval, of the tip holding the revert.
    let refused = env.run(&dir, &["land", "d"]).user_error();
    assert!(refused.stderr.contains("landing d needs Score-level approval"), "{}", refused.render());
    env.run(&dir, &["approve", "d"]).success();
    env.run(&dir, &["land", "d"]).success();
    let integration = rev(&env, &dir, "maestro/d/integration");
    assert_eq!(tree(&env, &dir, "main"), tree(&env, &dir, &integration), "the target holds the revert");
    assert!(!has_file(&env, &dir, "main", "t1.txt"));
    assert!(has_file(&env, &dir, "main", "t0.txt"), "the other task stays landed");
    assert!(!dir.join("t1.txt").exists(), "the clean checkout of main was updated");
    let score = score_json(&env, &dir);
    assert_eq!(score["status"], "landed", "{score:#}");
    assert_eq!(score["landed"]["integration"], integration.as_str(), "{score:#}");
}

/// Approved plan, t0 and then its dependant t1 run and merged.
fn both_merged(env: &TestEnv) -> PathBuf {
    let dir = approved(env, true);
    run_and_merge(env, &dir, "t0");
    run_and_merge(env, &dir, "t1");
    dir
}

#[test]
fn rolling_back_a_task_whose_merged_dependant_uses_it_warns_and_names_the_dependant() {
    let env = TestEnv::new();
    let dir = both_merged(&env);
    // A landing approval in force is voided by the revert.
    env.run(&dir, &["approve", "d"]).success();
    assert!(score_json(&env, &dir)["landing"].is_object());

    let run = env.run(&dir, &["rollback", "d/t0"]).success();
    assert!(run.stdout.contains("d/t0  reverted"), "{}", run.render());
    assert!(!run.stdout.contains("d/t1"), "only t0 is reverted: {}", run.render());
    assert!(
        run.stderr.contains("Warning: merged tasks build on what was reverted and were left merged: d/t1"),
        "{}",
        run.render()
    );
    assert!(
        run.stderr.contains("Hint: roll them back too with `git maestro rollback d/t0 --with-dependants`"),
        "{}",
        run.render()
    );
    assert_eq!(task_status(&env, &dir, "t0"), "reverted");
    assert_eq!(task_status(&env, &dir, "t1"), "merged");
    let integration = rev(&env, &dir, "maestro/d/integration");
    assert!(!has_file(&env, &dir, &integration, "t0.txt"));
    assert!(has_file(&env, &dir, &integration, "t1.txt"));

    let score = score_json(&env, &dir);
    assert!(score.get("landing").is_none_or(serde_json::Value::is_null), "the revert voided it: {score:#}");
    let refused = env.run(&dir, &["land", "d"]).user_error();
    assert!(refused.stderr.contains("landing d needs Score-level approval"), "{}", refused.render());
}

#[test]
fn rolling_back_with_dependants_reverts_the_task_and_its_merged_dependant() {
    let env = TestEnv::new();
    let dir = both_merged(&env);
    let base = rev(&env, &dir, "main");
    let before = rev(&env, &dir, "maestro/d/integration");
    let done = env.run(&dir, &["rollback", "d/t0", "--with-dependants", "--json"]).success();
    assert!(!done.stderr.contains("Warning:"), "nothing is left to warn about: {}", done.render());
    let json = done.json();
    assert_eq!(json["tasks"], serde_json::json!(["d/t1", "d/t0"]), "newest merge first: {json:#}");
    assert!(json.get("dependants").is_none_or(|d| d.as_array().is_some_and(Vec::is_empty)), "{json:#}");
    assert_eq!(task_status(&env, &dir, "t0"), "reverted");
    assert_eq!(task_status(&env, &dir, "t1"), "reverted");
    let after = rev(&env, &dir, "maestro/d/integration");
    assert_eq!(tree(&env, &dir, &after), tree(&env, &dir, &base), "both changes are gone");
    assert_eq!(rev(&env, &dir, &format!("{after}~2")), before, "two reverts appended, nothing rewritten");

    // Rework after a revert: reverted -> ready is legal, and t1 waits for t0 again.
    let waits = env.run(&dir, &["task", "run", "d/t1"]).user_error();
    assert!(waits.stderr.contains("Error: d/t1 waits for t0"), "{}", waits.render());
    let again = env.run(&dir, &["task", "run", "d/t0"]).success();
    assert!(again.stdout.starts_with("d/t0  submitted, commit "), "{}", again.render());
    let task = env.run(&dir, &["task", "show", "d/t0", "--json"]).success().json();
    assert_eq!(task["attempts"].as_array().unwrap().len(), 2, "a second attempt: {task:#}");
}

/// The branch of a reverted task ends at the commit whose merge was reverted; its rework starts
/// again from the integration tip, so merging it brings the change back (rather than an empty
/// merge recorded as `merged`).
#[test]
fn a_task_reworked_after_a_revert_brings_its_change_back_when_merged_again() {
    let env = TestEnv::new();
    let dir = approved(&env, false);
    run_and_merge(&env, &dir, "t0");
    env.run(&dir, &["rollback", "d/t0"]).success();
    assert!(!has_file(&env, &dir, "maestro/d/integration", "t0.txt"));
    run_and_merge(&env, &dir, "t0");
    assert_eq!(task_status(&env, &dir, "t0"), "merged");
    assert!(has_file(&env, &dir, "maestro/d/integration", "t0.txt"), "the merged rework is on the integration branch");
}

/// A `command` performer that writes a new file and stages it with `git add -A`, then exits.
fn staging_performer(env: &TestEnv) -> PathBuf {
    let script = env.write(
        "stage-only.sh",
        "#!/bin/sh\ncat > /dev/null\necho 'staged by the performer' > staged.txt\ngit add -A\necho staged it\n",
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    script
}

#[test]
fn a_performer_that_only_stages_a_change_is_submitted_not_failed() {
    let env = TestEnv::new();
    let dir = approved(&env, false);
    let script = staging_performer(&env);
    let config = format!("[performers.stager]\nadapter = \"command\"\ncommand = \"{}\"\n", script.display());
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();

    let run: Run = env.run(&dir, &["task", "run", "d/t0"]);
    assert!(!run.stderr.contains("finished without changing any file"), "{}", run.render());
    let run = run.success();
    assert!(run.stdout.starts_with("d/t0  submitted, commit "), "{}", run.render());
    let task = env.run(&dir, &["task", "show", "d/t0", "--json"]).success().json();
    assert_eq!(task["status"], "submitted", "{task:#}");
    assert_eq!(task["attempts"][0]["outcome"], "submitted", "{task:#}");
    let commit = task["attempts"][0]["commit"].as_str().expect("a result commit");
    assert_eq!(rev(&env, &dir, "maestro/d/tasks/t0"), commit, "the result is the task branch");
    let file = env.git(&dir, &["show", "maestro/d/tasks/t0:staged.txt"]).success_git();
    assert_eq!(file, "staged by the performer\n", "the staged file is in the task branch's tree");
}
