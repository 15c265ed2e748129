//! The model-based test of DESIGN.md §12.6: seeded random sequences of user commands through
//! the real binary, each command's outcome compared with a small reference model of what it
//! may do, and the invariants (§12.4) checked after every step.
//!
//! The Score has five tasks: `a`; `b` and `c` on `a`; `d` on `b` and `c` (a chain into a
//! diamond); `e` alone. Each task's performer writes `<task>.txt` and fails when the step says
//! so; the `checks` step of its approval chain (`["checks", "human"]`) passes or fails by a flag
//! file. Most sequences use one clone; every [`TWO_CLONES_EVERY`]th uses two clones of a bare
//! remote served by `git daemon`, with `sync` steps between them. A sequence ends by bringing
//! every task to merged and landing the Score, with `run` or with the single commands alone.
//!
//! A failure prints the seed and every step. Run one sequence again with
//! `MAESTRO_MODEL_SEED=<seed> cargo test --test runner test_model`; run more with
//! `MAESTRO_MODEL_SEQUENCES=<n>`.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use git_maestro::git::{ObjectId, Repo};
use git_maestro::model::intent::Effect;
use git_maestro::model::{ScoreStatus, Task, TaskStatus};
use git_maestro::store::{self, Clock, Session, Store};

use crate::common::TestEnv;
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");
const SCORE: &str = "s";
const TASKS: [&str; 5] = ["a", "b", "c", "d", "e"];
const STEPS: usize = 25;
/// Sequences in CI (`MAESTRO_MODEL_SEQUENCES` for more).
const SEQUENCES: u64 = 100;
/// Every this many sequences, one uses two clones and `sync`.
const TWO_CLONES_EVERY: u64 = 5;
/// Rounds of `run`, approvals and syncs the end of a sequence may take to merge everything.
const FINAL_ROUNDS: usize = 8;

/// How a content violation says the merge changed nothing.
const NOOP_MERGE: &str = " (its merge changed nothing: the result was merged and reverted before)";

/// The dependencies of a task.
fn deps(task: &str) -> &'static [&'static str] {
    match task {
        "b" | "c" => &["a"],
        "d" => &["b", "c"],
        _ => &[],
    }
}

/// The tasks that depend on `task`, directly or through others.
fn dependants(task: &str) -> BTreeSet<&'static str> {
    let mut found = BTreeSet::new();
    let mut frontier = vec![task.to_owned()];
    while let Some(id) = frontier.pop() {
        for t in TASKS.iter().filter(|t| deps(t).contains(&id.as_str())) {
            if found.insert(*t) {
                frontier.push((*t).to_owned());
            }
        }
    }
    found
}

