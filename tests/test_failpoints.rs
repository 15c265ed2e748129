//! The crash test of DESIGN.md §12.5, enumerated rather than sampled.
//!
//! For each command (or short sequence of commands) the state right before it is built once
//! and saved. The command runs once with `MAESTRO_FAILPOINTS_LOG` to list every crash point it
//! reaches (`name#n`). Then, for every point in turn, the saved state is put back in place (the
//! same paths: worktrees and HOME live beside the repository, and git records absolute paths),
//! the command runs with `MAESTRO_FAILPOINTS=<point>` and must die by SIGKILL, a "next
//! command" runs (in turn `status`, `run s`, `doctor`), and then:
//!
//! - `doctor` must pass: every invariant holds and it writes nothing. One repair is expected
//!   and done with `doctor --fix`: a crash between a run's claim and its end leaves the task
//!   `running` with a dead lease, which DESIGN §12.3 leaves to the next *writing* command (or
//!   `doctor --fix`); when the next command was a read (`status`, `doctor`) nothing could have
//!   released it yet, so doctor reports it as I3 and `--fix` must release it. Any other failure
//!   is a bug;
//! - `git maestro run s` (with a rework of any task a rollback reverted, which `run` leaves to
//!   people) must complete the Score, every task merged;
//! - `doctor` must pass again, and the integration branch must hold each task's merge once:
//!   every merge on its first-parent line names a merge decision about its task, each task has
//!   exactly one merge that no revert undoes, and each task's file is on the branch.
//!
//! Problems are collected over all points and reported together. The points reached and the
//! number covered per command are printed (run with `--nocapture` to see them).

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};

use crate::common::{Run, TestEnv};
use crate::test_cli::GitRun;
use crate::test_invariants::{doctor, setup};

/// The Score's tasks (see `test_invariants::SCORE`).
const TASKS: [&str; 3] = ["a", "b", "c"];

/// Commands that follow a crash, in turn.
const NEXT: [&[&str]; 3] = [&["status"], &["run", "s"], &["doctor"]];

/// A copy of a test root, put back in place before each crash.
struct Saved {
    copy: tempfile::TempDir,
}

impl Saved {
    fn take(env: &TestEnv) -> Saved {
        let copy = tempfile::Builder::new().prefix("maestro-saved-").tempdir().unwrap();
        cp(env.root.path(), copy.path());
        Saved { copy }
    }

    fn restore(&self, env: &TestEnv) {
        for entry in std::fs::read_dir(env.root.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir_all(&path).unwrap();
            } else {
                std::fs::remove_file(&path).unwrap();
            }
        }
        cp(self.copy.path(), env.root.path());
    }
}

/// `cp -a from/. to`
fn cp(from: &Path, to: &Path) {
    let status =
        std::process::Command::new("cp").arg("-a").arg(format!("{}/.", from.display())).arg(to).status().unwrap();
    assert!(status.success(), "cp -a {} {}", from.display(), to.display());
}

/// One crash test: the state before `commands`, built by `fixture`.
struct Case {
    name: &'static str,
    fixture: fn(&TestEnv) -> PathBuf,
    commands: &'static [&'static [&'static str]],
    /// Land the Score at the end (its commands landed it).
    land: bool,
}

/// What the crash test of one case found.
#[derive(Default)]
struct Findings {
    points: usize,
    /// Points after which `doctor --fix` was expected and released a dead run.
    fixed: usize,
    problems: Vec<String>,
}

fn tasks(env: &TestEnv, dir: &Path) -> Vec<serde_json::Value> {
    env.run(dir, &["task", "list", "s", "--json"]).success().json().as_array().unwrap().clone()
}

fn status_of(env: &TestEnv, dir: &Path) -> Vec<(String, String)> {
    tasks(env, dir)
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_owned(), t["status"].as_str().unwrap().to_owned()))
        .collect()
}

/// The errors `doctor --json` reported, as `check: detail` lines.
fn errors(findings: &[serde_json::Value]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f["status"] == "error")
        .map(|f| format!("{}: {}", f["check"].as_str().unwrap(), f["detail"].as_str().unwrap()))
        .collect()
}

