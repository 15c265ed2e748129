//! The commands, end to end, as a user runs them.

use crate::common::{TestEnv, fixtures_dir};

fn sample_score() -> String {
    fixtures_dir().join("score.toml").display().to_string()
}

#[test]
fn init_creates_the_state_config_and_hook_and_is_idempotent() {
    let env = TestEnv::new();
    env.fixture("repo-basic.sh", &["r"]);
    let dir = env.path("r");
    let first = env.run(&dir, &["init"]).success();
    assert!(
        first.stdout.starts_with("created  refs/maestro/state\ncreated  .maestro/config.toml\ncreated  "),
        "{}",
        first.render()
    );
    let tip = env.state_tip(&dir);
    assert_eq!(tip.len(), 40, "the state ref exists after init");
    assert!(dir.join(".maestro/config.toml").exists());
    std::fs::write(dir.join(".maestro/config.toml"), "# mine\n").unwrap();

    let second = env.run(&dir, &["init"]).success();
    assert!(second.stdout.lines().all(|l| l.starts_with("kept")), "second init keeps everything:\n{}", second.render());
    assert_eq!(env.state_tip(&dir), tip, "a second init writes nothing");
    assert_eq!(
        std::fs::read_to_string(dir.join(".maestro/config.toml")).unwrap(),
        "# mine\n",
        "user files are never overwritten"
    );

    let log = env.git(&dir, &["log", "--format=%s%n%b", "refs/maestro/state"]).success_git();
    assert!(log.contains("maestro: initialize the state"), "{log}");
    assert!(log.contains("Maestro-Op: ") && log.contains("Maestro-Actor: tester"), "trailers are present:\n{log}");
    let reflog = env.git(&dir, &["reflog", "show", "refs/maestro/state"]).success_git();
    assert!(reflog.contains("maestro: initialize the state"), "the reflog records the write:\n{reflog}");
}

#[test]
fn init_chains_to_an_existing_pre_push_hook() {
    let env = TestEnv::new();
    env.fixture("repo-basic.sh", &["r"]);
    let dir = env.path("r");
    let hook = dir.join(".git/hooks/pre-push");
    std::fs::write(&hook, "#!/bin/sh\necho previous-hook-ran \"$1\" >&2\n").unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&hook).status().unwrap();
    let run = env.run(&dir, &["init"]).success();
    assert!(run.stdout.contains("chained"), "{}", run.render());
    let chained = dir.join(".git/hooks/pre-push.maestro-chained");
    assert!(std::fs::read_to_string(&chained).unwrap().contains("previous-hook-ran"));

    // A real push of an unrelated branch runs both: maestro lets it through, the old hook runs.
    env.git(env.root.path(), &["init", "-q", "--bare", "remote.git"]).success_git();
    let push = env.git(&dir, &["push", "-q", "../remote.git", "main"]);
    assert_eq!(push.code, 0, "{}", push.render());
    assert!(
        push.stderr.contains("previous-hook-ran ../remote.git"),
        "the chained hook got the arguments:\n{}",
        push.render()
    );
    env.run(&dir, &["init"]).success();
    assert!(
        std::fs::read_to_string(&chained).unwrap().contains("previous-hook-ran"),
        "re-running init keeps the chain"
    );
}

