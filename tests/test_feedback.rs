//! Local feedback (issue 18, part 2): a failed post-merge check reverts the merge and sends the
//! task back with the check's output; the rework starts from the task's change re-applied on
//! the integration tip, so the next merge brings the whole change; a rework that changes
//! nothing is a failed attempt. Through `run` and through the single commands.

use std::path::{Path, PathBuf};

use crate::common::TestEnv;
use crate::test_cli::GitRun;
use crate::test_invariants::doctor_passes;

/// Score `f`: one task `t`, approved by the check `ok`, and the post-merge check `status`,
/// which passes once `status.txt` says `fixed`.
const SCORE: &str = "format = 1\nid = \"f\"\ntarget = \"main\"\napproval = [\"checks\"]\n\
                     post_merge_checks = [\"status\"]\nmax_attempts = 3\n\n[[tasks]]\nid = \"t\"\nchecks = [\"ok\"]\n";

/// A performer that saves each prompt it gets as `prompts/<n>.txt` (n from 0) and then, in its
/// worktree: with no `feature.txt`, writes `feature.txt` and a `status.txt` that says `broken`;
/// with one, runs `then` (shell).
fn performer(env: &TestEnv, then: &str) -> PathBuf {
    let prompts = env.path("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    let script = format!(
        "#!/bin/sh\nn=$(ls '{dir}' | wc -l)\ncat > '{dir}'/$n.txt\n\
         if [ -f feature.txt ]; then {then}; else echo first > feature.txt; echo broken > status.txt; fi\n\
         echo done\n",
        dir = prompts.display()
    );
    let path = env.write("agent.sh", &script);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

/// Repo `r` with Score `f` (allowed `max_attempts`) approved, and a performer that runs `then`
/// on its rework.
fn setup(env: &TestEnv, then: &str, max_attempts: u32) -> PathBuf {
    setup_score(env, then, &SCORE.replace("max_attempts = 3", &format!("max_attempts = {max_attempts}")))
}

fn setup_score(env: &TestEnv, then: &str, score: &str) -> PathBuf {
    let dir = env.repo("r");
    env.write("f.toml", score);
    env.run(&dir, &["plan", "--from", "../f.toml"]).success();
    env.run(&dir, &["approve", "f"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let config = format!(
        "[performers.agent]\nadapter = \"command\"\ncommand = \"{}\"\nsandbox = \"off\"\n\n\
         [checks.ok]\nrun = \"true\"\n\n\
         [checks.status]\nrun = 'test \"$(cat status.txt)\" = fixed || {{ echo \"status.txt says $(cat status.txt), not fixed\" >&2; exit 3; }}'\n",
        performer(env, then).display()
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    dir
}

const FIX: &str = "echo fixed > status.txt";
const NOTHING: &str = ":";

fn prompt(env: &TestEnv, n: usize) -> String {
    std::fs::read_to_string(env.path(&format!("prompts/{n}.txt"))).unwrap_or_else(|e| panic!("prompt {n}: {e}"))
}

fn show(env: &TestEnv, dir: &Path) -> serde_json::Value {
    env.run(dir, &["task", "show", "f/t", "--json"]).success().json()
}

/// The content of `file` on the integration branch, if it is there.
fn on_integration(env: &TestEnv, dir: &Path, file: &str) -> Option<String> {
    let run = env.git(dir, &["show", &format!("maestro/f/integration:{file}")]);
    (run.code == 0).then(|| run.stdout.trim().to_owned())
}

/// The first attempt, merged by hand: the post-merge check fails on it.
fn first_merge_fails(env: &TestEnv, dir: &Path) {
    env.run(dir, &["task", "run", "f/t"]).success();
    env.run(dir, &["approve", "f/t"]).success();
    let merge = env.run(dir, &["merge", "f/t"]).user_error();
    assert!(merge.stderr.contains("f/t was merged and reverted"), "{}", merge.render());
    assert!(merge.stderr.contains("post-merge check status failed (exit 3)"), "{}", merge.render());
    assert!(merge.stderr.contains("it is ready for rework"), "{}", merge.render());
    assert!(merge.stderr.contains("Hint: run `git maestro task run f/t`"), "{}", merge.render());
}

/// What a sent-back task looks like: ready, with the check and its output as the reason, and
/// the merge undone on the integration branch.
fn assert_sent_back(env: &TestEnv, dir: &Path) {
    let t = show(env, dir);
    assert_eq!(t["status"], "ready", "{t:#}");
    let rework = t["rework"].as_str().unwrap_or_default();
    assert!(rework.contains("post-merge check status failed (exit 3)"), "{t:#}");
    assert!(rework.contains("status.txt says broken, not fixed"), "the check's output is the reason: {t:#}");
    assert_eq!(on_integration(env, dir, "feature.txt"), None, "the merge is reverted");
    let d = env.run(dir, &["decisions", "--kind", "rollback", "--task", "f/t", "--json"]).success().json();
    let why = d.as_array().unwrap().iter().find(|d| d["summary"] == "post-merge check status failed (exit 3)");
    let why = why.unwrap_or_else(|| panic!("the failed check is a decision: {d:#}"));
    assert!(why["rationale"].as_str().unwrap().ends_with("sent back for rework"), "{why:#}");
    assert_eq!(why["evidence"][0]["tail"], "status.txt says broken, not fixed\n");
}

/// After the rework merged: the whole change is on the integration branch, the first
/// attempt's file included, and the invariants hold.
fn assert_whole_change_merged(env: &TestEnv, dir: &Path) {
    assert_eq!(show(env, dir)["status"], "merged");
    assert_eq!(on_integration(env, dir, "status.txt").as_deref(), Some("fixed"));
    assert_eq!(
        on_integration(env, dir, "feature.txt").as_deref(),
        Some("first"),
        "the first attempt's change comes back with the rework's merge"
    );
    doctor_passes(env, dir);
}

#[test]
fn a_failed_post_merge_check_sends_the_task_back_and_its_rework_merges_the_whole_change_by_hand() {
    let env = TestEnv::new();
    let dir = setup(&env, FIX, 3);
    first_merge_fails(&env, &dir);
    assert_sent_back(&env, &dir);
    doctor_passes(&env, &dir);

    env.run(&dir, &["task", "run", "f/t"]).success();
    let second = prompt(&env, 1);
    assert!(second.contains("A previous attempt at this task was not accepted"), "{second}");
    assert!(second.contains("status.txt says broken, not fixed"), "the prompt holds the check's output:\n{second}");
    // The rework started from the integration tip with the change applied again.
    let parent = env.git(&dir, &["log", "-1", "--format=%s", "maestro/f/tasks/t^"]).success_git();
    assert_eq!(parent.trim(), "Reapply f/t: t", "the rework's branch starts with its change re-applied");
    let parent_of_that = env.git(&dir, &["rev-parse", "maestro/f/tasks/t^^"]).success_git();
    let tip = env.git(&dir, &["rev-parse", "maestro/f/integration"]).success_git();
    assert_eq!(parent_of_that, tip, "on the integration tip, which holds the revert");

    env.run(&dir, &["approve", "f/t"]).success();
    env.run(&dir, &["merge", "f/t"]).success();
    assert_whole_change_merged(&env, &dir);
}

#[test]
fn run_sends_a_task_back_after_a_failed_post_merge_check_and_merges_the_whole_change() {
    let env = TestEnv::new();
    let dir = setup(&env, FIX, 3);
    let run = env.run(&dir, &["run", "f"]).success();
    assert!(run.stdout.starts_with("f  done: 1 merged\n"), "{}", run.render());
    assert!(
        run.stderr.contains("post-merge check status failed (exit 3); sent back for rework"),
        "the run tells what happened:\n{}",
        run.render()
    );
    let second = prompt(&env, 1);
    assert!(second.contains("status.txt says broken, not fixed"), "the prompt holds the check's output:\n{second}");
    assert!(!prompt(&env, 0).contains("post-merge check"), "the first prompt had no rework");
    let t = show(&env, &dir);
    assert_eq!(t["attempts"].as_array().unwrap().len(), 2, "{t:#}");
    assert_whole_change_merged(&env, &dir);
}

#[test]
fn a_rework_that_changes_nothing_is_a_failed_attempt_by_hand() {
    let env = TestEnv::new();
    let dir = setup(&env, NOTHING, 3);
    first_merge_fails(&env, &dir);
    let run = env.run(&dir, &["task", "run", "f/t"]).user_error();
    let why = "the rework changed nothing since the result that was sent back";
    assert!(run.stderr.contains(&format!("f/t failed: {why}")), "{}", run.render());
    let t = show(&env, &dir);
    assert_eq!(t["status"], "failed", "{t:#}");
    assert_eq!(t["attempts"][1]["reason"], why);
    // Run again, by hand: still nothing, still refused (the re-applied change is no new work).
    let run = env.run(&dir, &["task", "run", "f/t"]).user_error();
    assert!(run.stderr.contains(why), "{}", run.render());
    doctor_passes(&env, &dir);
}

#[test]
fn run_refuses_a_rework_that_changes_nothing_and_blocks_the_task_after_max_attempts() {
    let env = TestEnv::new();
    let dir = setup(&env, NOTHING, 2);
    let run = env.run(&dir, &["run", "f"]).user_error();
    assert!(run.stdout.contains("f  failed: 1 blocked"), "{}", run.render());
    let t = show(&env, &dir);
    assert_eq!(t["status"], "blocked", "{t:#}");
    let attempts = t["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{t:#}");
    assert_eq!(attempts[1]["outcome"], "failed");
    assert_eq!(attempts[1]["reason"], "the rework changed nothing since the result that was sent back");
    assert_eq!(on_integration(&env, &dir, "feature.txt"), None, "nothing broken stays merged");
    doctor_passes(&env, &dir);
}

#[test]
fn a_failed_post_merge_check_out_of_attempts_blocks_the_task() {
    let env = TestEnv::new();
    let dir = setup(&env, FIX, 1);
    env.run(&dir, &["task", "run", "f/t"]).success();
    env.run(&dir, &["approve", "f/t"]).success();
    let merge = env.run(&dir, &["merge", "f/t"]).user_error();
    assert!(merge.stderr.contains("it used its attempts and is blocked"), "{}", merge.render());
    let t = show(&env, &dir);
    assert_eq!(t["status"], "blocked", "{t:#}");
    assert!(t["rework"].is_null(), "{t:#}");
    doctor_passes(&env, &dir);
    // A person may still try again: the run starts from the change re-applied.
    env.run(&dir, &["task", "run", "f/t"]).success();
    env.run(&dir, &["approve", "f/t"]).success();
    env.run(&dir, &["merge", "f/t"]).success();
    assert_whole_change_merged(&env, &dir);
}

#[test]
fn a_persons_rollback_sends_nothing_back_but_the_next_run_reapplies_the_change() {
    let env = TestEnv::new();
    // No post-merge check: the merge stands until a person rolls it back.
    let dir = setup_score(&env, NOTHING, &SCORE.replace("post_merge_checks = [\"status\"]\n", ""));
    env.run(&dir, &["task", "run", "f/t"]).success();
    env.run(&dir, &["approve", "f/t"]).success();
    env.run(&dir, &["merge", "f/t"]).success();
    env.run(&dir, &["rollback", "f/t"]).success();
    let t = show(&env, &dir);
    assert_eq!(t["status"], "reverted", "a person's rollback is no verdict on the result: {t:#}");
    assert!(t["rework"].is_null(), "{t:#}");
    assert_eq!(on_integration(&env, &dir, "feature.txt"), None);
    // The run changes nothing, and its result is the change re-applied: accepted, merged again.
    env.run(&dir, &["task", "run", "f/t"]).success();
    assert!(!prompt(&env, 1).contains("was not accepted"), "no rework reason in the prompt");
    env.run(&dir, &["approve", "f/t"]).success();
    env.run(&dir, &["merge", "f/t"]).success();
    assert_eq!(on_integration(&env, &dir, "feature.txt").as_deref(), Some("first"));
    assert_eq!(on_integration(&env, &dir, "status.txt").as_deref(), Some("broken"));
    doctor_passes(&env, &dir);
}

/// A person rejects a result and runs the task again by hand: `task run` sends it back as
/// `run` would, so the agent is told who rejected it and why, and a rework that brings the same
/// result fails; one that changes it is submitted.
#[test]
fn a_rework_by_hand_after_a_rejection_carries_the_reason_and_must_change_the_result() {
    let env = TestEnv::new();
    let dir = setup_score(&env, NOTHING, &SCORE.replace("approval = [\"checks\"]", "approval = [\"human\"]"));
    env.run(&dir, &["task", "run", "f/t"]).success();
    env.run(&dir, &["reject", "f/t", "-m", "status.txt must say fixed"]).success();
    let run = env.run(&dir, &["task", "run", "f/t"]).user_error();
    let why = "the rework changed nothing since the result that was sent back";
    assert!(run.stderr.contains(why), "{}", run.render());
    let reason = "rejected it: status.txt must say fixed";
    assert!(prompt(&env, 1).contains(reason), "the rework's prompt says why:\n{}", prompt(&env, 1));
    let packets = env.run(&dir, &["handover", "list", "--json"]).success().json();
    assert!(packets.to_string().contains("status.txt must say fixed"), "a handover packet says why: {packets:#}");
    // Changed this time: submitted.
    std::fs::write(
        env.path("agent.sh"),
        std::fs::read_to_string(env.path("agent.sh")).unwrap().replace("then :;", "then echo fixed > status.txt;"),
    )
    .unwrap();
    env.run(&dir, &["task", "run", "f/t"]).success();
    assert_eq!(show(&env, &dir)["status"], "submitted");
    doctor_passes(&env, &dir);
}
