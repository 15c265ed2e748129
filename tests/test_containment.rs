//! Process containment (DESIGN §13, issue 14 item 1): nothing a performer or a check starts
//! outlives its run, whether it called `setsid`, double-forked, or hid behind `nohup`; and a
//! child that keeps stdout open no longer makes the run wait for it.
//!
//! Every process a test starts carries a marker (its sleeps are a copy of `sleep` named after
//! the marker, its shells name it in their argv, performers also get it in their environment),
//! so `/proc` shows whether any of them survived. No assertion is about time: a run that waited
//! for an escaped child would hang on `sleep infinity`, which only the outer test timeout
//! catches.

use std::path::{Path, PathBuf};
use std::time::Duration;

use git_maestro::performer::runner::{self, Exit, ProcessSpec};

use crate::common::TestEnv;
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");
const MAESTRO: &str = env!("CARGO_BIN_EXE_git-maestro");

/// A marker no other test uses.
fn marker() -> String {
    format!("contained{}x{}", std::process::id(), fastrand::u64(..))
}

/// A copy of `sleep` whose path names `marker`, so every sleeping escapee is found by it.
fn marked_sleep(env: &TestEnv, marker: &str) -> PathBuf {
    let path = env.path(&format!("sleep-{marker}"));
    std::fs::copy("/usr/bin/sleep", &path).expect("copy sleep");
    path
}

