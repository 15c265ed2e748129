//! The real agent CLIs, offline, against the scripted model server on 127.0.0.1.
//!
//! The pinned CLIs come from `npm ci --prefix fixtures/agents`. When one is missing the test
//! fails if `MAESTRO_E2E_REQUIRED=1` (as in CI), and otherwise says loudly that it skipped.

use std::path::{Path, PathBuf};

use crate::common::model_server::{ModelServer, Scenario};
use crate::common::{Run, TestEnv, fixtures_dir};
use crate::test_cli::GitRun;

/// The CLI `name` from fixtures/agents, or `None` (after saying so) when it is not installed
/// and not required.
pub(crate) fn agent(name: &str) -> Option<PathBuf> {
    let bin = fixtures_dir().join("agents/node_modules/.bin").join(name);
    if bin.exists() {
        return Some(bin);
    }
    let required = std::env::var("MAESTRO_E2E_REQUIRED").is_ok_and(|v| v == "1");
    assert!(!required, "{name} is not installed and MAESTRO_E2E_REQUIRED=1: run `npm ci --prefix fixtures/agents`");
    eprintln!("SKIPPED: {name} is not installed; run `npm ci --prefix fixtures/agents` to run this test");
    None
}

pub(crate) struct Setup {
    pub(crate) env: TestEnv,
    pub(crate) dir: PathBuf,
    pub(crate) server: ModelServer,
}

pub(crate) fn setup(adapter: &str, bin: &Path, scenario: &str, timeout: &str, extra: &str) -> Setup {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.run(&dir, &["plan", "--from", &fixtures_dir().join("score.toml").display().to_string()]).success();
    env.run(&dir, &["approve", "auth-tokens"]).success();
    let server = ModelServer::start(Scenario::load(scenario), &env.path("requests.jsonl"));
    let config = format!(
        "[performers.agent]\nadapter = \"{adapter}\"\ncommand = \"{}\"\nmodel = \"scripted-model\"\nbase_url = \"{}\"\n\
         api_key_env = \"MAESTRO_TEST_KEY\"\nisolate_home = true\nsandbox = \"required\"\ntimeout = \"{timeout}\"\n{extra}\n",
        bin.display(),
        server.base_url(),
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    Setup { env, dir, server }
}

fn run_task(s: &Setup) -> Run {
    s.env
        .command(&s.dir)
        .env("MAESTRO_TEST_KEY", KEY)
        .args(["task", "run", "auth-tokens/token-types", "--performer", "agent"])
        .output()
        .unwrap()
        .into()
}

pub(crate) fn task(s: &Setup) -> serde_json::Value {
    s.env.run(&s.dir, &["task", "show", "auth-tokens/token-types", "--json"]).success().json()
}

/// The checks shared by every adapter's happy path.
fn assert_submitted_with_file(s: &Setup, run: &Run) {
    assert_eq!(run.code, 0, "{}", run.render());
    let task = task(s);
    assert_eq!(task["status"], "submitted", "{task:#}");
    let attempt = &task["attempts"][0];
    let commit = attempt["commit"].as_str().expect("a result commit");
    let file = s.env.git(&s.dir, &["show", &format!("{commit}:src/auth/token.rs")]).success_git();
    assert_eq!(file, "pub struct Token;\n", "the agent's shell tool wrote the file");
    assert!(attempt["session"].as_str().is_some_and(|id| !id.is_empty()), "the session id is recorded: {attempt:#}");
    let version = attempt["adapter_version"].as_str().unwrap_or_default();
    assert!(["2.1.330", "0.169.0", "0.61.0"].contains(&version), "the pinned CLI version is recorded: {attempt:#}");
    assert!(attempt["input_tokens"].as_u64().is_some_and(|n| n > 0), "token usage is recorded: {attempt:#}");
    assert!(attempt["output_tokens"].as_u64().is_some_and(|n| n > 0), "{attempt:#}");
    let requests = s.server.requests();
    assert!(
        requests.iter().any(|r| r["body"].to_string().contains("Add TokenClaims (subject, issued-at, expiry)")),
        "the task spec reached the model in the prompt"
    );
}

#[test]
fn claude_writes_a_file_and_the_task_is_submitted() {
    let Some(bin) = agent("claude") else { return };
    let s = setup("claude", &bin, "write-only", "3m", "env = { CLAUDE_CODE_MAX_RETRIES = \"0\" }");
    let home = files_under(&s.env.path("home"));
    let run = run_task(&s);
    assert_submitted_with_file(&s, &run);
    assert_contained(&s, &home);
}

#[test]
fn codex_writes_a_file_and_the_task_is_submitted() {
    let Some(bin) = agent("codex") else { return };
    let s = setup("codex", &bin, "write-only", "3m", "");
    let home = files_under(&s.env.path("home"));
    let run = run_task(&s);
    assert_submitted_with_file(&s, &run);
    assert_contained(&s, &home);
}

#[test]
fn gemini_writes_a_file_and_the_task_is_submitted() {
    let Some(bin) = agent("gemini") else { return };
    let s = setup("gemini", &bin, "write-only", "3m", "");
    let home = files_under(&s.env.path("home"));
    let run = run_task(&s);
    assert_submitted_with_file(&s, &run);
    assert_contained(&s, &home);
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> std::collections::BTreeSet<PathBuf> {
    let mut out = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(files_under(&path));
        } else {
            out.insert(path);
        }
    }
    out
}

