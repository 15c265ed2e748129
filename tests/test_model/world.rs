//! One sequence's world: its clones, running a step in one, and the checks after it.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use git_maestro::model::{ScoreStatus, TaskStatus};

use super::snap::{Snap, observe};
use super::steps::{Cmd, Step, kind};
use super::{FAKE, SCORE, tasks_toml};
use crate::common::TestEnv;
use crate::test_cli::GitRun;

/// How a command ended.
struct Out {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn render(&self) -> String {
        let end = match (self.code, self.signal) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("signal {s}"),
            _ => "?".into(),
        };
        format!("[{end}]\n--- stdout\n{}--- stderr\n{}", self.stdout, self.stderr)
    }
}

/// One sequence's world: the clones, their flags and what the model knows across steps.
pub(super) struct World {
    pub(super) env: TestEnv,
    pub(super) clones: Vec<PathBuf>,
    _daemon: Option<crate::test_sync::Daemon>,
    /// The performer's content tag: fixed, or new for every step.
    pub(super) fixed_content: bool,
    /// Tasks a crash may have left `running`.
    pub(super) crashed: Vec<BTreeSet<String>>,
    /// Every merge commit any clone's state recorded, by task.
    pub(super) known_merges: BTreeMap<String, BTreeSet<String>>,
    /// Clones that landed the Score.
    pub(super) landed_in: BTreeSet<usize>,
    /// The crash points (`name#n`) each kind of command reached so far.
    pub(super) reached: BTreeMap<String, BTreeSet<String>>,
    pub(super) snaps: Vec<Snap>,
    pub(super) log: Vec<String>,
    pub(super) step_no: usize,
}

impl World {
    pub(super) fn new(two: bool, fixed_content: bool) -> World {
        let env = TestEnv::new();
        let (daemon, clones) = if two {
            let (daemon, [a, b, _]) = crate::test_sync::clones_of(&env, &tasks_toml());
            (Some(daemon), vec![a, b])
        } else {
            let a = env.repo("a");
            let score = format!(
                "format = 1\nid = \"{SCORE}\"\ntitle = \"Model\"\ntarget = \"main\"\n\
                 approval = [\"checks\", \"human\"]\nmax_attempts = 3\n{}",
                tasks_toml()
            );
            env.write("s.toml", &score);
            let run = env.run(&a, &["plan", "--from", "../s.toml"]);
            assert_eq!(run.code, 0, "plan:\n{}", run.render());
            (None, vec![a])
        };
        for (i, dir) in clones.iter().enumerate() {
            let root = env.path(&format!("wt-{i}"));
            env.git(dir, &["config", "maestro.worktreeRoot", root.to_str().unwrap()]).success_git();
        }
        let mut w = World {
            env,
            clones,
            _daemon: daemon,
            fixed_content,
            crashed: Vec::new(),
            known_merges: BTreeMap::new(),
            landed_in: BTreeSet::new(),
            reached: BTreeMap::new(),
            snaps: Vec::new(),
            log: Vec::new(),
            step_no: 0,
        };
        for i in 0..w.clones.len() {
            w.configure(i, None, true);
            let (snap, bad) = observe(&w.clones[i], false);
            assert!(bad.is_empty(), "{bad:?}");
            w.snaps.push(snap);
            w.crashed.push(BTreeSet::new());
        }
        w
    }

    /// From now on the performer writes new content every step, as an agent told why its
    /// result was sent back changes it: with fixed content a task sent back with a reason
    /// could never be merged (its unchanged rework fails, every time).
    pub(super) fn answer_reasons(&mut self) {
        self.fixed_content = false;
    }

    /// Trusted config for the next command in clone `i`: the performer (failing on `fail`) and
    /// the check, passing or not.
    fn configure(&self, i: usize, fail: Option<&str>, pass: bool) {
        let tag = if self.fixed_content { "v1".to_owned() } else { format!("step {}", self.step_no) };
        let exit = fail.map(|t| format!(", FAKE_EXIT = \"1\", FAKE_EXIT_FOR = \"{t}\"")).unwrap_or_default();
        let flag = self.env.path(&format!("check-fails-{i}"));
        let config = format!(
            "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\n\
             env = {{ FAKE_WRITE = \"{{task}}.txt={{task}} {tag}\"{exit} }}\n\n\
             [checks.flag]\nrun = \"test ! -f {}\"\n",
            flag.display()
        );
        std::fs::write(self.clones[i].join(".maestro/config.toml"), config).unwrap();
        if pass {
            let _ = std::fs::remove_file(&flag);
        } else {
            std::fs::write(&flag, "fail\n").unwrap();
        }
    }

