//! Upgrades of the state format (DESIGN.md §12.7): a state the previous release wrote
//! (format 1, rebuilt by `fixtures/state-format1.sh`) is read as it is and moved to format 2 by
//! the first write; a binary meeting a newer format than its own refuses it and says to
//! upgrade.

use std::path::Path;

use std::path::PathBuf;

use crate::common::TestEnv;
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// The format-1 state of `fixtures/state-format1.sh`, in `r`: Score `upgrade` with `english`
/// merged and `french` pending on it, as the previous release left it.
fn format_1(env: &TestEnv) -> PathBuf {
    env.fixture("state-format1.sh", &["r"]);
    let dir = env.path("r");
    assert_eq!(root_format(env, &dir), 1);
    dir
}

/// `format` of every record in the state, by path.
fn formats(env: &TestEnv, dir: &Path) -> Vec<(String, i64)> {
    let paths = env.git(dir, &["ls-tree", "-r", "--name-only", "refs/maestro/state"]).success_git();
    paths
        .lines()
        .map(|p| {
            let text = env.git(dir, &["show", &format!("refs/maestro/state:{p}")]).success_git();
            let table: toml::Table = text.parse().unwrap();
            (p.to_owned(), table["format"].as_integer().unwrap())
        })
        .collect()
}

fn rev(env: &TestEnv, dir: &Path, name: &str) -> String {
    env.git(dir, &["rev-parse", "--verify", name]).success_git().trim().to_owned()
}

/// Everything a person looks at reads the state, as it is, and `doctor` passes.
#[track_caller]
fn reads(env: &TestEnv, dir: &Path) {
    let status = env.run(dir, &["status", "--json"]).success().json();
    assert_eq!(status[0]["score"], "upgrade", "{status:#}");
    let tasks = env.run(dir, &["task", "list", "upgrade", "--json"]).success().json();
    assert_eq!(tasks.as_array().unwrap().len(), 2, "{tasks:#}");
    let english = env.run(dir, &["task", "show", "upgrade/english", "--json"]).success().json();
    assert_eq!(english["status"], "merged");
    assert_eq!(english["attempts"][0]["performer"], "scribe");
    assert_eq!(english["merge_commit"].as_str().unwrap().len(), 40);
    env.run(dir, &["task", "show", "upgrade/french"]).success();
    env.run(dir, &["score", "show", "upgrade"]).success();
    env.run(dir, &["decisions"]).success();
    env.run(dir, &["log"]).success();
    env.run(dir, &["worktrees", "list"]).success();
    let doctor = env.run(dir, &["doctor"]);
    assert_eq!(doctor.code, 0, "{}", doctor.render());
    assert!(!doctor.stdout.contains("error"), "{}", doctor.render());
    let fsck = env.git(dir, &["fsck", "--no-progress", "--no-dangling"]);
    assert_eq!(fsck.code, 0, "{}", fsck.render());
}

/// Replace `path` in the state with `edit` of its text, in a new state commit on top (plain
/// git plumbing, as another binary would have written it).
fn rewrite_state_file(env: &TestEnv, dir: &Path, path: &str, edit: impl Fn(&str) -> String) {
    let text = env.git(dir, &["cat-file", "blob", &format!("refs/maestro/state:{path}")]).success_git();
    env.rewrite_state(dir, &[(path, edit(&text))], &[]);
}

/// Every task, session and decision record among `paths` is where the current layout keeps
/// it: tasks and sessions in two levels of 16, decisions in three.
#[track_caller]
fn in_current_places<'p>(paths: impl IntoIterator<Item = &'p str>) {
    for path in paths {
        let depth = match path {
            _ if path.starts_with("decisions/") => 5,
            _ if path.contains("/tasks/") || path.starts_with("sessions/") => 6,
            _ => continue,
        };
        assert_eq!(path.split('/').count(), depth, "{path} is where the current layout keeps it");
    }
}

