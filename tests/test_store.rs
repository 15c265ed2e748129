//! The store through the library API, against real repositories.

use std::path::Path;
use std::time::{Duration, SystemTime};

use git_maestro::git::Repo;
use git_maestro::model::{Decision, DecisionKind};
use git_maestro::store::{self, Clock, Session, Store, layout};

use crate::common::TestEnv;
use crate::test_cli::{GitRun, write_state_file};

fn open(dir: &Path, seed: u64) -> Store {
    let repo = Repo::discover(dir).expect("open repo");
    let session = Session::new("lib-test".into(), "t@example.com".into(), "test".into(), Clock::System, Some(seed));
    Store::new(repo, session)
}

fn decision(tx: &store::Tx<'_>, summary: &str) -> Decision {
    store::new_decision(tx, DecisionKind::Design, summary.into(), "lib-test")
}

#[test]
fn a_write_that_changes_nothing_writes_nothing() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let store = open(&dir, 1);
    let tip = store.tip().unwrap();
    let root: store::Root = store.view().unwrap().get(layout::MAESTRO_TOML).unwrap().unwrap();
    let outcome = store.transact("rewrite the same root", |tx| tx.put(layout::MAESTRO_TOML, &root)).unwrap();
    assert_eq!(outcome.commit, None);
    assert_eq!(store.tip().unwrap(), tip, "no commit, no ref move");
}

/// Every write settles what a stopped process left, but one with no open intent must not look
/// up this process for it: the clone id (a file, made on first use) and `/proc` were read on
/// every write.
#[test]
fn a_write_with_no_step_left_open_does_not_look_up_this_process() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let store = open(&dir, 1);
    let written = store.transact("decide", |tx| store::append_decision(tx, &decision(tx, "plain"))).unwrap();
    assert!(written.commit.is_some(), "the decision was written");
    let clone_id = Repo::discover(&dir).unwrap().common_dir().join("maestro/clone-id");
    assert!(!clone_id.exists(), "the write made this clone's id without needing it");
}

#[test]
fn a_concurrent_write_makes_the_transaction_re_read_and_re_apply() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let store = open(&dir, 2);
    let mut runs = 0;
    let outcome = store
        .transact("mine", |tx| {
            runs += 1;
            if runs == 1 {
                // Another writer (plain git here) moves the ref between our read and our CAS.
                let tip = env.state_tip(&dir);
                let record = "format = 1\nid = \"theirs\"\nkind = \"design\"\nsummary = \"theirs\"\nactor = \"git\"\nop = \"x\"\nat = \"2026-01-01T00:00:00Z\"\n";
                let theirs = write_state_file(&env, &dir, &tip, &layout::decision_file("theirs"), record);
                env.git(&dir, &["update-ref", "refs/maestro/state", &theirs, &tip]).success_git();
            }
            let d = decision(tx, "mine");
            tx.create(&layout::decision_file(&d.id), &d)
        })
        .unwrap();
    assert_eq!(outcome.attempts, 2, "the CAS conflict forced exactly one retry");
    assert_eq!(runs, 2);
    let files: Vec<String> = store.view().unwrap().files().unwrap().into_iter().map(|(p, _)| p).collect();
    assert!(files.contains(&layout::decision_file("theirs")), "their write survives: {files:?}");
    let summaries: Vec<String> =
        store::decisions(&store.view().unwrap()).unwrap().into_iter().map(|d| d.summary).collect();
    assert_eq!(summaries, ["mine", "theirs"], "no lost update: ours landed on top of theirs");
}

#[test]
fn a_busy_lock_is_waited_for_and_a_stale_one_is_removed() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let store = open(&dir, 4);
    let lock = dir.join(".git/refs/maestro/state.lock");
    std::fs::write(&lock, "held by a live writer\n").unwrap();
    let releaser = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            std::fs::remove_file(lock).unwrap();
        })
    };
    let outcome = store
        .transact("after the lock", |tx| {
            let d = decision(tx, "waited");
            tx.create(&layout::decision_file(&d.id), &d)
        })
        .unwrap();
    releaser.join().unwrap();
    assert!(outcome.attempts > 1, "it had to wait for the lock");
    assert!(outcome.notices.is_empty(), "a fresh lock is never removed: {:?}", outcome.notices);

    // A lock left by a dead process, older than 30 s.
    std::fs::write(&lock, "left by kill -9\n").unwrap();
    let old = SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options().write(true).open(&lock).unwrap().set_modified(old).unwrap();
    let outcome = store
        .transact("after a crash", |tx| {
            let d = decision(tx, "recovered");
            tx.create(&layout::decision_file(&d.id), &d)
        })
        .unwrap();
    assert!(outcome.commit.is_some());
    assert_eq!(outcome.notices.len(), 1);
    assert!(outcome.notices[0].starts_with("removed stale lock "), "{:?}", outcome.notices);
    assert!(!lock.exists());

    // Every ref update also takes packed-refs.lock; one a killed writer left is stale too.
    let packed = dir.join(".git/packed-refs.lock");
    std::fs::write(
        &packed,
        "left by kill -9
",
    )
    .unwrap();
    std::fs::File::options().write(true).open(&packed).unwrap().set_modified(old).unwrap();
    let outcome = store
        .transact("after a crash mid-update", |tx| {
            let d = decision(tx, "recovered again");
            tx.create(&layout::decision_file(&d.id), &d)
        })
        .unwrap();
    assert!(outcome.commit.is_some());
    assert!(outcome.notices[0].contains("packed-refs.lock"), "{:?}", outcome.notices);
    assert!(!packed.exists());
}

