//! Claude Code: `claude -p --output-format stream-json --verbose`, prompt on stdin.
//!
//! Success is the final `result` line with `is_error = false` and exit status 0; `subtype`
//! alone is not enough (it stays `success` on API errors).

use serde_json::Value;

use super::adapter::{Adapter, Event, Invocation, count, env_for_endpoint, home_dir, usage_event};
use super::runner::{Exit, ProcessSpec};
use crate::model::budget::Usage;

/// Tools the agent may use without asking: edits and the shell inside its worktree, and
/// maestro's own MCP tools.
const ALLOWED_TOOLS: &str = "Bash Edit Write Read Glob Grep mcp__maestro";

#[derive(Default)]
pub struct Claude {
    result: Option<(bool, String)>,
    /// Usage of each model response so far, by message id: a response is printed once per
    /// content block, each line carrying its usage.
    messages: Vec<(String, Usage)>,
}

/// Claude's usage object: input, cache creation and cache reads priced apart, plus output.
fn usage(v: &Value, at: &str) -> Result<Usage, String> {
    Ok(Usage {
        input: count(v, &format!("{at}/input_tokens"))?,
        cache_write: count(v, &format!("{at}/cache_creation_input_tokens"))?,
        cache_read: count(v, &format!("{at}/cache_read_input_tokens"))?,
        output: count(v, &format!("{at}/output_tokens"))?,
    })
}

impl Claude {
    /// The running total after the usage of one assistant message.
    fn message_usage(&mut self, v: &Value) -> Option<Event> {
        v.pointer("/message/usage")?;
        let id = str_at(v, "/message/id");
        let this = match usage(v, "/message/usage") {
            Ok(u) => u,
            Err(why) => return Some(Event::BadUsage(why)),
        };
        match self.messages.iter_mut().find(|(m, _)| *m == id && !id.is_empty()) {
            Some((_, u)) if *u == this => return None,
            Some((_, u)) => *u = this,
            None => self.messages.push((id, this)),
        }
        let total = self.messages.iter().fold(Usage::default(), |acc, (_, u)| acc.plus(u));
        Some(usage_event(Ok(total), None))
    }
}