/// The state's `maestro.toml` format.
fn root_format(env: &TestEnv, dir: &Path) -> i64 {
    let text = env.git(dir, &["show", "refs/maestro/state:maestro.toml"]).success_git();
    let root: toml::Table = text.parse().unwrap();
    root["format"].as_integer().unwrap()
}

/// Every command refuses a state of format 3 with exit 1, naming the format, with the hint
/// to upgrade; nothing is written.
#[track_caller]
fn refuses_format_3(env: &TestEnv, dir: &Path) {
    rewrite_state_file(env, dir, "maestro.toml", |t| {
        t.replacen("format = 2", "format = 3", 1).replacen("format = 1", "format = 3", 1)
    });
    assert_eq!(root_format(env, dir), 3);
    let before = env.state_tip(dir);
    for args in [&["status"][..], &["kb", "add", "--title", "a fact"], &["decide", "-m", "a decision"]] {
        let run = env.run(dir, args).user_error();
        assert!(
            run.stderr.contains("Error: maestro.toml has format 3, newer than this git-maestro understands (2)"),
            "{args:?}:\n{}",
            run.render()
        );
        let hint = run.stderr.lines().find(|l| l.starts_with("Hint: ")).unwrap_or_default();
        assert!(hint.contains("upgrade git-maestro"), "{args:?}:\n{}", run.render());
        let json = env.run(dir, &[args, &["--json"][..]].concat());
        assert_eq!(json.code, 1, "{}", json.render());
        assert_eq!(json.json()["error"]["code"], "future-format", "{}", json.render());
    }
    assert_eq!(env.state_tip(dir), before, "a refused state is never written");
}

#[test]
fn a_state_of_a_newer_format_is_refused_with_the_hint_to_upgrade() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    assert_eq!(root_format(&env, &dir), 2, "a new state starts at format 2");
    refuses_format_3(&env, &dir);
}

#[test]
fn the_format_1_fixture_is_consistent_and_reads_without_a_write() {
    let env = TestEnv::new();
    let dir = format_1(&env);
    assert!(formats(&env, &dir).iter().all(|(_, f)| *f == 1), "{:?}", formats(&env, &dir));
    // The records name the code commits the script made.
    let english = env.run(&dir, &["task", "show", "upgrade/english", "--json"]).success().json();
    let result = rev(&env, &dir, "maestro/upgrade/tasks/english");
    assert_eq!(english["attempts"][0]["commit"], result.as_str());
    rev(&env, &dir, &format!("refs/maestro/keep/{result}"));
    let merge = rev(&env, &dir, "maestro/upgrade/integration");
    assert_eq!(english["merge_commit"], merge.as_str());
    assert_eq!(rev(&env, &dir, &format!("{merge}^2")), result);
    let message = env.git(&dir, &["log", "-1", "--format=%B", &merge]).success_git();
    assert!(message.contains("Maestro-Task: english\n"), "{message}");
    let score = env.run(&dir, &["score", "show", "upgrade", "--json"]).success().json();
    assert_eq!(score["base"], rev(&env, &dir, "main").as_str(), "{score:#}");
    let merged = env.run(&dir, &["decisions", "--kind", "merge", "--json"]).success().json();
    assert_eq!(merged[0]["commit"], merge.as_str());
    let worktrees = env.run(&dir, &["worktrees", "list", "--json"]).success().json();
    assert_eq!(
        (&worktrees[0]["score"], &worktrees[0]["task"]),
        (&"upgrade".into(), &"english".into()),
        "{worktrees:#}"
    );

    let before = env.state_tip(&dir);
    reads(&env, &dir);
    let status = env.run(&dir, &["status", "--json"]).success().json();
    let statuses: Vec<(&str, &str)> = status[0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [("english", "merged"), ("french", "pending")]);
    assert_eq!(env.state_tip(&dir), before, "reading writes nothing");
    assert_eq!(root_format(&env, &dir), 1, "nor upgrades");
}

