//! `git maestro task run` with the command adapter and fake-performer: success and every fault
//! leave a correct task state, a kept worktree and a recorded attempt.

use std::path::{Path, PathBuf};

use crate::common::{Run, TestEnv, fixtures_dir};
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// A repo with the sample Score, its plan approved (`task run` refuses a draft's tasks), and one
/// performer `fake` whose script is `env` (TOML inline table body) and whose timeout is `timeout`.
fn setup(env: &TestEnv, fake_env: &str, timeout: &str) -> PathBuf {
    let dir = env.repo("r");
    env.run(&dir, &["plan", "--from", &fixtures_dir().join("score.toml").display().to_string()]).success();
    env.run(&dir, &["approve", "auth-tokens"]).success();
    write_config(&dir, fake_env, timeout);
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    dir
}

/// Configure the one performer `fake` with `fake_env` (a TOML inline table body).
fn write_config(dir: &Path, fake_env: &str, timeout: &str) {
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nsandbox = \"off\"\ntimeout = \"{timeout}\"\nenv = {{ {fake_env} }}\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
}

fn run_task(env: &TestEnv, dir: &Path) -> Run {
    env.run(dir, &["task", "run", "auth-tokens/token-types"])
}

fn task_json(env: &TestEnv, dir: &Path) -> serde_json::Value {
    env.run(dir, &["task", "show", "auth-tokens/token-types", "--json"]).success().json()
}

fn worktree(env: &TestEnv) -> PathBuf {
    let root = env.path("worktrees");
    let repo_dir = std::fs::read_dir(&root).unwrap().next().unwrap().unwrap().path();
    repo_dir.join("auth-tokens/token-types")
}

#[test]
fn a_run_commits_the_result_and_records_the_attempt() {
    let env = TestEnv::new();
    let prompt = env.path("prompt.txt");
    let dir = setup(
        &env,
        &format!("FAKE_WRITE = \"src/auth/token.rs=pub struct Token;\", FAKE_PROMPT_COPY = \"{}\"", prompt.display()),
        "1m",
    );
    let run = run_task(&env, &dir).success();
    assert!(run.stdout.starts_with("auth-tokens/token-types  submitted, commit "), "{}", run.render());
    let task = task_json(&env, &dir);
    assert_eq!(task["status"], "submitted");
    assert_eq!(task["claim"]["holder"], "fake");
    let attempt = &task["attempts"][0];
    assert_eq!(attempt["outcome"], "submitted");
    assert_eq!(attempt["exit"], "0");
    assert_eq!(attempt["summary"], "fake-performer done (exit 0)");
    let commit = attempt["commit"].as_str().unwrap();
    let file = env.git(&dir, &["show", &format!("{commit}:src/auth/token.rs")]).success_git();
    assert_eq!(file, "pub struct Token;\n");
    let message = env.git(&dir, &["log", "-1", "--format=%B", "maestro/auth-tokens/tasks/token-types"]).success_git();
    assert!(message.contains("Maestro-Score: auth-tokens\nMaestro-Task: token-types\nMaestro-Run: "), "{message}");
    let keep = env.git(&dir, &["for-each-ref", "--format=%(refname)", "refs/maestro/keep/"]).success_git();
    assert_eq!(keep.trim(), format!("refs/maestro/keep/{commit}"), "the result stays reachable");

    let sent = std::fs::read_to_string(prompt).unwrap();
    assert!(sent.contains("Add TokenClaims (subject, issued-at, expiry)"), "the spec reached the performer:\n{sent}");
    assert!(sent.contains("- TokenClaims serialises to JSON"), "{sent}");
    assert!(sent.contains("src/auth/token.rs"), "{sent}");
    let transcript = dir
        .join(".git/maestro/logs/auth-tokens/token-types")
        .join(format!("{}.jsonl", attempt["run"].as_str().unwrap()));
    assert!(std::fs::read_to_string(transcript).unwrap().contains("wrote src/auth/token.rs"));
    let assignments = env.run(&dir, &["decisions", "--kind", "assignment", "--json"]).success().json();
    assert!(
        assignments[0]["summary"].as_str().unwrap().starts_with("fake assigned to auth-tokens/token-types for run ")
    );
}