/// After a run with an isolated home under `sandbox = "required"`: no file appeared in the
/// (hermetic) HOME, which held `home` before, and the API key is kept nowhere: not in the
/// isolated agent homes, the transcripts or the worktree.
fn assert_contained(s: &Setup, home: &std::collections::BTreeSet<PathBuf>) {
    let after = files_under(&s.env.path("home"));
    // git-maestro's own machine-wide port registry (written by maestro, never by the agent).
    let ports = s.env.path("home/.local/share/git-maestro");
    let new: Vec<&PathBuf> = after.difference(home).filter(|p| !p.starts_with(&ports)).collect();
    assert!(new.is_empty(), "the run wrote into HOME: {new:#?}");
    let kept: Vec<PathBuf> = [s.dir.join(".git/maestro"), s.env.path("worktrees")]
        .iter()
        .flat_map(|d| files_under(d))
        .filter(|p| std::fs::read(p).is_ok_and(|b| b.windows(KEY.len()).any(|w| w == KEY.as_bytes())))
        .collect();
    assert!(kept.is_empty(), "the API key was kept in {kept:#?}");
}

pub(crate) const KEY: &str = "sk-scripted-test-key";

/// Extra config per adapter that makes a failing endpoint fail fast instead of retrying for
/// minutes (real users keep the CLIs' own retry policies).
fn fail_fast(adapter: &str) -> &'static str {
    match adapter {
        "claude" => "env = { CLAUDE_CODE_MAX_RETRIES = \"0\" }",
        "codex" => {
            "extra_args = [\"-c\", \"model_providers.maestro.request_max_retries=0\", \"-c\", \"model_providers.maestro.stream_max_retries=0\"]"
        }
        _ => "",
    }
}

/// Processes still alive from the run `run_id` of the test whose temp root is `root` (every
/// child inherits `MAESTRO_RUN` and `MAESTRO_WORKTREE`; run ids are seeded, so another test
/// process on the machine can have the same one).
pub(crate) fn survivors(run_id: &str, root: &Path) -> Vec<String> {
    let needle = format!("MAESTRO_RUN={run_id}");
    let worktree = format!("MAESTRO_WORKTREE={}", root.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("environ")).is_ok_and(|env| {
                let mut vars = env.split(|b| *b == 0);
                vars.clone().any(|v| v == needle.as_bytes()) && vars.any(|v| v.starts_with(worktree.as_bytes()))
            })
        })
        .filter(|e| !std::fs::read_to_string(e.path().join("stat")).unwrap_or_default().contains(") Z "))
        .map(|e| std::fs::read_to_string(e.path().join("cmdline")).unwrap_or_default().replace('\0', " "))
        .collect()
}

/// The performer timeout of the hang tests: longer than an agent CLI takes to start and reach
/// the endpoint on a loaded 2-core machine (Gemini's cold start took over 5 s there), so the
/// test sees the request before the timeout kills the CLI.
const HANG_TIMEOUT: &str = "20s";