#[test]
fn the_first_write_moves_a_format_1_state_to_format_2_and_it_still_reads() {
    let env = TestEnv::new();
    let dir = format_1(&env);
    let before = env.state_tip(&dir);
    let added = env.run(&dir, &["kb", "add", "--title", "Greetings live in greet/", "--json"]).success().json();
    assert_eq!(env.git(&dir, &["rev-parse", "refs/maestro/state~1"]).success_git().trim(), before, "one commit");
    assert_eq!(root_format(&env, &dir), 2, "maestro.toml moved to format 2 with the first write");
    let formats = formats(&env, &dir);
    let kb = formats.iter().find(|(p, _)| p.starts_with("knowledge/")).unwrap();
    assert_eq!(kb.1, 2, "a new record is format 2");
    let english = formats.iter().find(|(p, _)| p == "scores/upgrade/tasks/0/5/english.toml").unwrap();
    assert_eq!(english.1, 1, "records the write did not touch stay as they were, moved to their bucket");
    // Every task and session record moved to its bucket, and every decision to its place in
    // three levels, as it was.
    in_current_places(formats.iter().map(|(p, _)| p.as_str()));
    let merged = "decisions/d/5/0/01kdvdnht09j211z83ggfdnqww.toml";
    assert!(formats.iter().any(|(p, f)| p == merged && *f == 1), "{formats:?}");
    assert!(formats.iter().any(|(p, _)| p.starts_with("sessions/")), "the fixture has sessions: {formats:?}");
    reads(&env, &dir);
    let shown = env.run(&dir, &["kb", "show", added["id"].as_str().unwrap()]).success();
    assert!(shown.stdout.contains("Greetings live in greet/"), "{}", shown.render());
    // And a binary that knows only format 2 meets a newer one the same way the previous
    // release meets this one.
    refuses_format_3(&env, &dir);
}

#[test]
fn a_format_1_score_runs_merges_and_prunes_after_the_upgrade() {
    let env = TestEnv::new();
    let dir = format_1(&env);
    let config = format!(
        "[performers.scribe]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nenv = {{ FAKE_WRITE = \"greet/fr.txt=bonjour\" }}\n"
    );
    std::fs::create_dir_all(dir.join(".maestro")).unwrap();
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();

    // french waited for english, merged by the previous release.
    env.run(&dir, &["task", "run", "upgrade/french"]).success();
    assert_eq!(root_format(&env, &dir), 2);
    env.run(&dir, &["approve", "upgrade/french", "-m", "says bonjour"]).success();
    env.run(&dir, &["merge", "upgrade/french"]).success();
    let french = env.run(&dir, &["task", "show", "upgrade/french", "--json"]).success().json();
    assert_eq!(french["status"], "merged", "{french:#}");
    let integration = rev(&env, &dir, "maestro/upgrade/integration");
    assert_eq!(french["merge_commit"], integration.as_str());
    for (file, content) in [("greet/en.txt", "hello\n"), ("greet/fr.txt", "bonjour\n")] {
        let shown = env.git(&dir, &["show", &format!("{integration}:{file}")]).success_git();
        assert_eq!(shown, content, "{file} on the integration branch");
    }
    let merges = env.git(&dir, &["log", "--merges", "--format=%s", &integration]).success_git();
    assert_eq!(merges, "Merge upgrade/french: Greet in French\nMerge upgrade/english: Greet in English\n");

    // The worktree the previous release left, and the new one, both merged: pruned.
    let pruned = env.run(&dir, &["worktrees", "prune", "--json"]).success().json();
    let actions: Vec<(&str, &str)> = pruned
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["task"].as_str().unwrap(), p["action"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, [("english", "removed"), ("french", "removed")]);
    assert!(env.run(&dir, &["worktrees", "list", "--json"]).success().json().as_array().unwrap().is_empty());
    reads(&env, &dir);
    let status = env.run(&dir, &["status", "--json"]).success().json();
    assert!(status[0]["tasks"].as_array().unwrap().iter().all(|t| t["status"] == "merged"), "{status:#}");
}