#[test]
fn a_nonzero_exit_fails_the_task_keeps_the_work_and_can_be_retried() {
    let env = TestEnv::new();
    let dir = setup(&env, "FAKE_WRITE = \"half.txt=half done\", FAKE_EXIT = \"3\"", "1m");
    let run = run_task(&env, &dir).user_error();
    assert!(
        run.stderr.contains("auth-tokens/token-types failed: the performer exited with status 3"),
        "{}",
        run.render()
    );
    assert!(run.stderr.contains("; the worktree is kept at "), "{}", run.render());
    let task = task_json(&env, &dir);
    assert_eq!(task["status"], "failed");
    assert_eq!(task["attempts"][0]["reason"], "the performer exited with status 3");
    assert!(task["attempts"][0]["commit"].is_string(), "the partial work is committed, not lost");
    assert!(worktree(&env).join("half.txt").exists(), "the worktree is kept");

    // A retry goes failed -> ready -> running again, and appends a second attempt.
    let config = std::fs::read_to_string(dir.join(".maestro/config.toml"))
        .unwrap()
        .replace("FAKE_EXIT = \"3\"", "FAKE_EXIT = \"0\"")
        .replace("half done", "all done");
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    run_task(&env, &dir).success();
    let task = task_json(&env, &dir);
    assert_eq!(task["status"], "submitted");
    assert_eq!(task["attempts"].as_array().unwrap().len(), 2);

    // `task show` lists both attempts: number, performer, outcome, exit, commit, and the reason
    // of the failed one on a line of its own.
    let shown = env.run(&dir, &["task", "show", "auth-tokens/token-types"]).success().stdout;
    let commit = |n: usize| task["attempts"][n]["commit"].as_str().unwrap()[..12].to_owned();
    let attempts = shown.split_once("Attempts:\n").map(|(_, a)| a).unwrap_or_default();
    let lines: Vec<&str> = attempts.lines().collect();
    let run = |n: usize| task["attempts"][n]["run"].as_str().unwrap().to_owned();
    assert_eq!(lines.len(), 5, "task show prints every attempt:\n{shown}");
    assert_eq!(lines[0], format!("  1.  fake  failed  exit 3  commit {}", commit(0)), "{shown}");
    assert_eq!(lines[1], "     reason: the performer exited with status 3", "{shown}");
    assert!(
        lines[2].starts_with("     logs:   ") && lines[2].contains(&format!("{}.jsonl (stdout)", run(0))),
        "{shown}"
    );
    assert_eq!(lines[3], format!("  2.  fake  submitted  exit 0  commit {}", commit(1)), "{shown}");
    assert!(lines[4].contains(&format!("{}.stderr (stderr)", run(1))), "{shown}");
    let verbose = env.run(&dir, &["task", "show", "auth-tokens/token-types", "-v"]).success().stdout;
    let run = task["attempts"][0]["run"].as_str().unwrap();
    assert!(verbose.contains(&format!("\n     run {run}, command, started ")), "-v adds the run:\n{verbose}");
    assert!(verbose.contains("     last message: fake-performer done (exit 3)"), "{verbose}");
    assert!(verbose.contains(&format!("/maestro/logs/auth-tokens/token-types/{run}.jsonl")), "{verbose}");
}

#[test]
fn a_run_without_changes_fails() {
    let env = TestEnv::new();
    let dir = setup(&env, "FAKE_EXIT = \"0\"", "1m");
    let run = run_task(&env, &dir).user_error();
    assert!(run.stderr.contains("failed: the performer finished without changing any file"), "{}", run.render());
    assert_eq!(task_json(&env, &dir)["status"], "failed");
    assert!(worktree(&env).join("README.md").exists(), "the worktree is kept");
}