#[test]
fn plan_show_and_list_a_score() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let plan = env.run(&dir, &["plan", "--from", &sample_score()]).success();
    assert_eq!(plan.stdout, "auth-tokens  draft  5 tasks\n");
    assert!(plan.stderr.contains("Planned score auth-tokens as a draft."), "{}", plan.render());

    let list = env.run(&dir, &["score", "list"]).success();
    assert_eq!(
        list.stdout,
        "SCORE        STATUS  TASKS               TITLE\nauth-tokens  draft   4 pending, 1 ready  Move auth to signed tokens\n"
    );
    let json = env.run(&dir, &["score", "show", "auth-tokens", "--json"]).success().json();
    assert_eq!(json["id"], "auth-tokens");
    assert_eq!(json["status"], "draft");
    assert_eq!(json["target"], "main");
    assert_eq!(json["approval"], serde_json::json!(["checks", "human"]));
    assert_eq!(json["tasks"].as_array().unwrap().len(), 5);
    assert_eq!(json["tasks"][3]["deps"], serde_json::json!(["issue-tokens", "verify-tokens"]));
    assert_eq!(json["tasks"][0]["status"], "ready");

    let show = env.run(&dir, &["task", "show", "auth-tokens/token-tests"]).success();
    assert!(show.stdout.starts_with("Task:       auth-tokens/token-tests (pending)\n"), "{}", show.render());
    assert!(show.stdout.contains("Depends on: issue-tokens, verify-tokens"));
    let tasks = env.run(&dir, &["task", "list", "auth-tokens", "--json"]).success().json();
    let ids: Vec<&str> = tasks.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["token-types", "issue-tokens", "verify-tokens", "token-tests", "docs"],
        "tasks keep the file's order"
    );

    let again = env.run(&dir, &["plan", "--from", &sample_score()]).user_error();
    assert!(again.stderr.contains("a score named \"auth-tokens\" already exists"), "{}", again.render());

    let state =
        env.git(&dir, &["cat-file", "-p", "refs/maestro/state:scores/auth-tokens/tasks/a/b/docs.toml"]).success_git();
    assert!(
        state.starts_with("format = 2\nid = \"docs\"\nscore = \"auth-tokens\"\n"),
        "plain git reads the state:\n{state}"
    );
}

#[test]
fn claim_and_release_follow_the_lifecycle() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.run(&dir, &["plan", "--from", &sample_score()]).success();
    let claimed = env.run(&dir, &["task", "claim", "auth-tokens/token-types", "--as", "alice", "--json"]).success();
    assert_eq!(claimed.json()["status"], "assigned");
    assert_eq!(claimed.json()["claim"]["holder"], "alice");

    let tip = env.state_tip(&dir);
    let same = env.run(&dir, &["task", "claim", "auth-tokens/token-types", "--as", "alice"]).success();
    assert!(same.stderr.contains("Nothing changed."), "{}", same.render());
    assert_eq!(env.state_tip(&dir), tip, "re-claiming writes nothing");

    let lost = env.run(&dir, &["task", "claim", "auth-tokens/token-types", "--as", "bob", "--json"]).user_error();
    assert_eq!(lost.json()["error"]["code"], "already-claimed");
    assert!(lost.stderr.contains("already claimed by alice"), "{}", lost.render());
    assert!(
        lost.stderr.contains("Hint: ask alice to run `git maestro task release auth-tokens/token-types --as alice`")
    );

    env.run(&dir, &["task", "release", "auth-tokens/token-types", "--as", "bob"]).user_error();
    let released = env.run(&dir, &["task", "release", "auth-tokens/token-types", "--as", "alice", "--json"]).success();
    assert_eq!(released.json()["status"], "ready");
    assert!(released.json().get("claim").is_none());

    // A pending task can be reserved; it stays pending.
    let pending = env.run(&dir, &["task", "claim", "auth-tokens/docs", "--as", "bob", "--json"]).success();
    assert_eq!(pending.json()["status"], "pending");

    let decisions = env.run(&dir, &["decisions", "--kind", "assignment", "--json"]).success().json();
    let summaries: Vec<&str> = decisions.as_array().unwrap().iter().map(|d| d["summary"].as_str().unwrap()).collect();
    assert_eq!(
        summaries,
        [
            "alice claimed auth-tokens/token-types",
            "alice released auth-tokens/token-types",
            "bob claimed auth-tokens/docs"
        ]
    );
    let missing = env.run(&dir, &["task", "claim", "auth-tokens/ghost", "--as", "bob"]).user_error();
    assert!(missing.stderr.contains("no task \"ghost\" in score \"auth-tokens\""), "{}", missing.render());
    assert!(missing.stderr.contains("Hint: run `git maestro task list auth-tokens`"));
}

