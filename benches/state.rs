//! State benchmarks. Each reports a ratio against git measured in the same run:
//!
//! (a) a whole-process `task claim` against the same write as a git plumbing script;
//! (b) an in-process claim at 10 tasks against one at 10,000 tasks plus 100,000 decisions, with
//!     the same write by gix alone in the same turns (`b-floor`): what the larger trees cost
//!     any writer;
//! (c) a whole-process `task show` against `git cat-file -p refs/maestro/state:<path>`, with
//!     the start-up alone (`--version`) against the same, the floor of (c);
//! (d) in the two states of (b), what a task run recalls from memory after a write.
//!
//! Run with `cargo bench --bench state`. `MAESTRO_BENCH_QUICK=1` uses fewer samples;
//! `MAESTRO_BENCH_ONLY=ab` runs only the named ones; `MAESTRO_BENCH_KEEP=1` keeps the repositories.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use git_maestro::git::Repo;
use git_maestro::model::{Decision, DecisionKind, Task, TaskKind, TaskStatus};
use git_maestro::store::{self, Clock, Session, Store, layout};

#[path = "common/fixture.rs"]
mod fixture;
#[path = "common/summary.rs"]
mod summary;

const BIN: &str = env!("CARGO_BIN_EXE_git-maestro");

fn main() {
    let quick = summary::quick();
    let samples = if quick { 10 } else { 40 };
    let tmp = std::env::temp_dir().join(format!("maestro-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    println!("git-maestro state benchmarks ({samples} samples each, medians)\n");
    let only = std::env::var("MAESTRO_BENCH_ONLY").unwrap_or_default();
    let run = |name: &str| only.is_empty() || only.contains(name);
    if run("a") {
        bench_a(&tmp, samples);
    }
    if run("c") {
        bench_c(&tmp, samples);
    }
    if run("b") {
        bench_b(&tmp, samples);
    }
    summary::remove_temp(&tmp);
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").current_dir(dir).args(args).output().expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Print a figure and add it to the summary as measure `name`.
fn report(name: &str, ours: Duration, theirs: Duration, baseline: &str, target: &str) {
    let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
    let shown = name.split_whitespace().next().unwrap_or(name);
    println!("({shown}) git-maestro {ours:>10.2?}   {baseline} {theirs:>10.2?}   ratio {ratio:.2}x   target {target}");
    summary::record("state", vec![summary::Measure::ratio(name, ours, theirs, target)]);
}

/// (a) whole-process claim vs the plumbing script, interleaved so both see the same machine.
fn bench_a(tmp: &Path, samples: usize) {
    let ours_dir = repo_with_score(tmp, "a-maestro", samples);
    let git_dir = repo_with_score(tmp, "a-git", samples);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/plumbing-claim.sh");
    let mut ids = git_maestro::model::ids::IdGen::with_seed(2);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..samples {
        let task = format!("bench/t{i}");
        let start = Instant::now();
        maestro(&ours_dir, &["task", "claim", &task, "--as", "bench", "-q"]);
        ours.push(start.elapsed());
        // The decision record the claim also writes, prepared outside the timed part.
        let id = ids.next(1_767_225_600_000 + i as u64);
        let record = format!(
            "format = 1\nid = \"{id}\"\nkind = \"assignment\"\nsummary = \"bench claimed {task}\"\nactor = \"bench\"\nscore = \"bench\"\ntask = \"t{i}\"\nop = \"plumbing\"\nat = \"2026-01-01T00:00:00Z\"\n"
        );
        let record_file = tmp.join("decision.toml");
        std::fs::write(&record_file, record).expect("write decision");
        let path = layout::decision_file(&id);
        let start = Instant::now();
        let status = Command::new("bash")
            .current_dir(&git_dir)
            .arg(&script)
            .args(["bench", &format!("t{i}"), "bench", &path, record_file.to_str().expect("utf-8")])
            .arg(layout::task_file("bench", &format!("t{i}")))
            .status();
        assert!(status.expect("bash").success());
        theirs.push(start.elapsed());
    }
    // The plumbing result must be a state maestro reads back as claimed, or the race is unfair.
    let shown = Command::new(BIN).current_dir(&git_dir).args(["task", "show", "bench/t0", "--json"]).output();
    assert!(String::from_utf8_lossy(&shown.expect("show").stdout).contains("\"holder\": \"bench\""));
    let decisions = Command::new(BIN).current_dir(&git_dir).args(["decisions", "--json"]).output().expect("decisions");
    let listed = String::from_utf8_lossy(&decisions.stdout).matches("\"kind\": \"assignment\"").count();
    assert_eq!(listed, samples, "the plumbing side wrote every decision where maestro reads it");
    let (ours, theirs) = (median(ours), median(theirs));
    report("a", ours, theirs, "plumbing script", "git-maestro at least 5x faster");
    println!("    speed-up {:.1}x\n", theirs.as_secs_f64() / ours.as_secs_f64());
}

/// (c) whole-process `task show` vs `git cat-file -p`, and in the same turns the floor any
/// command of this binary starts from: `--version` loads the binary and parses a command line,
/// and reads nothing.
fn bench_c(tmp: &Path, samples: usize) {
    let dir = repo_with_score(tmp, "c", 10);
    let spec = format!("refs/maestro/state:{}", layout::task_file("bench", "t3"));
    let (mut ours, mut start_up, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..samples * 2 {
        let start = Instant::now();
        maestro(&dir, &["task", "show", "bench/t3"]);
        ours.push(start.elapsed());
        let start = Instant::now();
        maestro(&dir, &["--version"]);
        start_up.push(start.elapsed());
        let start = Instant::now();
        git(&dir, &["cat-file", "-p", &spec]);
        theirs.push(start.elapsed());
    }
    let theirs = median(theirs);
    report("c", median(ours), theirs, "git cat-file -p", "at most 1.2x");
    report("c-floor start-up alone (--version)", median(start_up), theirs, "git cat-file -p", "none, the floor of (c)");
    println!();
}

/// (b) an in-process claim on a small state vs a large one, in two shapes of 10,000 tasks:
/// spread over 100 Scores (how a repository accumulates them) and all in one Score (the limit).
fn bench_b(tmp: &Path, samples: usize) {
    let small = repo_with_score(tmp, "b-small", 10);
    git(&small, &["repack", "-a", "-d", "-q"]);
    for (name, scores, per_score) in [("100 Scores x 100 tasks", 100, 100), ("1 Score x 10,000 tasks", 1, 10_000)] {
        let large = repo_with_score(tmp, &format!("b-large-{scores}"), 1);
        let build = Instant::now();
        fill(&large, scores, per_score, 100_000);
        git(&large, &["repack", "-a", "-d", "-q"]);
        let files = open(&large).view().expect("view").files().expect("files").len();
        println!("(b) state of {name} + 100,000 decisions: {files} files, built in {:.1?}", build.elapsed());
        // Claim by claim, alternating, so that both sides see the same machine: on these
        // shared machines a round of claims can run at half the speed of the next.
        let (small_store, large_store, large_score) = (open(&small), open(&large), format!("s{}", scores / 2));
        let (small_gix, large_gix) = (gix::open(&small).expect("open"), gix::open(&large).expect("open"));
        let [mut s, mut l, mut fs, mut fl] = [(); 4].map(|()| Vec::new());
        for i in 0..samples * 3 {
            let (small_task, large_task) = (format!("t{}", i * 7 % 10), format!("t{}", i * 7 % per_score));
            let start = Instant::now();
            claim(&small_store, "bench", &small_task, &format!("w{i}"));
            s.push(start.elapsed());
            let start = Instant::now();
            claim(&large_store, &large_score, &large_task, &format!("w{i}"));
            l.push(start.elapsed());
            let start = Instant::now();
            floor_claim(&small_gix, "bench", &small_task, i);
            fs.push(start.elapsed());
            let start = Instant::now();
            floor_claim(&large_gix, &large_score, &large_task, i);
            fl.push(start.elapsed());
        }
        let (measure, target) = (format!("b {name}"), if scores == 1 { "at most 1.3x" } else { "at most 1.15x" });
        let [s, l, fs, fl] = [s, l, fs, fl].map(median);
        report(&measure, l, s, "same write at 10 tasks", target);
        report(&format!("b-floor {name}, gix alone"), fl, fs, "same write at 10 tasks", "none");
        println!(
            "    what the larger state adds to a write: git-maestro {:.0?}, gix alone {:.0?}",
            l.saturating_sub(s),
            fl.saturating_sub(fs)
        );
        if scores > 1 {
            bench_recall(&small, &large, samples);
        }
        println!();
    }
}

/// (d) what a task run recalls from memory (`store::recall`) after a write, in the large state
/// against the 10-task one: it must not read the whole decision log each time.
fn bench_recall(small: &Path, large: &Path, samples: usize) {
    let stores = [open(small), open(large)];
    let mut times = [Vec::new(), Vec::new()];
    for store in &stores {
        store::recall(store, &store.view().expect("view")).expect("recall");
    }
    // Alternating, as in (b).
    for i in 0..samples * 3 {
        for (side, store) in stores.iter().enumerate() {
            // A write first, as between two runs: it adds a decision to one bucket.
            claim(store, "bench", "t0", &format!("r{i}"));
            let start = Instant::now();
            let (_, decisions) = store::recall(store, &store.view().expect("view")).expect("recall");
            times[side].push(start.elapsed());
            assert!(!decisions.is_empty() || side == 0);
        }
    }
    let [s, l] = times.map(median);
    report("d recall after a write, 100 Scores x 100 tasks + 100,000 decisions", l, s, "same at 10 tasks", "flat");
}

fn open(dir: &Path) -> Store {
    let session = Session::new("bench".into(), "bench@localhost".into(), "bench".into(), Clock::System, None);
    Store::new(Repo::discover(dir).expect("repo"), session)
}

/// The write `task claim` does: the claim plus its assignment decision, re-claimable by
/// releasing first so every sample writes.
fn claim(store: &Store, score: &str, id: &str, holder: &str) {
    let outcome = store
        .transact("bench claim", |tx| {
            let mut task = store::task(tx, score, id)?;
            task.release(None, tx.now)?;
            task.claim(holder, None, tx.op, tx.clock, tx.now)?;
            tx.put(&layout::task_file(score, id), &task)?;
            let d = decision(tx, holder, score, id);
            tx.create(&layout::decision_file(&d.id), &d)
        })
        .expect("claim");
    assert!(outcome.commit.is_some());
}

/// The floor of (b): the two records of [`claim`] written with gix alone: the task record read
/// through the trees, both blobs written, the trees edited by gix's editor, a commit, and the
/// ref moved if it still holds the old tip. No lock, no TOML, no validation, no reflog of ours.
fn floor_claim(repo: &gix::Repository, score: &str, id: &str, i: usize) {
    let state = repo.find_reference(layout::STATE_REF).expect("ref").into_fully_peeled_id().expect("tip").detach();
    let tree = repo.find_commit(state).expect("commit").tree_id().expect("tree").detach();
    let path = layout::task_file(score, id);
    let entry = repo.find_tree(tree).expect("tree").lookup_entry_by_path(&path).expect("lookup").expect("task");
    let mut task = repo.find_blob(entry.oid()).expect("blob").data.clone();
    // The same size every time: the record, then a line that changes.
    let end = task.windows(3).position(|w| w == b"\n# ").map_or(task.len(), |at| at + 1);
    task.truncate(end);
    task.extend_from_slice(format!("# floor {i:08}\n").as_bytes());
    let mut ids = git_maestro::model::ids::IdGen::with_seed(i as u64 + 7);
    let d = Decision::new(
        ids.next(1_800_000_000_000 + i as u64),
        DecisionKind::Assignment,
        format!("w{i}"),
        "bench".into(),
        "floor".into(),
        jiff::Timestamp::now(),
    );
    let decision_path = layout::decision_file(&d.id);
    let decision = store::codec::encode("decision", &d.about(score, Some(id))).expect("encode");
    let mut editor = repo.edit_tree(tree).expect("editor");
    editor
        .upsert(path.as_str(), gix::object::tree::EntryKind::Blob, repo.write_blob(&task).expect("blob"))
        .expect("task");
    editor
        .upsert(decision_path.as_str(), gix::object::tree::EntryKind::Blob, repo.write_blob(&decision).expect("blob"))
        .expect("decision");
    let new_tree = editor.write().expect("write trees");
    let time = format!("{} +0000", jiff::Timestamp::now().as_second());
    let who = gix::actor::SignatureRef { name: "bench".into(), email: "bench@localhost".into(), time: &time };
    repo.commit_as(who, who, layout::STATE_REF, "bench floor", new_tree, [state]).expect("commit");
}

fn decision(tx: &store::Tx<'_>, summary: &str, score: &str, task: &str) -> Decision {
    store::new_decision(tx, DecisionKind::Assignment, summary.to_owned(), "bench").about(score, Some(task))
}

/// Add `scores` Scores of `per_score` tasks and `decisions` decisions to the state with
/// `git fast-import`, in one commit on top of the current state.
fn fill(dir: &Path, scores: usize, per_score: usize, decisions: usize) {
    use std::io::Write;
    let store = open(dir);
    let view = store.view().expect("view");
    let template_score = store::score(&view, "bench").expect("score");
    let template_task = store::task(&view, "bench", "t0").expect("task");
    let tip = store.tip().expect("tip").expect("initialised");
    let mut stream = Vec::new();
    let mut file = |path: &str, bytes: Vec<u8>| {
        write!(stream, "M 100644 inline {path}\ndata {}\n", bytes.len()).expect("write");
        stream.extend_from_slice(&bytes);
        stream.push(b'\n');
    };
    for s in 0..scores {
        let id = format!("s{s}");
        let tasks: Vec<String> = (0..per_score).map(|i| format!("t{i}")).collect();
        let score = git_maestro::model::Score { id: id.clone(), tasks: tasks.clone(), ..template_score.clone() };
        file(&layout::score_file(&id), store::codec::encode("score", &score).expect("encode"));
        for t in &tasks {
            let task = Task {
                id: t.clone(),
                score: id.clone(),
                status: TaskStatus::Ready,
                kind: TaskKind::Implement,
                ..template_task.clone()
            };
            file(&layout::task_file(&id, t), store::codec::encode("task", &task).expect("encode"));
        }
    }
    let mut ids = git_maestro::model::ids::IdGen::with_seed(1);
    for i in 0..decisions {
        let id = ids.next(1_700_000_000_000 + i as u64);
        // As a log fills: claims, approvals and merges, and now and then a design (ten in
        // all, so that (d) measures the log's size, not how many records a prompt ranks).
        let kind = [DecisionKind::Assignment, DecisionKind::Approval, DecisionKind::Merge][i % 3];
        let d = Decision::new(
            id,
            if i % 10_000 == 0 { DecisionKind::Design } else { kind },
            format!("decision {i}"),
            "bench".into(),
            "fill".into(),
            template_score.created,
        );
        file(&layout::decision_file(&d.id), store::codec::encode("decision", &d).expect("encode"));
    }
    let message = "bench: fill";
    let header = format!(
        "commit {}\ncommitter bench <bench@localhost> 1767225600 +0000\ndata {}\n{message}\nfrom {tip}\n",
        layout::STATE_REF,
        message.len()
    );
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(["fast-import", "--quiet", "--force"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("git fast-import");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(header.as_bytes()).expect("write header");
    stdin.write_all(&stream).expect("write files");
    drop(stdin);
    assert!(child.wait().expect("fast-import").success());
}

fn maestro(dir: &Path, args: &[&str]) {
    fixture::maestro(BIN, dir, args);
}

fn repo_with_score(tmp: &Path, name: &str, tasks: usize) -> PathBuf {
    fixture::repo_with_score(BIN, tmp, name, tasks)
}