#[test]
fn a_hang_is_killed_at_the_timeout_and_leaves_no_process() {
    let env = TestEnv::new();
    let dir = setup(&env, "FAKE_WRITE = \"partial.txt=x\", FAKE_HANG = \"1\"", "1s");
    let run = run_task(&env, &dir).user_error();
    assert!(run.stderr.contains("did not finish before its timeout and was killed"), "{}", run.render());
    let task = task_json(&env, &dir);
    assert_eq!(task["status"], "failed");
    assert_eq!(task["attempts"][0]["exit"], "timeout");
    assert!(worktree(&env).join("partial.txt").exists(), "the worktree is kept, with what was written before the hang");
    let commit = task["attempts"][0]["commit"].as_str().expect("partial work is committed");
    env.git(&dir, &["cat-file", "-e", &format!("{commit}:partial.txt")]).success_git();
    let alive = std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read_to_string(e.path().join("cmdline"))
            .is_ok_and(|c| c.contains(FAKE) && c.contains("fake-performer"))
            && std::fs::read_to_string(e.path().join("environ"))
                .is_ok_and(|v| v.contains(&format!("MAESTRO_WORKTREE={}", worktree(&env).display())))
    });
    assert!(!alive, "the hung performer was killed");
}

#[test]
fn huge_output_streams_to_the_transcript() {
    let env = TestEnv::new();
    let dir = setup(&env, "FAKE_WRITE = \"a.txt=a\", FAKE_OUTPUT_BYTES = \"20000000\"", "1m");
    run_task(&env, &dir).success();
    let task = task_json(&env, &dir);
    let run_id = task["attempts"][0]["run"].as_str().unwrap();
    let transcript = dir.join(".git/maestro/logs/auth-tokens/token-types").join(format!("{run_id}.jsonl"));
    assert!(std::fs::metadata(transcript).unwrap().len() >= 19_000_000, "all output kept locally");
    assert!(task["attempts"][0]["summary"].as_str().unwrap().len() <= 310, "the state holds a short summary only");
    assert_eq!(task["status"], "submitted");
    assert!(worktree(&env).join("a.txt").exists(), "the worktree is kept");
}