/// Run `case`'s crash test at every point its commands reach.
fn crash_test(case: &Case) -> Findings {
    let env = TestEnv::new();
    let dir = (case.fixture)(&env);
    let saved = Saved::take(&env);
    let logs = tempfile::tempdir().unwrap();

    // Enumerate: the points each command reaches, in order.
    let mut points: Vec<(usize, String)> = Vec::new();
    for (k, command) in case.commands.iter().enumerate() {
        let log = logs.path().join(format!("{k}.log"));
        let run: Run = env.command(&dir).args(*command).env("MAESTRO_FAILPOINTS_LOG", &log).output().unwrap().into();
        assert_eq!(run.code, 0, "{}: {command:?} works without a crash:\n{}", case.name, run.render());
        let listed = std::fs::read_to_string(&log).unwrap_or_default();
        points.extend(listed.lines().filter(|l| !l.is_empty()).map(|l| (k, l.to_owned())));
    }
    assert!(!points.is_empty(), "{}: no failpoint was reached (is MAESTRO_FAILPOINTS_LOG written?)", case.name);

    let listed: Vec<String> = points.iter().map(|(k, p)| format!("{}:{p}", case.commands[*k].join(" "))).collect();
    eprintln!("failpoints: {} reaches {}", case.name, listed.join(", "));
    let mut found = Findings { points: points.len(), ..Findings::default() };
    for (i, (k, point)) in points.iter().enumerate() {
        saved.restore(&env);
        let at = format!("{} {point} ({:?})", case.name, case.commands[*k]);
        let mut problem = |what: String| found.problems.push(format!("{at}: {what}"));
        for command in &case.commands[..*k] {
            env.run(&dir, command).success();
        }
        let out = env.command(&dir).args(case.commands[*k]).env("MAESTRO_FAILPOINTS", point).output().unwrap();
        if out.status.signal() != Some(9) {
            problem(format!("did not die by SIGKILL at the point:\n{}", Run::from(out).render()));
            continue;
        }
        let next = NEXT[i % NEXT.len()];
        let after = env.run(&dir, next);
        if after.code != 0 && (next[0] == "run" || after.code == 255) {
            problem(format!("the next command {next:?} failed:\n{}", after.render()));
        }

        // The invariants hold, and doctor writes nothing.
        let tip = env.state_tip(&dir);
        let (run, findings) = doctor(&env, &dir, &[]);
        if env.state_tip(&dir) != tip {
            problem("doctor wrote to the state".into());
        }
        if run.code != 0 {
            let errors = errors(&findings);
            let dead_run = |e: &String| e.starts_with("I3: ") && e.contains("is running, but its run");
            if next[0] != "run" && !errors.is_empty() && errors.iter().all(dead_run) {
                // Expected: see the module doc. `--fix` must release it.
                let (fixed, findings) = doctor(&env, &dir, &["--fix"]);
                found.fixed += 1;
                if fixed.code != 0 {
                    problem(format!("doctor --fix did not release the dead run: {:?}", self::errors(&findings)));
                }
            } else {
                problem(format!("doctor fails after {next:?}: {errors:?}"));
            }
        }
        complete(&env, &dir, case, &mut problem);
    }
    eprintln!(
        "failpoints: {} crashed at each of {} points ({} needed `doctor --fix` for a dead run), {} problems",
        case.name,
        found.points,
        found.fixed,
        found.problems.len()
    );
    found
}