#[test]
fn decisions_are_recorded_filtered_and_redacted() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.run(&dir, &["plan", "--from", &sample_score()]).success();
    let id = env
        .run(&dir, &["decide", "-m", "Use HS256 for now", "--score", "auth-tokens", "--rationale", "one key"])
        .success()
        .stdout;
    assert_eq!(id.trim().len(), 26, "prints the new decision id");
    env.run(&dir, &["decide", "-m", "Keep tokens small", "--kind", "lesson", "--task", "auth-tokens/token-types"])
        .success();
    env.run(&dir, &["decide", "-m", "key is ghp_abcdefghijklmnopqrstuvwxyz0123", "--kind", "design"]).success();

    let all = env.run(&dir, &["decisions", "--json"]).success().json();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 4, "plan + three decisions");
    assert_eq!(all[1]["rationale"], "one key");
    assert_eq!(all[2]["task"], "token-types");
    assert_eq!(all[3]["summary"], "key is [REDACTED]", "secrets never reach the state");
    let lessons = env.run(&dir, &["decisions", "--kind", "lesson", "--json"]).success().json();
    assert_eq!(lessons.as_array().unwrap().len(), 1);
    let by_task = env.run(&dir, &["decisions", "--task", "auth-tokens/token-types", "--json"]).success().json();
    assert_eq!(by_task.as_array().unwrap().len(), 1);
    let table = env.run(&dir, &["decisions", "--score", "auth-tokens"]).success().stdout;
    assert!(table.starts_with("ID "), "{table}");
    assert_eq!(table.lines().count(), 4, "header, plan, design, lesson:\n{table}");
    let count = |args: &[&str]| {
        let mut all = vec!["decisions", "--json"];
        all.extend_from_slice(args);
        env.run(&dir, &all).success().json().as_array().unwrap().len()
    };
    assert_eq!(count(&["--actor", "tester"]), 4);
    assert_eq!(count(&["--actor", "nobody"]), 0);
    let third = all[2]["at"].as_str().unwrap();
    assert_eq!(count(&["--since", third]), 2, "at or after");
    assert_eq!(count(&["--until", third]), 2, "before");
    assert_eq!(count(&["--since", "2026-01-01", "--until", "2026-01-02"]), 4, "dates are midnight UTC");
    assert_eq!(count(&["--since", "2026-01-02"]), 0);
    let bad = env.run(&dir, &["decisions", "--since", "yesterday"]);
    assert_eq!(bad.code, 2, "{}", bad.render());
    assert!(bad.stderr.contains("neither an RFC 3339 time nor a date"), "{}", bad.render());

    let grep = env.git(&dir, &["log", "-p", "refs/maestro/state"]).success_git();
    assert!(!grep.contains("ghp_abcdef"), "the token is in no commit, not even the argv trailer");

    env.run(&dir, &["decide", "-m", "x", "--kind", "vibes"]).user_error();
    env.run(&dir, &["decide", "-m", "x", "--score", "nope"]).user_error();
    env.run(&dir, &["decide", "-m", "x", "--task", "t"]).user_error();
}

/// Issue 13: an approval, rejection, merge, landing, rollback or assignment decision comes
/// only from the command that makes it; `decide` refuses them and writes nothing.
#[test]
fn decide_refuses_the_kinds_only_commands_record() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.run(&dir, &["plan", "--from", &sample_score()]).success();
    let state = |env: &TestEnv| env.git(&dir, &["rev-parse", "refs/maestro/state"]).success_git();
    let before = state(&env);
    for (kind, command) in [
        ("merge", "git maestro merge"),
        ("approval", "git maestro approve"),
        ("rejection", "git maestro reject"),
        ("rollback", "git maestro rollback"),
        ("assignment", "git maestro run"),
        ("landing", "git maestro land"),
    ] {
        let refused = env.run(&dir, &["decide", "-m", "forged", "--kind", kind, "--score", "auth-tokens"]).user_error();
        assert!(
            refused
                .stderr
                .contains(&format!("Error: {kind} decisions are recorded only by the command that makes them")),
            "{}",
            refused.render()
        );
        assert!(refused.stderr.contains(&format!("Hint: `{command}` records it")), "{}", refused.render());
        assert_eq!(refused.stdout, "", "nothing recorded, nothing printed");
    }
    assert_eq!(state(&env), before, "no refused kind wrote anything");
    let unknown = env.run(&dir, &["decide", "-m", "x", "--kind", "vibes"]).user_error();
    assert!(unknown.stderr.contains("Hint: use one of: design, handover, lesson, plan"), "{}", unknown.render());
}