/// Issue 19: a transcript over its configured cap keeps its newest lines, under the cap, with a
/// marker line saying how much was dropped; the run itself goes on as usual.
#[test]
fn a_transcript_over_its_cap_keeps_its_newest_lines() {
    let env = TestEnv::new();
    let dir = setup(&env, "", "1m");
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nsandbox = \"off\"\n\
         transcript_max = \"16KiB\"\n\
         env = {{ FAKE_WRITE = \"a.txt=a\", FAKE_OUTPUT_BYTES = \"200000\", FAKE_SAY = \"the last word\" }}\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    run_task(&env, &dir).success();
    let task = task_json(&env, &dir);
    assert_eq!(task["status"], "submitted", "{task:#}");
    assert_eq!(task["attempts"][0]["summary"], "the last word", "every line was still read: {task:#}");
    let run_id = task["attempts"][0]["run"].as_str().unwrap();
    let transcript = dir.join(".git/maestro/logs/auth-tokens/token-types").join(format!("{run_id}.jsonl"));
    let text = std::fs::read_to_string(&transcript).unwrap();
    assert!(text.len() <= 16 << 10, "{} bytes, over the 16 KiB cap", text.len());
    let lines: Vec<&str> = text.lines().collect();
    let dropped: u64 = lines[0]
        .strip_prefix("{\"type\":\"maestro_transcript_cut\",\"dropped_bytes\":")
        .and_then(|rest| rest.strip_suffix('}'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the first line says what was dropped: {:?}", lines[0]));
    assert_eq!(lines.last(), Some(&"the last word"), "the newest line is kept");
    assert!(lines[1..].iter().all(|l| l.len() == 99 || !l.starts_with('x')), "only whole lines are kept");
    let written = 2000 * 100 + "wrote a.txt\n".len() + "fake-performer done (exit 0)\n".len() + "the last word\n".len();
    let kept = text.len() - lines[0].len() - 1;
    assert_eq!(dropped as usize + kept, written, "the marker counts every dropped byte");
}

#[test]
fn a_bad_transcript_cap_is_refused_naming_its_key() {
    let env = TestEnv::new();
    let dir = setup(&env, "", "1m");
    let config =
        format!("[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\ntranscript_max = \"a lot\"\n");
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    let before = env.state_tip(&dir);
    let run = run_task(&env, &dir).user_error();
    assert!(run.stderr.contains("performers.fake.transcript_max"), "{}", run.render());
    assert!(run.stderr.contains("is not a size; write e.g. \"64MiB\""), "{}", run.render());
    assert_eq!(env.state_tip(&dir), before, "nothing changed");
}

/// Issue 19: a large file the performer left is streamed into the object store; the blob is the
/// one git computes for the file, and the repository stays sound.
#[test]
fn a_large_file_left_by_the_performer_is_committed_as_git_would() {
    let env = TestEnv::new();
    let dir = setup(&env, "FAKE_BIG_FILE = \"data/big.bin=3000007\"", "1m");
    run_task(&env, &dir).success();
    let file = worktree(&env).join("data/big.bin");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 3_000_007);
    let expected = env.git(&dir, &["hash-object", file.to_str().unwrap()]).success_git();
    let committed = env.git(&dir, &["rev-parse", "maestro/auth-tokens/tasks/token-types:data/big.bin"]).success_git();
    assert_eq!(committed.trim(), expected.trim(), "the committed blob is git's blob of the file");
    env.git(&dir, &["fsck", "--strict", "--no-progress"]).success_git();
    assert_eq!(task_json(&env, &dir)["status"], "submitted");
}

#[test]
fn a_write_outside_the_worktree_is_recorded() {
    let env = TestEnv::new();
    let dir = env.path("r");
    let dir_setup = setup(
        &env,
        &format!("FAKE_WRITE = \"in.txt=in\", FAKE_OUTSIDE = \"{}\"", dir.join("stray.txt").display()),
        "1m",
    );
    let run = run_task(&env, &dir_setup);
    assert!(run.stderr.contains("Warning: fake changed stray.txt outside its worktree"), "{}", run.render());
    let task = task_json(&env, &dir);
    let attempt = &task["attempts"][0];
    assert_eq!(attempt["outside_writes"], serde_json::json!(["stray.txt"]));
    assert_eq!(attempt["outcome"], "failed", "an outside write fails the attempt by default: {task:#}");
    assert_eq!(attempt["reason"], "outside write: the performer changed stray.txt", "{task:#}");
    assert_ne!(task["status"], "submitted", "{task:#}");
}

#[test]
fn a_pending_task_does_not_run() {
    let env = TestEnv::new();
    let dir = setup(&env, "FAKE_WRITE = \"x=y\"", "1m");
    let before = env.state_tip(&dir);
    let run = env.run(&dir, &["task", "run", "auth-tokens/token-tests"]).user_error();
    assert!(
        run.stderr.contains("Error: auth-tokens/token-tests waits for issue-tokens, verify-tokens"),
        "{}",
        run.render()
    );
    assert!(
        run.stderr.contains("Hint: run the tasks it depends on first"),
        "the refusal says what to do:\n{}",
        run.render()
    );
    assert_eq!(env.state_tip(&dir), before, "nothing was written");
}

#[test]
fn prune_removes_merged_clean_worktrees_and_archives_everything_else() {
    let env = TestEnv::new();
    let dir = setup(&env, "FAKE_WRITE = \"out.txt=result\"", "1m");
    let text = env.fixture("score-many.sh", &["p", "3"]);
    env.write("p.toml", &text);
    env.run(&dir, &["plan", "--from", "../p.toml"]).success();
    env.run(&dir, &["approve", "p"]).success();
    for t in ["t0", "t1", "t2"] {
        // Each task writes its own file, so the branches do not conflict.
        write_config(&dir, &format!("FAKE_WRITE = \"{t}.txt=result\""), "1m");
        env.run(&dir, &["task", "run", &format!("p/{t}")]).success();
    }
    let listed = env.run(&dir, &["worktrees", "list", "--json"]).success().json();
    let tasks: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["score"].as_str().unwrap(), w["task"].as_str().unwrap()))
        .collect();
    assert_eq!(tasks, [("p", "t0"), ("p", "t1"), ("p", "t2")], "a task is named by score and task");
    assert!(listed.as_array().unwrap().iter().all(|w| w["status"] == "submitted"));

    // t0 is merged into the target by plain git; t1 gets an uncommitted edit; t2 stays unmerged.
    env.git(&dir, &["merge", "-q", "--no-edit", "maestro/p/tasks/t0"]).success_git();
    let t1 = std::path::PathBuf::from(listed[1]["path"].as_str().unwrap());
    std::fs::write(t1.join("late.txt"), "typed after the run\n").unwrap();
    let t2_tip = listed[2]["head"].as_str().unwrap().to_owned();

    // A submitted result waits for review: its worktree stays until it is merged or released.
    let kept = env.run(&dir, &["worktrees", "prune", "--json"]).success().json();
    assert!(kept.as_array().unwrap().iter().all(|p| p["action"] == "kept"), "{kept:#}");
    for t in ["t0", "t1", "t2"] {
        env.run(&dir, &["reject", &format!("p/{t}"), "-m", "not now"]).success();
    }

    let dry = env.run(&dir, &["worktrees", "prune", "--dry-run"]).success();
    assert!(dry.stdout.contains("would remove  p/t0"), "{}", dry.render());
    assert_eq!(
        env.run(&dir, &["worktrees", "list", "--json"]).success().json().as_array().unwrap().len(),
        3,
        "dry run changes nothing"
    );

    let pruned = env.run(&dir, &["worktrees", "prune", "--json"]).success().json();
    let actions: Vec<(&str, &str)> = pruned
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["task"].as_str().unwrap(), p["action"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, [("t0", "removed"), ("t1", "archived"), ("t2", "archived")]);
    assert!(pruned.as_array().unwrap().iter().all(|p| p["score"] == "p"), "{pruned:#}");
    assert_eq!(pruned[2]["tip"], t2_tip.as_str());
    let t1_tip = pruned[1]["tip"].as_str().unwrap();
    let late = env.git(&dir, &["show", &format!("refs/maestro/keep/{t1_tip}:late.txt")]).success_git();
    assert_eq!(late, "typed after the run\n", "uncommitted work was committed and archived, not lost");
    env.git(&dir, &["rev-parse", "--verify", &format!("refs/maestro/keep/{t2_tip}")]).success_git();
    assert!(env.run(&dir, &["worktrees", "list", "--json"]).success().json().as_array().unwrap().is_empty());
    let fsck = env.git(&dir, &["fsck", "--no-progress", "--no-dangling"]);
    assert_eq!(fsck.code, 0, "{}", fsck.render());
}

#[test]
fn an_index_lock_a_killed_run_left_in_the_worktree_does_not_stop_the_next_run() {
    let env = TestEnv::new();
    let dir = setup(&env, "FAKE_WRITE = \"half.txt=half done\", FAKE_EXIT = \"3\"", "1m");
    run_task(&env, &dir).user_error();
    // What a run killed with SIGKILL while it wrote the worktree's index leaves behind.
    let wt = worktree(&env);
    let lock = env.git(&wt, &["rev-parse", "--path-format=absolute", "--git-path", "index.lock"]).success_git();
    let lock = PathBuf::from(lock.trim());
    std::fs::write(&lock, "").unwrap();
    let stamped = std::process::Command::new("touch").args(["-d", "1 minute ago"]).arg(&lock).status().unwrap();
    assert!(stamped.success());
    write_config(&dir, "FAKE_WRITE = \"half.txt=all done\"", "1m");
    run_task(&env, &dir).success();
    assert_eq!(task_json(&env, &dir)["status"], "submitted");
    assert!(!lock.exists(), "the stale lock is gone");
    let status = env.git(&wt, &["status", "--porcelain"]).success_git();
    assert_eq!(status, "", "the index matches the committed result");
}