/// Bring the Score to completion, then check it: every task merged once with its work on the
/// integration branch, doctor passes.
fn complete(env: &TestEnv, dir: &Path, case: &Case, problem: &mut dyn FnMut(String)) {
    let mut reworked = Vec::new();
    let mut rounds = 0;
    loop {
        // Always run once: a Score whose records say done may still have an intent to settle
        // (its process died after recording the merge); `run` writes, and so settles it.
        let statuses = status_of(env, dir);
        if rounds > 0 && statuses.iter().all(|(_, s)| s == "merged") {
            break;
        }
        rounds += 1;
        if rounds > 3 {
            problem(format!("run did not complete the Score: {statuses:?}"));
            return;
        }
        // `run` leaves a reverted task alone: a person decides to rework it.
        for (id, _) in statuses.iter().filter(|(_, s)| s == "reverted") {
            reworked.push(id.clone());
            let rework = env.run(dir, &["task", "run", &format!("s/{id}")]);
            if rework.code != 0 {
                problem(format!("the rework of s/{id} failed:\n{}", rework.render()));
            }
        }
        let run = env.run(dir, &["run", "s"]);
        if run.code != 0 {
            problem(format!("run s failed:\n{}", run.render()));
            return;
        }
    }
    if case.land {
        let score = env.run(dir, &["score", "show", "s", "--json"]).success().json();
        if score["status"] != "landed" {
            // The crash may have come after the landing approval was recorded.
            let tip = env.git(dir, &["rev-parse", "maestro/s/integration"]).success_git();
            let approved = score["landing"]["integration"].as_str() == Some(tip.trim());
            let commands: &[&[&str]] = if approved { &[&["land", "s"]] } else { &[&["approve", "s"], &["land", "s"]] };
            for command in commands {
                let run = env.run(dir, command);
                if run.code != 0 {
                    problem(format!("{command:?} after the crash failed:\n{}", run.render()));
                }
            }
        }
        let score = env.run(dir, &["score", "show", "s", "--json"]).success().json();
        if score["status"] != "landed" {
            problem(format!("s is {} after landing it", score["status"]));
        }
    }
    let (run, findings) = doctor(env, dir, &[]);
    if run.code != 0 {
        problem(format!("doctor fails once the Score is complete: {:?}", errors(&findings)));
    }
    merged_once(env, dir, problem);
    let files = env.git(dir, &["ls-tree", "--name-only", "maestro/s/integration"]).success_git();
    for task in TASKS.iter().filter(|t| !files.lines().any(|f| f == format!("{t}.txt"))) {
        let how = if reworked.iter().any(|r| r == task) { " (reworked after its rollback)" } else { "" };
        problem(format!("s/{task} is merged{how} but {task}.txt is not on the integration branch"));
    }
}

/// Every merge on the integration branch's first-parent line names a merge decision about its
/// task, and each task has exactly one merge no revert undoes.
fn merged_once(env: &TestEnv, dir: &Path, problem: &mut dyn FnMut(String)) {
    let decisions = env.run(dir, &["decisions", "--kind", "merge", "--json"]).success().json();
    let format = "--format=%H %P%x00%(trailers:key=Maestro-Task,valueonly,separator=)%x00\
                  %(trailers:key=Maestro-Decision,valueonly,separator=)%x00%B%x01";
    let log = env.git(dir, &["log", "--first-parent", format, "maestro/s/integration"]).success_git();
    let mut merges: Vec<(String, String)> = Vec::new();
    let mut reverted: Vec<String> = Vec::new();
    for entry in log.split('\u{1}').map(str::trim).filter(|e| !e.is_empty()) {
        let fields: Vec<&str> = entry.split('\0').collect();
        let ids: Vec<&str> = fields[0].split(' ').collect();
        let (task, decision) = (fields[1].trim(), fields[2].trim());
        for line in fields[3].lines() {
            if let Some(merge) = line.strip_prefix("This reverts merge ") {
                reverted.push(merge.trim_end_matches('.').to_owned());
            }
        }
        if ids.len() < 3 || task.is_empty() {
            continue;
        }
        let named = decisions
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == decision && d["task"] == task && d["commit"].as_str() == Some(ids[0]));
        if !named {
            problem(format!("the merge {} of s/{task} names no merge decision about it ({decision})", ids[0]));
        }
        merges.push((task.to_owned(), ids[0].to_owned()));
    }
    for task in TASKS {
        let live = merges.iter().filter(|(t, m)| t == task && !reverted.contains(m)).count();
        if live != 1 {
            problem(format!("s/{task} has {live} merges on the integration branch that no revert undoes"));
        }
    }
}

/// Run `s/<task>` with the fake performer.
fn run_task(env: &TestEnv, dir: &Path, task: &str) {
    env.run(dir, &["task", "run", &format!("s/{task}")]).success();
}

fn merge(env: &TestEnv, dir: &Path, task: &str) {
    run_task(env, dir, task);
    env.run(dir, &["approve", &format!("s/{task}")]).success();
    env.run(dir, &["merge", &format!("s/{task}")]).success();
}

fn report(found: Findings) {
    assert!(found.problems.is_empty(), "{} problems:\n{}", found.problems.len(), found.problems.join("\n\n"));
}

#[test]
fn a_crash_anywhere_in_task_run_leaves_the_invariants_and_the_score_completes() {
    report(crash_test(&Case { name: "task run", fixture: setup, commands: &[&["task", "run", "s/a"]], land: false }));
}