#[test]
fn a_format_1_score_worked_task_by_task_lands_after_the_upgrade() {
    let env = TestEnv::new();
    let dir = format_1(&env);
    let config = format!(
        "[performers.scribe]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nenv = {{ FAKE_WRITE = \"greet/fr.txt=bonjour\" }}\n"
    );
    std::fs::create_dir_all(dir.join(".maestro")).unwrap();
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.run(&dir, &["task", "run", "upgrade/french"]).success();
    env.run(&dir, &["approve", "upgrade/french"]).success();
    env.run(&dir, &["merge", "upgrade/french"]).success();
    env.run(&dir, &["approve", "upgrade"]).success();
    let landed = env.run(&dir, &["land", "upgrade"]);
    assert_eq!(landed.code, 0, "{}", landed.render());
    assert_eq!(env.git(&dir, &["show", "main:greet/fr.txt"]).success_git(), "bonjour\n");
    reads(&env, &dir);
}

#[test]
fn a_sync_of_two_format_1_states_merges_them_and_moves_every_record_to_its_bucket() {
    let env = TestEnv::new();
    let dir = format_1(&env);
    // Two format-1 histories, as two clones of the previous release wrote them: each changed
    // one task record.
    let base = env.state_tip(&dir);
    rewrite_state_file(&env, &dir, "scores/upgrade/tasks/french.toml", |t| {
        t.replacen("Greet in French", "Greet in French, politely", 1)
    });
    let theirs = env.state_tip(&dir);
    env.git(&dir, &["update-ref", "refs/maestro/state", &base, &theirs]).success_git();
    rewrite_state_file(&env, &dir, "scores/upgrade/tasks/english.toml", |t| {
        t.replacen("Greet in English", "Greet in English, warmly", 1)
    });
    env.git(env.root.path(), &["init", "-q", "--bare", "remote.git"]).success_git();
    let remote = env.path("remote.git");
    env.git(&dir, &["remote", "add", "origin", remote.to_str().unwrap()]).success_git();
    let push = format!("{theirs}:refs/maestro/state");
    env.git(&dir, &["push", "-q", "--no-verify", "origin", &push]).success_git();
    assert_eq!(root_format(&env, &dir), 1);

    env.run(&dir, &["sync"]).success();
    assert_eq!(root_format(&env, &dir), 2, "the merge is the first write: it upgrades");
    let title = |task: &str| {
        env.run(&dir, &["task", "show", &format!("upgrade/{task}"), "--json"]).success().json()["title"].clone()
    };
    assert_eq!(title("french"), "Greet in French, politely", "their change is kept");
    assert_eq!(title("english"), "Greet in English, warmly", "ours is kept");
    in_current_places(formats(&env, &dir).iter().map(|(p, _)| p.as_str()));
    reads(&env, &dir);
}

