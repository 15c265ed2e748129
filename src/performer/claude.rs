//! Claude Code: `claude -p --output-format stream-json --verbose`, prompt on stdin.
//!
//! Success is the final `result` line with `is_error = false` and exit status 0; `subtype`
//! alone is not enough (it stays `success` on API errors).

use serde_json::Value;

use super::adapter::{Adapter, Event, Invocation, env_for_endpoint, home_dir};
use super::runner::{Exit, ProcessSpec};

/// Tools the agent may use without asking: edits and the shell inside its worktree, and
/// maestro's own MCP tools.
const ALLOWED_TOOLS: &str = "Bash Edit Write Read Glob Grep mcp__maestro";

#[derive(Default)]
pub struct Claude {
    result: Option<(bool, String)>,
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
            }
            Some("assistant") => {
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
                events.push(Event::Usage {
                    input: v.pointer("/usage/input_tokens").and_then(Value::as_u64).unwrap_or(0),
                    output: v.pointer("/usage/output_tokens").and_then(Value::as_u64).unwrap_or(0),
                    cost_usd: v.get("total_cost_usd").and_then(Value::as_f64),
                });
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
        assert!(end.contains(&Event::Usage { input: 10, output: 3, cost_usd: Some(0.5) }));
        assert_eq!(c.verdict(Exit::Code(0)), Ok(()));
        let mut e = Claude::default();
        e.parse(r#"{"type":"result","subtype":"success","is_error":true,"result":"API Error: 500"}"#);
        assert_eq!(e.verdict(Exit::Code(1)), Err("Claude Code reported an error: API Error: 500".into()));
        assert!(Claude::default().verdict(Exit::Code(0)).is_err(), "no result line, no success");
    }
}