#[test]
fn a_crash_anywhere_in_task_review_leaves_the_invariants_and_the_score_completes() {
    fn fixture(env: &TestEnv) -> PathBuf {
        let dir = setup(env);
        run_task(env, &dir, "a");
        dir
    }
    report(crash_test(&Case { name: "task review", fixture, commands: &[&["task", "review", "s/a"]], land: false }));
}

#[test]
fn a_crash_anywhere_in_approve_and_merge_leaves_the_invariants_and_the_score_completes() {
    fn fixture(env: &TestEnv) -> PathBuf {
        let dir = setup(env);
        run_task(env, &dir, "a");
        dir
    }
    let commands: &[&[&str]] = &[&["approve", "s/a"], &["merge", "s/a"]];
    report(crash_test(&Case { name: "approve+merge", fixture, commands, land: false }));
}

#[test]
fn a_crash_anywhere_in_rollback_leaves_the_invariants_and_the_score_completes() {
    fn fixture(env: &TestEnv) -> PathBuf {
        let dir = setup(env);
        merge(env, &dir, "a");
        merge(env, &dir, "b");
        dir
    }
    report(crash_test(&Case { name: "rollback", fixture, commands: &[&["rollback", "s/a"]], land: false }));
}

#[test]
fn a_crash_anywhere_in_the_rework_of_a_reverted_task_leaves_the_invariants_and_the_score_completes() {
    // Its branch restarts from the integration tip with its change re-applied (an intent of
    // the claim transaction).
    fn fixture(env: &TestEnv) -> PathBuf {
        let dir = setup(env);
        merge(env, &dir, "a");
        merge(env, &dir, "b");
        env.run(&dir, &["rollback", "s/a"]).success();
        dir
    }
    report(crash_test(&Case { name: "rework", fixture, commands: &[&["task", "run", "s/a"]], land: false }));
}

#[test]
fn a_crash_anywhere_in_approve_and_land_leaves_the_invariants_and_the_score_completes() {
    fn fixture(env: &TestEnv) -> PathBuf {
        let dir = setup(env);
        env.run(&dir, &["run", "s"]).success();
        dir
    }
    let commands: &[&[&str]] = &[&["approve", "s"], &["land", "s"]];
    report(crash_test(&Case { name: "approve+land", fixture, commands, land: true }));
}

#[test]
fn a_crash_anywhere_in_worktrees_prune_leaves_the_invariants_and_the_score_completes() {
    fn fixture(env: &TestEnv) -> PathBuf {
        let dir = setup(env);
        merge(env, &dir, "a");
        run_task(env, &dir, "b");
        dir
    }
    report(crash_test(&Case { name: "worktrees prune", fixture, commands: &[&["worktrees", "prune"]], land: false }));
}

#[test]
fn a_crash_anywhere_in_run_leaves_the_invariants_and_the_score_completes() {
    // One task at a time, so that the n-th hit of a point is the same step in every run.
    let commands: &[&[&str]] = &[&["run", "s", "--max-parallel", "1"]];
    report(crash_test(&Case { name: "run", fixture: setup, commands, land: false }));
}

#[test]
fn a_crash_anywhere_in_sync_leaves_the_invariants_and_the_score_completes() {
    /// A clone `b` of the same remote wrote meanwhile, so this sync fetches, merges and pushes.
    fn fixture(env: &TestEnv) -> PathBuf {
        let dir = setup(env);
        merge(env, &dir, "a");
        let remote = env.path("remote.git");
        env.git(env.root.path(), &["init", "-q", "--bare", remote.to_str().unwrap()]).success_git();
        env.git(&dir, &["remote", "add", "origin", remote.to_str().unwrap()]).success_git();
        env.run(&dir, &["sync"]).success();
        let b = env.path("b");
        env.git(env.root.path(), &["clone", "-q", remote.to_str().unwrap(), b.to_str().unwrap()]).success_git();
        env.run(&b, &["sync"]).success();
        env.run(&b, &["kb", "add", "--title", "from b", "--body", "b knows"]).success();
        env.run(&b, &["sync"]).success();
        env.run(&dir, &["kb", "add", "--title", "from r", "--body", "r knows"]).success();
        dir
    }
    report(crash_test(&Case { name: "sync", fixture, commands: &[&["sync"]], land: false }));
}