#[test]
fn a_format_2_clone_merges_a_format_1_remote_and_moves_what_it_brought() {
    let env = TestEnv::new();
    let dir = format_1(&env);
    // The remote, still written by the previous release: it changed a task and decided
    // something, in format 1's places.
    let base = env.state_tip(&dir);
    let french = "scores/upgrade/tasks/french.toml";
    let text = env.git(&dir, &["cat-file", "blob", &format!("refs/maestro/state:{french}")]).success_git();
    let id = "01kdvdnj000000000000000000";
    let decision = format!(
        "format = 1\nid = \"{id}\"\nkind = \"approval\"\nsummary = \"approved remotely\"\nactor = \"tester\"\n\
         score = \"upgrade\"\ntask = \"french\"\nop = \"01kdvdnj00000000000000000p\"\nat = \"2026-01-01T00:00:09Z\"\n"
    );
    let old_place = git_maestro::store::layout::fanned("decisions", id);
    let edits =
        [(french, text.replacen("Greet in French", "Greet in French, politely", 1)), (old_place.as_str(), decision)];
    env.rewrite_state(&dir, &edits, &[]);
    let theirs = env.state_tip(&dir);
    env.git(&dir, &["update-ref", "refs/maestro/state", &base, &theirs]).success_git();
    env.git(env.root.path(), &["init", "-q", "--bare", "remote.git"]).success_git();
    let remote = env.path("remote.git");
    env.git(&dir, &["remote", "add", "origin", remote.to_str().unwrap()]).success_git();
    let push = format!("{theirs}:refs/maestro/state");
    env.git(&dir, &["push", "-q", "--no-verify", "origin", &push]).success_git();
    // Here, the new binary wrote first: every record moved. Then the same task changed here,
    // in another field.
    env.run(&dir, &["kb", "add", "--title", "Greetings live in greet/"]).success();
    assert_eq!(root_format(&env, &dir), 2);
    let moved = git_maestro::store::layout::task_file("upgrade", "french");
    rewrite_state_file(&env, &dir, &moved, |t| t.replacen("greet/fr.txt.", "greet/fr.txt, in UTF-8.", 1));

    env.run(&dir, &["sync"]).success();
    let shown = env.run(&dir, &["task", "show", "upgrade/french", "--json"]).success().json();
    assert_eq!(shown["title"], "Greet in French, politely", "their change is kept");
    assert_eq!(shown["spec"], "Write the French greeting to greet/fr.txt, in UTF-8.", "ours is kept");
    let decided = env.run(&dir, &["decisions", "--json"]).success().json();
    assert!(decided.as_array().unwrap().iter().any(|d| d["summary"] == "approved remotely"), "{decided:#}");
    in_current_places(formats(&env, &dir).iter().map(|(p, _)| p.as_str()));
    assert!(formats(&env, &dir).iter().any(|(p, _)| p == &git_maestro::store::layout::decision_file(id)));
    reads(&env, &dir);
}

#[test]
fn a_format_1_clone_merges_a_format_2_remote_that_changed_the_same_task() {
    let env = TestEnv::new();
    let dir = format_1(&env);
    let base = env.state_tip(&dir);
    // The remote: this version wrote first (every record moved), then changed the title.
    env.run(&dir, &["kb", "add", "--title", "Greetings live in greet/"]).success();
    let moved = git_maestro::store::layout::task_file("upgrade", "french");
    rewrite_state_file(&env, &dir, &moved, |t| t.replacen("Greet in French", "Greet in French, politely", 1));
    let theirs = env.state_tip(&dir);
    env.git(env.root.path(), &["init", "-q", "--bare", "remote.git"]).success_git();
    let remote = env.path("remote.git");
    env.git(&dir, &["remote", "add", "origin", remote.to_str().unwrap()]).success_git();
    env.git(&dir, &["push", "-q", "--no-verify", "origin", &format!("{theirs}:refs/maestro/state")]).success_git();
    // Here, the previous release changed the spec of the same task, in format 1's place.
    env.git(&dir, &["update-ref", "refs/maestro/state", &base, &theirs]).success_git();
    rewrite_state_file(&env, &dir, "scores/upgrade/tasks/french.toml", |t| {
        t.replacen("greet/fr.txt.", "greet/fr.txt, in UTF-8.", 1)
    });
    assert_eq!(root_format(&env, &dir), 1);

    let sync = env.run(&dir, &["sync"]).success();
    assert_eq!(root_format(&env, &dir), 2, "{}", sync.render());
    let shown = env.run(&dir, &["task", "show", "upgrade/french", "--json"]).success().json();
    assert_eq!(shown["title"], "Greet in French, politely", "their change is kept");
    assert_eq!(shown["spec"], "Write the French greeting to greet/fr.txt, in UTF-8.", "ours is kept");
    assert_eq!(shown["sync"]["conflicts"].as_array().map_or(0, Vec::len), 0, "two fields, no conflict");
    in_current_places(formats(&env, &dir).iter().map(|(p, _)| p.as_str()));
    reads(&env, &dir);
}