/// Live processes whose argv or environment holds `marker`, as "pid argv".
fn survivors(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let path = entry.path();
        let Some(pid) = path.file_name().and_then(|n| n.to_str()).filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        if stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')) {
            continue;
        }
        let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(path.join("environ")).unwrap_or_default();
        let has = |bytes: &[u8]| bytes.windows(marker.len()).any(|w| w == marker.as_bytes());
        if has(&cmdline) || has(&environ) {
            found.push(format!("{pid} {}", String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    found
}

/// A shell script that starts a `setsid` sleeper holding stdout, a double-forked sleeper, and a
/// `nohup` writer that writes each of `late` (paths, relative to the working directory or
/// absolute) after 2 s, then runs `tail` (shell text).
fn hostile_script(sleep: &Path, marker: &str, late: &[&str], tail: &str) -> String {
    let writes: String = late.iter().map(|p| format!("echo late > '{p}'; ")).collect();
    format!(
        "#!/bin/sh\n\
         echo starting\n\
         setsid '{sleep}' infinity &\n\
         ( ('{sleep}' 1000 &) & )\n\
         nohup sh -c \"'{sleep}' 2; {writes}: {marker}\" &\n\
         {tail}\n",
        sleep = sleep.display(),
    )
}

fn write_script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(path, perms).unwrap();
}

/// After a run: nothing marked is alive, and (past the writer's 2 s) no late file appeared.
#[track_caller]
fn nothing_survived(marker: &str, late: &[PathBuf]) {
    let alive = survivors(marker);
    assert!(alive.is_empty(), "processes of the run outlived it: {alive:#?}");
    if late.is_empty() {
        return;
    }
    // Every writer is gone, so this only confirms it: give a survivor the time to write.
    std::thread::sleep(Duration::from_millis(2500));
    for path in late {
        assert!(!path.exists(), "{} was written after the run ended", path.display());
    }
}

/// A repo with Score `c` (task `t0`, checks `[test]`, chain `approval`), its plan approved, and
/// `config` as its trusted config.
fn repo(env: &TestEnv, approval: &str, config: &str) -> PathBuf {
    let dir = env.repo("r");
    let score = format!(
        "format = 1\nid = \"c\"\ntarget = \"main\"\napproval = {approval}\n[[tasks]]\nid = \"t0\"\nchecks = [\"test\"]\n"
    );
    env.write("c.toml", &score);
    env.run(&dir, &["plan", "--from", "../c.toml"]).success();
    env.run(&dir, &["approve", "c"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    dir
}

/// The task's worktree (the one repository's `c/t0`).
fn worktree(env: &TestEnv) -> PathBuf {
    let repo_dir = std::fs::read_dir(env.path("worktrees")).unwrap().next().unwrap().unwrap().path();
    repo_dir.join("c/t0")
}

fn task_json(env: &TestEnv, dir: &Path) -> serde_json::Value {
    env.run(dir, &["task", "show", "c/t0", "--json"]).success().json()
}

#[test]
fn a_performer_that_leaves_setsid_double_forked_and_nohup_children_leaves_none_behind() {
    let env = TestEnv::new();
    let marker = marker();
    let sleep = marked_sleep(&env, &marker);
    let outside = env.path("late-outside.txt");
    let script = env.path("hostile.sh");
    let writes = [outside.to_str().unwrap(), "late-inside.txt"];
    write_script(&script, &hostile_script(&sleep, &marker, &writes, "echo work > out.txt; echo done"));
    let config = format!(
        "[performers.hostile]\nadapter = \"command\"\ncommand = \"{}\"\ntimeout = \"1m\"\nenv = {{ MARK = \"{marker}\" }}\n\n\
         [checks.test]\nrun = \"true\"\ntimeout = \"1m\"\n",
        script.display()
    );
    let dir = repo(&env, "[\"human\"]", &config);
    let run = env.run(&dir, &["task", "run", "c/t0"]).success();
    assert!(run.stdout.starts_with("c/t0  submitted, commit "), "{}", run.render());
    let task = task_json(&env, &dir);
    assert_eq!(task["status"], "submitted", "{task:#}");
    assert_eq!(task["attempts"][0]["outcome"], "submitted", "{task:#}");
    assert_eq!(task["attempts"][0]["exit"], "0", "the performer's own status is recorded: {task:#}");
    let reason = task["attempts"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.ends_with("processes left running by the performer were killed"), "{task:#}");
    let inside = worktree(&env).join("late-inside.txt");
    assert!(worktree(&env).join("out.txt").exists(), "the performer ran in its worktree");
    nothing_survived(&marker, &[outside, inside]);
}

#[test]
fn a_hanging_performer_and_its_escaped_children_are_killed_at_the_timeout() {
    let env = TestEnv::new();
    let marker = marker();
    let sleep = marked_sleep(&env, &marker);
    let late = [env.path("late-outside.txt")];
    let script = env.path("hostile.sh");
    let tail = format!("echo work > out.txt; exec '{}' infinity", sleep.display());
    write_script(&script, &hostile_script(&sleep, &marker, &[late[0].to_str().unwrap()], &tail));
    let config = format!(
        "[performers.hostile]\nadapter = \"command\"\ncommand = \"{}\"\ntimeout = \"1s\"\nenv = {{ MARK = \"{marker}\" }}\n",
        script.display()
    );
    let dir = repo(&env, "[\"human\"]", &config);
    let run = env.run(&dir, &["task", "run", "c/t0"]).user_error();
    assert!(run.stderr.contains("did not finish before its timeout and was killed"), "{}", run.render());
    let task = task_json(&env, &dir);
    assert_eq!(task["status"], "failed", "{task:#}");
    assert_eq!(task["attempts"][0]["exit"], "timeout", "{task:#}");
    nothing_survived(&marker, &late);
}

#[test]
fn a_check_that_leaves_children_behind_passes_and_leaves_none() {
    let env = TestEnv::new();
    let marker = marker();
    let sleep = marked_sleep(&env, &marker);
    let late = [env.path("late-outside.txt")];
    let script = env.path("check.sh");
    write_script(&script, &hostile_script(&sleep, &marker, &[late[0].to_str().unwrap()], "echo all good"));
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nenv = {{ FAKE_WRITE = \"t0.txt=zero\" }}\n\n\
         [checks.test]\nrun = \"{}\"\ntimeout = \"1m\"\n",
        script.display()
    );
    let dir = repo(&env, "[\"checks\"]", &config);
    env.run(&dir, &["task", "run", "c/t0"]).success();
    let run = env.run(&dir, &["task", "review", "c/t0"]).success();
    assert_eq!(run.stdout, "c/t0  approved\n", "{}", run.render());
    let d = env.run(&dir, &["decisions", "--kind", "approval", "--task", "c/t0", "--json"]).success().json();
    assert_eq!(d[0]["evidence"][0]["exit"], "0", "{d:#}");
    assert!(d[0]["evidence"][0]["tail"].as_str().unwrap().ends_with("all good\n"), "{d:#}");
    nothing_survived(&marker, &late);
}

#[test]
fn a_check_that_hangs_behind_an_escaped_child_fails_at_its_timeout() {
    let env = TestEnv::new();
    let marker = marker();
    let sleep = marked_sleep(&env, &marker);
    let script = env.path("check.sh");
    write_script(&script, &hostile_script(&sleep, &marker, &[], &format!("exec '{}' infinity", sleep.display())));
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nenv = {{ FAKE_WRITE = \"t0.txt=zero\" }}\n\n\
         [checks.test]\nrun = \"{}\"\ntimeout = \"1s\"\n",
        script.display()
    );
    let dir = repo(&env, "[\"checks\", \"human\"]", &config);
    env.run(&dir, &["task", "run", "c/t0"]).success();
    let run = env.run(&dir, &["task", "review", "c/t0"]).user_error();
    assert!(run.stderr.contains("check test failed (exit timeout)"), "{}", run.render());
    assert_eq!(task_json(&env, &dir)["status"], "rejected");
    nothing_survived(&marker, &[]);
}

/// Start `task run c/t0` with a performer that escapes and then hangs, and return the running
/// command once the performer's processes are up.
fn start_hanging_run(env: &TestEnv, marker: &str) -> (PathBuf, std::process::Child) {
    let sleep = marked_sleep(env, marker);
    let script = env.path("hostile.sh");
    let tail = format!("exec '{}' infinity", sleep.display());
    write_script(&script, &hostile_script(&sleep, marker, &[], &tail));
    let config = format!(
        "[performers.hostile]\nadapter = \"command\"\ncommand = \"{}\"\ntimeout = \"10m\"\nenv = {{ MARK = \"{marker}\" }}\n",
        script.display()
    );
    let dir = repo(env, "[\"human\"]", &config);
    let child = env
        .command(&dir)
        .args(["task", "run", "c/t0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_children(marker);
    (dir, child)
}

/// Wait until the hostile script marked `marker` has started its children. Not a timed
/// assertion: the deadline only catches a hang.
fn wait_for_children(marker: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while survivors(marker).len() < 4 {
        assert!(std::time::Instant::now() < deadline, "the command never started its children");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_to_a_run_kills_the_performer_and_everything_it_started() {
    let env = TestEnv::new();
    let marker = marker();
    let (dir, child) = start_hanging_run(&env, &marker);
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let task = task_json(&env, &dir);
    assert_eq!(task["attempts"][0]["outcome"], "interrupted", "{task:#}");
    nothing_survived(&marker, &[]);
}

#[test]
fn a_run_killed_outright_still_leaves_no_process_behind() {
    let env = TestEnv::new();
    let marker = marker();
    let (_dir, mut child) = start_hanging_run(&env, &marker);
    child.kill().unwrap();
    child.wait().unwrap();
    // The supervisor learns of its parent's death by a signal and then cleans up: wait for
    // that, with a deadline that only catches a hang.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !survivors(&marker).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    nothing_survived(&marker, &[]);
}

#[test]
fn a_supervisor_signalled_again_and_again_still_kills_everything_and_reports() {
    // A parent killed outright sends one SIGTERM per thread of it that exits
    // (`PR_SET_PDEATHSIG` follows the forking thread): the supervisor must not die of the
    // second one before its cleanup, as it did in CI.
    let env = TestEnv::new();
    let marker = marker();
    let sleep = marked_sleep(&env, &marker);
    let script = env.path("hostile.sh");
    write_script(&script, &hostile_script(&sleep, &marker, &[], &format!("exec '{}' infinity", sleep.display())));
    let report = env.path("report.toml");
    let mut child = std::process::Command::new(MAESTRO)
        .args(["supervise", "--timeout-ms", "600000", "--report"])
        .arg(&report)
        .arg("--")
        .arg(&script)
        .env("MARK", &marker)
        .spawn()
        .unwrap();
    wait_for_children(&marker);
    let pid = child.id().to_string();
    for signal in ["-TERM", "-TERM", "-HUP", "-INT", "-TERM"] {
        assert!(std::process::Command::new("kill").args([signal, &pid]).status().unwrap().success());
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "the supervisor ends as stopped, not by a signal: {status:?}");
    let report = git_maestro::supervisor::Report::read(&report).expect("the supervisor wrote its report");
    assert_eq!(report.end, git_maestro::supervisor::End::Stopped);
    assert!(report.killed >= 1, "the setsid sleeper outside the group is counted: {report:?}");
    nothing_survived(&marker, &[]);
}

// The runner itself, with this binary as the supervisor.

fn spec(env: &TestEnv, script: &str, timeout: Duration) -> ProcessSpec {
    let dir = env.path("run");
    std::fs::create_dir_all(&dir).unwrap();
    ProcessSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        cwd: dir.clone(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        stdin: b"the prompt\n".to_vec(),
        timeout,
        transcript: dir.join("run.jsonl"),
        supervisor: MAESTRO.into(),
        sandbox: Default::default(),
        secrets: Vec::new(),
        transcript_max: git_maestro::config::TRANSCRIPT_MAX_DEFAULT,
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

#[test]
fn the_runner_passes_the_prompt_in_and_lines_exit_code_and_transcript_out() {
    let env = TestEnv::new();
    let spec = spec(&env, "read p; echo \"got $p\"; echo two; echo oops >&2; exit 3", Duration::from_secs(10));
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut lines = Vec::new();
    let out = block_on(runner::run(&spec, |l| lines.push(l.to_owned()), rx)).expect("the command runs");
    assert_eq!(out.exit, Exit::Code(3));
    assert_eq!(lines, ["got the prompt", "two"]);
    assert_eq!(out.stderr_tail, "oops\n");
    assert_eq!(std::fs::read_to_string(&spec.transcript).unwrap(), "got the prompt\ntwo\n");
    assert_eq!(out.killed, 0, "nothing was left to kill");
}

/// Issue 19: a line longer than the runner holds in memory (1 MiB) reaches the transcript
/// whole, in pieces; the parser sees its first MiB; a secret across two pieces is still scrubbed.
#[test]
fn a_very_long_line_is_written_in_pieces_and_still_scrubbed() {
    let env = TestEnv::new();
    let script = "head -c 1048570 /dev/zero | tr '\\0' y; printf sk-secret-value-1; \
                  head -c 2500000 /dev/zero | tr '\\0' z; echo; echo last";
    let mut spec = spec(&env, script, Duration::from_secs(60));
    spec.secrets = vec!["sk-secret-value-1".into()];
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut lines = Vec::new();
    let out = block_on(runner::run(&spec, |l| lines.push(l.to_owned()), rx)).expect("the command runs");
    assert_eq!(out.exit, Exit::Code(0));
    assert_eq!(lines.len(), 2, "one long line, then the last");
    assert_eq!(lines[0].len(), 1 << 20, "the parser gets the first MiB of the long line");
    assert_eq!(lines[1], "last");
    let text = std::fs::read_to_string(&spec.transcript).unwrap();
    let expected = format!("{}[REDACTED]{}\nlast\n", "y".repeat(1_048_570), "z".repeat(2_500_000));
    assert!(text == expected, "the transcript holds the whole line, scrubbed ({} bytes)", text.len());
}

#[test]
fn the_runner_ends_with_the_command_not_with_a_setsid_child_holding_stdout() {
    let env = TestEnv::new();
    let marker = marker();
    let sleep = marked_sleep(&env, &marker);
    let script = format!("setsid '{}' infinity & echo done", sleep.display());
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut lines = Vec::new();
    let out = block_on(runner::run(&spec(&env, &script, Duration::from_secs(60)), |l| lines.push(l.to_owned()), rx))
        .expect("the command runs");
    assert_eq!(out.exit, Exit::Code(0));
    assert_eq!(lines, ["done"]);
    assert_eq!(out.killed, 1, "the setsid sleeper was killed");
    nothing_survived(&marker, &[]);
}

#[test]
fn the_runner_kills_a_hang_and_its_children_at_the_timeout() {
    let env = TestEnv::new();
    let marker = marker();
    let sleep = marked_sleep(&env, &marker);
    let script = format!("'{s}' 300 & '{s}' 300", s = sleep.display());
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let out = block_on(runner::run(&spec(&env, &script, Duration::from_millis(300)), |_| {}, rx)).expect("runs");
    assert_eq!(out.exit, Exit::TimedOut);
    nothing_survived(&marker, &[]);
}

#[test]
fn the_runner_stops_a_run_when_cancelled_and_leaves_nothing() {
    let env = TestEnv::new();
    let marker = marker();
    let sleep = marked_sleep(&env, &marker);
    let script = format!("setsid '{s}' 300 & '{s}' 300", s = sleep.display());
    let spec = spec(&env, &script, Duration::from_secs(60));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let out = block_on(async {
        let cancel = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            tx.send(true).expect("the runner still listens");
        });
        let out = runner::run(&spec, |_| {}, rx).await;
        cancel.await.unwrap();
        out
    })
    .expect("the command runs");
    assert_eq!(out.exit, Exit::Cancelled);
    nothing_survived(&marker, &[]);
}

#[test]
fn a_command_that_cannot_start_is_an_error_of_its_kind() {
    let env = TestEnv::new();
    let mut spec = spec(&env, "true", Duration::from_secs(10));
    spec.program = env.path("no-such-program");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let err = block_on(runner::run(&spec, |_| {}, rx)).expect_err("nothing to start");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
}

#[test]
fn the_survivor_scan_sees_a_marked_process() {
    // Guards the tests above against a scan that finds nothing because it cannot see.
    let env = TestEnv::new();
    let marker = marker();
    let mut child = std::process::Command::new(marked_sleep(&env, &marker)).arg("300").spawn().unwrap();
    let seen = survivors(&marker);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert!(survivors(&marker).is_empty());
}
