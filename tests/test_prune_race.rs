//! `worktrees prune` racing `task run`s (DESIGN.md §12.3): prune must never take a worktree
//! from a live run, never remove a result waiting for review, and never lose work.
//!
//! Each round plans a Score of 8 independent tasks and starts 8 `task run`s and 1–3
//! `worktrees prune`s at once; the performer writes its file and then sleeps a little, so
//! prunes meet runs in every phase. The round's results are then rejected, so the next round's
//! prunes archive and remove those worktrees while new runs start. `MAESTRO_PRUNE_ROUNDS` runs
//! more rounds than the 20 of CI.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use git_maestro::git::{ObjectId, Repo};
use git_maestro::model::TaskStatus;
use git_maestro::store::{self, Clock, Session, Store};

use crate::common::TestEnv;
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");
const TASKS: usize = 8;

fn store(dir: &Path) -> Store {
    let session = Session::new("race".into(), "race@localhost".into(), String::new(), Clock::System, Some(1));
    Store::new(Repo::discover(dir).expect("repository"), session)
}

/// What a finished process said.
struct Done {
    what: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Done {
    fn render(&self) -> String {
        format!("{} [exit {:?}]\n--- stdout\n{}--- stderr\n{}", self.what, self.code, self.stdout, self.stderr)
    }
}

fn wait(what: String, child: Child) -> Done {
    let out = child.wait_with_output().expect("wait");
    Done {
        what,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The file task `task` of round `round` writes, and what it holds.
fn expected(round: usize, task: &str) -> (String, String) {
    (format!("{task}.txt"), format!("{task} of round {round}\n"))
}

/// The content of `path` in the tree of `commit`.
fn file_at(repo: &Repo, commit: ObjectId, path: &str) -> Option<String> {
    let tree = repo.commit_tree(commit).ok()?;
    let (_, data) = repo.read_blob(tree, path, 1 << 20).ok()??;
    Some(String::from_utf8_lossy(&data).into_owned())
}

#[test]
fn prune_racing_task_runs_keeps_every_result_and_leaves_no_task_running() {
    let rounds: usize = std::env::var("MAESTRO_PRUNE_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(20);
    let seed: u64 = std::env::var("MAESTRO_PRUNE_SEED").ok().and_then(|n| n.parse().ok()).unwrap_or(7);
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    // Every round's tasks, with the branch tip each submitted result had: none may be lost later.
    let mut results: BTreeMap<String, (usize, ObjectId)> = BTreeMap::new();
    let mut problems = Vec::new();
    for round in 0..rounds {
        let score = format!("p{round}");
        let tasks: String = (0..TASKS).map(|i| format!("[[tasks]]\nid = \"t{i}\"\n")).collect();
        env.write(
            "p.toml",
            &format!("format = 1\nid = \"{score}\"\ntarget = \"main\"\napproval = [\"human\"]\n{tasks}"),
        );
        env.run(&dir, &["plan", "--from", "../p.toml"]).success();
        env.run(&dir, &["approve", &score]).success();
        let sleep = rng.u32(20..150);
        let config = format!(
            "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nmax_parallel = 8\n\
             env = {{ FAKE_WRITE = \"{{task}}.txt={{task}} of round {round}\", FAKE_SLEEP_MS = \"{sleep}\" }}\n"
        );
        std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();

        // 8 runs and 1-3 prunes, the prunes a little apart so they meet the runs in different
        // phases.
        let spawn = |args: &[&str]| env.command(&dir).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
        let mut children: Vec<(String, Child)> = Vec::new();
        let prunes = rng.usize(1..=3);
        let mut delays: Vec<u64> = (0..prunes).map(|_| rng.u64(0..=2 * u64::from(sleep) + 100)).collect();
        delays.sort_unstable();
        for i in 0..TASKS {
            let task = format!("{score}/t{i}");
            children.push((format!("task run {task}"), spawn(&["task", "run", &task]).unwrap()));
        }
        let spawned = Instant::now();
        for (k, delay) in delays.iter().enumerate() {
            std::thread::sleep(Duration::from_millis(*delay).saturating_sub(spawned.elapsed()));
            children
                .push((format!("worktrees prune #{k} (after {delay} ms)"), spawn(&["worktrees", "prune"]).unwrap()));
        }
        let done: Vec<Done> = children.into_iter().map(|(what, child)| wait(what, child)).collect();

        let mut bad = Vec::new();
        for d in &done {
            let allowed: &[i32] = if d.what.starts_with("task run") { &[0, 1] } else { &[0] };
            if !d.code.is_some_and(|c| allowed.contains(&c)) {
                bad.push(format!("exit codes of {} are {allowed:?}:\n{}", d.what, d.render()));
            }
        }
        let st = store(&dir);
        let repo = &st.repo;
        let (_, records) = store::score_with_tasks(&st.view().unwrap(), &score).unwrap();
        for t in &records {
            let address = format!("{score}/{}", t.id);
            let run = done.iter().find(|d| d.what == format!("task run {address}")).unwrap();
            match t.status {
                TaskStatus::Submitted => {}
                TaskStatus::Failed => {
                    let reason = t.attempts.last().and_then(|a| a.reason.as_deref()).unwrap_or_default();
                    if reason.is_empty() {
                        bad.push(format!("{address} failed without a reason:\n{}", run.render()));
                    }
                    // Reported, not fatal: a run may lose a race for its worktree, with a reason.
                    eprintln!("round {round}: {address} failed: {reason}\n{}", run.stderr.trim_end());
                    continue;
                }
                other => {
                    bad.push(format!("{address} is {other}, not submitted or failed:\n{}", run.render()));
                    continue;
                }
            }
            let branch = format!("refs/heads/maestro/{score}/tasks/{}", t.id);
            match repo.worktree_with_branch(&branch).unwrap() {
                Some(path) if path.exists() => {}
                _ => bad.push(format!("{address} is submitted but prune removed its worktree")),
            }
            let (file, content) = expected(round, &t.id);
            match repo.read_ref(&branch).unwrap() {
                Some(tip) if file_at(repo, tip, &file).as_deref() == Some(content.as_str()) => {
                    results.insert(address, (round, tip));
                }
                tip => bad.push(format!("{address} is submitted but its branch ({tip:?}) lacks {file} = {content:?}")),
            }
        }
        let doctor = env.run(&dir, &["doctor"]);
        if doctor.code != 0 {
            bad.push(format!("doctor:\n{}", doctor.render()));
        }
        // No result of an earlier round was lost: its branch, or a keep ref, still has it.
        for (address, (r, tip)) in &results {
            let (score, task) = address.split_once('/').unwrap();
            let (file, content) = expected(*r, task);
            let branch = repo.read_ref(&format!("refs/heads/maestro/{score}/tasks/{task}")).unwrap();
            let kept = repo.read_ref(&format!("refs/maestro/keep/{tip}")).unwrap().is_some()
                || branch.is_some_and(|b| repo.is_ancestor(*tip, b).unwrap_or(false));
            if !kept || file_at(repo, *tip, &file).as_deref() != Some(content.as_str()) {
                bad.push(format!("the result {tip} of {address} (round {r}) was lost"));
            }
        }
        if !bad.is_empty() {
            problems.push(format!(
                "round {round} (seed {seed}, performer sleeps {sleep} ms, prunes at {delays:?} ms):\n{}",
                bad.join("\n")
            ));
            break;
        }
        // Reject the results, so the next round's prunes archive and remove these worktrees.
        for t in records.iter().filter(|t| t.status == TaskStatus::Submitted) {
            env.run(&dir, &["reject", &format!("{score}/{}", t.id), "-m", "next round"]).success();
        }
    }
    eprintln!("{rounds} prune race rounds in {:.1}s", started.elapsed().as_secs_f64());
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
