//! Gemini CLI: `gemini --output-format stream-json -m <model> --skip-trust`, prompt on stdin.
//!
//! With `isolate_home`, maestro writes `<home>/.gemini/settings.json`: API-key auth (needed
//! with `GOOGLE_GEMINI_BASE_URL`), no telemetry or update checks, one attempt per request, and
//! maestro's MCP server. Without it, the user's own settings apply and the MCP tools are absent.
//! Success is a `result` event with `status = "success"`, and exit 0.

use serde_json::{Value, json};

use super::adapter::{Adapter, Event, Invocation, count, env_for_endpoint, home_dir, usage_event};
use super::claude::{one_line, short_input};
use super::runner::{Exit, ProcessSpec};
use crate::model::budget::Usage;

#[derive(Default)]
pub struct Gemini {
    /// Assistant text streamed in deltas, flushed as one message.
    pending: String,
    result: Option<(bool, String)>,
    error: Option<String>,
}

/// The result's `stats`: `input_tokens` (the prompt) of which `cached` were cache reads, and
/// output: `output_tokens` plus the thoughts `total_tokens` also counts.
fn usage(v: &Value) -> Result<Usage, String> {
    let input = count(v, "/stats/input_tokens")?;
    let cached = count(v, "/stats/cached")?;
    let output = count(v, "/stats/output_tokens")?;
    let total = count(v, "/stats/total_tokens")?;
    if cached > input {
        return Err(format!("{cached} cached of {input} input tokens"));
    }
    Ok(Usage {
        input: input - cached,
        cache_read: cached,
        cache_write: 0,
        output: output.max(total.saturating_sub(input)),
    })
}

impl Gemini {
    fn flush(&mut self) -> Vec<Event> {
        if self.pending.trim().is_empty() {
            self.pending.clear();
            return Vec::new();
        }
        vec![Event::Message(std::mem::take(&mut self.pending))]
    }
}

impl Adapter for Gemini {
    fn spec(&self, inv: Invocation<'_>) -> ProcessSpec {
        let p = inv.performer;
        let mut args: Vec<String> = vec!["--output-format".into(), "stream-json".into(), "--skip-trust".into()];
        if let Some(model) = &p.model {
            args.extend(["-m".into(), model.clone()]);
        }
        if !p.extra_args.iter().any(|a| a.starts_with("--approval-mode") || a == "--yolo" || a == "-y") {
            args.extend(["--approval-mode".into(), "yolo".into()]);
        }
        args.extend(p.extra_args.iter().cloned());
        let mut env = inv.env.clone();
        env.extend(env_for_endpoint(p, "GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY"));
        if let Some(home) = home_dir(&inv.homes, p) {
            env.push(("GEMINI_CLI_HOME".into(), home.display().to_string()));
        }
        inv.into_spec(args, env)
    }

    fn prepare(&self, inv: &Invocation<'_>) -> std::io::Result<()> {
        let Some(home) = home_dir(&inv.homes, inv.performer) else { return Ok(()) };
        let dir = home.join(".gemini");
        std::fs::create_dir_all(&dir)?;
        let settings = json!({
            "security": { "auth": { "selectedType": "gemini-api-key" } },
            "privacy": { "usageStatisticsEnabled": false },
            "general": { "enableAutoUpdate": false, "enableAutoUpdateNotification": false, "maxAttempts": 1 },
            "context": { "fileName": ["AGENTS.md", "GEMINI.md"] },
            "mcpServers": { "maestro": mcp_server(&inv.mcp) },
        });
        std::fs::write(dir.join("settings.json"), serde_json::to_vec_pretty(&settings)?)
    }

    fn parse(&mut self, line: &str) -> Vec<Event> {
        let Ok(v) = serde_json::from_str::<Value>(line) else { return Vec::new() };
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
        match v.get("type").and_then(Value::as_str) {
            Some("init") => {
                let mut events = vec![Event::Session(s("/session_id"))];
                events.extend(v.get("model").and_then(Value::as_str).map(|m| Event::Model(m.to_owned())));
                events
            }
            Some("message") if s("/role") == "assistant" => {
                self.pending.push_str(&s("/content"));
                if v.get("delta") == Some(&Value::Bool(true)) { Vec::new() } else { self.flush() }
            }
            Some("tool_use") => {
                let mut events = self.flush();
                events.push(Event::Tool { name: s("/tool_name"), detail: short_input(v.get("parameters")) });
                events
            }
            Some("error") => {
                self.error = Some(s("/message"));
                Vec::new()
            }
            Some("result") => {
                let mut events = self.flush();
                let ok = s("/status") == "success";
                if v.get("stats").is_some() {
                    events.push(usage_event(usage(&v), None));
                }
                // The result line carries no text of its own on success; the answer was streamed.
                let text = if ok { String::new() } else { s("/error/message") };
                self.result = Some((ok, text.clone()));
                events.push(Event::Result { ok, text });
                events
            }
            _ => Vec::new(),
        }
    }

    fn verdict(&self, exit: Exit) -> Result<(), String> {
        match (&self.result, exit) {
            (_, Exit::TimedOut | Exit::Cancelled) => super::adapter::Command.verdict(exit),
            (Some((true, _)), Exit::Code(0)) => Ok(()),
            (Some((false, text)), _) if !text.is_empty() => {
                Err(format!("Gemini reported an error: {}", one_line(text)))
            }
            (_, exit) => match &self.error {
                Some(e) => Err(format!("Gemini reported an error: {}", one_line(e))),
                None => Err(format!("Gemini exited with {exit} without a successful result")),
            },
        }
    }
}

/// Gemini's entry for maestro's MCP server: trusted (no approval prompts), with the run's
/// environment spelled out, because Gemini strips secret-looking variables from MCP children.
fn mcp_server(mcp: &super::adapter::McpLaunch) -> Value {
    let mut entry = mcp.json();
    entry["trust"] = json!(true);
    entry["timeout"] = json!(30_000);
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_json_events_and_verdict() {
        let mut g = Gemini::default();
        assert_eq!(
            g.parse(r#"{"type":"init","session_id":"g-1","model":"m"}"#),
            vec![Event::Session("g-1".into()), Event::Model("m".into())]
        );
        assert!(g.parse(r#"{"type":"message","role":"assistant","content":"Hel","delta":true}"#).is_empty());
        g.parse(r#"{"type":"message","role":"assistant","content":"lo","delta":true}"#);
        let events = g.parse(
            r#"{"type":"result","status":"success","stats":{"input_tokens":9,"cached":4,"output_tokens":2,"total_tokens":14}}"#,
        );
        assert_eq!(events[0], Event::Message("Hello".into()), "deltas are joined");
        let tokens = Usage { input: 5, cache_read: 4, cache_write: 0, output: 5 };
        assert_eq!(events[1], Event::Usage { tokens, cost_usd: None }, "thoughts count as output");
        assert_eq!(g.verdict(Exit::Code(0)), Ok(()));
        let mut e = Gemini::default();
        e.parse(r#"{"type":"error","message":"quota"}"#);
        assert_eq!(e.verdict(Exit::Code(1)), Err("Gemini reported an error: quota".into()));
    }
}