#[test]
fn records_are_fanned_out_and_commits_carry_trailers() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let store = open(&dir, 5);
    let outcome = store
        .transact("one decision", |tx| {
            let d = decision(tx, "fanned");
            tx.create(&layout::decision_file(&d.id), &d)?;
            Ok::<_, store::Error>(d.id)
        })
        .unwrap();
    let id = outcome.value;
    let path = layout::decision_file(&id);
    assert!(path.starts_with("decisions/") && path.split('/').count() == 5, "{path}");
    let shown = env.git(&dir, &["cat-file", "-p", &format!("refs/maestro/state:{path}")]);
    assert!(shown.stdout.contains("summary = \"fanned\""), "{}", shown.render());
    let msg = env.git(&dir, &["log", "-1", "--format=%B", "refs/maestro/state"]).stdout;
    assert!(msg.starts_with("maestro: one decision\n\nMaestro-Op: "), "{msg}");
    assert!(msg.contains("\nMaestro-Actor: lib-test\nMaestro-Argv: test\n"), "{msg}");
    let creating_twice = store.transact("duplicate", |tx| {
        let d = Decision { id: id.clone(), ..decision(tx, "again") };
        tx.create(&layout::decision_file(&d.id), &d)
    });
    assert!(matches!(creating_twice, Err(store::Error::Exists { .. })), "append-only records are never overwritten");
}

/// A store that settles later leaves a step's applied intent for its next write to remove,
/// without applying it again: the ref it moved may have moved on since, by a later step, and
/// that is no failure of the step. `settle_applied` writes what is left, and nothing when
/// nothing is.
#[test]
fn an_intent_a_store_that_settles_later_applied_is_removed_by_its_next_write_as_it_is() {
    use git_maestro::model::intent::{Effect, Step};
    let env = TestEnv::new();
    let dir = env.repo("r");
    let store = open(&dir, 3);
    store.settle_later();
    let intents = || env.git(&dir, &["ls-tree", "-r", "--name-only", "refs/maestro/state", "intents"]).success_git();
    let rev = |name: &str| env.git(&dir, &["rev-parse", name]).success_git().trim().to_owned();
    let step = Step::Rollback { score: "s".into(), tasks: Vec::new() };
    let intend = |old: Option<String>, new: String| {
        let effects = vec![Effect::MoveRef { name: "refs/heads/side".into(), old, new }];
        let written = store.transact("a step", |tx| tx.intend("move side".into(), step.clone(), effects.clone()));
        assert!(written.unwrap().commit.is_some());
    };
    let first = rev("HEAD");
    intend(None, first.clone());
    assert_eq!(rev("refs/heads/side"), first, "applied at once");
    assert_eq!(intents().lines().count(), 1, "left for the next write");
    assert!(!store.intent_names("refs/heads/side").unwrap(), "applied: a sync may move the ref on");

    env.git(&dir, &["commit", "-q", "--allow-empty", "-m", "later"]).success_git();
    env.git(&dir, &["update-ref", "refs/heads/side", "HEAD"]).success_git();
    let written = store.transact("another write", |tx| store::append_decision(tx, &decision(tx, "another")));
    assert!(written.unwrap().commit.is_some());
    assert_eq!(intents(), "", "that write removed it");
    assert_eq!(rev("refs/heads/side"), rev("HEAD"), "the later move stands");
    let decisions = store::decisions(&store.view().unwrap()).unwrap();
    assert!(decisions.iter().all(|d| d.kind != DecisionKind::Rollback), "nothing was undone: {decisions:#?}");

    intend(Some(rev("HEAD")), first);
    let before = store.tip().unwrap();
    store.settle_applied().unwrap();
    assert_eq!(intents(), "");
    assert_ne!(store.tip().unwrap(), before, "settle_applied wrote the removal");
    let settled = store.tip().unwrap();
    store.settle_applied().unwrap();
    assert_eq!(store.tip().unwrap(), settled, "and nothing once nothing is left");
}

/// Benchmark (a) races `task claim` against `benches/plumbing-claim.sh`, which writes the same
/// claim with git plumbing. The race is fair only while the script writes where git-maestro
/// reads: when tasks moved to two levels of buckets, the script kept writing to one, and the
/// benchmark failed its own check for two changes before anyone ran it.
#[test]
fn the_plumbing_baseline_of_benchmark_a_writes_a_claim_git_maestro_reads() {
    let env = TestEnv::new();
    let dir = env.approved_score("format = 1\nid = \"k\"\ntarget = \"main\"\n\n[[tasks]]\nid = \"t0\"\n", "");
    let id = git_maestro::model::ids::IdGen::with_seed(2).next(1_767_225_600_000);
    let record = format!(
        "format = 1\nid = \"{id}\"\nkind = \"assignment\"\nsummary = \"bench claimed k/t0\"\nactor = \"bench\"\n\
         score = \"k\"\ntask = \"t0\"\nop = \"plumbing\"\nat = \"2026-01-01T00:00:00Z\"\n"
    );
    env.write("decision.toml", &record);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/plumbing-claim.sh");
    let (decision, task) = (layout::decision_file(&id), layout::task_file("k", "t0"));
    let decision_file = env.path("decision.toml");
    let ran = env
        .base_command("bash")
        .current_dir(&dir)
        .args([script.to_str().unwrap(), "k", "t0", "bench", &decision, decision_file.to_str().unwrap(), &task])
        .output()
        .unwrap();
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));

    let shown = env.run(&dir, &["task", "show", "k/t0", "--json"]).success().json();
    assert_eq!((&shown["status"], &shown["claim"]["holder"]), (&"assigned".into(), &"bench".into()), "{shown:#}");
    let decisions = env.run(&dir, &["decisions", "--json"]).success().json();
    assert!(decisions.as_array().unwrap().iter().any(|d| d["id"] == id.as_str()), "{decisions:#}");
    env.run(&dir, &["doctor"]).success();
}
