//! `git maestro sync` between clones through a bare remote served by `git daemon` on
//! 127.0.0.1: convergence under random operations, a rewound remote, an offline double claim,
//! and the verifier that `--no-verify` cannot skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use git_maestro::git::Repo;
use git_maestro::memory::handover;
use git_maestro::model::RunSession;
use git_maestro::model::session::Note;
use git_maestro::store::{Clock, Session, Store};

use crate::common::{Run, TestEnv};
use crate::test_cli::{GitRun, write_state_file};

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// `git daemon` serving the temp root, killed on drop.
pub(crate) struct Daemon {
    child: Child,
    pub(crate) url: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn daemon(env: &TestEnv) -> Daemon {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let root = env.root.path().display().to_string();
    // `git-daemon` itself, not `git daemon`: the wrapper runs it as a child, and killing the
    // wrapper on drop would leave the daemon serving.
    let exec_path = env.git(env.root.path(), &["--exec-path"]).success_git();
    let child = env
        .base_command(&format!("{}/git-daemon", exec_path.trim()))
        .args(["--reuseaddr", "--export-all", "--enable=receive-pack", "--listen=127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={root}"))
        .arg(&root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("git daemon");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "git daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Daemon { child, url: format!("git://127.0.0.1:{port}/remote.git") }
}

/// A score `s` of `n` independent tasks, planned in `a`, which is pushed to a bare remote served
/// by `git daemon`; plus clones `b` and `c` that took the state with their first sync.
fn three_clones(env: &TestEnv, n: usize) -> (Daemon, [PathBuf; 3]) {
    let tasks: String = (0..n).map(|i| format!("[[tasks]]\nid = \"t{i}\"\n")).collect();
    clones_of(env, &tasks)
}

/// [`three_clones`] with the Score's `[[tasks]]` given.
pub(crate) fn clones_of(env: &TestEnv, tasks: &str) -> (Daemon, [PathBuf; 3]) {
    let a = env.repo("a");
    env.git(env.root.path(), &["init", "-q", "--bare", "remote.git"]).success_git();
    let d = daemon(env);
    env.git(&a, &["remote", "add", "origin", &d.url]).success_git();
    env.git(&a, &["push", "-q", "origin", "main"]).success_git();
    let score = "format = 1\nid = \"s\"\ntarget = \"main\"\napproval = [\"checks\"]\nplan_approval = \"auto\"\n";
    env.write("s.toml", &format!("{score}{tasks}"));
    env.run(&a, &["plan", "--from", "../s.toml"]).success();
    let first = env.run(&a, &["sync"]).success();
    assert!(first.stdout.starts_with("pushed "), "{}", first.render());
    let clone = |name: &str| {
        env.git(env.root.path(), &["clone", "-q", "-b", "main", &d.url, name]).success_git();
        let dir = env.path(name);
        let run = env.run(&dir, &["sync"]).success();
        assert!(run.stdout.starts_with("took origin's state"), "{}", run.render());
        env.run(&dir, &["init"]).success();
        dir
    };
    let (b, c) = (clone("b"), clone("c"));
    (d, [a, b, c])
}

fn tree(env: &TestEnv, dir: &Path) -> String {
    env.git(dir, &["rev-parse", "refs/maestro/state^{tree}"]).success_git().trim().to_owned()
}

pub(crate) fn sync(env: &TestEnv, dir: &Path) -> Run {
    let run = env.run(dir, &["sync"]);
    assert_eq!(run.code, 0, "sync failed:\n{}", run.render());
    run
}

/// A store in `dir` that writes as `who`.
fn store_as(dir: &Path, who: &str) -> Store {
    let repo = Repo::discover(dir).unwrap();
    Store::new(repo, Session::new(who.into(), "t@example.com".into(), "test".into(), Clock::System, None))
}

/// What an agent's MCP `note` writes, written in-process: the MCP tools are served only by the
/// live run that owns them, and this test needs one session record written on several machines
/// (which no single run does) to check that sync merges the notes.
fn write_note(dir: &Path, who: &str, run: &str, text: &str) {
    let store = store_as(dir, who);
    let path = git_maestro::store::layout::session_file("s", "t0", run);
    let _written = store
        .transact("note", |tx| {
            let mut session = tx.get::<RunSession>(&path)?.unwrap_or_else(|| RunSession::new(run, "s", "t0", who));
            session.notes.push(Note { at: tx.now, text: text.to_owned() });
            tx.put(&path, &session)
        })
        .unwrap();
}

#[test]
fn three_clones_converge_after_random_operations_with_one_offline() {
    let env = TestEnv::new();
    let (_daemon, clones) = three_clones(&env, 6);
    let names = ["alice", "bob", "carol"];
    let mut rng = fastrand::Rng::with_seed(7);
    let mut decisions: Vec<String> = Vec::new();
    let mut entries: Vec<String> = Vec::new();
    // (session file, note text) written through MCP, and (packet, who) acknowledgements.
    let mut notes: Vec<(String, String)> = Vec::new();
    let mut acks: Vec<(String, String)> = Vec::new();
    for round in 0..100 {
        let mut order = [0, 1, 2];
        rng.shuffle(&mut order);
        for &i in &order {
            let (dir, who) = (&clones[i], names[i]);
            let task = format!("s/t{}", rng.usize(..6));
            let run = match rng.u8(..7) {
                5 => {
                    // An agent's working note in one session record all machines append to, so
                    // merges must take the union of the notes.
                    let (run, text) = ("run-shared".to_owned(), format!("{who} notes {round}"));
                    write_note(dir, who, &run, &text);
                    notes.push((format!("sessions/s/f/7/t0/{run}.toml"), text));
                    env.run(dir, &["status"])
                }
                6 => {
                    // Acknowledge a broadcast this machine knows, or send one.
                    let packets = env.run(dir, &["handover", "list", "--json"]).success().json();
                    let known: Vec<String> =
                        packets.as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
                    if known.is_empty() {
                        env.run(dir, &["handover", "broadcast", "s", "-m", &format!("{who} says hello")]).success()
                    } else {
                        let id = known[rng.usize(..known.len())].clone();
                        // What the MCP tool `handover_ack` does, in-process (see `write_note`).
                        handover::answer(&store_as(dir, who), &id, who, None).unwrap();
                        acks.push((id, who.to_owned()));
                        env.run(dir, &["status"])
                    }
                }
                0 => env.run(dir, &["task", "claim", &task, "--as", who]),
                1 => env.run(dir, &["task", "release", &task, "--as", who]),
                2 => {
                    let run = env.run(dir, &["decide", "-m", &format!("{who} decides {round}"), "--json"]).success();
                    decisions.push(run.json()["id"].as_str().unwrap().to_owned());
                    run
                }
                3 => {
                    let title = format!("{who} learned {round}");
                    let run = env.run(dir, &["kb", "add", "--title", &title, "--json"]).success();
                    entries.push(run.json()["id"].as_str().unwrap().to_owned());
                    run
                }
                _ => {
                    let offline = i == 2 && (30..60).contains(&round);
                    if offline { env.run(dir, &["status"]) } else { sync(&env, dir) }
                }
            };
            assert!(run.code == 0 || run.code == 1, "an operation crashed:\n{}", run.render());
        }
    }
    // Sync in turn until every clone is at the remote's state.
    for dir in clones.iter().chain(&clones) {
        sync(&env, dir);
    }
    let trees: Vec<String> = clones.iter().map(|d| tree(&env, d)).collect();
    assert!(trees.iter().all(|t| *t == trees[0]), "the clones differ: {trees:?}");
    let log = env.run(&clones[1], &["decisions", "--json"]).success().json();
    let ids: Vec<&str> = log.as_array().unwrap().iter().filter_map(|d| d["id"].as_str()).collect();
    for id in &decisions {
        assert!(ids.contains(&id.as_str()), "decision {id} was lost");
    }
    for id in &entries {
        env.run(&clones[2], &["kb", "show", id]).success();
    }
    assert!(!notes.is_empty() && !acks.is_empty(), "the random operations should write notes and acks");
    for (path, text) in &notes {
        let file = env.git(&clones[0], &["show", &format!("refs/maestro/state:{path}")]).success_git();
        assert!(file.contains(text.as_str()), "note {text:?} was lost from {path}:\n{file}");
    }
    for (id, who) in &acks {
        let packet = env.run(&clones[1], &["handover", "show", id, "--json"]).success().json();
        let acked: Vec<&str> = packet["acked_by"].as_array().unwrap().iter().filter_map(|a| a.as_str()).collect();
        assert!(acked.contains(&who.as_str()), "the ack of {who} on {id} was lost: {packet:#}");
    }
    // Every kept claim is one claim someone really made, whole: its holder and op come from
    // the same assignment decision, never mixed from two machines' claims.
    let tasks = env.run(&clones[0], &["task", "list", "s", "--json"]).success().json();
    let mut claimed = 0;
    for t in tasks.as_array().unwrap() {
        let Some(claim) = t["claim"].as_object() else { continue };
        claimed += 1;
        assert_eq!(t["status"], "assigned", "a claimed ready task is assigned: {t:#}");
        let (holder, op) = (claim["holder"].as_str().unwrap(), claim["op"].as_str().unwrap());
        let made = log.as_array().unwrap().iter().any(|d| {
            d["op"] == op
                && d["summary"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{holder} claimed s/{}", t["id"].as_str().unwrap()))
        });
        assert!(made, "the claim of {holder} (op {op}) on {} matches no claim made: {t:#}", t["id"]);
    }
    assert!(claimed > 0, "the random operations should leave some tasks claimed");
    for dir in &clones {
        env.run(dir, &["doctor"]).success();
    }
}

#[test]
fn a_rewound_remote_is_quarantined_and_local_state_stays() {
    let env = TestEnv::new();
    let (_daemon, [a, b, _]) = three_clones(&env, 1);
    let old = env.state_tip(&a);
    env.run(&a, &["decide", "-m", "one"]).success();
    sync(&env, &a);
    sync(&env, &b);
    env.run(&b, &["decide", "-m", "local work"]).success();
    let before = env.state_tip(&b);
    // Someone force-pushes an older state, skipping the hook.
    env.git(&a, &["push", "-q", "--no-verify", "--force", "origin", &format!("{old}:refs/maestro/state")])
        .success_git();
    let run = env.run(&b, &["sync", "--json"]);
    assert_eq!(run.code, 1, "{}", run.render());
    let err = &run.json()["error"];
    assert_eq!(err["code"], "remote-rewound", "{err:#}");
    assert_eq!(env.state_tip(&b), before, "the local state is unchanged");
    let quarantined = env.git(&b, &["for-each-ref", "--format=%(objectname)", "refs/maestro/quarantine/origin/"]);
    assert_eq!(quarantined.success_git().trim(), old, "the rewound state is kept in quarantine");
    assert!(err["hints"][0].as_str().unwrap().contains("git update-ref -d refs/maestro/remotes/origin/state"));
}

/// What was seen there is not below the local state here (a person moved it back): the remote
/// still went forward from it, so it is merged, not taken for a rewind.
#[test]
fn a_local_state_moved_back_still_merges_a_remote_that_went_forward() {
    let env = TestEnv::new();
    let (_daemon, [a, b, _]) = three_clones(&env, 1);
    let old = env.state_tip(&b);
    env.run(&a, &["decide", "-m", "one"]).success();
    sync(&env, &a);
    sync(&env, &b);
    env.git(&b, &["update-ref", "refs/maestro/state", &old]).success_git();
    env.run(&b, &["decide", "-m", "local work"]).success();
    env.run(&a, &["decide", "-m", "two"]).success();
    sync(&env, &a);
    let run = env.run(&b, &["sync", "--json"]);
    assert_eq!(run.code, 0, "{}", run.render());
    assert_eq!(run.json()["action"], "merged", "{}", run.render());
    let log = env.run(&b, &["log", "--json"]).success().stdout;
    for summary in ["one", "two", "local work"] {
        assert!(log.contains(&format!("\"decide: {summary}\"")), "{summary} is in the merged log: {log}");
    }
}

#[test]
fn of_two_claims_made_apart_the_one_pushed_first_wins() {
    let env = TestEnv::new();
    let (_daemon, [a, b, _]) = three_clones(&env, 1);
    // a claims first, offline; b claims later and pushes first: b's claim is confirmed.
    env.run(&a, &["task", "claim", "s/t0", "--as", "alice"]).success();
    env.run(&b, &["task", "claim", "s/t0", "--as", "bob"]).success();
    sync(&env, &b);
    let run = sync(&env, &a);
    assert!(run.stderr.contains("s/t0: the claim of alice lost to bob"), "{}", run.render());
    sync(&env, &b);
    for dir in [&a, &b] {
        let t = env.run(dir, &["task", "show", "s/t0", "--json"]).success().json();
        assert_eq!(t["claim"]["holder"], "bob", "{t:#}");
        let d = env.run(dir, &["decisions", "--task", "t0", "--json"]).success().stdout;
        assert!(d.contains("the claim of alice on s/t0 lost to bob, whose claim was pushed first"), "{d}");
    }
    assert_eq!(tree(&env, &a), tree(&env, &b));
}

#[test]
fn a_merge_made_offline_beats_a_pushed_claim_and_stops_its_performer() {
    let env = TestEnv::new();
    let (_daemon, [a, b, _]) = three_clones(&env, 1);
    // a runs and merges the task offline; b's run claims it, pushes, and its performer hangs.
    let worktrees = |name: &str| env.path(&format!("worktrees-{name}"));
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nenv = {{ FAKE_WRITE = \"t0.txt=a\" }}\n"
    );
    std::fs::write(a.join(".maestro/config.toml"), config).unwrap();
    env.git(&a, &["config", "maestro.worktreeRoot", worktrees("a").to_str().unwrap()]).success_git();
    env.run(&a, &["run", "s"]).success();
    let log = env.path("fake.log");
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nsandbox = \"off\"\n\
         env = {{ FAKE_HANG = \"1\", FAKE_LOG = \"{}\" }}\n",
        log.display()
    );
    std::fs::write(b.join(".maestro/config.toml"), config).unwrap();
    env.git(&b, &["config", "maestro.worktreeRoot", worktrees("b").to_str().unwrap()]).success_git();
    let child = env.command(&b).args(["run", "s", "--remote", "origin"]).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("start t0")) {
        assert!(Instant::now() < deadline, "b's performer never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // a syncs: a merge is never taken back, so b's confirmed claim loses to it.
    let run = sync(&env, &a);
    assert!(run.stderr.contains("s/t0: the claim of fake lost to fake"), "{}", run.render());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("on another machine first; its performer here was stopped"), "{stderr}");
    assert!(!std::fs::read_to_string(&log).unwrap().contains("end t0"), "the performer was killed, not finished");
    sync(&env, &a);
    for dir in [&a, &b] {
        let t = env.run(dir, &["task", "show", "s/t0", "--json"]).success().json();
        assert_eq!(t["status"], "merged", "{t:#}");
        let interrupted = t["attempts"].as_array().unwrap().iter().find(|x| x["outcome"] == "interrupted");
        assert!(interrupted.is_some_and(|x| x["reason"].as_str().unwrap().contains("claim lost to fake")), "{t:#}");
    }
    assert_eq!(tree(&env, &a), tree(&env, &b));
}

#[test]
fn sync_refuses_what_the_hook_would_even_when_hooks_are_skipped() {
    let env = TestEnv::new();
    let (_daemon, [a, _, _]) = three_clones(&env, 1);
    let remote_before = env.git(&env.path("remote.git"), &["rev-parse", "refs/maestro/state"]).success_git();
    env.git(&a, &["config", "core.hooksPath", "/dev/null"]).success_git();
    env.run(&a, &["kb", "add", "--title", "Deploy key rotation"]).success();
    let path = env.git(&a, &["ls-tree", "-r", "--name-only", "refs/maestro/state", "knowledge"]).success_git();
    let path = path.trim();
    let text = env.git(&a, &["show", &format!("refs/maestro/state:{path}")]).success_git();
    let leaked = text.replace("body = \"\"", "body = \"use ghp_abcdefghijklmnopqrstuvwxyz0123456789\"");
    let tip = env.state_tip(&a);
    let bad = write_state_file(&env, &a, &tip, path, &leaked);
    env.git(&a, &["update-ref", "refs/maestro/state", &bad, &tip]).success_git();
    let run = env.run(&a, &["sync"]);
    assert_eq!(run.code, 1, "{}", run.render());
    assert!(run.stderr.contains("refusing to push the state to origin"), "{}", run.render());
    assert!(run.stderr.contains("looks like a secret"), "{}", run.render());
    let remote_after = env.git(&env.path("remote.git"), &["rev-parse", "refs/maestro/state"]).success_git();
    assert_eq!(remote_after, remote_before, "nothing reached the remote");
}

#[test]
fn several_refs_in_one_push_are_checked_one_by_one() {
    let env = TestEnv::new();
    let (_daemon, [a, _, _]) = three_clones(&env, 1);
    let tip = env.state_tip(&a);
    let bad = write_state_file(&env, &a, &tip, "scores/x/score.toml", "format = 1\nid = [\n");
    env.git(&a, &["update-ref", "refs/maestro/state", &bad, &tip]).success_git();
    env.git(&a, &["branch", "feature"]).success_git();
    let run = env.git(&a, &["push", "origin", "feature", "refs/maestro/state"]);
    assert_ne!(run.code, 0, "{}", run.render());
    assert!(run.stderr.contains("refs/maestro/state: the state at"), "{}", run.render());
    assert!(!run.stderr.contains("refs/heads/feature:"), "the branch itself is fine: {}", run.render());
    let remote = env.git(&env.path("remote.git"), &["rev-parse", "-q", "--verify", "refs/heads/feature"]);
    assert_ne!(remote.code, 0, "a refused hook stops the whole push");
}
