//! State writes while git's housekeeping runs (issue 12: a write during `git gc` or
//! `git repack` failed with exit 255 "Could not persist loose object": housekeeping removes
//! empty `objects/xx/` directories, and one vanished between gix creating it and renaming the
//! new object into it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::TestEnv;

/// Writes per writer; two writers run at once.
const WRITES: usize = 50;
/// Bounds on the housekeeping loop, whatever the writers do.
const MAX_ROUNDS: usize = 2_000;
const MAX_TIME: Duration = Duration::from_secs(90);

#[test]
fn state_writes_succeed_while_git_gc_runs_in_a_loop() {
    writes_succeed_during(&[&["gc", "-q"], &["prune-packed"]]);
}

#[test]
fn state_writes_succeed_while_git_repack_runs_in_a_loop() {
    writes_succeed_during(&[&["repack", "-a", "-d", "-q"], &["prune-packed"]]);
}

/// Two writers make [`WRITES`] state writes each while `housekeeping` runs round after round:
/// `prune-packed` and gc's `prune` remove every empty fan-out directory they visit, and a
/// repack packs what the writers just wrote, so its loose copies go too. Every write must
/// succeed and the state must stay whole.
///
/// Not mixed on purpose: with `git gc` and `git repack -a -d` alternating, about one run in ten
/// lost a tree the state already referenced (every later command then fails). That is git's
/// own race, not a failed write: most likely gc put the fresh, not yet referenced tree in a
/// cruft pack and the next `repack -a -d` dropped that pack. `--prune=now` deletes fresh
/// objects outright.
fn writes_succeed_during(housekeeping: &[&[&str]]) {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let writers_done = AtomicBool::new(false);
    let (rounds, failures) = std::thread::scope(|s| {
        let housekeeper = s.spawn(|| {
            let started = Instant::now();
            let mut rounds = 0;
            while !writers_done.load(Ordering::SeqCst) && rounds < MAX_ROUNDS && started.elapsed() < MAX_TIME {
                // Its own failures (a lock a writer holds) do not matter here.
                env.git(&dir, housekeeping[rounds % housekeeping.len()]);
                rounds += 1;
            }
            rounds
        });
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (env, dir) = (&env, &dir);
                s.spawn(move || {
                    let mut failures = Vec::new();
                    for i in 0..WRITES {
                        let run = env.run(dir, &["decide", "-m", &format!("writer {w} decision {i}")]);
                        if run.code != 0 {
                            failures.push(run.render());
                        }
                    }
                    failures
                })
            })
            .collect();
        let failures: Vec<String> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
        writers_done.store(true, Ordering::SeqCst);
        (housekeeper.join().unwrap(), failures)
    });
    assert!(
        failures.is_empty(),
        "{} of {} writes failed during {housekeeping:?} ({rounds} rounds); the first:\n{}",
        failures.len(),
        2 * WRITES,
        failures[0]
    );
    env.run(&dir, &["doctor"]).success();
    let decisions = env.run(&dir, &["decisions", "--json"]).success().json();
    assert_eq!(decisions.as_array().map(Vec::len), Some(2 * WRITES), "every write is in the state");
    let fsck = env.git(&dir, &["fsck", "--connectivity-only", "--no-progress"]);
    assert_eq!(fsck.code, 0, "the repository is whole:\n{}", fsck.render());
}
