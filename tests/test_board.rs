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
    let dir = env.repo("r");
    let score = "format = 1\nid = \"k\"\ntarget = \"main\"\napproval = [\"checks\", \"human\"]\n\
                 [[tasks]]\nid = \"a\"\nchecks = [\"ok\"]\n";
    env.write("k.toml", score);
    env.run(&dir, &["plan", "--from", "../k.toml"]).success();
    env.run(&dir, &["approve", "k"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nsandbox = \"off\"\n\
         env = {{ FAKE_WRITE = \"a.txt=hello from a\", FAKE_SAY = \"wrote a.txt\" }}\n\n[checks.ok]\nrun = \"true\"\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.run(&dir, &["run", "k"]).success();
    dir
}

fn status(env: &TestEnv, dir: &Path) -> String {
    env.run(dir, &["task", "show", "k/a", "--json"]).success().json()["status"].as_str().unwrap().to_owned()
}

#[test]
fn the_board_in_tmux_shows_the_approval_that_needs_you_approves_it_with_a_and_quits_cleanly() {
    if !required_tool("tmux", which("tmux").is_some(), "install tmux (apt-get install tmux)") {
        return;
    }
    let env = TestEnv::new();
    let dir = setup(&env);
    assert_eq!(status(&env, &dir), "submitted");
    let tmux = Tmux { env: &env, socket: env.path("tmux.sock") };
    // The pager waits for Enter on the terminal, so the diff can be seen on the screen.
    let pager = "cat; echo '-- end of diff --'; read x </dev/tty";
    let script = format!("GIT_PAGER=\"{pager}\" '{BIN}' board; echo \"board exited $?\"; sleep 600");
    let dir_arg = dir.to_str().unwrap();
    let started =
        tmux.cmd(&["new-session", "-d", "-s", "b", "-x", "80", "-y", "24", "-c", dir_arg, "sh", "-c", &script]);
    assert_eq!(started.code, 0, "{}", started.render());

    let screen = tmux.wait_for(&["NEEDS YOU (1)", "k/a  an approval", "submitted", "wrote a.txt"]);
    assert!(screen.contains("a approve  r reject  d diff  q quit"), "the help line is shown:\n{screen}");
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

    tmux.cmd(&["send-keys", "-t", "b", "q"]);
    let screen = tmux.wait_for(&["board exited 0"]);
    let alternate = tmux.cmd(&["display", "-p", "-t", "b", "#{alternate_on}"]).stdout;
    assert_eq!(alternate.trim(), "0", "q leaves the alternate screen:\n{screen}");
}
