//! `git maestro board` under a real terminal: tmux runs it on a Score whose task waits for a
//! human approval; the screen shows the task and the needs-you entry, a terminal too small says
//! so, `d` shows the diff in the pager, `a` approves it (the state records it), `q` gives the
//! terminal back.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{BIN, TestEnv, required_tool, which};
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// A tmux server of its own (its socket in the test's temp dir), killed when dropped.
struct Tmux<'e> {
    env: &'e TestEnv,
    socket: PathBuf,
}

impl Tmux<'_> {
    fn cmd(&self, args: &[&str]) -> crate::common::Run {
        let socket = self.socket.to_str().unwrap();
        self.env.base_command("tmux").args(["-S", socket]).args(args).output().expect("tmux").into()
    }

    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "b"]).stdout
    }

    /// Wait until the screen shows every one of `texts`.
    #[track_caller]
    fn wait_for(&self, texts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if texts.iter().all(|t| screen.contains(t)) {
                return screen;
            }
            assert!(Instant::now() < deadline, "the screen never showed {texts:?}:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux<'_> {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn setup(env: &TestEnv) -> PathBuf {
    let score = "format = 1\nid = \"k\"\ntarget = \"main\"\napproval = [\"checks\", \"human\"]\n\
                 [[tasks]]\nid = \"a\"\nchecks = [\"ok\"]\n";
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nsandbox = \"off\"\n\
         env = {{ FAKE_WRITE = \"a.txt=hello from a\", FAKE_SAY = \"wrote a.txt\" }}\n\n[checks.ok]\nrun = \"true\"\n"
    );
    let dir = env.approved_score(score, &config);
    env.run(&dir, &["run", "k"]).success();
    dir
}

fn status(env: &TestEnv, dir: &Path) -> String {
    env.run(dir, &["task", "show", "k/a", "--json"]).success().json()["status"].as_str().unwrap().to_owned()
}

#[test]
fn the_board_in_tmux_shows_the_approval_that_needs_you_approves_it_with_a_and_quits_cleanly() {
    if no_tmux() {
        return;
    }
    let env = TestEnv::new();
    let dir = setup(&env);
    assert_eq!(status(&env, &dir), "submitted");
    // A handover packet for the task: the activity pane lists it.
    env.run(&dir, &["handover", "post", "k/a", "-m", "keep the old API"]).success();
    let packets = env.run(&dir, &["handover", "list", "--json"]).success().json();
    let packet = packets[0]["id"].as_str().expect("a packet id").to_owned();
    let tmux = Tmux { env: &env, socket: env.path("tmux.sock") };
    // The pager waits for Enter on the terminal, so the diff can be seen on the screen.
    let pager = "cat; echo '-- end of diff --'; read x </dev/tty";
    let script =
        format!("SHELL=/bin/sh PS1='$ ' GIT_PAGER=\"{pager}\" '{BIN}' board; echo \"board exited $?\"; sleep 600");
    let dir_arg = dir.to_str().unwrap();
    let started =
        tmux.cmd(&["new-session", "-d", "-s", "b", "-x", "80", "-y", "24", "-c", dir_arg, "sh", "-c", &script]);
    assert_eq!(started.code, 0, "{}", started.render());

    let handover = format!("handover {packet} from ");
    let screen = tmux.wait_for(&[
        "NEEDS YOU (1)",
        "k/a  an approval",
        "submitted",
        "wrote a.txt",
        "check ok (exit 0)",
        &handover,
    ]);
    let help = "a approve  r reject  d diff  t retry  s stop  o shell  m merge  q quit";
    assert!(screen.contains(help), "the help line is shown:\n{screen}");
    assert_eq!(tmux.cmd(&["display", "-p", "-t", "b", "#{alternate_on}"]).stdout.trim(), "1", "{screen}");

    tmux.cmd(&["resize-window", "-t", "b", "-x", "50", "-y", "12"]);
    tmux.wait_for(&["Terminal too small (50×12): needs 60×16."]);
    tmux.cmd(&["resize-window", "-t", "b", "-x", "80", "-y", "24"]);
    tmux.wait_for(&["NEEDS YOU (1)"]);

    tmux.cmd(&["send-keys", "-t", "b", "d"]);
    tmux.wait_for(&["+hello from a", "-- end of diff --"]);
    tmux.cmd(&["send-keys", "-t", "b", "Enter"]);
    tmux.wait_for(&["NEEDS YOU (1)"]);

    tmux.cmd(&["send-keys", "-t", "b", "a"]);
    let screen = tmux.wait_for(&["NEEDS YOU: nothing", "k/a  approved"]);
    assert_eq!(status(&env, &dir), "approved", "the key press recorded the approval:\n{screen}");
    let decisions = env.run(&dir, &["decisions", "--json"]).success().json();
    assert!(decisions.to_string().contains("\"approval\""), "the approval is a decision: {decisions:#}");

    // A retry and a stop are refused with the reason; a merge merges it.
    tmux.cmd(&["send-keys", "-t", "b", "t"]);
    tmux.wait_for(&["k/a is approved: only a failed, rejected, conflict, blocked or ready task"]);
    tmux.cmd(&["send-keys", "-t", "b", "s"]);
    tmux.wait_for(&["k/a is approved, not running"]);
    tmux.cmd(&["send-keys", "-t", "b", "o"]);
    tmux.wait_for(&["\n$"]);
    tmux.cmd(&["send-keys", "-t", "b", "echo \"in-$(basename \"$PWD\")-$(cat a.txt)\"", "Enter"]);
    tmux.wait_for(&["in-a-hello from a"]);
    tmux.cmd(&["send-keys", "-t", "b", "exit", "Enter"]);
    tmux.wait_for(&["shell in k/a ended (exit status: 0)"]);
    tmux.cmd(&["send-keys", "-t", "b", "m"]);
    let screen = tmux.wait_for(&["k/a  merged  "]);
    assert_eq!(status(&env, &dir), "merged", "the key press merged it:\n{screen}");

    tmux.cmd(&["send-keys", "-t", "b", "q"]);
    let screen = tmux.wait_for(&["board exited 0"]);
    let alternate = tmux.cmd(&["display", "-p", "-t", "b", "#{alternate_on}"]).stdout;
    assert_eq!(alternate.trim(), "0", "q leaves the alternate screen:\n{screen}");
}