#[test]
fn decisions_a_build_of_this_version_left_in_two_levels_are_moved_by_the_next_write() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let id = env.run(&dir, &["decide", "-m", "kept where it was written", "--json"]).success().json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Where builds of format 2 put the log before it took three levels.
    let (now, before) =
        (git_maestro::store::layout::decision_file(&id), git_maestro::store::layout::fanned("decisions", &id));
    let text = env.git(&dir, &["cat-file", "blob", &format!("refs/maestro/state:{now}")]).success_git();
    env.rewrite_state(&dir, &[(before.as_str(), text)], &[now.as_str()]);

    env.run(&dir, &["kb", "add", "--title", "a fact"]).success();
    let paths = env.git(&dir, &["ls-tree", "-r", "--name-only", "refs/maestro/state", "decisions"]).success_git();
    assert!(paths.lines().any(|p| p == now), "{paths}");
    assert!(paths.lines().all(|p| p.split('/').count() == 5), "{paths}");
    let decided = env.run(&dir, &["decisions", "--json"]).success().json();
    assert!(decided.as_array().unwrap().iter().any(|d| d["id"] == id.as_str()), "{decided:#}");
    assert_eq!(env.run(&dir, &["doctor"]).code, 0);
}

/// Move every task and session record of the state in `dir` to where builds of format 2 kept
/// them before they took two levels of 16, in a new state commit made with git plumbing.
/// Returns each record's current path with its text.
fn to_one_level(env: &TestEnv, dir: &Path) -> Vec<(String, String)> {
    let mut moved = Vec::new();
    for (path, _) in formats(env, dir) {
        if git_maestro::store::layout::one_level_path(&path).is_some() {
            let text = env.git(dir, &["cat-file", "blob", &format!("refs/maestro/state:{path}")]).success_git();
            moved.push((path, text));
        }
    }
    let old: Vec<String> = moved.iter().filter_map(|(p, _)| git_maestro::store::layout::one_level_path(p)).collect();
    let edits: Vec<(&str, String)> = old.iter().map(String::as_str).zip(moved.iter().map(|(_, t)| t.clone())).collect();
    let removed: Vec<&str> = moved.iter().map(|(path, _)| path.as_str()).collect();
    env.rewrite_state(dir, &edits, &removed);
    moved
}

#[test]
fn tasks_and_sessions_a_build_of_this_version_left_in_one_level_read_and_move_with_the_next_write() {
    let env = TestEnv::new();
    let dir = format_1(&env);
    env.run(&dir, &["kb", "add", "--title", "a fact"]).success();
    let moved = to_one_level(&env, &dir);
    assert!(moved.iter().any(|(p, _)| p.starts_with("sessions/")), "the fixture has sessions: {moved:?}");
    let by_hand = env.state_tip(&dir);

    reads(&env, &dir);
    let status = env.run(&dir, &["status", "--json"]).success().json();
    assert_eq!(status[0]["tasks"].as_array().map(Vec::len), Some(2), "{status:#}");
    assert_eq!(env.state_tip(&dir), by_hand, "reading wrote nothing");

    env.run(&dir, &["kb", "add", "--title", "another fact"]).success();
    in_current_places(formats(&env, &dir).iter().map(|(p, _)| p.as_str()));
    for (path, text) in &moved {
        let kept = env.git(&dir, &["cat-file", "blob", &format!("refs/maestro/state:{path}")]).success_git();
        assert_eq!(&kept, text, "{path} moved back as it was");
    }
    reads(&env, &dir);
}

