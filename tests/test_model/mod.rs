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
//!
//! `steps` draws the commands, `world` runs them and checks after each, `snap` reads a clone
//! and the invariants, and `judge` is the reference model.

mod judge;
mod snap;
mod steps;
mod world;

use std::collections::BTreeSet;
use std::time::Instant;

use git_maestro::model::{ScoreStatus, TaskStatus};

use steps::{Cmd, Step, draw};
use world::World;

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

/// One sequence: random steps, then a run to the end that must merge every task.
fn sequence(seed: u64) -> Result<(), String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let two = seed % TWO_CLONES_EVERY == TWO_CLONES_EVERY - 1;
    // Fixed content makes a rework after a rollback leave the same result; new content makes
    // it conflict.
    let fixed = rng.u8(..4) == 0;
    let mut world = World::new(two, fixed);
    let report = |w: &World, e: String| {
        format!(
            "sequence {seed} ({} clone(s), {} content) failed at step {}:\n{e}\n\nsteps:\n{}\n\n\
             reproduce with MAESTRO_MODEL_SEED={seed}",
            w.clones.len(),
            if fixed { "fixed" } else { "new" },
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
    w.answer_reasons();
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
    w.answer_reasons();
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