fn fails_cleanly(adapter: &str, scenario: &str, timeout: &str) {
    let Some(bin) = agent(adapter) else { return };
    let s = setup(adapter, &bin, scenario, timeout, fail_fast(adapter));
    let run = run_task(&s);
    assert_eq!(run.code, 1, "{}", run.render());
    let task = task(&s);
    assert_eq!(task["status"], "failed", "{task:#}");
    let attempt = &task["attempts"][0];
    let reason = attempt["reason"].as_str().unwrap_or_default();
    assert!(!reason.is_empty(), "the reason is recorded: {attempt:#}");
    if scenario == "hang" {
        assert_eq!(attempt["exit"], "timeout", "{attempt:#}");
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let left = survivors(attempt["run"].as_str().unwrap(), &s.env.path(""));
    assert!(left.is_empty(), "processes of the run survived: {left:#?}");
    assert!(!s.server.requests().is_empty(), "the CLI did reach the scripted endpoint");
}

#[test]
fn claude_fails_on_500() {
    fails_cleanly("claude", "error-500", "2m");
}

#[test]
fn claude_fails_on_401() {
    fails_cleanly("claude", "error-401", "2m");
}

#[test]
fn claude_is_killed_when_the_endpoint_hangs() {
    fails_cleanly("claude", "hang", HANG_TIMEOUT);
}

#[test]
fn codex_fails_on_500() {
    fails_cleanly("codex", "error-500", "2m");
}

#[test]
fn codex_fails_on_401() {
    fails_cleanly("codex", "error-401", "2m");
}

#[test]
fn codex_is_killed_when_the_endpoint_hangs() {
    fails_cleanly("codex", "hang", HANG_TIMEOUT);
}

#[test]
fn gemini_fails_on_500() {
    fails_cleanly("gemini", "error-500", "2m");
}

#[test]
fn gemini_fails_on_401() {
    fails_cleanly("gemini", "error-401", "2m");
}

#[test]
fn gemini_is_killed_when_the_endpoint_hangs() {
    fails_cleanly("gemini", "hang", HANG_TIMEOUT);
}

/// The agent writes a file and calls maestro's MCP `note` tool; the note reaches the process
/// that owns the run through the relay and lands in the run's session record.
fn reports_through_mcp(adapter: &str) {
    let Some(bin) = agent(adapter) else { return };
    let s = setup(adapter, &bin, "write-and-report", "3m", fail_fast(adapter));
    let home = files_under(&s.env.path("home"));
    let run = run_task(&s);
    assert_submitted_with_file(&s, &run);
    // The MCP server the CLI started (and its logs) stayed inside the sandbox and the isolated home.
    assert_contained(&s, &home);
    let run_id = task(&s)["attempts"][0]["run"].as_str().unwrap().to_owned();
    let path = format!("refs/maestro/state:sessions/auth-tokens/8/6/token-types/{run_id}.toml");
    let session = s.env.git(&s.dir, &["cat-file", "-p", &path]);
    assert_eq!(
        session.code,
        0,
        "no session record; requests: {:#?}",
        s.server
            .requests()
            .iter()
            .map(|r| r["body"].to_string().chars().take(300).collect::<String>())
            .collect::<Vec<_>>()
    );
    assert!(session.stdout.contains("text = \"token types are in place\""), "{}", session.stdout);
    assert!(session.stdout.contains("performer = \"agent\""), "{}", session.stdout);
}

#[test]
fn claude_reports_through_mcp() {
    reports_through_mcp("claude");
}

#[test]
fn codex_reports_through_mcp() {
    reports_through_mcp("codex");
}

#[test]
fn gemini_reports_through_mcp() {
    reports_through_mcp("gemini");
}

/// A result by fake `author` (it writes src/auth/token.rs) reviewed by the real CLI `adapter`
/// playing `scenario`; returns the review's run and its decision.
fn review_by(adapter: &str, scenario: &str) -> Option<(Setup, Run, serde_json::Value)> {
    let bin = agent(adapter)?;
    let fake = env!("CARGO_BIN_EXE_fake-performer");
    let extra = format!(
        "{}\n\n[performers.author]\nadapter = \"command\"\ncommand = \"{fake}\"\n\
         env = {{ FAKE_WRITE = \"src/auth/token.rs=pub struct Token;\" }}\n",
        fail_fast(adapter)
    );
    let s = setup(adapter, &bin, scenario, "3m", &extra);
    let score = "format = 1\nid = \"rev\"\ntarget = \"main\"\napproval = [\"agent:agent\"]\n[[tasks]]\n\
                 id = \"token-types\"\nspec = \"Add TokenClaims and a Token newtype in src/auth/token.rs.\"\n\
                 acceptance = [\"expiry is checked in one place\"]\n";
    s.env.write("rev.toml", score);
    s.env.run(&s.dir, &["plan", "--from", "../rev.toml"]).success();
    s.env.run(&s.dir, &["approve", "rev"]).success();
    s.env.run(&s.dir, &["task", "run", "rev/token-types", "--performer", "author"]).success();
    let run: Run = s
        .env
        .command(&s.dir)
        .env("MAESTRO_TEST_KEY", KEY)
        .args(["task", "review", "rev/token-types"])
        .output()
        .unwrap()
        .into();
    let decisions = s.env.run(&s.dir, &["decisions", "--task", "rev/token-types", "--json"]).success().json();
    let review = decisions.as_array().unwrap().iter().find(|d| d["actor"] == "agent").cloned();
    let review = review.unwrap_or_else(|| panic!("no review decision: {}\n{decisions:#}", run.render()));
    let requests = s.server.requests();
    assert!(
        requests.iter().any(|r| r["body"].to_string().contains("+pub struct Token;")),
        "the diff reached the model"
    );
    assert!(requests.iter().any(|r| r["body"].to_string().contains("expiry is checked in one place")));
    Some((s, run, review))
}

fn assert_review_approves(adapter: &str) {
    let Some((s, run, review)) = review_by(adapter, "review-approve") else { return };
    assert_eq!(run.code, 0, "{}", run.render());
    assert_eq!(review["kind"], "approval", "{review:#}");
    assert_eq!(review["review"]["reasons"], serde_json::json!(["Token is defined and public in src/auth/token.rs"]));
    assert_eq!(review["review"]["cross_vendor"], true, "{review:#}");
    let task = s.env.run(&s.dir, &["task", "show", "rev/token-types", "--json"]).success().json();
    assert_eq!(task["status"], "approved");
}

fn assert_review_rejects(adapter: &str) {
    let Some((s, run, review)) = review_by(adapter, "review-reject") else { return };
    assert_eq!(run.code, 1, "{}", run.render());
    assert!(run.stderr.contains("was rejected: TokenClaims is missing; nothing checks expiry"), "{}", run.render());
    assert_eq!(review["kind"], "rejection", "{review:#}");
    assert_eq!(review["review"]["reasons"], serde_json::json!(["TokenClaims is missing", "nothing checks expiry"]));
    let task = s.env.run(&s.dir, &["task", "show", "rev/token-types", "--json"]).success().json();
    assert_eq!(task["status"], "rejected");
}

#[test]
fn claude_reviews_and_approves() {
    assert_review_approves("claude");
}

#[test]
fn codex_reviews_and_rejects_with_reasons() {
    assert_review_rejects("codex");
}

#[test]
fn gemini_reviews_and_approves() {
    assert_review_approves("gemini");
}

#[test]
fn claude_reviews_and_rejects_with_reasons() {
    assert_review_rejects("claude");
}

/// The whole pipeline across the three CLIs: Claude plans four tasks; the plan is approved;
/// `run` gives them to Claude, Codex and Gemini as the plan says; checks run; a Claude reviewer
/// rejects Gemini's first result, which is reworked and approved; everything merges and lands.
#[test]
fn a_planned_score_runs_across_the_three_clis_with_a_rejection_reworked() {
    let (Some(claude), Some(codex), Some(gemini)) = (agent("claude"), agent("codex"), agent("gemini")) else {
        return;
    };
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let server =
        |name: &str, scenario: &str| ModelServer::start(Scenario::load(scenario), &env.path(&format!("{name}.jsonl")));
    let servers = [
        ("planner", "claude", &claude, server("planner", "plan-four")),
        ("claude", "claude", &claude, server("claude", "write-task-file")),
        ("codex", "codex", &codex, server("codex", "write-task-file")),
        ("gemini", "gemini", &gemini, server("gemini", "write-task-file")),
        ("reviewer", "claude", &claude, server("reviewer", "review-until-fixed")),
    ];
    let mut config = String::from("[checks.test]\nrun = \"test -s $(basename $PWD).txt\"\n\n");
    for (name, adapter, bin, server) in &servers {
        config.push_str(&format!(
            "[performers.{name}]\nadapter = \"{adapter}\"\ncommand = \"{}\"\nmodel = \"scripted-model\"\n\
             base_url = \"{}\"\napi_key_env = \"MAESTRO_TEST_KEY\"\nisolate_home = true\nsandbox = \"required\"\ntimeout = \"3m\"\n\
             max_parallel = 2\n{}\n\n",
            bin.display(),
            server.base_url(),
            fail_fast(adapter)
        ));
    }
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    let maestro =
        |args: &[&str]| -> Run { env.command(&dir).env("MAESTRO_TEST_KEY", KEY).args(args).output().unwrap().into() };

    let planned = maestro(&["plan", "Write four files, t1 first", "--with", "planner"]);
    assert_eq!(planned.code, 0, "{}", planned.render());
    assert_eq!(planned.stdout, "four  draft  4 tasks\n");
    assert_eq!(maestro(&["approve", "four"]).code, 0);
    let run = maestro(&["run", "four", "--max-parallel", "3", "--json"]);
    assert_eq!(run.code, 0, "{}", run.render());
    let summary: serde_json::Value =
        serde_json::from_str(run.stdout.lines().last().unwrap()).expect("the summary is the last JSON line");
    let summary = &summary["summary"];
    assert_eq!(summary["score_status"], "done", "{summary:#}");
    for performer in ["claude", "codex", "gemini"] {
        let usage = &summary["usage"][performer];
        assert!(usage["input_tokens"].as_u64().is_some_and(|n| n > 0), "{performer} tokens: {summary:#}");
        assert!(usage["output_tokens"].as_u64().is_some_and(|n| n > 0), "{performer} tokens: {summary:#}");
    }
    assert_eq!(maestro(&["approve", "four", "-m", "ship it"]).code, 0);
    let landed = maestro(&["land", "four"]);
    assert_eq!(landed.code, 0, "{}", landed.render());

    // The final tree: every task's file, the reworked one fixed.
    for (file, content) in [("t1.txt", "draft\n"), ("t2.txt", "draft\n"), ("t3.txt", "fixed\n"), ("t4.txt", "draft\n")]
    {
        let shown = env.git(&dir, &["show", &format!("main:{file}")]).success_git();
        assert_eq!(shown, content, "{file}");
    }
    // The decision log: assignments to the planned CLIs, the review's rejection then approval,
    // and four merges.
    let decisions = maestro(&["decisions", "--score", "four", "--json"]).json();
    let of = |kind: &str| -> Vec<serde_json::Value> {
        decisions.as_array().unwrap().iter().filter(|d| d["kind"] == kind).cloned().collect()
    };
    let assigned: Vec<String> = of("assignment").iter().map(|d| d["summary"].as_str().unwrap().to_owned()).collect();
    for (performer, task) in [("claude", "t1"), ("codex", "t2"), ("gemini", "t3"), ("claude", "t4")] {
        assert!(
            assigned.iter().any(|s| s.starts_with(&format!("{performer} assigned to four/{task}"))),
            "{assigned:#?}"
        );
    }
    let reviews: Vec<&serde_json::Value> =
        decisions.as_array().unwrap().iter().filter(|d| d["actor"] == "reviewer").collect();
    assert_eq!(reviews.len(), 2, "{decisions:#}");
    // One clock for the whole test run, so order by kind rather than by time.
    let rejection = reviews.iter().find(|d| d["kind"] == "rejection").expect("a rejection");
    assert_eq!(rejection["review"]["reasons"], serde_json::json!(["t3.txt is still a draft"]));
    assert_eq!(rejection["review"]["cross_vendor"], true, "a Claude reviewer on Gemini's work");
    let approval = reviews.iter().find(|d| d["kind"] == "approval").expect("an approval");
    assert_eq!(approval["review"]["reasons"], serde_json::json!(["t3.txt is fixed"]));
    let merges = of("merge").iter().filter(|d| d["task"].is_string()).count();
    assert_eq!(merges, 4, "{decisions:#}");
    let t3 = maestro(&["task", "show", "four/t3", "--json"]).json();
    assert_eq!(t3["attempts"].as_array().unwrap().len(), 2, "one rework: {t3:#}");
    // The rework prompt carried the reviewer's reason.
    let gemini_log = std::fs::read_to_string(env.path("gemini.jsonl")).unwrap();
    assert!(gemini_log.contains("t3.txt is still a draft"), "the rework prompt reached gemini");
}

/// Short-term memory through the MCP tools, then a rework after a rejection: the second run's
/// prompt carries the reason, the note and the stack, and Claude resumes its own session.
#[test]
fn claude_keeps_memory_through_mcp_and_resumes_its_session_on_rework() {
    let Some(bin) = agent("claude") else { return };
    let s = setup("claude", &bin, "memory-tools", "3m", fail_fast("claude"));
    let score = "format = 1\nid = \"mem\"\ntarget = \"main\"\napproval = [\"human\"]\n[[tasks]]\n\
                 id = \"token-types\"\nspec = \"Add a Token newtype in src/auth/token.rs.\"\n";
    s.env.write("mem.toml", score);
    s.env.run(&s.dir, &["plan", "--from", "../mem.toml"]).success();
    s.env.run(&s.dir, &["approve", "mem"]).success();
    s.env.run(&s.dir, &["kb", "add", "--title", "Expiry is checked in one place", "--path", "src/auth/*"]).success();
    let maestro = |args: &[&str]| -> Run {
        s.env.command(&s.dir).env("MAESTRO_TEST_KEY", KEY).args(args).output().unwrap().into()
    };
    let first = maestro(&["run", "mem"]);
    assert_eq!(first.code, 0, "{}", first.render());
    assert!(first.stdout.contains("mem/token-types waits for a person"), "{}", first.render());
    let stack = maestro(&["task", "stack", "mem/token-types"]);
    assert_eq!(stack.stdout, "check expiry edge cases\n", "{}", stack.render());
    let notes = maestro(&["task", "notes", "mem/token-types"]).stdout;
    assert!(notes.contains("Token is a newtype over String"), "{notes}");
    assert!(notes.contains("status: types written, expiry next"), "{notes}");
    let bodies: Vec<String> = s.server.requests().iter().map(|r| r["body"].to_string()).collect();
    assert!(bodies.iter().any(|b| b.contains("Proposed ") && b.contains("kb accept")), "kb_propose answered the agent");
    let knowledge =
        s.env.git(&s.dir, &["ls-tree", "-r", "--name-only", "refs/maestro/state", "knowledge"]).success_git();
    assert_eq!(knowledge.lines().count(), 2, "the entry and the proposal: {knowledge}");

    assert_eq!(maestro(&["reject", "mem/token-types", "-m", "expiry is not checked anywhere"]).code, 0);
    let second = maestro(&["run", "mem"]);
    assert_eq!(second.code, 0, "{}", second.render());
    let task = maestro(&["task", "show", "mem/token-types", "--json"]).json();
    let attempts = task["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{task:#}");
    assert!(attempts[0]["session"].is_string(), "{task:#}");
    assert_eq!(attempts[1]["session"], attempts[0]["session"], "the rework resumed Claude's session");
    let requests = s.server.requests();
    let resumed = requests
        .iter()
        .map(|r| r["body"].to_string())
        .find(|b| b.contains("expiry is not checked anywhere"))
        .expect("the rework prompt reached the model");
    assert!(resumed.contains("Token is a newtype over String"), "the note is in the second prompt");
    assert!(resumed.contains("check expiry edge cases"), "the stack is in the second prompt");
    assert!(resumed.contains("Subtasks on the stack, top first"), "{resumed}");
    assert!(resumed.contains("Expiry is checked in one place"), "the relevant KB entry is in the second prompt");
    assert!(resumed.contains("## What was tried"), "the rework's handover packet is in the second prompt");
    let packets = maestro(&["handover", "list", "--json"]).json();
    assert_eq!(packets.as_array().unwrap().len(), 1, "{packets:#}");
    assert_eq!(packets[0]["status"], "acked", "the agent acknowledged it through MCP: {packets:#}");
    assert_eq!(packets[0]["acked_by"], serde_json::json!(["agent"]));
    assert!(
        bodies.iter().any(|b| b.contains(r#"\"kind\":\"knowledge\""#) || b.contains(r#"\"kind\": \"knowledge\""#)),
        "kb_search returned the entry to the agent"
    );
}