#[test]
fn log_shows_one_line_per_operation_newest_first() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.run(&dir, &["plan", "--from", &sample_score()]).success();
    env.run(&dir, &["task", "claim", "auth-tokens/token-types", "--as", "alice"]).success();
    let log = env.run(&dir, &["log"]).success().stdout;
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines[0].ends_with(" 2026-01-01 00:00:03 tester  alice claims auth-tokens/token-types"), "{log}");
    assert!(lines[2].ends_with(" tester  initialize the state"), "{log}");
    let json = env.run(&dir, &["log", "-n", "1", "--json"]).success().json();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["actor"], "tester");
    assert_eq!(json[0]["op"].as_str().unwrap().len(), 26);
    assert_eq!(json[0]["at"], "2026-01-01T00:00:03Z", "times in JSON are `at`: {json:#}");
}

#[test]
fn json_speaks_one_vocabulary_tasks_times_and_no_sync_clocks() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.run(&dir, &["plan", "--from", &sample_score()]).success();
    env.run(&dir, &["task", "claim", "auth-tokens/token-types", "--as", "alice"]).success();
    let task = env.run(&dir, &["task", "show", "auth-tokens/token-types", "--json"]).success().json();
    assert_eq!(
        (&task["score"], &task["id"], &task["status"]),
        (&"auth-tokens".into(), &"token-types".into(), &"assigned".into())
    );
    assert!(task["claim"].get("clock").is_none(), "the claim's hybrid clock stays inside: {task:#}");
    assert!(task["sync"].get("clock").is_none(), "the record's sync clock stays inside: {task:#}");
    let score = env.run(&dir, &["score", "show", "auth-tokens", "--json"]).success().json();
    assert!(score["at"].is_string() && score.get("created").is_none(), "a Score's creation time is `at`: {score:#}");
    assert!(score["tasks"][0]["sync"].get("clock").is_none(), "nested records too: {score:#}");
    let entry = env.run(&dir, &["kb", "add", "--title", "Tokens are HS256", "--json"]).success().json();
    assert!(entry["at"].is_string() && entry.get("created").is_none(), "{entry:#}");
}

#[test]
fn usage_errors_under_json_are_a_json_error_object() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let run = env.run(&dir, &["task", "show", "--json", "--frob"]);
    assert_eq!(run.code, 2, "usage errors still exit 2:\n{}", run.render());
    let error = &run.json()["error"];
    assert_eq!(error["code"], "usage", "{}", run.render());
    assert_eq!(error["message"], "unexpected argument '--frob' found", "{}", run.render());
    assert!(error["causes"].as_array().unwrap().is_empty());
    let hints: Vec<&str> = error["hints"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    assert!(hints.contains(&"Usage: git maestro task show --json <TASK>"), "{hints:?}");
    assert!(run.stderr.contains("unexpected argument '--frob' found"), "stderr keeps clap's message: {}", run.render());
    let missing = env.run(&dir, &["--json", "task", "show"]);
    assert_eq!(missing.json()["error"]["code"], "usage", "{}", missing.render());
    let plain = env.run(&dir, &["task", "show", "--frob"]);
    assert!(plain.stdout.is_empty(), "without --json stdout stays empty: {}", plain.render());
}

