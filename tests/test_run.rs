//! `git maestro run` with fake-performer: a DAG in dependency order under a parallel limit,
//! resuming after `kill -9`, blocking after `max_attempts`, and checkpoints.

use std::path::{Path, PathBuf};

use crate::common::TestEnv;
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// A Score `k` of `n` tasks: `t<i>` depends on `t<i-1>` unless i is a multiple of 4, and on
/// `t<i-5>` from i = 5, so the DAG has several roots and joins. `extra` goes at the Score level.
fn score(n: usize, extra: &str) -> String {
    let mut s = format!("format = 1\nid = \"k\"\ntarget = \"main\"\napproval = [\"checks\"]\n{extra}\n");
    for i in 0..n {
        let mut deps = Vec::new();
        if i % 4 != 0 {
            deps.push(format!("\"t{}\"", i - 1));
        }
        if i >= 5 {
            deps.push(format!("\"t{}\"", i - 5));
        }
        s.push_str(&format!("[[tasks]]\nid = \"t{i}\"\nchecks = [\"ok\"]\ndeps = [{}]\n", deps.join(", ")));
    }
    s
}

/// Repo `r` with Score `score_toml` approved and a fake performer whose env is `fake_env`.
fn setup(env: &TestEnv, score_toml: &str, fake_env: &str, check: &str) -> PathBuf {
    let dir = env.repo("r");
    env.write("k.toml", score_toml);
    env.run(&dir, &["plan", "--from", "../k.toml"]).success();
    env.run(&dir, &["approve", "k"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nmax_parallel = 8\nsandbox = \"off\"\n\
         env = {{ FAKE_WRITE = \"{{task}}.txt={{task}}\", {fake_env} }}\n\n[checks.ok]\nrun = \"{check}\"\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    dir
}

fn tasks(env: &TestEnv, dir: &Path) -> Vec<serde_json::Value> {
    env.run(dir, &["task", "list", "k", "--json"]).success().json().as_array().unwrap().clone()
}

fn show(env: &TestEnv, dir: &Path, id: &str) -> serde_json::Value {
    env.run(dir, &["task", "show", &format!("k/{id}"), "--json"]).success().json()
}

/// The intents open in the state: none once a run ended.
fn open_intents(env: &TestEnv, dir: &Path) -> String {
    env.git(dir, &["ls-tree", "-r", "--name-only", "refs/maestro/state", "intents"]).success_git()
}

/// The Maestro-Task trailer of every merge on the integration branch.
fn merged_tasks(env: &TestEnv, dir: &Path) -> Vec<String> {
    let log =
        env.git(dir, &["log", "--merges", "--format=%(trailers:key=Maestro-Task,valueonly)", "maestro/k/integration"]);
    log.stdout.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

#[test]
fn thirty_tasks_run_in_dependency_order_at_most_four_at_once() {
    let env = TestEnv::new();
    let log = env.path("fake.log");
    let fake_env = format!("FAKE_SLEEP_MS = \"150\", FAKE_LOG = \"{}\"", log.display());
    let dir = setup(&env, &score(30, ""), &fake_env, "test -f $(basename $PWD).txt");
    let run = env.run(&dir, &["run", "k", "--max-parallel", "4"]).success();
    assert!(run.stdout.starts_with("k  done: 30 merged\n"), "{}", run.render());

    // Each task's result was made on top of the merges of all its dependencies.
    let all = tasks(&env, &dir);
    for t in &all {
        let t = show(&env, &dir, t["id"].as_str().unwrap());
        assert_eq!(t["status"], "merged", "{t:#}");
        let result = t["attempts"][0]["commit"].as_str().unwrap();
        for dep in t["deps"].as_array().into_iter().flatten() {
            let d = show(&env, &dir, dep.as_str().unwrap());
            let merge = d["merge_commit"].as_str().unwrap();
            let ordered = env.git(&dir, &["merge-base", "--is-ancestor", merge, result]);
            assert_eq!(ordered.code, 0, "{} started before its dependency {dep} was merged", t["id"]);
        }
    }
    // Each merge commit names the decision that made it.
    let decisions = env.run(&dir, &["decisions", "--kind", "merge", "--json"]).success().json();
    let t7 = show(&env, &dir, "t7");
    let trailer = env.git(
        &dir,
        &["log", "-1", "--format=%(trailers:key=Maestro-Decision,valueonly)", t7["merge_commit"].as_str().unwrap()],
    );
    let named = decisions.as_array().unwrap().iter().find(|d| d["id"] == trailer.stdout.trim()).expect("a decision");
    assert_eq!(named["task"], "t7", "{named:#}");
    let mut merged = merged_tasks(&env, &dir);
    merged.sort();
    assert_eq!(merged.len(), 30, "each task merged exactly once");
    merged.dedup();
    assert_eq!(merged.len(), 30);

    // At most four performers at once, and more than one.
    let mut events: Vec<(u128, i32)> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            let parts: Vec<&str> = l.split(' ').collect();
            (parts[2].parse().unwrap(), if parts[0] == "start" { 1 } else { -1 })
        })
        .collect();
    events.sort();
    let (mut now, mut peak) = (0, 0);
    for (_, step) in events {
        now += step;
        peak = peak.max(now);
    }
    assert!(peak <= 4, "{peak} performers ran at once");
    assert!(peak >= 2, "tasks ran in parallel (peak {peak})");

    // Each step's intents were settled by the next step's commit, not by one of their own,
    // and none is left open.
    assert_eq!(open_intents(&env, &dir), "");
    let log = env.git(&dir, &["log", "--format=%s", "refs/maestro/state"]).success_git();
    let settles: Vec<&str> = log.lines().filter(|l| l.contains("settle")).collect();
    assert!(settles.len() <= 1, "{settles:#?}");
    let doctor = env.run(&dir, &["doctor", "--json"]);
    assert_eq!(doctor.code, 0, "{}", doctor.render());
}

#[test]
fn a_run_killed_with_sigkill_resumes_and_merges_every_task_exactly_once() {
    let env = TestEnv::new();
    let dir = setup(&env, &score(12, ""), "FAKE_SLEEP_MS = \"100\"", "true");
    let mut child = env.command(&dir).args(["run", "k", "--max-parallel", "3"]).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while merged_tasks(&env, &dir).len() < 4 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = merged_tasks(&env, &dir).len();
    assert!(before < 12, "killed in the middle ({before} merged)");

    let run = env.run(&dir, &["run", "k"]).success();
    assert!(run.stdout.starts_with("k  done: 12 merged\n"), "{}", run.render());
    let mut merged = merged_tasks(&env, &dir);
    merged.sort();
    merged.dedup();
    assert_eq!(merged.len(), 12);
    assert_eq!(merged_tasks(&env, &dir).len(), 12, "no task merged twice");
    assert_eq!(env.git(&dir, &["fsck", "--no-dangling"]).success_git(), "");
}

/// gix refuses to write a new worktree's HEAD reflog without a committer, where git falls back
/// to a default identity: a machine without `user.name` still runs and merges its tasks.
#[test]
fn tasks_run_and_merge_on_a_machine_without_a_git_identity() {
    let env = TestEnv::new();
    let dir = setup(&env, &score(2, ""), "", "true");
    let mut cmd = env.command(&dir);
    for var in ["GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"] {
        cmd.env_remove(var);
    }
    let run = crate::common::Run::from(cmd.args(["run", "k"]).output().unwrap()).success();
    assert!(run.stdout.starts_with("k  done: 2 merged\n"), "{}", run.render());
    assert_eq!(merged_tasks(&env, &dir), ["t1", "t0"]);
}

#[test]
fn a_score_whose_target_branch_is_missing_is_refused_before_anything_is_claimed() {
    let env = TestEnv::new();
    let dir = setup(&env, &score(2, "").replace("target = \"main\"", "target = \"release\""), "", "true");
    let state = env.git(&dir, &["rev-parse", "refs/maestro/state"]).success_git();
    for args in [&["run", "k"][..], &["task", "run", "k/t0"], &["task", "run", "k/t0", "--json"]] {
        let refused = env.run(&dir, args).user_error();
        assert!(
            refused.stderr.contains("the Score's target branch \"release\" does not exist"),
            "{}",
            refused.render()
        );
        if args.last() != Some(&"--json") {
            assert!(refused.stderr.contains("git branch release"), "the hint says how: {}", refused.render());
        }
        assert_eq!(env.git(&dir, &["rev-parse", "refs/maestro/state"]).success_git(), state, "{args:?} wrote nothing");
    }
    // With the branch there, the same commands work.
    env.git(&dir, &["branch", "release", "main"]).success_git();
    env.run(&dir, &["task", "run", "k/t0"]).success();
    assert_eq!(show(&env, &dir, "t0")["attempts"].as_array().unwrap().len(), 1, "the refusals were no attempts");
}

#[test]
fn a_task_that_keeps_failing_is_blocked_and_its_dependants_never_start() {
    let env = TestEnv::new();
    let score = "format = 1\nid = \"k\"\ntarget = \"main\"\napproval = [\"checks\"]\nmax_attempts = 3\n\
                 [[tasks]]\nid = \"a\"\n[[tasks]]\nid = \"b\"\ndeps = [\"a\"]\n[[tasks]]\nid = \"c\"\n";
    let prompts = env.path("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    let fake_env =
        format!("FAKE_EXIT = \"7\", FAKE_EXIT_FOR = \"a\", FAKE_PROMPT_COPY = \"{}/{{task}}.txt\"", prompts.display());
    let dir = setup(&env, score, &fake_env, "true");
    let run = env.run(&dir, &["run", "k"]).user_error();
    assert!(run.stdout.contains("k  failed: 1 blocked, 1 merged, 1 pending"), "{}", run.render());
    assert!(run.stderr.contains("k cannot finish: a blocked"), "{}", run.render());
    let a = show(&env, &dir, "a");
    assert_eq!(a["status"], "blocked");
    assert_eq!(a["attempts"].as_array().unwrap().len(), 3, "max_attempts runs: {a:#}");
    let b = show(&env, &dir, "b");
    assert_eq!(b["status"], "pending");
    assert!(b["attempts"].as_array().is_none_or(Vec::is_empty), "its dependant never started: {b:#}");
    // The last run's prompt carried the reason of the one before.
    let prompt = std::fs::read_to_string(prompts.join("a.txt")).unwrap();
    assert!(prompt.contains("the last run failed: the performer exited with status 7"), "{prompt}");
    let d = env.run(&dir, &["decisions", "--task", "k/a", "--kind", "rejection", "--json"]).success().json();
    assert!(d[0]["rationale"].as_str().unwrap().starts_with("blocked after 3 attempts"), "{d:#}");
    // The outcomes are learned: c merged first time, a blocked.
    let stats = env.run(&dir, &["performers", "--stats", "--json"]).success().json();
    assert_eq!(stats[0]["performer"], "fake");
    let counts = &stats[0]["by"]["implement"];
    assert_eq!(counts["merged"], 1, "{stats:#}");
    assert_eq!(counts["first_time"], 1);
    assert_eq!(counts["blocked"], 1);
    let table = env.run(&dir, &["performers", "--stats"]).success().stdout;
    assert!(table.contains("fake       implement      1       1           0        1        0"), "{table}");
}

#[test]
fn a_rejected_result_is_redone_with_the_rejection_in_the_prompt() {
    let env = TestEnv::new();
    let score = "format = 1\nid = \"k\"\ntarget = \"main\"\napproval = [\"checks\"]\nmax_attempts = 2\n\
                 [[tasks]]\nid = \"a\"\nchecks = [\"ok\"]\n";
    let prompt = env.path("prompt.txt");
    let dir = setup(&env, score, &format!("FAKE_PROMPT_COPY = \"{}\"", prompt.display()), "echo nope; exit 3");
    env.run(&dir, &["run", "k"]).user_error();
    let prompt = std::fs::read_to_string(prompt).unwrap();
    assert!(prompt.contains("rework"), "{prompt}");
    assert!(prompt.contains("checks rejected it: check ok failed (exit 3)"), "{prompt}");
}

#[test]
fn a_checkpoint_pauses_the_score_until_a_person_approves_it() {
    let env = TestEnv::new();
    let score = "format = 1\nid = \"k\"\ntarget = \"main\"\napproval = [\"checks\"]\n\
                 [[tasks]]\nid = \"a\"\ncheckpoint = true\n[[tasks]]\nid = \"b\"\ndeps = [\"a\"]\n";
    let dir = setup(&env, score, "FAKE_SAY = \"ok\"", "true");
    let run = env.run(&dir, &["run", "k"]).success();
    assert!(run.stdout.contains("paused at checkpoint k/a: `git maestro approve k/a`"), "{}", run.render());
    assert_eq!(show(&env, &dir, "b")["status"], "pending");
    env.run(&dir, &["approve", "k/a", "-m", "checked the interface"]).success();
    let run = env.run(&dir, &["run", "k"]).success();
    assert!(run.stdout.starts_with("k  done: 2 merged\n"), "{}", run.render());
}

#[test]
fn the_demo_runs_the_whole_pipeline_on_a_scratch_project() {
    let env = TestEnv::new();
    let dir = env.path("demo");
    let run = env.run(&env.path(""), &["demo", "--dir", dir.to_str().unwrap()]).success();
    for step in [
        "$ git maestro run calc",
        "sub  rejected: check test failed (exit 1)",
        "calc  done: 5 merged",
        "calc/docs  reverted",
        "calc  landed on main",
    ] {
        assert!(run.stdout.contains(step) || run.stderr.contains(step), "missing {step:?}:\n{}", run.render());
    }
    let project = dir.join("calc");
    let files = env.git(&project, &["ls-tree", "-r", "--name-only", "main"]).success_git();
    assert_eq!(files, "README.md\ncalc\ncheck.sh\nlib/add.sh\nlib/ops.sh\nlib/sub.sh\n", "docs were rolled back");
    let out = std::process::Command::new("sh").args(["calc", "sub", "7", "2"]).current_dir(&project).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "5\n", "the reworked sub subtracts");
    assert_eq!(env.git(&project, &["status", "--porcelain", "--untracked-files=no"]).success_git(), "");
}

#[test]
fn demo_takes_its_directory_from_dash_c_and_a_relative_dir_from_there() {
    let env = TestEnv::new();
    std::fs::create_dir(env.path("here")).unwrap();
    env.run(&env.path(""), &["-C", "here", "demo", "-q"]).success();
    assert!(env.path("here/calc/.git").is_dir(), "-C <dir> demo creates the project in <dir>, as git -C <dir> init");
    let busy = env.run(&env.path(""), &["-C", "here", "demo"]).user_error();
    assert!(busy.stderr.contains("exists and is not empty"), "{}", busy.render());
    std::fs::create_dir(env.path("base")).unwrap();
    env.run(&env.path(""), &["-C", "base", "demo", "--dir", "sub", "-q"]).success();
    assert!(env.path("base/sub/calc/.git").is_dir(), "a relative --dir is taken from -C");
}

#[test]
fn status_shows_the_board_with_what_each_task_waits_for() {
    let env = TestEnv::new();
    let score = "format = 1\nid = \"k\"\ntitle = \"Board\"\ntarget = \"main\"\napproval = [\"checks\", \"human\"]\n\
                 [[tasks]]\nid = \"a\"\n[[tasks]]\nid = \"b\"\ndeps = [\"a\"]\n";
    let dir = setup(&env, score, "FAKE_SAY = \"ok\"", "true");
    let run = env.run(&dir, &["run", "k"]).success();
    assert!(run.stdout.contains("k/a waits for a person to approve or reject it"), "{}", run.render());
    let board = env.run(&dir, &["status"]).success().stdout;
    assert!(board.starts_with("k  running  0/2 merged  Board\n"), "{board}");
    assert!(board.contains("  a     submitted  fake      1         -     human\n"), "{board}");
    assert!(board.contains("  b     pending    -         0         -\n"), "{board}");
    let json = env.run(&dir, &["status", "--json"]).success().json();
    assert_eq!(json[0]["tasks"][0]["waiting_for"], "human");
}

#[test]
fn ctrl_c_stops_the_run_cleanly_and_a_second_run_resumes() {
    let env = TestEnv::new();
    let score = "format = 1\nid = \"k\"\ntarget = \"main\"\napproval = [\"checks\"]\n\
                 [[tasks]]\nid = \"a\"\n[[tasks]]\nid = \"b\"\n[[tasks]]\nid = \"c\"\n";
    let dir = setup(&env, score, "FAKE_SLEEP_MS = \"2000\"", "true");
    let child = env
        .command(&dir)
        .args(["run", "k", "--max-parallel", "3"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !tasks(&env, &dir).iter().all(|t| t["status"] == "running") {
        assert!(std::time::Instant::now() < deadline, "the tasks never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the run was interrupted; nothing was left half-written"), "{stderr}");
    for t in tasks(&env, &dir) {
        assert_eq!(t["status"], "ready", "{t:#}");
        let t = show(&env, &dir, t["id"].as_str().unwrap());
        assert_eq!(t["attempts"][0]["outcome"], "interrupted", "{t:#}");
    }
    assert_eq!(env.git(&dir, &["fsck", "--no-dangling"]).success_git(), "");
    assert_eq!(open_intents(&env, &dir), "", "the interrupted run settled what it applied");
    let run = env.run(&dir, &["run", "k", "--max-parallel", "3"]).success();
    assert!(run.stdout.starts_with("k  done: 3 merged\n"), "{}", run.render());
    assert_eq!(open_intents(&env, &dir), "");
}

#[test]
fn serialize_keeps_tasks_with_overlapping_scopes_apart() {
    let env = TestEnv::new();
    let log = env.path("fake.log");
    let score = "format = 1\nid = \"k\"\ntarget = \"main\"\napproval = [\"checks\"]\nconflict_policy = \"serialize\"\n\
                 [[tasks]]\nid = \"a\"\nscope = [\"src/*\"]\n[[tasks]]\nid = \"b\"\nscope = [\"src/lib.rs\"]\n\
                 [[tasks]]\nid = \"c\"\nscope = [\"docs/*\"]\n";
    let dir = setup(&env, score, &format!("FAKE_SLEEP_MS = \"300\", FAKE_LOG = \"{}\"", log.display()), "true");
    env.run(&dir, &["run", "k", "--max-parallel", "3"]).success();
    let mut spans: std::collections::BTreeMap<String, (u128, u128)> = Default::default();
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let p: Vec<&str> = line.split(' ').collect();
        let e = spans.entry(p[1].to_owned()).or_default();
        if p[0] == "start" { e.0 = p[2].parse().unwrap() } else { e.1 = p[2].parse().unwrap() }
    }
    let overlap = |x: &str, y: &str| spans[x].0 < spans[y].1 && spans[y].0 < spans[x].1;
    assert!(!overlap("a", "b"), "a and b share src/: {spans:?}");
    assert!(overlap("a", "c") || overlap("b", "c"), "c ran beside one of them: {spans:?}");
}

#[test]
fn run_json_events_name_the_task_by_score_and_task() {
    let env = TestEnv::new();
    let score = "format = 1\nid = \"k\"\ntarget = \"main\"\napproval = [\"checks\"]\n[[tasks]]\nid = \"a\"\n";
    let dir = setup(&env, score, "FAKE_SAY = \"ok\"", "true");
    let run = env.run(&dir, &["run", "k", "--json"]).success();
    let events: Vec<serde_json::Value> =
        run.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let started = events.iter().find(|e| e["event"] == "started").unwrap_or_else(|| panic!("{}", run.render()));
    assert_eq!((&started["score"], &started["task"]), (&"k".into(), &"a".into()), "{started}");
    assert!(events.iter().all(|e| e["score"] == "k"), "every event names the Score:\n{}", run.stdout);
}