/// A clone of the format-1 fixture, moved to the current layout by one write, whose state and
/// whose remote's each made one change from there: `theirs` on the remote, `ours` here. The side
/// named by `remote_one_level` then keeps tasks in one level, as a build that did would have
/// written it. Returns the clone after its `sync`, with what `sync` printed.
fn sync_after_changes_apart(
    remote_one_level: bool,
    theirs: &dyn Fn(&TestEnv, &Path),
    ours: &dyn Fn(&TestEnv, &Path),
) -> (TestEnv, PathBuf, crate::common::Run) {
    let env = TestEnv::new();
    let dir = format_1(&env);
    env.run(&dir, &["kb", "add", "--title", "a fact"]).success();
    let base = env.state_tip(&dir);
    let side = |change: &dyn Fn(&TestEnv, &Path), one_level: bool| {
        let tip = env.state_tip(&dir);
        env.git(&dir, &["update-ref", "refs/maestro/state", &base, &tip]).success_git();
        change(&env, &dir);
        if one_level {
            to_one_level(&env, &dir);
        }
        env.state_tip(&dir)
    };
    let pushed = side(theirs, remote_one_level);
    env.git(env.root.path(), &["init", "-q", "--bare", "remote.git"]).success_git();
    let remote = env.path("remote.git");
    env.git(&dir, &["remote", "add", "origin", remote.to_str().unwrap()]).success_git();
    env.git(&dir, &["push", "-q", "--no-verify", "origin", &format!("{pushed}:refs/maestro/state")]).success_git();
    side(ours, !remote_one_level);
    let sync = env.run(&dir, &["sync"]).success();
    (env, dir, sync)
}

#[test]
fn a_sync_merges_a_state_that_keeps_tasks_in_one_level_and_moves_what_it_brought() {
    // The side a build that kept tasks in one level wrote: the remote's, then this clone's.
    for remote_one_level in [true, false] {
        // Each side changed the same task in another field.
        let edit = |from: &'static str, to: &'static str| {
            move |env: &TestEnv, dir: &Path| {
                let path = git_maestro::store::layout::task_file("upgrade", "french");
                rewrite_state_file(env, dir, &path, |t| t.replacen(from, to, 1));
            }
        };
        let (env, dir, _) = sync_after_changes_apart(
            remote_one_level,
            &edit("Greet in French", "Greet in French, politely"),
            &edit("greet/fr.txt.", "greet/fr.txt, in UTF-8."),
        );
        let shown = env.run(&dir, &["task", "show", "upgrade/french", "--json"]).success().json();
        assert_eq!(shown["title"], "Greet in French, politely", "their change is kept");
        assert_eq!(shown["spec"], "Write the French greeting to greet/fr.txt, in UTF-8.", "ours is kept");
        in_current_places(formats(&env, &dir).iter().map(|(p, _)| p.as_str()));
        reads(&env, &dir);
    }
}

#[test]
fn of_two_claims_made_apart_the_remote_one_wins_whichever_side_keeps_tasks_in_one_level() {
    // The side a build that kept tasks in one level wrote: the remote's, then this clone's.
    for remote_one_level in [true, false] {
        let claim = |holder: &'static str| {
            move |env: &TestEnv, dir: &Path| {
                env.run(dir, &["task", "claim", "upgrade/french", "--as", holder]).success();
            }
        };
        let (env, dir, sync) = sync_after_changes_apart(remote_one_level, &claim("alice"), &claim("bob"));
        let shown = env.run(&dir, &["task", "show", "upgrade/french", "--json"]).success().json();
        assert_eq!(shown["claim"]["holder"], "alice", "the claim pushed first wins:\n{}", sync.render());
        // Recorded in the task, said by `sync` and kept as a decision, as for any lost claim.
        let conflict = &shown["sync"]["conflicts"][0];
        assert_eq!(
            (&conflict["field"], conflict["lost"].as_str().map(|l| l.starts_with("bob"))),
            (&"claim".into(), Some(true))
        );
        assert!(sync.stderr.contains("upgrade/french: the claim of bob lost to alice"), "{}", sync.render());
        let decided = env.run(&dir, &["decisions", "--json"]).success().json();
        let lost = "the claim of bob on upgrade/french lost to alice, whose claim was pushed first";
        assert!(decided.as_array().unwrap().iter().any(|d| d["summary"] == lost), "{decided:#}");
        in_current_places(formats(&env, &dir).iter().map(|(p, _)| p.as_str()));
    }
}