#[test]
fn doctor_reports_health_and_finds_a_broken_state_file() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let ok = env.run(&dir, &["doctor", "--json"]).success().json();
    let checks: Vec<&str> = ok.as_array().unwrap().iter().map(|f| f["check"].as_str().unwrap()).collect();
    assert_eq!(checks, ["git", "refs", "lock", "hook", "state"]);
    assert!(ok.as_array().unwrap().iter().all(|f| f["status"] == "ok"), "{ok:#}");

    // Someone writes a broken file into the state with plain git.
    let tip = env.state_tip(&dir);
    let bad = write_state_file(&env, &dir, &tip, "scores/x/score.toml", "format = 1\nid = [\n");
    env.git(&dir, &["update-ref", "refs/maestro/state", &bad, &tip]).success_git();
    let broken = env.run(&dir, &["doctor"]).user_error();
    assert!(broken.stdout.contains("error state       scores/x/score.toml does not parse"), "{}", broken.render());
    let list = env.run(&dir, &["score", "list"]).user_error();
    assert!(list.stderr.contains("scores/x/score.toml does not parse"), "{}", list.render());
    assert!(list.stderr.contains("Hint: run `git maestro doctor`"));
}

/// Write `content` at `path` on top of the state commit `tip` with git plumbing; return the commit.
pub fn write_state_file(env: &TestEnv, dir: &std::path::Path, tip: &str, path: &str, content: &str) -> String {
    let index = env.path("plumbing-index");
    let git = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = env.base_command("git");
        cmd.current_dir(dir).env("GIT_INDEX_FILE", &index).args(args);
        if stdin.is_some() {
            cmd.stdin(std::process::Stdio::piped());
        }
        cmd.stdout(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "git {args:?} failed");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    git(&["read-tree", tip], None);
    let blob = git(&["hash-object", "-w", "--stdin"], Some(content));
    git(&["update-index", "--add", "--cacheinfo", &format!("100644,{blob},{path}")], None);
    let tree = git(&["write-tree"], None);
    let _ = std::fs::remove_file(&index);
    git(&["commit-tree", &tree, "-p", tip, "-m", "hand-written"], None)
}

#[test]
fn works_from_a_linked_worktree_and_subdirectories() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.git(&dir, &["worktree", "add", "-q", "-b", "side", "../side"]).success_git();
    let side = env.path("side");
    env.run(&side.join("src"), &["plan", "--from", &sample_score()]).success();
    let list = env.run(&dir.join("docs"), &["score", "list", "--json"]).success().json();
    assert_eq!(list[0]["id"], "auth-tokens", "one state shared by every worktree");
}

#[test]
fn outside_a_repository_and_on_reftable_the_error_says_what_to_do() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.path("plain")).unwrap();
    let run = env.run(&env.path("plain"), &["score", "list"]).user_error();
    assert!(run.stderr.contains("not a git repository"), "{}", run.render());
    assert!(run.stderr.contains("Hint: run this inside a git repository, or pass `-C <dir>`"));

    env.git(env.root.path(), &["init", "-q", "--ref-format=reftable", "rt"]).success_git();
    let run = env.run(&env.path("rt"), &["init"]).user_error();
    assert!(run.stderr.contains("reftable repositories are not supported"), "{}", run.render());
    assert!(env.path("rt/.git/refs/maestro").read_dir().is_err(), "nothing was written");

    let uninit = env.path("u");
    env.fixture("repo-basic.sh", &["u"]);
    let run = env.run(&uninit, &["score", "list"]).user_error();
    assert!(run.stderr.contains("Hint: run `git maestro init` first"), "{}", run.render());
}

#[test]
fn exit_codes_are_fixed() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    assert_eq!(env.run(&dir, &["no-such-command"]).code, 2, "usage errors exit 2");
    assert_eq!(env.run(&dir, &["--help"]).code, 0);
    assert_eq!(env.run(&dir, &["score", "show", "nope"]).code, 1);
    // A reader that goes away: exit 3, and no error message.
    env.run(&dir, &["plan", "--from", &sample_score()]).success();
    // The read end is closed before the child starts, so its first write fails (no race).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = env.command(&dir).args(["log"]).stdout(writer).status().unwrap();
    assert_eq!(status.code(), Some(3), "broken pipe exits 3");
}