fn tasks_toml() -> String {
    TASKS
        .iter()
        .map(|t| {
            let deps: Vec<String> = deps(t).iter().map(|d| format!("\"{d}\"")).collect();
            format!(
                "[[tasks]]\nid = \"{t}\"\ntitle = \"Task {t}\"\nchecks = [\"flag\"]\n\
                 approval = [\"checks\", \"human\"]\ndeps = [{}]\n",
                deps.join(", ")
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Steps

/// One user command.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cmd {
    /// `approve <score>`: the plan of a draft, else landing.
    ApproveScore,
    /// `task run`; `fail` scripts the performer to fail.
    TaskRun {
        task: &'static str,
        fail: bool,
    },
    /// `task review`; `pass` is what the check will say.
    Review {
        task: &'static str,
        pass: bool,
    },
    Approve {
        task: &'static str,
    },
    Reject {
        task: &'static str,
    },
    Merge {
        task: &'static str,
    },
    Rollback {
        task: &'static str,
        with_dependants: bool,
    },
    Land,
    Prune,
    Release {
        task: &'static str,
    },
    Sync,
    /// `run <score>`, with `fail` failing every run of that task.
    Run {
        fail: Option<&'static str>,
    },
}

impl Cmd {
    fn argv(&self) -> Vec<String> {
        let t = |task: &str| format!("{SCORE}/{task}");
        let v: Vec<String> = match self {
            Cmd::ApproveScore => vec!["approve".into(), SCORE.into()],
            Cmd::TaskRun { task, .. } => vec!["task".into(), "run".into(), t(task)],
            Cmd::Review { task, .. } => vec!["task".into(), "review".into(), t(task)],
            Cmd::Approve { task } => vec!["approve".into(), t(task)],
            Cmd::Reject { task } => vec!["reject".into(), t(task), "-m".into(), "not good enough".into()],
            Cmd::Merge { task } => vec!["merge".into(), t(task)],
            Cmd::Rollback { task, with_dependants } => {
                let mut v = vec!["rollback".into(), t(task)];
                if *with_dependants {
                    v.push("--with-dependants".into());
                }
                v
            }
            Cmd::Land => vec!["land".into(), SCORE.into()],
            Cmd::Prune => vec!["worktrees".into(), "prune".into()],
            Cmd::Release { task } => vec!["task".into(), "release".into(), t(task)],
            Cmd::Sync => vec!["sync".into()],
            Cmd::Run { .. } => vec!["run".into(), SCORE.into()],
        };
        v
    }

    /// Crash points this command may reach, with how many times at most (until it is seen to
    /// reach some).
    fn points(&self) -> Vec<(&'static str, u32)> {
        let tx = |n| [("tx:before-cas", n), ("tx:after-cas", n)];
        let mut p: Vec<(&'static str, u32)> = Vec::new();
        match self {
            Cmd::TaskRun { .. } => {
                p.extend(tx(2));
                p.extend([
                    ("task-run:claimed", 1),
                    ("task-run:worktree", 1),
                    ("task-run:performed", 1),
                    ("task-run:committed", 1),
                ]);
            }
            Cmd::Merge { .. } => {
                p.extend(tx(2));
                p.extend([("merge:before-record", 1), ("effect:merge#0", 1)]);
            }
            Cmd::Rollback { .. } => {
                p.extend(tx(2));
                p.push(("effect:rollback#0", 1));
            }
            Cmd::Land => {
                p.extend(tx(2));
                p.push(("effect:land#0", 1));
            }
            Cmd::Prune => {
                p.extend(tx(4));
                p.push(("effect:prune#0", 2));
            }
            Cmd::Run { .. } => {
                p.extend(tx(12));
                p.extend([
                    ("task-run:claimed", 2),
                    ("task-run:performed", 2),
                    ("task-run:committed", 2),
                    ("merge:before-record", 2),
                    ("effect:merge#0", 2),
                ]);
            }
            Cmd::Review { .. } | Cmd::Sync => p.extend(tx(2)),
            Cmd::ApproveScore | Cmd::Approve { .. } | Cmd::Reject { .. } | Cmd::Release { .. } => p.extend(tx(1)),
        }
        p
    }
}

/// The command of `argv` without its arguments: `task run`, `merge`, …
fn kind(argv: &[String]) -> String {
    let words = argv.iter().take_while(|a| *a != SCORE && !a.starts_with(&format!("{SCORE}/")));
    words.cloned().collect::<Vec<_>>().join(" ")
}

/// A command in one clone, maybe armed to crash.
#[derive(Debug, Clone)]
struct Step {
    clone: usize,
    cmd: Cmd,
    /// `MAESTRO_FAILPOINTS` for this command.
    crash: Option<String>,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = ["a", "b"][self.clone];
        write!(f, "[{who}] git maestro {}", self.cmd.argv().join(" "))?;
        match &self.cmd {
            Cmd::TaskRun { fail: true, .. } => write!(f, "  (the performer fails)")?,
            Cmd::Run { fail: Some(t) } => write!(f, "  (the performer fails on {t})")?,
            Cmd::Review { pass: false, .. } => write!(f, "  (the check fails)")?,
            _ => {}
        }
        if let Some(point) = &self.crash {
            write!(f, "  CRASH at {point}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// What the state and the branches say

/// What one clone's state and branches say, read in process (cheap) after a command.
#[derive(Clone)]
struct Snap {
    /// The state commit.
    tip: Option<ObjectId>,
    score: git_maestro::model::Score,
    tasks: BTreeMap<String, Task>,
    /// This clone's id.
    clone: String,
    /// Open intents made by this clone.
    own_intents: usize,
    /// The integration branch, as it is once this clone's open intents settle.
    integration: Option<ObjectId>,
    /// Tasks whose branch exists here, and whose worktree exists here.
    branches: BTreeSet<String>,
    worktrees: BTreeSet<String>,
    /// Merged dependencies whose merge commit the local integration branch lacks, by task.
    behind: BTreeSet<String>,
    /// Of those, the merged tasks whose merge commit is not in this repository at all.
    elsewhere: BTreeSet<String>,
}

impl Snap {
    fn status(&self, t: &str) -> TaskStatus {
        self.tasks[t].status
    }

    fn deps_merged(&self, t: &str) -> bool {
        deps(t).iter().all(|d| self.status(d) == TaskStatus::Merged)
    }

    fn claimed_elsewhere(&self, t: &str) -> bool {
        self.tasks[t].claimed_elsewhere(&self.clone)
    }

    /// Statuses, merge commits, and the Score's status, landing approval and landing.
    fn summary(&self) -> String {
        let mut out = format!(
            "score {} landing={:?} landed={:?}\n",
            self.score.status,
            self.score.landing.as_ref().map(|l| short(&l.integration)),
            self.score.landed.as_ref().map(|l| short(&l.integration))
        );
        for (id, t) in &self.tasks {
            out.push_str(&format!(
                "  {id}: {}{}{}{}\n",
                t.status,
                t.merge_commit.as_deref().map(|c| format!(" merge={}", short(c))).unwrap_or_default(),
                t.claim
                    .as_ref()
                    .map(|c| format!(" claim={}@{}", c.holder, c.clone.as_deref().unwrap_or("?")))
                    .unwrap_or_default(),
                if t.passed.is_empty() { String::new() } else { format!(" passed={:?}", t.passed) },
            ));
        }
        out
    }

    /// Whether the records the model follows are the same.
    fn same_as(&self, other: &Snap) -> bool {
        let key = |s: &Snap| {
            let tasks: Vec<_> = s.tasks.values().map(|t| (t.status, t.merge_commit.clone())).collect();
            (
                s.score.status,
                s.score.landing.as_ref().map(|l| l.integration.clone()),
                s.score.landed.as_ref().map(|l| l.integration.clone()),
                tasks,
            )
        };
        key(self) == key(other)
    }
}

fn short(s: &str) -> String {
    s.chars().take(10).collect()
}

fn open(dir: &Path) -> Store {
    let session = Session::new("model".into(), "model@localhost".into(), String::new(), Clock::System, Some(1));
    Store::new(Repo::discover(dir).expect("a repository"), session)
}

/// Where `name` will be once this clone's open intents are settled.
fn effective(store: &Store, intents: &[git_maestro::model::intent::Intent], name: &str) -> Option<ObjectId> {
    let now = store.repo.read_ref(name).expect("read ref");
    let mut at = now;
    for effect in intents.iter().flat_map(|i| &i.effects) {
        let (n, new) = match effect {
            Effect::MoveRef { name, new, .. } | Effect::RefreshCheckout { name, new, .. } => (name, new),
            Effect::ResetWorktree { .. }
            | Effect::RemoveWorktree { .. }
            | Effect::ParkWorktree { .. }
            | Effect::ReuseWorktree { .. } => continue,
        };
        if n == name {
            at = ObjectId::from_hex(new.as_bytes()).ok();
        }
    }
    at
}

fn trailer<'m>(message: &'m str, key: &str) -> Option<&'m str> {
    message.lines().rev().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(": ")))
}

/// Read the clone at `dir`, and list the invariants its state and branches break.
fn observe(dir: &Path, landed_here: bool) -> (Snap, Vec<String>) {
    let store = open(dir);
    let repo = &store.repo;
    let view = store.view().expect("view");
    let (score, tasks) = store::score_with_tasks(&view, SCORE).expect("the Score reads");
    let clone = store.clone_id().expect("clone id");
    let intents: Vec<_> =
        store::effects::intents(&view).expect("intents read").into_iter().filter(|i| i.origin.clone == clone).collect();
    let integration_ref = format!("refs/heads/maestro/{SCORE}/integration");
    let integration = effective(&store, &intents, &integration_ref);
    let main = effective(&store, &intents, "refs/heads/main");
    let tasks: BTreeMap<String, Task> = tasks.into_iter().map(|t| (t.id.clone(), t)).collect();
    let mut bad = Vec::new();
    let mut branches = BTreeSet::new();
    let mut worktrees = BTreeSet::new();
    for t in TASKS {
        let branch = format!("refs/heads/maestro/{SCORE}/tasks/{t}");
        if repo.read_ref(&branch).expect("read ref").is_some() {
            branches.insert(t.to_owned());
        }
        if repo.worktree_with_branch(&branch).expect("worktrees").is_some_and(|p| p.exists()) {
            worktrees.insert(t.to_owned());
        }
    }

    // The integration branch's history: each task's merges, and the merges reverted since.
    let mut merges: BTreeMap<String, Vec<ObjectId>> = BTreeMap::new();
    let mut reverted: BTreeSet<String> = BTreeSet::new();
    let mut history: BTreeSet<ObjectId> = BTreeSet::new();
    if let Some(tip) = integration {
        for id in repo.ancestors(tip).expect("walk the integration branch") {
            history.insert(id);
            let info = repo.commit_info(id).expect("commit");
            if let Some(rest) = info.message.split("This reverts merge ").nth(1) {
                reverted.insert(rest.chars().take(40).collect());
            }
            if info.parents.len() >= 2
                && info.message.starts_with(&format!("Merge {SCORE}/"))
                && let Some(task) = trailer(&info.message, "Maestro-Task")
            {
                merges.entry(task.to_owned()).or_default().push(id);
            }
        }
    }
    let read_file = |commit: ObjectId, path: &str| -> Option<Vec<u8>> {
        let tree = repo.commit_tree(commit).ok()?;
        repo.read_blob(tree, path, 1 << 20).ok().flatten().map(|(_, data)| data)
    };
    let (mut behind, mut elsewhere) = (BTreeSet::new(), BTreeSet::new());
    for (id, t) in &tasks {
        let live: Vec<String> =
            merges.get(id).into_iter().flatten().map(ToString::to_string).filter(|m| !reverted.contains(m)).collect();
        if t.status == TaskStatus::Merged {
            let Some(mc) = t.merge_commit.as_deref() else {
                bad.push(format!("I1: {id} is merged without a merge commit"));
                continue;
            };
            let Some(oid) = ObjectId::from_hex(mc.as_bytes()).ok().filter(|o| repo.has_object(*o)) else {
                // Merged on another machine; its merge arrives with the branch.
                behind.insert(id.clone());
                elsewhere.insert(id.clone());
                continue;
            };
            if !history.contains(&oid) {
                behind.insert(id.clone());
                bad.push(format!(
                    "I1: {id} is merged as {} which maestro/{SCORE}/integration ({}) lacks",
                    short(mc),
                    integration.map(|c| short(&c.to_string())).unwrap_or_default()
                ));
                continue;
            }
            let message = repo.commit_info(oid).expect("merge commit").message;
            if trailer(&message, "Maestro-Task") != Some(id.as_str()) {
                bad.push(format!(
                    "I1: the merge commit {} of {id} names task {:?}",
                    short(mc),
                    trailer(&message, "Maestro-Task")
                ));
            }
            if live != [mc.to_owned()] {
                bad.push(format!(
                    "merged once: {id} is merged as {} but the branch holds these unreverted merges of it: {:?}",
                    short(mc),
                    live.iter().map(|m| short(m)).collect::<Vec<_>>()
                ));
            }
            // Its result is what the branch holds: each task writes its own file.
            let info = repo.commit_info(oid).expect("merge commit");
            if let (Some(result), Some(tip)) = (info.parents.get(1), integration) {
                let file = format!("{id}.txt");
                let (want, have) = (read_file(*result, &file), read_file(tip, &file));
                if want != have {
                    // The result was in the branch already (merged, then reverted): the merge
                    // changed nothing. Said, to tell it apart.
                    let noop = info.parents.first().is_some_and(|p| repo.is_ancestor(*result, *p).unwrap_or(false));
                    bad.push(format!(
                        "content: {id} is merged but maestro/{SCORE}/integration has {file} = {:?}, its result {:?}{}",
                        have.map(|d| String::from_utf8_lossy(&d).trim().to_owned()),
                        want.map(|d| String::from_utf8_lossy(&d).trim().to_owned()),
                        if noop { NOOP_MERGE } else { "" }
                    ));
                }
            }
        } else if !live.is_empty() {
            bad.push(format!(
                "I6: {id} is {} but maestro/{SCORE}/integration holds its unreverted merge {:?}",
                t.status,
                live.iter().map(|m| short(m)).collect::<Vec<_>>()
            ));
        }
        // I4: every result commit the state names that is here is kept reachable.
        for a in &t.attempts {
            let Some(c) = a.commit.as_deref().and_then(|c| ObjectId::from_hex(c.as_bytes()).ok()) else { continue };
            if !repo.has_object(c) {
                continue;
            }
            let kept = repo.read_ref(&format!("refs/maestro/keep/{c}")).expect("read ref").is_some();
            let reachable = kept
                || [
                    Some(format!("refs/heads/maestro/{SCORE}/tasks/{id}")),
                    Some(integration_ref.clone()),
                    Some(format!("refs/remotes/origin/maestro/{SCORE}/tasks/{id}")),
                ]
                .into_iter()
                .flatten()
                .any(|r| repo.read_ref(&r).ok().flatten().is_some_and(|tip| repo.is_ancestor(c, tip).unwrap_or(false)));
            if !reachable {
                bad.push(format!(
                    "I4: the result {} of {id} (run {}) is reachable from no ref",
                    short(&c.to_string()),
                    a.run
                ));
            }
        }
    }
    // I5: the target holds what the Score landed (where it was landed).
    if landed_here
        && let Some(l) = &score.landed
        && let Ok(landed) = ObjectId::from_hex(l.integration.as_bytes())
        && !main.is_some_and(|m| repo.is_ancestor(landed, m).unwrap_or(false))
    {
        bad.push(format!("I5: {SCORE} landed {} but main lacks it", short(&l.integration)));
    }
    let snap = Snap {
        tip: store.tip().expect("tip"),
        score,
        tasks,
        clone,
        own_intents: intents.len(),
        integration,
        branches,
        worktrees,
        behind,
        elsewhere,
    };
    (snap, bad)
}

// ---------------------------------------------------------------------------------------------
// Running commands

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
struct World {
    env: TestEnv,
    clones: Vec<PathBuf>,
    _daemon: Option<crate::test_sync::Daemon>,
    /// The performer's content tag: fixed, or new for every step.
    fixed_content: bool,
    /// Tasks a crash may have left `running`.
    crashed: Vec<BTreeSet<String>>,
    /// Every merge commit any clone's state recorded, by task.
    known_merges: BTreeMap<String, BTreeSet<String>>,
    /// Clones that landed the Score.
    landed_in: BTreeSet<usize>,
    /// The crash points (`name#n`) each kind of command reached so far.
    reached: BTreeMap<String, BTreeSet<String>>,
    snaps: Vec<Snap>,
    log: Vec<String>,
    step_no: usize,
}

impl World {
    fn new(two: bool, fixed_content: bool) -> World {
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
    fn arm(&self, rng: &mut fastrand::Rng, step: &mut Step) {
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
    fn step(&mut self, step: &Step) -> Result<(), String> {
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
        // A crash between a run's claim and its end leaves the task `running` with a dead lease,
        // which DESIGN §12.3 leaves to the next writing command that touches the task, or to
        // `doctor --fix` (as the crash tests do): release it here, so the model sees it ready.
        if out.signal == Some(9) {
            let check = self.env.run(&self.clones[i], &["doctor"]);
            let errors: Vec<&str> = check.stdout.lines().filter(|l| l.starts_with("error")).collect();
            if check.code != 0 && !errors.is_empty() && errors.iter().all(|l| l.contains("I3") && l.contains("is gone"))
            {
                let fixed = self.env.run(&self.clones[i], &["doctor", "--fix"]);
                if fixed.code != 0 {
                    return Err(format!("doctor --fix did not release a dead run:\n{}", fixed.render()));
                }
            }
        }
        // `doctor` runs while the test reads the state itself. A command touches only its own
        // clone's repository, so the other clone's last checks stand.
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
        let killed = out.signal == Some(9);
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
        // A task stays `running` only after a crash left it so, here or (arriving by sync) in
        // another clone.
        let anywhere: BTreeSet<String> = self.crashed.iter().flatten().cloned().collect();
        let sync = matches!(step.cmd, Cmd::Sync);
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
        // A merged task is merged once: its merge commit stays while it stays merged (a sync may
        // replace it when two clones merged the task apart: the merge pushed first stays, and
        // the other is reverted on the branch, which the branch checks above see).
        if !matches!(step.cmd, Cmd::Sync) {
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

    /// What the model allows `cmd` to have done, from `pre` to `post`, given whether it
    /// succeeded and what it printed on stderr (`None`: it was killed).
    fn judge(
        &self,
        i: usize,
        cmd: &Cmd,
        pre: &Snap,
        post: &Snap,
        ok: bool,
        stderr: Option<&str>,
    ) -> Result<(), String> {
        use TaskStatus as S;
        let refused = |why: &str| -> Result<(), String> {
            if ok {
                return Err(format!("it should have been refused ({why}), yet it succeeded"));
            }
            // A refusal writes nothing; only this clone's leftover intents may be settled.
            if pre.tip != post.tip && (pre.own_intents == 0 || !pre.same_as(post)) {
                return Err(format!("it was refused ({why}) but the state changed"));
            }
            Ok(())
        };
        let must = |cond: bool, what: &str| if cond { Ok(()) } else { Err(what.to_owned()) };
        // Only the named tasks may change.
        let others_same = |changed: &[&str]| -> Result<(), String> {
            for (id, t) in &post.tasks {
                if changed.contains(&id.as_str()) {
                    continue;
                }
                let b = &pre.tasks[id];
                if (b.status, &b.merge_commit) != (t.status, &t.merge_commit) {
                    return Err(format!(
                        "{id} changed from {} to {} though the command was not about it",
                        b.status, t.status
                    ));
                }
            }
            Ok(())
        };
        let all_done = pre.tasks.values().all(|t| matches!(t.status, S::Merged | S::Reverted));
        let something = pre.tasks.values().any(|t| t.status == S::Merged) || pre.score.landed.is_some();
        let tip = pre.integration.map(|c| c.to_string());
        match cmd {
            Cmd::ApproveScore => {
                if pre.score.status == ScoreStatus::Draft {
                    must(ok, "approving a draft's plan must succeed")?;
                    must(post.score.status == ScoreStatus::Approved, "the plan is approved")?;
                    return others_same(&[]);
                }
                let fresh = pre.score.landing.as_ref().map(|l| &l.integration) != tip.as_ref();
                if !(all_done && something && tip.is_some() && fresh) {
                    return refused("landing needs every task merged or reverted, a merge, and a new tip");
                }
                must(ok, "a landing approval of a finished Score must succeed")?;
                must(
                    post.score.landing.as_ref().map(|l| &l.integration) == tip.as_ref(),
                    "the landing approval names the integration tip",
                )?;
                others_same(&[])
            }
            Cmd::TaskRun { task, fail } => {
                let t = &pre.tasks[*task];
                let rework = matches!(t.status, S::Failed | S::Rejected | S::Conflict | S::Blocked | S::Reverted);
                let why = if pre.score.status == ScoreStatus::Draft {
                    Some("the plan is not approved")
                } else if matches!(t.status, S::Submitted | S::Approved) {
                    Some("it has a result waiting")
                } else if t.status == S::Merged {
                    Some("it is merged")
                } else if t.status == S::Running && !self.crashed[i].contains(*task) {
                    Some("it is running")
                } else if !pre.deps_merged(task) {
                    Some("its dependencies are not merged")
                } else if t.status != S::Running && !rework && pre.claimed_elsewhere(task) {
                    Some("another clone holds it")
                } else if deps(task).iter().any(|d| pre.behind.contains(*d)) {
                    Some("its dependencies' merges are not here yet")
                } else {
                    None
                };
                if let Some(why) = why {
                    return refused(why);
                }
                let end = post.status(task);
                match (ok, fail) {
                    (true, false) => must(end == S::Submitted, &format!("a run that worked submits, not {end}"))?,
                    (false, true) => must(end == S::Failed, &format!("a run that failed is failed, not {end}"))?,
                    (true, true) => return Err("a failing performer's run succeeded".into()),
                    (false, false) => return Err(format!("a run that should work failed ({end})")),
                }
                others_same(&[task])
            }
            Cmd::Review { task, pass } => {
                let t = &pre.tasks[*task];
                if t.status != S::Submitted {
                    return refused("only a submitted result is reviewed");
                }
                if !pre.branches.contains(*task) {
                    // Run on another machine: its branch is not here to check out.
                    return refused("its branch is not here");
                }
                let end = post.status(task);
                if t.passed.first().map(String::as_str) == Some("checks") || *pass {
                    must(ok && end == S::Submitted, &format!("the chain waits for a person ({end})"))?;
                    must(post.tasks[*task].passed == ["checks"], "the checks step is recorded as passed")?;
                } else {
                    must(!ok && end == S::Rejected, &format!("a failing check rejects it ({end})"))?;
                }
                others_same(&[task])
            }
            Cmd::Approve { task } | Cmd::Reject { task } => {
                if pre.status(task) != S::Submitted {
                    return refused("only a submitted result gets a verdict");
                }
                let want = if matches!(cmd, Cmd::Approve { .. }) { S::Approved } else { S::Rejected };
                must(ok && post.status(task) == want, &format!("the verdict makes it {want}"))?;
                others_same(&[task])
            }
            Cmd::Merge { task } => {
                if pre.status(task) != S::Approved {
                    return refused("only an approved task merges");
                }
                if !pre.branches.contains(*task) {
                    return refused("its branch is not here");
                }
                let t = &post.tasks[*task];
                if ok {
                    must(t.status == S::Merged, &format!("a merge that worked leaves it merged, not {}", t.status))?;
                    let mc = t.merge_commit.clone().unwrap_or_default();
                    must(
                        !self.known_merges.get(*task).is_some_and(|k| k.contains(&mc)),
                        "a merge writes a new merge commit",
                    )?;
                    must(post.score.landing.is_none(), "a merge voids the landing approval")?;
                } else {
                    must(
                        t.status == S::Conflict || pre.same_as(post),
                        &format!("a failed merge conflicts or changes nothing ({})", t.status),
                    )?;
                }
                others_same(&[task])
            }
            Cmd::Rollback { task, with_dependants } => {
                if pre.status(task) != S::Merged {
                    return refused("only a merged task is rolled back");
                }
                if !ok {
                    // The one refusal a merged task's rollback may meet, besides its merge not
                    // being here yet (made on another machine).
                    let conflict = stderr.is_none_or(|e| e.contains("conflicts with later changes"));
                    if !conflict && pre.elsewhere.is_empty() {
                        return Err(format!(
                            "a rollback failed, and not on a conflict: {}",
                            stderr.unwrap_or_default()
                        ));
                    }
                    return refused("the revert conflicts");
                }
                let mut gone = vec![*task];
                if *with_dependants {
                    gone.extend(dependants(task).into_iter().filter(|d| pre.status(d) == S::Merged));
                }
                for t in &gone {
                    must(post.status(t) == S::Reverted, &format!("{t} is reverted, not {}", post.status(t)))?;
                }
                if matches!(pre.score.status, ScoreStatus::Running | ScoreStatus::Done | ScoreStatus::Landed) {
                    must(post.score.status == ScoreStatus::Running, "a rolled back Score runs again")?;
                }
                others_same(&gone)
            }
            Cmd::Land => {
                let approved = pre.score.landing.as_ref().map(|l| &l.integration) == tip.as_ref() && tip.is_some();
                if !(all_done && something && approved) {
                    return refused("landing needs a finished Score and an approval of this very tip");
                }
                must(ok, "landing an approved, finished Score must succeed")?;
                must(post.score.status == ScoreStatus::Landed, "the Score is landed")?;
                must(post.score.landed.as_ref().map(|l| &l.integration) == tip.as_ref(), "it landed the approved tip")?;
                others_same(&[])
            }
            Cmd::Prune => {
                must(ok, "prune always works")?;
                for (id, t) in &post.tasks {
                    let b = &pre.tasks[id];
                    let recovered = b.status == S::Running && t.status == S::Ready;
                    must(
                        b.status == t.status || recovered,
                        &format!("prune changed {id} from {} to {}", b.status, t.status),
                    )?;
                    if matches!(b.status, S::Submitted | S::Approved) && pre.worktrees.contains(id) {
                        must(
                            post.worktrees.contains(id),
                            &format!("prune removed the worktree of {id}, a waiting result"),
                        )?;
                    }
                }
                Ok(())
            }
            Cmd::Release { task } => {
                must(ok, "release works")?;
                let (b, a) = (pre.status(task), post.status(task));
                let want = if matches!(b, S::Running | S::Assigned) { S::Ready } else { b };
                must(a == want, &format!("release makes a {b} task {want}, not {a}"))?;
                others_same(&[task])
            }
            Cmd::Sync => must(ok, "sync works"),
            Cmd::Run { .. } => {
                if pre.score.status == ScoreStatus::Draft
                    && pre.score.plan_approval == git_maestro::model::score::PlanApproval::Human
                {
                    return refused("the plan is not approved");
                }
                for (id, t) in &post.tasks {
                    let b = &pre.tasks[id];
                    if b.status == S::Merged && pre.own_intents == 0 {
                        must(
                            t.status == S::Merged && t.merge_commit == b.merge_commit,
                            &format!("run left merged {id} alone"),
                        )?;
                    }
                    if matches!(b.status, S::Reverted | S::Blocked) {
                        must(t.status == b.status, &format!("run leaves a {} task to a person ({id})", b.status))?;
                    }
                    if t.attempts.len() > b.attempts.len() {
                        must(post.deps_merged(id), &format!("run started {id} before its dependencies merged"))?;
                    }
                    if t.status == S::Running {
                        must(post.claimed_elsewhere(id), &format!("run left {id} running"))?;
                    }
                }
                Ok(())
            }
        }
    }

    /// A command killed at a crash point: the state is the old one or the new one (or a run
    /// left `running` for the next command to recover).
    fn judge_crash(&self, i: usize, cmd: &Cmd, pre: &Snap, post: &Snap) -> Result<(), String> {
        if pre.same_as(post) {
            return Ok(());
        }
        let new = self
            .judge(i, cmd, pre, post, true, None)
            .or_else(|e| self.judge(i, cmd, pre, post, false, None).map_err(|f| format!("{e}; {f}")));
        match cmd {
            Cmd::TaskRun { task, .. } => {
                // Running with a dead lease, or released by `doctor --fix` after it (ready,
                // its attempt interrupted): the run is gone, nothing else moved.
                if matches!(post.status(task), TaskStatus::Running | TaskStatus::Ready) {
                    let others: Vec<_> = post.tasks.keys().filter(|k| k != task).collect();
                    for id in others {
                        if pre.tasks[id].status != post.tasks[id].status {
                            return Err(format!("a crashed run of {task} changed {id}"));
                        }
                    }
                    return Ok(());
                }
                new
            }
            Cmd::Run { .. } | Cmd::Sync => Ok(()),
            _ => new.map_err(|e| format!("after the crash the state is neither the old one nor a new one: {e}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sequences

/// Pick a task, mostly one `useful` says the command applies to.
fn pick(rng: &mut fastrand::Rng, snap: &Snap, useful: impl Fn(&Task) -> bool) -> &'static str {
    let fits: Vec<&'static str> = TASKS.iter().copied().filter(|t| useful(&snap.tasks[*t])).collect();
    if !fits.is_empty() && rng.u8(..10) < 8 { fits[rng.usize(..fits.len())] } else { TASKS[rng.usize(..TASKS.len())] }
}

/// The next step, drawn from what the state of the clone it runs in makes interesting.
fn draw(rng: &mut fastrand::Rng, snaps: &[Snap], first: bool) -> Step {
    use TaskStatus as S;
    let clones = snaps.len();
    let clone = if clones > 1 && rng.u8(..10) < 4 { 1 } else { 0 };
    let snap = &snaps[clone];
    if first && rng.u8(..10) < 6 {
        return Step { clone: 0, cmd: Cmd::ApproveScore, crash: None };
    }
    let runnable = |t: &Task| {
        !matches!(t.status, S::Submitted | S::Approved | S::Merged)
            && deps(&t.id).iter().all(|d| snap.status(d) == S::Merged)
    };
    let weights: [(u32, u8); 13] = [
        (20, 0),                               // task run
        (8, 1),                                // review
        (12, 2),                               // approve
        (4, 3),                                // reject
        (12, 4),                               // merge
        (5, 5),                                // rollback
        (4, 6),                                // land
        (2, 7),                                // approve score
        (4, 8),                                // prune
        (4, 9),                                // release
        (if clones > 1 { 10 } else { 0 }, 10), // sync
        (4, 11),                               // run
        (8, 12),                               // crash
    ];
    let total: u32 = weights.iter().map(|w| w.0).sum();
    let mut n = rng.u32(..total);
    let mut kind = 0;
    for (w, k) in weights {
        if n < w {
            kind = k;
            break;
        }
        n -= w;
    }
    let crash = kind == 12;
    if crash {
        kind = [0, 1, 2, 4, 5, 6, 8, 9, 11, 10][rng.usize(..if clones > 1 { 10 } else { 9 })];
    }
    let cmd = match kind {
        0 => Cmd::TaskRun { task: pick(rng, snap, runnable), fail: rng.u8(..10) < 2 },
        1 => Cmd::Review { task: pick(rng, snap, |t| t.status == S::Submitted), pass: rng.u8(..10) < 8 },
        2 => Cmd::Approve { task: pick(rng, snap, |t| t.status == S::Submitted) },
        3 => Cmd::Reject { task: pick(rng, snap, |t| t.status == S::Submitted) },
        4 => Cmd::Merge { task: pick(rng, snap, |t| t.status == S::Approved) },
        5 => Cmd::Rollback { task: pick(rng, snap, |t| t.status == S::Merged), with_dependants: rng.bool() },
        6 => Cmd::Land,
        7 => Cmd::ApproveScore,
        8 => Cmd::Prune,
        9 => Cmd::Release { task: pick(rng, snap, |t| matches!(t.status, S::Running | S::Assigned)) },
        10 => Cmd::Sync,
        _ => Cmd::Run { fail: (rng.u8(..10) < 3).then(|| TASKS[rng.usize(..TASKS.len())]) },
    };
    // The crash point is chosen by [`World::arm`].
    Step { clone, cmd, crash: crash.then(String::new) }
}

/// One sequence: random steps, then a run to the end that must merge every task.
fn sequence(seed: u64) -> Result<(), String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let two = seed % TWO_CLONES_EVERY == TWO_CLONES_EVERY - 1;
    // Fixed content makes a rework after a rollback leave the same result; new content makes
    // it conflict.
    let mut world = World::new(two, rng.u8(..4) == 0);
    let report = |w: &World, e: String| {
        format!(
            "sequence {seed} ({} clone(s), {} content) failed at step {}:\n{e}\n\nsteps:\n{}\n\n\
             reproduce with MAESTRO_MODEL_SEED={seed}",
            w.clones.len(),
            if w.fixed_content { "fixed" } else { "new" },
            w.step_no,
            w.log.join("\n")
        )
    };
    for n in 0..STEPS {
        let mut step = draw(&mut rng, &world.snaps, n == 0);
        if step.crash.is_some() {
            world.arm(&mut rng, &mut step);
        }
        if matches!(step.cmd, Cmd::Land) && rng.bool() {
            let approve = Step { clone: step.clone, cmd: Cmd::ApproveScore, crash: None };
            world.step(&approve).map_err(|e| report(&world, e))?;
        }
        world.step(&step).map_err(|e| report(&world, e))?;
    }
    // By hand in one clone only: a result made in the other clone has its branch there.
    let land_first = rng.bool();
    if world.clones.len() > 1 || rng.bool() {
        finish(&mut world, land_first).map_err(|e| report(&world, e))
    } else {
        finish_by_hand(&mut world, land_first).map_err(|e| report(&world, e))
    }
}

/// Bring every task to merged with the single commands only (`run` never runs): `task run`,
/// `approve`, `merge` in dependency order. Then the Score
/// lands: the single commands are a complete path, as `run` is.
fn finish_by_hand(w: &mut World, land_first: bool) -> Result<(), String> {
    use TaskStatus as S;
    w.log.push("--- finish by hand".into());
    let go = |w: &mut World, cmd: Cmd| w.step(&Step { clone: 0, cmd, crash: None });
    if w.snaps[0].score.status == ScoreStatus::Draft {
        go(w, Cmd::ApproveScore)?;
    }
    for _round in 0..FINAL_ROUNDS {
        for task in TASKS {
            let s = &w.snaps[0];
            if s.status(task) == S::Running || (s.claimed_elsewhere(task) && s.status(task) == S::Assigned) {
                go(w, Cmd::Release { task })?;
            }
            if !w.snaps[0].deps_merged(task) {
                continue;
            }
            if !matches!(w.snaps[0].status(task), S::Submitted | S::Approved | S::Merged) {
                go(w, Cmd::TaskRun { task, fail: false })?;
            }
            if w.snaps[0].status(task) == S::Submitted {
                go(w, Cmd::Approve { task })?;
            }
            if w.snaps[0].status(task) == S::Approved {
                go(w, Cmd::Merge { task })?;
            }
        }
        if w.snaps[0].tasks.values().all(|t| t.status == S::Merged) {
            return land(w, land_first);
        }
    }
    Err(unfinished(w))
}

/// Bring every task to merged: no more failures; `run` with a person approving what waits for
/// them, `task run` for what `run` leaves to a person (reverted and blocked tasks), syncing
/// between clones. Then the Score lands.
fn finish(w: &mut World, land_first: bool) -> Result<(), String> {
    use TaskStatus as S;
    w.log.push("--- finish".into());
    let n = w.clones.len();
    for round in 0..FINAL_ROUNDS {
        for i in 0..n {
            if n > 1 && (i > 0 || round == 0) {
                w.step(&Step { clone: i, cmd: Cmd::Sync, crash: None })?;
            }
            if w.snaps[i].score.status == ScoreStatus::Draft {
                w.step(&Step { clone: i, cmd: Cmd::ApproveScore, crash: None })?;
            }
            // Run until nothing here waits for a person.
            for _ in 0..4 {
                for t in TASKS {
                    let s = &w.snaps[i];
                    if matches!(s.status(t), S::Reverted | S::Blocked) && s.deps_merged(t) && !s.claimed_elsewhere(t) {
                        w.step(&Step { clone: i, cmd: Cmd::TaskRun { task: t, fail: false }, crash: None })?;
                    }
                }
                w.step(&Step { clone: i, cmd: Cmd::Run { fail: None }, crash: None })?;
                let waiting: Vec<&'static str> =
                    TASKS.iter().copied().filter(|t| w.snaps[i].status(t) == S::Submitted).collect();
                if waiting.is_empty() {
                    break;
                }
                for task in waiting {
                    w.step(&Step { clone: i, cmd: Cmd::Approve { task }, crash: None })?;
                }
            }
        }
        if n > 1 {
            w.step(&Step { clone: 0, cmd: Cmd::Sync, crash: None })?;
        }
        if w.snaps.iter().all(|s| s.tasks.values().all(|t| t.status == S::Merged)) {
            return land(w, land_first);
        }
    }
    Err(unfinished(w))
}

/// Land the finished Score in the first clone: approve, then land; with `land_first`, try to
/// land before the approval too (the model says it is refused).
fn land(w: &mut World, land_first: bool) -> Result<(), String> {
    let cmds: &[Cmd] =
        if land_first { &[Cmd::Land, Cmd::ApproveScore, Cmd::Land] } else { &[Cmd::ApproveScore, Cmd::Land] };
    for cmd in cmds {
        w.step(&Step { clone: 0, cmd: cmd.clone(), crash: None })?;
    }
    Ok(())
}

/// Why not every task merged.
fn unfinished(w: &World) -> String {
    let why: Vec<String> = w.snaps[0]
        .tasks
        .values()
        .filter(|t| t.status != TaskStatus::Merged)
        .map(|t| {
            let last = t.attempts.last().and_then(|a| a.reason.clone()).unwrap_or_default();
            format!("{} is {} after {} attempts (last: {last})", t.id, t.status, t.attempts.len())
        })
        .collect();
    format!("after {FINAL_ROUNDS} rounds not every task is merged:\n{}", why.join("\n"))
}

#[test]
fn random_command_sequences_keep_the_model_and_the_invariants() {
    let seeds: Vec<u64> = match std::env::var("MAESTRO_MODEL_SEED") {
        Ok(s) => vec![s.parse().expect("MAESTRO_MODEL_SEED is a number")],
        Err(_) => {
            let var = |k: &str| std::env::var(k).ok().and_then(|n| n.parse().ok());
            let from = var("MAESTRO_MODEL_FROM").unwrap_or(0);
            (from..from + var("MAESTRO_MODEL_SEQUENCES").unwrap_or(SEQUENCES)).collect()
        }
    };
    let started = Instant::now();
    let threads = std::env::var("MAESTRO_MODEL_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(&seed) = seeds.get(k) else { break };
                    let one = Instant::now();
                    let result = std::panic::catch_unwind(|| sequence(seed)).unwrap_or_else(|p| {
                        let what = p
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                            .unwrap_or_default();
                        Err(format!("sequence {seed} panicked: {what}\n(MAESTRO_MODEL_SEED={seed})"))
                    });
                    if std::env::var_os("MAESTRO_MODEL_VERBOSE").is_some() {
                        eprintln!("sequence {seed}: {:.1}s {result:?}", one.elapsed().as_secs_f64());
                    }
                    if let Err(e) = result {
                        failures.lock().unwrap().push(e);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!("{} model sequences in {:.1}s", seeds.len(), started.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "{}", failures.join("\n\n========\n\n"));
}
