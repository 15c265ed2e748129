//! The hermetic test environment: the real binary, an empty environment, a temp HOME, git
//! config pointed at /dev/null, and a clock and seed that advance with every command, so ids and
//! times are stable from run to run.

#![allow(dead_code)]

pub mod model_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_git-maestro");

/// Where the fixture scripts live.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub struct TestEnv {
    pub root: tempfile::TempDir,
    step: AtomicU64,
}

/// What a command did, rendered for one assertion.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn render(&self) -> String {
        format!("[exit {}]\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(self.code, 0, "expected success:\n{}", self.render());
        self
    }

    #[track_caller]
    pub fn user_error(self) -> Run {
        assert_eq!(self.code, 1, "expected a user error (exit 1):\n{}", self.render());
        assert!(
            self.stderr.lines().any(|l| l.starts_with("Error: ")),
            "errors are reported on a line starting with `Error: `:\n{}",
            self.render()
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.render()))
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let root = tempfile::Builder::new().prefix("maestro-test-").tempdir().expect("temp dir");
        std::fs::create_dir_all(root.path().join("home")).expect("home");
        // Each environment draws seeds from its own range, so ids never collide between tests
        // that run at the same time.
        static ENVS: AtomicU64 = AtomicU64::new(0);
        let base = (ENVS.fetch_add(1, Ordering::SeqCst) + 1) << 32;
        TestEnv { root, step: AtomicU64::new(base) }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// Run `fixtures/<script>` with `args`, in the temp root.
    pub fn fixture(&self, script: &str, args: &[&str]) -> String {
        let out = self.base_command("bash").arg(fixtures_dir().join(script)).args(args).output().expect("bash");
        let run = Run::from(out);
        assert_eq!(run.code, 0, "fixture {script} failed:\n{}", run.render());
        run.stdout
    }

    /// A fresh repository from `fixtures/repo-basic.sh`, initialised with `git maestro init`.
    pub fn repo(&self, name: &str) -> PathBuf {
        self.fixture("repo-basic.sh", &[name]);
        let dir = self.path(name);
        self.run(&dir, &["init"]).success();
        dir
    }

    /// Repo `r` with the Score `k.toml` (`score`) planned and approved, worktrees under
    /// `worktrees/`, and `config` as its trusted `.maestro/config.toml`.
    pub fn approved_score(&self, score: &str, config: &str) -> PathBuf {
        let dir = self.repo("r");
        self.write("k.toml", score);
        self.run(&dir, &["plan", "--from", "../k.toml"]).success();
        self.run(&dir, &["approve", "k"]).success();
        let root = self.path("worktrees");
        let set = self.git(&dir, &["config", "maestro.worktreeRoot", root.to_str().unwrap()]);
        assert_eq!(set.code, 0, "{}", set.render());
        std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
        dir
    }

    /// Environment shared by git and git-maestro: nothing from the developer's machine.
    pub fn base_command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .current_dir(self.root.path())
            .env("PATH", test_path())
            .env("HOME", self.path("home"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test Author")
            .env("GIT_AUTHOR_EMAIL", "author@example.com")
            .env("GIT_COMMITTER_NAME", "Test Author")
            .env("GIT_COMMITTER_EMAIL", "author@example.com")
            .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
            .env("MAESTRO_ACTOR", "tester")
            .stdin(Stdio::null());
        cmd
    }

    /// git-maestro in `dir`, with the next timestamp and seed.
    pub fn command(&self, dir: &Path) -> Command {
        let step = self.step.fetch_add(1, Ordering::SeqCst) + 1;
        let start: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().expect("timestamp");
        let now = start.checked_add(jiff::SignedDuration::from_secs((step & 0xffff_ffff) as i64)).expect("in range");
        let mut cmd = self.base_command(BIN);
        cmd.current_dir(dir).env("MAESTRO_TIMESTAMP", now.to_string()).env("MAESTRO_SEED", step.to_string());
        cmd
    }

    pub fn run(&self, dir: &Path, args: &[&str]) -> Run {
        self.command(dir).args(args).output().expect("spawn git-maestro").into()
    }

    pub fn git(&self, dir: &Path, args: &[&str]) -> Run {
        self.base_command("git").current_dir(dir).args(args).output().expect("spawn git").into()
    }

    /// The state ref's commit, or "" if absent.
    pub fn state_tip(&self, dir: &Path) -> String {
        let run = self.git(dir, &["rev-parse", "--verify", "-q", "refs/maestro/state"]);
        run.stdout.trim().to_owned()
    }

    /// A state commit on top of the current one, written with plain git as another binary (or
    /// a `sync` from a clone) would: `edits` replace or add files (path, new text), `removed` go.
    pub fn rewrite_state(&self, dir: &Path, edits: &[(&str, String)], removed: &[&str]) {
        let tip = self.state_tip(dir);
        let index = self.path("state.index");
        let git = |args: &[&str]| -> String {
            let out = self.base_command("git").current_dir(dir).env("GIT_INDEX_FILE", &index).args(args).output();
            let run = Run::from(out.expect("spawn git"));
            assert_eq!(run.code, 0, "git {args:?} failed:\n{}", run.render());
            run.stdout
        };
        git(&["read-tree", &tip]);
        for (path, text) in edits {
            let file = self.write("edited.toml", text);
            let blob = git(&["hash-object", "-w", file.to_str().expect("utf-8 path")]);
            git(&["update-index", "--add", "--cacheinfo", &format!("100644,{},{path}", blob.trim())]);
        }
        for dir_path in removed {
            for path in git(&["ls-files", dir_path]).lines() {
                git(&["update-index", "--force-remove", path]);
            }
        }
        let tree = git(&["write-tree"]);
        let commit = git(&["commit-tree", tree.trim(), "-p", &tip, "-m", "by hand"]);
        git(&["update-ref", "refs/maestro/state", commit.trim(), &tip]);
    }

    /// A file written into the temp root.
    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let path = self.path(rel);
        std::fs::write(&path, content).expect("write");
        path
    }
}

/// Whether an external tool that a test needs is there (`found`). When it is not, the test
/// fails if `MAESTRO_E2E_REQUIRED=1` (as in CI), and otherwise says loudly that it skipped:
/// a test never passes silently without the tool it is about.
pub fn required_tool(what: &str, found: bool, install: &str) -> bool {
    if found {
        return true;
    }
    let required = std::env::var("MAESTRO_E2E_REQUIRED").is_ok_and(|v| v == "1");
    assert!(!required, "{what} is needed and MAESTRO_E2E_REQUIRED=1: {install}");
    eprintln!("SKIPPED: {what} is not installed; {install} to run this test");
    false
}

/// `program` on the test PATH, if it is there.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&test_path()).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// PATH for tests: the directory of git and of the binary under test, nothing else.
pub fn test_path() -> String {
    let bin_dir = Path::new(BIN).parent().expect("bin dir").display().to_string();
    let system = std::env::var("PATH").unwrap_or_default();
    format!("{bin_dir}:{system}")
}
