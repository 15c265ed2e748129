//! `git maestro costs`: the tokens and cost the state records for real runs of a Claude-style
//! performer (fake-performer printing Claude Code's stream-json), added up by Score, task,
//! performer, model and day; the same figures on a second clone after `sync`; an unpriced
//! model's cost unknown, never $0; budget stops; and the cost routing learns per merged task.

use std::path::Path;

use serde_json::Value;

use crate::common::TestEnv;
use crate::test_cli::GitRun;
use crate::test_sync::{clones_of, sync};

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// What one fake Claude run reports: its model, usage and (when Claude Code gives one) cost.
struct Report {
    model: &'static str,
    input: u64,
    cache_read: u64,
    cache_write: u64,
    output: u64,
    cost: Option<f64>,
}

/// A performer `name` using the claude adapter on fake-performer, which writes `<task>.txt`
/// and prints `report` as Claude Code's stream-json: init (with the model), one assistant
/// message with its usage, and the result (with `total_cost_usd` when there is a cost).
fn performer(name: &str, r: &Report) -> String {
    let usage = format!(
        r#"{{"input_tokens":{},"cache_creation_input_tokens":{},"cache_read_input_tokens":{},"output_tokens":{}}}"#,
        r.input, r.cache_write, r.cache_read, r.output
    );
    let cost = r.cost.map_or_else(String::new, |c| format!(r#","total_cost_usd":{c}"#));
    let lines = [
        format!(r#"{{"type":"system","subtype":"init","session_id":"s-{{task}}","model":"{}"}}"#, r.model),
        format!(
            r#"{{"type":"assistant","message":{{"id":"m1","content":[{{"type":"text","text":"ok"}}],"usage":{usage}}}}}"#
        ),
        format!(
            r#"{{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"s-{{task}}"{cost},"usage":{usage}}}"#
        ),
    ];
    format!(
        "[performers.{name}]\nadapter = \"claude\"\ncommand = \"{FAKE}\"\nsandbox = \"off\"\n\
         env = {{ FAKE_WRITE = \"{{task}}.txt={{task}}\", FAKE_SAY = '{}' }}\n\n",
        lines.join("\\n")
    )
}

const PRICED: Report =
    Report { model: "m-cli", input: 1200, cache_read: 30_000, cache_write: 4000, output: 800, cost: Some(0.42) };
const TABLE: Report =
    Report { model: "m-table-2026", input: 50_000, cache_read: 0, cache_write: 0, output: 20_000, cost: None };
const UNPRICED: Report = Report { model: "m-free", input: 700, cache_read: 0, cache_write: 0, output: 70, cost: None };

/// The config of the three performers: `cli` (Claude Code gives the cost), `table` (priced by
/// `[prices."m-table"]`, which its dated model name takes) and `free` (a model without a price).
fn config() -> String {
    let mut c = String::new();
    c += &performer("cli", &PRICED);
    c += &performer("table", &TABLE);
    c += &performer("free", &UNPRICED);
    c += "[prices.\"m-table\"]\ninput = 2.0\noutput = 10.0\n\n[checks.ok]\nrun = \"true\"\n";
    c
}

fn costs(env: &TestEnv, dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["costs", "--json"];
    all.extend(args);
    env.run(dir, &all).success().json()
}

/// The rows of a `costs --json` document, by the value of their `key` field.
fn row<'a>(doc: &'a Value, key: &str, value: &str) -> &'a Value {
    doc["rows"].as_array().unwrap().iter().find(|r| r[key] == value).unwrap_or_else(|| panic!("no {value}: {doc:#}"))
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

/// The sums over every attempt of `tasks` as `task show --json` records them.
struct Recorded {
    attempts: u64,
    tokens: [u64; 4],
    cost: f64,
    unknown: u64,
}

fn recorded(env: &TestEnv, dir: &Path, tasks: &[&str]) -> Recorded {
    let mut r = Recorded { attempts: 0, tokens: [0; 4], cost: 0.0, unknown: 0 };
    for t in tasks {
        let task = env.run(dir, &["task", "show", &format!("s/{t}"), "--json"]).success().json();
        for a in task["attempts"].as_array().unwrap() {
            r.attempts += 1;
            let fields = ["input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens"];
            for (sum, f) in r.tokens.iter_mut().zip(fields) {
                *sum += a[f].as_u64().unwrap_or(0);
            }
            match a["cost_usd"].as_f64() {
                Some(c) => r.cost += c,
                None => r.unknown += 1,
            }
        }
    }
    r
}

#[test]
fn costs_add_up_the_recorded_attempts_and_read_the_same_on_another_clone() {
    let env = TestEnv::new();
    let tasks: String = [("t0", "cli"), ("t1", "table"), ("t2", "free"), ("t3", "cli")]
        .iter()
        .map(|(t, p)| format!("[[tasks]]\nid = \"{t}\"\nperformer = \"{p}\"\nchecks = [\"ok\"]\n"))
        .collect();
    let (_daemon, [a, b, _]) = clones_of(&env, &tasks);
    std::fs::write(a.join(".maestro/config.toml"), config()).unwrap();
    env.git(&a, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let run = env.run(&a, &["run", "s"]).success();
    assert!(run.stdout.starts_with("s  done: 4 merged"), "{}", run.render());

    // The totals are the sums of what the attempts recorded.
    let all = recorded(&env, &a, &["t0", "t1", "t2", "t3"]);
    let doc = costs(&env, &a, &[]);
    let total = &doc["total"];
    assert_eq!(total["attempts"], all.attempts, "{doc:#}");
    assert_eq!(total["input_tokens"], all.tokens[0]);
    assert_eq!(total["cache_read_tokens"], all.tokens[1]);
    assert_eq!(total["cache_write_tokens"], all.tokens[2]);
    assert_eq!(total["output_tokens"], all.tokens[3]);
    assert_eq!(total["tokens"], all.tokens.iter().sum::<u64>());
    assert!(close(&total["cost_usd"], all.cost), "{doc:#}");
    assert_eq!(total["unknown_cost_attempts"], all.unknown);
    assert_eq!((&total["merged_tasks"], &total["budget_stops"]), (&Value::from(4), &Value::from(0)));
    assert_eq!(doc["by"], "score", "without a Score, rows are Scores");
    assert_eq!(doc["rows"].as_array().unwrap().len(), 1);

    // What the runs reported reached the attempts: the CLI's cost, the price table's, none.
    let cli = recorded(&env, &a, &["t0"]);
    assert_eq!(cli.tokens, [PRICED.input, PRICED.cache_read, PRICED.cache_write, PRICED.output]);
    assert!((cli.cost - 0.42).abs() < 1e-9, "Claude Code's own figure");
    let table = recorded(&env, &a, &["t1"]);
    let priced = (TABLE.input as f64 * 2.0 + TABLE.output as f64 * 10.0) / 1e6;
    assert!((table.cost - priced).abs() < 1e-9, "tokens × the configured price");
    assert_eq!(recorded(&env, &a, &["t2"]).unknown, 1, "the free model has no price");

    // By model: the unpriced model's cost is unknown, not $0.
    let models = costs(&env, &a, &["--by", "model"]);
    let free = row(&models, "model", "m-free");
    assert_eq!((&free["cost_usd"], &free["unknown_cost_attempts"]), (&Value::Null, &Value::from(1)), "{models:#}");
    assert_eq!(free["cost_per_merged_task_usd"], Value::Null);
    assert!(close(&row(&models, "model", "m-table-2026")["cost_usd"], priced));
    let text = env.run(&a, &["costs", "--by", "model"]).success().stdout;
    let line = text.lines().find(|l| l.starts_with("m-free ")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("1 unknown") && !line.contains("$0"), "{text}");
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("TOTAL ") && last.contains(" + 1 unknown"), "{text}");

    // By performer: cost per merged task is over the merged tasks of known cost.
    let performers = costs(&env, &a, &["--by", "performer"]);
    let cli_row = row(&performers, "performer", "cli");
    assert_eq!((&cli_row["attempts"], &cli_row["merged_tasks"]), (&Value::from(2), &Value::from(2)));
    let both = recorded(&env, &a, &["t0", "t3"]).cost;
    assert!(close(&cli_row["cost_per_merged_task_usd"], both / 2.0), "{performers:#}");
    assert_eq!(row(&performers, "performer", "free")["costed_merged_tasks"], 0);

    // One Score's tasks, named by score and task.
    let by_task = costs(&env, &a, &["s"]);
    assert_eq!(by_task["by"], "task");
    let t1 = row(&by_task, "task", "t1");
    assert_eq!(t1["score"], "s", "{by_task:#}");
    assert!(close(&t1["cost_usd"], priced));
    assert_eq!(by_task["total"], doc["total"]);

    // By day, and --since.
    let days = costs(&env, &a, &["--by", "day"]);
    assert_eq!(days["total"], doc["total"]);
    assert_eq!(costs(&env, &a, &["--since", "1h"])["total"], doc["total"], "every attempt started within the hour");
    let later = costs(&env, &a, &["--since", "2027-01-01"]);
    assert_eq!((later["rows"].as_array().unwrap().len(), &later["total"]["attempts"]), (0, &Value::from(0)));

    // What routing learns: the cost of cli's two merged tasks, in micro-dollars.
    let stats = env.git(&a, &["show", "refs/maestro/state:stats/performers/cli.toml"]).success_git();
    let stats: toml::Table = toml::from_str(&stats).unwrap();
    let learned: Vec<(i64, i64)> = stats["by"]
        .as_table()
        .unwrap()
        .values()
        .map(|c| (c["costed"].as_integer().unwrap(), c["cost_micro_usd"].as_integer().unwrap()))
        .collect();
    assert!(!learned.is_empty(), "{stats:#?}");
    let micro = (both * 1e6).round() as i64;
    assert!(learned.iter().all(|&l| l == (2, micro)), "{learned:?} != (2, {micro})");

    // Another clone sees the same figures after sync.
    sync(&env, &a);
    sync(&env, &b);
    for args in [&[][..], &["--by", "model"], &["--by", "performer"], &["s"]] {
        assert_eq!(costs(&env, &b, args), costs(&env, &a, args), "costs {args:?} differ between clones");
    }
}

#[test]
fn a_budget_stop_is_counted_and_bad_input_changes_nothing() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.write("s.toml", "format = 1\nid = \"s\"\ntarget = \"main\"\nplan_approval = \"auto\"\n[[tasks]]\nid = \"t\"\n");
    env.run(&dir, &["plan", "--from", "../s.toml"]).success();
    env.run(&dir, &["approve", "s"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    // A cap below what the run reports: the budget stops it.
    let config = format!("{}[budget]\ntask_tokens = \"1k\"\n", performer("cli", &PRICED));
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    let run = env.run(&dir, &["task", "run", "s/t"]);
    let task = env.run(&dir, &["task", "show", "s/t", "--json"]).success().json();
    assert_eq!(task["attempts"][0]["outcome"], "budget", "{}\n{task:#}", run.render());

    let doc = costs(&env, &dir, &["s"]);
    let t = row(&doc, "task", "t");
    assert_eq!((&t["attempts"], &t["budget_stops"], &t["merged_tasks"]), (&1.into(), &1.into(), &0.into()), "{doc:#}");
    assert_eq!(
        t["tokens"],
        task["attempts"][0]["input_tokens"].as_u64().unwrap() + PRICED.cache_read + PRICED.cache_write + PRICED.output
    );
    let text = env.run(&dir, &["costs", "s"]).success().stdout;
    let header = text.lines().next().unwrap();
    assert!(header.starts_with("TASK ") && header.contains("BUDGET STOPS"), "{text}");

    let tip = env.state_tip(&dir);
    let unknown = env.run(&dir, &["costs", "nope"]).user_error();
    assert!(unknown.stderr.contains("Hint: "), "{}", unknown.render());
    let bad_by = env.run(&dir, &["costs", "--by", "colour"]);
    assert_eq!(bad_by.code, 2, "{}", bad_by.render());
    let bad_since = env.run(&dir, &["costs", "--since", "yesterday"]);
    assert_eq!(bad_since.code, 2, "{}", bad_since.render());
    assert!(bad_since.stderr.contains("nor a duration like 7d"), "{}", bad_since.render());
    assert_eq!(env.state_tip(&dir), tip, "reading costs writes nothing");
}