/// A Score whose one task runs with a performer that works until it is stopped.
fn setup_running(env: &TestEnv) -> PathBuf {
    let config = format!(
        "[performers.slow]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nsandbox = \"off\"\n\
         env = {{ FAKE_SAY = \"working\", FAKE_HANG = \"1\" }}\n"
    );
    env.approved_score("format = 1\nid = \"k\"\ntarget = \"main\"\n[[tasks]]\nid = \"a\"\n", &config)
}

#[test]
fn the_board_follows_a_run_stops_its_attempt_with_s_and_retries_it_with_t() {
    if no_tmux() {
        return;
    }
    let env = TestEnv::new();
    let dir = setup_running(&env);
    let tmux = Tmux { env: &env, socket: env.path("tmux.sock") };
    let script = format!("'{BIN}' board; echo \"board exited $?\"; sleep 600");
    let dir_arg = dir.to_str().unwrap();
    let started =
        tmux.cmd(&["new-session", "-d", "-s", "b", "-x", "100", "-y", "24", "-c", dir_arg, "sh", "-c", &script]);
    assert_eq!(started.code, 0, "{}", started.render());
    tmux.wait_for(&["NEEDS YOU: nothing", " ready "]);

    // `git maestro run` works on the Score while the board is open: the board shows it running.
    let run = env
        .command(&dir)
        .args(["run", "k"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tmux.wait_for(&[" running ", "slow"]);
    tmux.cmd(&["send-keys", "-t", "b", "s"]);
    tmux.wait_for(&["asked run", "of k/a to stop"]);
    let out: crate::common::Run = run.wait_with_output().unwrap().into();
    tmux.wait_for(&[" ready "]);
    assert_eq!(status(&env, &dir), "ready", "the stop ended the attempt:\n{}", out.render());

    // A retry runs `git maestro task run` in the background; stopping it ends it.
    tmux.cmd(&["send-keys", "-t", "b", "t"]);
    tmux.wait_for(&["started retry of k/a"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while status(&env, &dir) != "running" {
        assert!(Instant::now() < deadline, "the retry never started:\n{}", tmux.screen());
        std::thread::sleep(Duration::from_millis(50));
    }
    tmux.wait_for(&[" running    slow         2 "]);
    tmux.cmd(&["send-keys", "-t", "b", "s"]);
    let screen = tmux.wait_for(&["retry of k/a ended (exit 1)"]);
    assert_eq!(status(&env, &dir), "ready", "{screen}");
    let task = env.run(&dir, &["task", "show", "k/a", "--json"]).success().json();
    let attempts = task["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "the run and the retry: {task:#}");
    assert!(attempts.iter().all(|a| a["outcome"] == "interrupted"), "{task:#}");
    let logs = dir.join(".git/maestro/logs/board/k");
    assert_eq!(std::fs::read_dir(&logs).unwrap().count(), 1, "the retry's output is kept in {logs:?}");
    for a in attempts {
        let left = crate::test_agents::survivors(a["run"].as_str().unwrap(), &env.path(""));
        assert!(left.is_empty(), "{left:?}");
    }
    tmux.cmd(&["send-keys", "-t", "b", "q"]);
    tmux.wait_for(&["board exited 0"]);
}

/// Start the board in `dir` in a tmux session `b` of `width`×24; the shell says how it exited.
/// Whether tmux is missing (and the test may skip: not under `MAESTRO_E2E_REQUIRED`).
fn no_tmux() -> bool {
    !required_tool("tmux", which("tmux").is_some(), "install tmux (apt-get install tmux)")
}

fn start_board(tmux: &Tmux<'_>, dir: &Path, width: &str) {
    let script = format!("'{BIN}' board; echo \"board exited $?\"; sleep 600");
    let dir_arg = dir.to_str().unwrap();
    let started =
        tmux.cmd(&["new-session", "-d", "-s", "b", "-x", width, "-y", "24", "-c", dir_arg, "sh", "-c", &script]);
    assert_eq!(started.code, 0, "{}", started.render());
}

#[test]
fn m_merges_in_the_background_while_the_board_keeps_taking_keys() {
    if no_tmux() {
        return;
    }
    let env = TestEnv::new();
    let dir = env.repo("r");
    // The post-merge check waits for a file the test creates once it saw the board respond.
    let release = env.path("release");
    let score = "format = 1\nid = \"k\"\ntarget = \"main\"\napproval = [\"checks\", \"human\"]\n\
                 post_merge_checks = [\"wait\"]\n[[tasks]]\nid = \"a\"\nchecks = [\"ok\"]\n";
    env.write("k.toml", score);
    env.run(&dir, &["plan", "--from", "../k.toml"]).success();
    env.run(&dir, &["approve", "k"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nsandbox = \"off\"\n\
         env = {{ FAKE_WRITE = \"a.txt=hello from a\" }}\n\n[checks.ok]\nrun = \"true\"\n\n\
         [checks.wait]\nrun = \"while [ ! -e '{}' ]; do sleep 0.05; done\"\n",
        release.display()
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.run(&dir, &["run", "k"]).success();
    env.run(&dir, &["approve", "k/a", "-m", "read it"]).success();
    assert_eq!(status(&env, &dir), "approved");

    let tmux = Tmux { env: &env, socket: env.path("tmux.sock") };
    start_board(&tmux, &dir, "100");
    tmux.wait_for(&[" approved "]);
    tmux.cmd(&["send-keys", "-t", "b", "m"]);
    tmux.wait_for(&["merging k/a\u{2026}"]);
    // The check cannot end before the release file exists, so the merge is still running:
    // the board takes keys and draws meanwhile.
    tmux.cmd(&["send-keys", "-t", "b", "r"]);
    tmux.wait_for(&["Reject: reason?"]);
    tmux.cmd(&["send-keys", "-t", "b", "Escape"]);
    let screen = tmux.wait_for(&["rejection cancelled"]);
    assert!(!screen.contains("k/a  merged  "), "the merge cannot have ended yet:\n{screen}");
    tmux.cmd(&["send-keys", "-t", "b", "m"]);
    tmux.wait_for(&["a merge of k/a is already running"]);

    std::fs::write(&release, "").unwrap();
    let screen = tmux.wait_for(&["k/a  merged  "]);
    assert_eq!(status(&env, &dir), "merged", "{screen}");
    let logs: Vec<_> = std::fs::read_dir(dir.join(".git/maestro/logs/board/k")).unwrap().collect();
    assert_eq!(logs.len(), 1, "the merge's output is kept: {logs:?}");
    tmux.cmd(&["send-keys", "-t", "b", "q"]);
    tmux.wait_for(&["board exited 0"]);
}

#[test]
fn a_score_removed_and_a_record_refused_under_the_board_are_shown_and_the_keys_keep_working() {
    if no_tmux() {
        return;
    }
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.write("k.toml", "format = 1\nid = \"k\"\ntarget = \"main\"\n[[tasks]]\nid = \"a\"\n[[tasks]]\nid = \"b\"\n");
    env.write("gone.toml", "format = 1\nid = \"gone\"\ntarget = \"main\"\n[[tasks]]\nid = \"x\"\n");
    env.run(&dir, &["plan", "--from", "../k.toml"]).success();
    env.run(&dir, &["plan", "--from", "../gone.toml"]).success();
    let tmux = Tmux { env: &env, socket: env.path("tmux.sock") };
    start_board(&tmux, &dir, "100");
    tmux.wait_for(&["gone  ", "k  ", "  a  ", "  b  ", "  x  "]);

    let path = "scores/k/tasks/8/2/a.toml";
    let text = env.git(&dir, &["cat-file", "blob", &format!("refs/maestro/state:{path}")]).success_git();
    let bad: String = text
        .lines()
        .map(|l| if l.starts_with("status") { "status = \"nonsense\"\n".to_owned() } else { format!("{l}\n") })
        .collect();
    assert_ne!(bad, text, "the record has a status line:\n{text}");
    env.rewrite_state(&dir, &[(path, bad)], &["scores/gone"]);

    let screen = tmux.wait_for(&["scores/k/tasks/8/2/a.toml: cannot be read: ", "  b  "]);
    assert!(!screen.contains("gone  "), "the removed Score left the board:\n{screen}");
    assert!(screen.contains("scores/k/tasks/8/2/a.toml cannot be read"), "the status line says it:\n{screen}");
    // The keys still work on what reads.
    tmux.cmd(&["send-keys", "-t", "b", "s"]);
    tmux.wait_for(&["k/b is ", "not running"]);
    tmux.cmd(&["send-keys", "-t", "b", "q"]);
    let screen = tmux.wait_for(&["board exited 0"]);
    assert!(!screen.contains("panicked"), "{screen}");
}

#[test]
fn the_board_warns_of_a_conflict_forecast_between_two_task_branches() {
    if no_tmux() {
        return;
    }
    let env = TestEnv::new();
    let score = "format = 1\nid = \"k\"\ntarget = \"main\"\napproval = [\"human\"]\n\
                 [[tasks]]\nid = \"a\"\nperformer = \"fa\"\n[[tasks]]\nid = \"b\"\nperformer = \"fb\"\n";
    // Both tasks write the same file, differently: their branches cannot both merge cleanly.
    let performer = |name: &str| {
        format!(
            "[performers.{name}]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nsandbox = \"off\"\n\
             env = {{ FAKE_WRITE = \"shared.txt=from {name}\" }}\n"
        )
    };
    let dir = env.approved_score(score, &format!("{}\n{}", performer("fa"), performer("fb")));
    env.run(&dir, &["run", "k"]).success();
    let conflicts = env.run(&dir, &["conflicts", "k", "--json"]).success().json();
    assert!(conflicts.to_string().contains("shared.txt"), "the forecast `conflicts` makes: {conflicts:#}");

    let tmux = Tmux { env: &env, socket: env.path("tmux.sock") };
    start_board(&tmux, &dir, "100");
    let screen =
        tmux.wait_for(&["\u{26a0} conflicts with k/b in shared.txt", "\u{26a0} conflicts with k/a in shared.txt"]);
    assert!(screen.contains("  a  ") && screen.contains("  b  "), "{screen}");
    tmux.cmd(&["send-keys", "-t", "b", "q"]);
    tmux.wait_for(&["board exited 0"]);
}