impl Adapter for Claude {
    fn spec(&self, inv: Invocation<'_>) -> ProcessSpec {
        let p = inv.performer;
        let mut args: Vec<String> =
            ["-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "acceptEdits"]
                .map(String::from)
                .to_vec();
        args.extend(["--allowedTools".into(), ALLOWED_TOOLS.into()]);
        if let Some(model) = &p.model {
            args.extend(["--model".into(), model.clone()]);
        }
        let mcp = serde_json::json!({ "mcpServers": { "maestro": inv.mcp.json() } });
        args.extend(["--mcp-config".into(), mcp.to_string(), "--strict-mcp-config".into()]);
        if let Some(session) = &inv.resume {
            args.extend(["--resume".into(), session.clone()]);
        }
        if let Some(left) = inv.usd_left {
            // A second line of defence: Claude Code stops itself at what is left.
            args.extend(["--max-budget-usd".into(), format!("{left:.4}")]);
        }
        args.extend(p.extra_args.iter().cloned());
        let mut env = inv.env.clone();
        env.push(("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(), "1".into()));
        env.extend(env_for_endpoint(p, "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"));
        if let Some(home) = home_dir(&inv.homes, p) {
            env.push(("CLAUDE_CONFIG_DIR".into(), home.display().to_string()));
        }
        inv.into_spec(args, env)
    }

    fn parse(&mut self, line: &str) -> Vec<Event> {
        let Ok(v) = serde_json::from_str::<Value>(line) else { return Vec::new() };
        let mut events = Vec::new();
        match v.get("type").and_then(Value::as_str) {
            Some("system") => {
                if let Some(id) = v.get("session_id").and_then(Value::as_str) {
                    events.push(Event::Session(id.to_owned()));
                }
                if let Some(model) = v.get("model").and_then(Value::as_str) {
                    events.push(Event::Model(model.to_owned()));
                }
            }
            Some("assistant") => {
                events.extend(self.message_usage(&v));
                let content = v.pointer("/message/content").and_then(Value::as_array).cloned().unwrap_or_default();
                for block in content {
                    match block.get("type").and_then(Value::as_str) {
                        Some("tool_use") => events.push(Event::Tool {
                            name: str_at(&block, "/name"),
                            detail: short_input(block.get("input")),
                        }),
                        Some("text") => events.push(Event::Message(str_at(&block, "/text"))),
                        _ => {}
                    }
                }
            }
            Some("result") => {
                let ok = v.get("is_error") == Some(&Value::Bool(false))
                    && v.get("subtype").and_then(Value::as_str) == Some("success");
                let text = v
                    .get("result")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| str_at(&v, "/subtype"));
                if let Some(id) = v.get("session_id").and_then(Value::as_str) {
                    events.push(Event::Session(id.to_owned()));
                }
                if v.get("usage").is_some() {
                    events.push(usage_event(usage(&v, "/usage"), v.get("total_cost_usd").and_then(Value::as_f64)));
                }
                if str_at(&v, "/subtype") == "error_max_budget_usd" {
                    events.push(Event::BudgetSpent);
                }
                events.push(Event::Result { ok, text: text.clone() });
                self.result = Some((ok, text));
            }
            _ => {}
        }
        events
    }

    fn verdict(&self, exit: Exit) -> Result<(), String> {
        match (&self.result, exit) {
            (Some((true, _)), Exit::Code(0)) => Ok(()),
            (Some((false, text)), _) => Err(format!("Claude Code reported an error: {}", one_line(text))),
            (_, Exit::TimedOut | Exit::Cancelled) => super::adapter::Command.verdict(exit),
            (_, exit) => Err(format!("Claude Code exited with {exit} without a result")),
        }
    }
}

fn str_at(v: &Value, pointer: &str) -> String {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// A tool input in one short line, for progress output.
pub(super) fn short_input(input: Option<&Value>) -> String {
    let text = match input {
        Some(Value::Object(map)) => map
            .get("command")
            .or_else(|| map.get("cmd"))
            .or_else(|| map.get("file_path"))
            .and_then(Value::as_str)
            .map_or_else(|| Value::Object(map.clone()).to_string(), str::to_owned),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    short_line(&text)
}

/// `text` in one line for progress output: whitespace collapsed, cut at 120 characters.
pub(super) fn short_line(text: &str) -> String {
    let line = one_line(text);
    if line.chars().count() > 120 { format!("{}…", line.chars().take(120).collect::<String>()) } else { line }
}

/// `text` in one line, whitespace collapsed, for a failure reason: kept whole up to
/// [`super::REASON_CHARS`], so the cause is not lost.
pub(super) fn one_line(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    super::clip(&line, super::REASON_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_json_becomes_events_and_a_verdict() {
        let mut c = Claude::default();
        assert_eq!(
            c.parse(r#"{"type":"system","subtype":"init","session_id":"s-1"}"#),
            vec![Event::Session("s-1".into())]
        );
        let tool = c.parse(r#"{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash","input":{"command":"ls"}}]}}"#);
        assert_eq!(tool, vec![Event::Tool { name: "Bash".into(), detail: "ls".into() }]);
        let end = c.parse(r#"{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"s-1","total_cost_usd":0.5,"usage":{"input_tokens":10,"output_tokens":3}}"#);
        let tokens = Usage { input: 10, output: 3, ..Usage::default() };
        assert!(end.contains(&Event::Usage { tokens, cost_usd: Some(0.5) }));
        assert_eq!(c.verdict(Exit::Code(0)), Ok(()));
        let mut e = Claude::default();
        e.parse(r#"{"type":"result","subtype":"success","is_error":true,"result":"API Error: 500"}"#);
        assert_eq!(e.verdict(Exit::Code(1)), Err("Claude Code reported an error: API Error: 500".into()));
        assert!(Claude::default().verdict(Exit::Code(0)).is_err(), "no result line, no success");
    }

    #[test]
    fn the_budget_left_is_passed_as_a_second_line_of_defence() {
        let git = vec![("maestro.performer.c.adapter".to_owned(), Some("claude".to_owned()))];
        let sources = crate::config::Sources { user_file: None, repo_file: None, git_config: &git };
        let p = crate::config::load(&sources).expect("config").performers.remove("c").expect("performer");
        let args = |usd_left| {
            let inv = Invocation {
                performer: &p,
                binary: "claude".into(),
                worktree: std::path::Path::new("/w"),
                prompt: String::new(),
                env: Vec::new(),
                transcript: "/t".into(),
                homes: "/h".into(),
                mcp: super::super::adapter::McpLaunch { command: "/m".into(), env: Vec::new() },
                resume: None,
                confined: false,
                usd_left,
            };
            Claude::default().spec(inv).args
        };
        let with = args(Some(0.5));
        let at = with.iter().position(|a| a == "--max-budget-usd").expect("the flag");
        assert_eq!(with[at + 1], "0.5000");
        assert!(!args(None).iter().any(|a| a == "--max-budget-usd"), "no cap, no flag");
    }

    #[test]
    fn usage_is_counted_once_per_model_response_and_nonsense_is_not_trusted() {
        let mut c = Claude::default();
        let line = |id: &str, out: u64| {
            format!(
                r#"{{"type":"assistant","message":{{"id":"{id}","content":[],"usage":{{"input_tokens":5,"cache_creation_input_tokens":100,"cache_read_input_tokens":1000,"output_tokens":{out}}}}}}}"#
            )
        };
        let first = Usage { input: 5, cache_write: 100, cache_read: 1000, output: 7 };
        assert_eq!(c.parse(&line("m1", 7)), vec![Event::Usage { tokens: first, cost_usd: None }]);
        assert_eq!(c.parse(&line("m1", 7)), vec![], "a second block of the same response adds nothing");
        let two = first.plus(&Usage { output: 9, ..first });
        assert_eq!(c.parse(&line("m2", 9)), vec![Event::Usage { tokens: two, cost_usd: None }]);
        let bad = c.parse(r#"{"type":"assistant","message":{"id":"m3","content":[],"usage":{"input_tokens":-4}}}"#);
        assert!(matches!(bad.as_slice(), [Event::BadUsage(_)]), "{bad:?}");
        let over =
            c.parse(r#"{"type":"result","subtype":"error_max_budget_usd","is_error":true,"usage":{"input_tokens":1}}"#);
        assert!(over.contains(&Event::BudgetSpent));
    }
}
