//! The steps of a sequence: the user commands the model knows, and how the next one is drawn.

use super::snap::Snap;
use super::{SCORE, TASKS, deps};
use git_maestro::model::{Task, TaskStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cmd {
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
    pub(super) fn argv(&self) -> Vec<String> {
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
    pub(super) fn points(&self) -> Vec<(&'static str, u32)> {
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
pub(super) fn kind(argv: &[String]) -> String {
    let words = argv.iter().take_while(|a| *a != SCORE && !a.starts_with(&format!("{SCORE}/")));
    words.cloned().collect::<Vec<_>>().join(" ")
}

/// A command in one clone, maybe armed to crash.
#[derive(Debug, Clone)]
pub(super) struct Step {
    pub(super) clone: usize,
    pub(super) cmd: Cmd,
    /// `MAESTRO_FAILPOINTS` for this command.
    pub(super) crash: Option<String>,
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

/// Pick a task, mostly one `useful` says the command applies to.
fn pick(rng: &mut fastrand::Rng, snap: &Snap, useful: impl Fn(&Task) -> bool) -> &'static str {
    let fits: Vec<&'static str> = TASKS.iter().copied().filter(|t| useful(&snap.tasks[*t])).collect();
    if !fits.is_empty() && rng.u8(..10) < 8 { fits[rng.usize(..fits.len())] } else { TASKS[rng.usize(..TASKS.len())] }
}

/// The next step, drawn from what the state of the clone it runs in makes interesting.
pub(super) fn draw(rng: &mut fastrand::Rng, snaps: &[Snap], first: bool) -> Step {
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
