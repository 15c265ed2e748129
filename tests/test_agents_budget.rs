//! Budgets with the real agent CLIs against the scripted model server, whose replies carry the
//! usage each scenario gives: live usage in the progress events, cost from the price table for
//! Codex and Gemini (Claude Code reports its own), and a cap that stops a run.

use crate::common::Run;
use crate::test_agents::{KEY, Setup, agent, setup, task};
use crate::test_cli::GitRun;

/// `[prices]` for the scripted model: $3 input, $15 output, $0.30 cache reads, $3.75 cache
/// writes per million tokens.
const PRICES: &str =
    "\n[prices.\"scripted-model\"]\ninput = 3.0\noutput = 15.0\ncache_read = 0.3\ncache_write = 3.75\n";

fn run_json(s: &Setup, args: &[&str]) -> (Run, Vec<serde_json::Value>) {
    let run: Run = s.env.command(&s.dir).env("MAESTRO_TEST_KEY", KEY).args(args).arg("--json").output().unwrap().into();
    // Progress events are JSON lines; the report at the end is one pretty-printed document.
    let events = serde_json::Deserializer::from_str(&run.stdout).into_iter().map_while(Result::ok).collect();
    (run, events)
}

fn run_task(s: &Setup) -> (Run, Vec<serde_json::Value>) {
    run_json(s, &["task", "run", "auth-tokens/token-types", "--performer", "agent"])
}

/// The usage events come while the run goes on: before its result and its end.
fn assert_live_usage(events: &[serde_json::Value]) {
    let at = |kind: &str| events.iter().position(|e| e["event"] == kind);
    let usage = at("usage").unwrap_or_else(|| panic!("a usage event: {events:#?}"));
    let done = at("done").expect("the done event");
    assert!(usage < done, "usage is reported before the run ends: {events:#?}");
    if let Some(result) = at("result") {
        assert!(usage < result, "usage is reported before the CLI's result: {events:#?}");
    }
}

fn priced(attempt: &serde_json::Value) -> f64 {
    let n = |k: &str| attempt[k].as_u64().unwrap_or(0) as f64 / 1e6;
    n("input_tokens") * 3.0 + n("output_tokens") * 15.0 + n("cache_read_tokens") * 0.3 + n("cache_write_tokens") * 3.75
}