    /// Run git-maestro in clone `i`, armed to crash at `failpoint`; the crash points it reached
    /// are learnt for its kind of command.
    fn maestro(&mut self, i: usize, args: &[String], failpoint: Option<&str>) -> Out {
        let mut cmd = self.env.command(&self.clones[i]);
        cmd.args(args);
        if let Some(p) = failpoint {
            cmd.env("MAESTRO_FAILPOINTS", p);
        }
        let log = self.env.path("failpoints.log");
        let _ = std::fs::remove_file(&log);
        let o = cmd.env("MAESTRO_FAILPOINTS_LOG", &log).output().expect("spawn git-maestro");
        let kind = kind(args);
        let reached = std::fs::read_to_string(&log).unwrap_or_default();
        self.reached.entry(kind).or_default().extend(reached.lines().map(str::to_owned));
        Out {
            code: o.status.code(),
            signal: o.status.signal(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Arm `step` to crash at a point its kind of command reached before in this sequence (at
    /// a point it may reach, before any was seen).
    pub(super) fn arm(&self, rng: &mut fastrand::Rng, step: &mut Step) {
        let kind = kind(&step.cmd.argv());
        let seen: Vec<&String> = self.reached.get(&kind).into_iter().flatten().collect();
        step.crash = Some(if seen.is_empty() {
            let points = step.cmd.points();
            let (point, max) = points[rng.usize(..points.len())];
            format!("{point}#{}", rng.u32(1..=max))
        } else {
            seen[rng.usize(..seen.len())].clone()
        });
    }

    /// Run `step`, compare its outcome with the model, and check the invariants everywhere.
    pub(super) fn step(&mut self, step: &Step) -> Result<(), String> {
        self.step_no += 1;
        self.log.push(format!("{:>3}. {step}", self.step_no));
        let i = step.clone;
        let (fail, pass) = match &step.cmd {
            Cmd::TaskRun { task, fail: true } => (Some(*task), true),
            Cmd::Run { fail } => (*fail, true),
            Cmd::Review { pass, .. } => (None, *pass),
            _ => (None, true),
        };
        self.configure(i, fail, pass);
        let pre = self.snaps[i].clone();
        let timer = Instant::now();
        let out = self.maestro(i, &step.cmd.argv(), step.crash.as_deref());
        let took = timer.elapsed();
        let landed_before = self.landed_in.clone();
        if matches!(step.cmd, Cmd::Land) && out.code == Some(0) {
            self.landed_in.insert(i);
        }
        let killed = out.signal == Some(9);
        if killed {
            self.release_dead_run(i)?;
        }
        let (post, mut bad) = self.check(i);
        let verdict = match (out.code, out.signal) {
            (Some(0 | 1), _) => self.judge(i, &step.cmd, &pre, &post, out.code == Some(0), Some(&out.stderr)),
            (None, Some(9)) if step.crash.is_some() => self.judge_crash(i, &step.cmd, &pre, &post),
            _ => Err(format!(
                "exit codes are 0 or 1 (or SIGKILL at an armed crash point), not {:?}/{:?}",
                out.code, out.signal
            )),
        };
        if killed && matches!(step.cmd, Cmd::Land) && post.score.status == ScoreStatus::Landed {
            self.landed_in.insert(i);
        } else if killed && matches!(step.cmd, Cmd::Land) {
            self.landed_in = landed_before;
        }
        if let Err(e) = verdict {
            bad.insert(0, format!("model: {e}"));
        }
        self.track_running(i, &post, killed, matches!(step.cmd, Cmd::Sync), &mut bad);
        if !matches!(step.cmd, Cmd::Sync) {
            merged_once(&pre, &post, &mut bad);
        }
        self.snaps[i] = post;
        for snap in &self.snaps {
            for (id, t) in &snap.tasks {
                if let Some(m) = &t.merge_commit {
                    self.known_merges.entry(id.clone()).or_default().insert(m.clone());
                }
            }
        }
        if std::env::var_os("MAESTRO_MODEL_VERBOSE").is_some() {
            let end = out.code.map_or_else(|| format!("signal {:?}", out.signal), |c| format!("exit {c}"));
            eprintln!(
                "  {:>5}ms + {:>5}ms checks  [{end}] {step}",
                took.as_millis(),
                (timer.elapsed() - took).as_millis()
            );
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}\n\nbefore:\n{}after:\n{}\n{}",
                bad.join("\n"),
                pre.summary(),
                self.snaps[i].summary(),
                out.render()
            ))
        }
    }

    /// A crash between a run's claim and its end leaves the task `running` with a dead lease,
    /// which DESIGN §12.3 leaves to the next writing command that touches the task, or to
    /// `doctor --fix` (as the crash tests do): release it here, so the model sees it ready.
    fn release_dead_run(&self, i: usize) -> Result<(), String> {
        let check = self.env.run(&self.clones[i], &["doctor"]);
        let errors: Vec<&str> = check.stdout.lines().filter(|l| l.starts_with("error")).collect();
        if check.code != 0 && !errors.is_empty() && errors.iter().all(|l| l.contains("I3") && l.contains("is gone")) {
            let fixed = self.env.run(&self.clones[i], &["doctor", "--fix"]);
            if fixed.code != 0 {
                return Err(format!("doctor --fix did not release a dead run:\n{}", fixed.render()));
            }
        }
        Ok(())
    }

    /// Clone `i` after a command, and what `doctor`, `git fsck` (every fifth step) and the
    /// test's own reading find wrong there. `doctor` runs while the test reads the state. A
    /// command touches only its own clone's repository, so the other clone's last checks stand.
    fn check(&self, i: usize) -> (Snap, Vec<String>) {
        let mut doctor = self.env.command(&self.clones[i]);
        let doctor = doctor.arg("doctor").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn doctor");
        let (post, mut bad) = observe(&self.clones[i], self.landed_in.contains(&i));
        let doctor = doctor.wait_with_output().expect("doctor");
        if doctor.status.code() != Some(0) {
            bad.push(format!(
                "doctor failed ({:?}):\n{}{}",
                doctor.status,
                String::from_utf8_lossy(&doctor.stdout),
                String::from_utf8_lossy(&doctor.stderr)
            ));
        }
        if self.step_no.is_multiple_of(5) {
            let fsck = self.env.git(&self.clones[i], &["fsck", "--connectivity-only", "--no-progress"]);
            if fsck.code != 0 {
                bad.push(format!("git fsck failed:\n{}", fsck.render()));
            }
        }
        (post, bad)
    }

    /// I3: a task stays `running` only after a crash left it so, here or (arriving by sync)
    /// in another clone.
    fn track_running(&mut self, i: usize, post: &Snap, killed: bool, sync: bool, bad: &mut Vec<String>) {
        let anywhere: BTreeSet<String> = self.crashed.iter().flatten().cloned().collect();
        self.crashed[i] = post
            .tasks
            .values()
            .filter(|t| t.status == TaskStatus::Running)
            .map(|t| t.id.clone())
            .filter(|id| killed || self.crashed[i].contains(id) || (sync && anywhere.contains(id)))
            .collect();
        for (id, t) in &post.tasks {
            if t.status == TaskStatus::Running && !self.crashed[i].contains(id) {
                bad.push(format!("I3: {id} is running though no run of it is alive and none crashed"));
            }
        }
    }
}

/// A merged task is merged once: its merge commit stays while it stays merged. (A sync may
/// replace it when two clones merged the task apart: the merge pushed first stays, and the
/// other is reverted on the branch, which the branch checks see; so not after a sync.)
fn merged_once(pre: &Snap, post: &Snap, bad: &mut Vec<String>) {
    for (id, t) in &post.tasks {
        let before = &pre.tasks[id];
        if t.status == TaskStatus::Merged
            && before.status == TaskStatus::Merged
            && t.merge_commit != before.merge_commit
        {
            bad.push(format!(
                "merged once: {id} stayed merged but its merge commit changed from {:?} to {:?}",
                before.merge_commit, t.merge_commit
            ));
        }
    }
}