#[test]
fn help_reads_like_git() {
    let env = TestEnv::new();
    let help = env.run(env.root.path(), &["--help"]).success().stdout;
    assert!(help.starts_with("Run several AI coding agents on one git repository\n"), "{help}");
    assert!(help.contains("Usage: git maestro [OPTIONS] <COMMAND>"), "{help}");
    for cmd in ["init", "plan", "score", "task", "decide", "decisions", "log", "doctor"] {
        assert!(help.contains(&format!("\n  {cmd} ")), "help lists {cmd}:\n{help}");
    }
    assert!(!help.contains("hook"), "the hook entry point is hidden");
    let claim = env.run(env.root.path(), &["task", "claim", "--help"]).success().stdout;
    assert!(claim.starts_with("Claim a task, so that nobody else works on it\n"), "{claim}");
    let global = claim.split("Global options:").nth(1).unwrap_or_else(|| panic!("a Global options heading:\n{claim}"));
    for option in ["-C <DIR>", "--json", "--quiet", "--verbose", "--color <WHEN>"] {
        assert!(global.contains(option), "{option} is under Global options:\n{claim}");
        assert!(!claim.split("Global options:").next().unwrap().contains(option), "and only there:\n{claim}");
    }
    let help = |args: &[&str]| env.run(env.root.path(), args).success().stdout;
    assert!(help(&["kb", "accept", "--help"]).starts_with("Accept a proposed entry"));
    assert!(help(&["kb", "retire", "--help"]).starts_with("Retire an entry"));
    for cmd in ["post", "broadcast"] {
        let text = help(&["handover", cmd, "-h"]);
        let line = text.lines().find(|l| l.contains("--message <MESSAGE>")).unwrap();
        assert!(line.trim().len() > "-m, --message <MESSAGE>".len(), "handover {cmd} -m is described:\n{text}");
    }
}

pub trait GitRun {
    fn success_git(self) -> String;
}

impl GitRun for crate::common::Run {
    #[track_caller]
    fn success_git(self) -> String {
        assert_eq!(self.code, 0, "git failed:\n{}", self.render());
        self.stdout
    }
}

#[test]
fn colour_follows_git_rules_on_status_words_only() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.run(&dir, &["plan", "--from", &sample_score()]).success();
    let run = |extra: &[(&str, &str)], args: &[&str]| -> String {
        let mut cmd = env.command(&dir);
        cmd.args(["task", "list", "auth-tokens"]).args(args);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let run: crate::common::Run = cmd.output().unwrap().into();
        assert_eq!(run.code, 0, "{}", run.render());
        run.stdout
    };
    let always = run(&[], &["--color=always"]);
    assert!(always.contains("\u{1b}[36mready\u{1b}[m"), "--color=always colours status words:\n{always:?}");
    let escapes = always.matches('\u{1b}').count();
    let statuses = always.lines().skip(1).filter(|l| l.contains("ready")).count();
    assert_eq!(escapes, statuses * 2, "only the status words are coloured:\n{always:?}");
    assert!(always.lines().next().unwrap().contains("TASK  "), "{always:?}");

    let plain = |out: &str, why: &str| assert!(!out.contains('\u{1b}'), "{why}:\n{out:?}");
    plain(&run(&[], &[]), "auto: stdout is not a terminal here");
    plain(&run(&[("NO_COLOR", "1"), ("GIT_CONFIG_PARAMETERS", "'color.ui'='always'")], &[]), "NO_COLOR wins");
    plain(&run(&[("GIT_CONFIG_PARAMETERS", "'color.ui'='never'")], &[]), "git -c color.ui=never");
    plain(&run(&[], &["--color=never"]), "--color=never");
    plain(&run(&[], &["--color=always", "--json"]), "JSON is never coloured");
    let from_git = run(&[("GIT_CONFIG_PARAMETERS", "'color.ui'='always'")], &[]);
    assert!(from_git.contains('\u{1b}'), "git -c color.ui=always colours:\n{from_git:?}");
    env.git(&dir, &["config", "color.ui", "always"]).success_git();
    assert!(run(&[], &[]).contains('\u{1b}'), "color.ui from the repository's config");
    plain(&run(&[("NO_COLOR", "1")], &[]), "NO_COLOR over color.ui");
    assert!(run(&[("NO_COLOR", "1")], &["--color=always"]).contains('\u{1b}'), "the flag over NO_COLOR");
}