/// Codex and Gemini report no cost: it is their tokens at the configured price.
fn cost_from_the_price_table(adapter: &str) {
    let Some(bin) = agent(adapter) else { return };
    let s = setup(adapter, &bin, "usage-priced", "3m", PRICES);
    let (run, events) = run_task(&s);
    assert_eq!(run.code, 0, "{}", run.render());
    assert_live_usage(&events);
    let task = task(&s);
    let attempt = &task["attempts"][0];
    assert_eq!(attempt["model"], "scripted-model", "{attempt:#}");
    // The scripted responses: 2500 fresh input, 4500 cache reads, 600 output with reasoning.
    assert_eq!(attempt["cache_read_tokens"], 4500, "cached input is priced apart: {attempt:#}");
    assert!(attempt["input_tokens"].as_u64().unwrap() >= 2500, "{attempt:#}");
    assert!(attempt["output_tokens"].as_u64().unwrap() >= 600, "reasoning and thoughts count as output: {attempt:#}");
    let cost = attempt["cost_usd"].as_f64().expect("a cost");
    assert!(
        (cost - priced(attempt)).abs() < 1e-9,
        "cost {cost} is the tokens at the price table's prices: {attempt:#}"
    );
    let last = events.iter().rev().find(|e| e["event"] == "usage").unwrap();
    assert!((last["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-9, "the live figure ends at the recorded one");
}

#[test]
fn codex_cost_comes_from_the_price_table() {
    cost_from_the_price_table("codex");
}

#[test]
fn gemini_cost_comes_from_the_price_table() {
    cost_from_the_price_table("gemini");
}

#[test]
fn claude_usage_is_live_and_its_own_cost_is_kept() {
    let Some(bin) = agent("claude") else { return };
    let s =
        setup("claude", &bin, "usage-priced", "3m", &format!("env = {{ CLAUDE_CODE_MAX_RETRIES = \"0\" }}{PRICES}"));
    let (run, events) = run_task(&s);
    assert_eq!(run.code, 0, "{}", run.render());
    assert_live_usage(&events);
    let attempt = &task(&s)["attempts"][0];
    assert_eq!(attempt["cache_read_tokens"], 4500, "{attempt:#}");
    assert_eq!(attempt["cache_write_tokens"], 500, "cache writes are priced apart: {attempt:#}");
    // The final cost is Claude Code's own figure, as its result line gives it.
    let transcript = std::fs::read_to_string(run_report(&events)["transcript"].as_str().unwrap()).unwrap();
    let result: serde_json::Value = transcript
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["type"] == "result")
        .unwrap();
    assert_eq!(attempt["cost_usd"].as_f64(), result["total_cost_usd"].as_f64(), "{attempt:#}");
}

fn run_report(events: &[serde_json::Value]) -> &serde_json::Value {
    &events.iter().find(|e| e["event"] == "done").expect("done")["report"]
}

/// The task is blocked by its budget, the attempt says so with the figures, and the next
/// attempt is refused with exit 1, changing nothing.
fn assert_stopped_and_refused(s: &Setup, run: &Run) {
    assert_eq!(run.code, 1, "{}", run.render());
    let task = task(s);
    assert_eq!(task["status"], "blocked", "{task:#}");
    let attempt = task["attempts"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(attempt["outcome"], "budget", "{attempt:#}");
    let reason = attempt["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("the task's budget of $1.00 is spent"), "the figures are on the attempt: {reason}");
    assert!(attempt["cost_usd"].as_f64().unwrap() >= 1.0, "{attempt:#}");
    assert!(run.stderr.contains("budget raise"), "the hint names the way on: {}", run.render());
    let tip = s.env.git(&s.dir, &["rev-parse", "refs/maestro/state"]).success_git();
    let (again, _) = run_task(s);
    assert_eq!(again.code, 1, "{}", again.render());
    assert!(again.stderr.contains("budget") && again.stderr.contains("nothing was changed"), "{}", again.render());
    assert_eq!(
        s.env.git(&s.dir, &["rev-parse", "refs/maestro/state"]).success_git(),
        tip,
        "a refused start writes nothing"
    );
}

#[test]
fn claude_is_stopped_at_the_response_that_reaches_the_cap() {
    let Some(bin) = agent("claude") else { return };
    let extra = format!("env = {{ CLAUDE_CODE_MAX_RETRIES = \"0\" }}{PRICES}\n[budget]\ntask = \"$1\"\n");
    let s = setup("claude", &bin, "spend-forever", "3m", &extra);
    let (run, _) = run_task(&s);
    assert_stopped_and_refused(&s, &run);
    // 200k input tokens at $3/M is $0.60 a response: the second reaches $1.00. No request
    // follows the one whose usage crossed the cap.
    let requests = s.server.requests();
    let main: Vec<usize> = requests.iter().enumerate().filter(|(_, r)| r["main"] == true).map(|(i, _)| i).collect();
    assert_eq!(main.len(), 2, "the model was asked twice, not a third time: {requests:#?}");
    assert_eq!(main[1], requests.len() - 1, "nothing was asked after the crossing response: {requests:#?}");
    let run_id = task(&s)["attempts"][0]["run"].as_str().unwrap().to_owned();
    let left = crate::test_agents::survivors(&run_id, &s.env.path(""));
    assert!(left.is_empty(), "Claude Code and its tools were stopped: {left:#?}");
}

#[test]
fn codex_ends_budget_at_the_turn_that_crossed_the_cap_and_the_next_attempt_is_refused() {
    let Some(bin) = agent("codex") else { return };
    let extra = format!("{PRICES}\n[budget]\ntask = \"$1\"\n");
    let s = setup("codex", &bin, "spend-three", "3m", &extra);
    let (run, _) = run_task(&s);
    assert_stopped_and_refused(&s, &run);
}
