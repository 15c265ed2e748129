//! Codex CLI: `codex exec --json … -`, prompt on stdin.
//!
//! A `base_url` becomes a custom Responses provider set entirely through `-c` (Codex ignores
//! `OPENAI_BASE_URL`). Success is a `turn.completed` without `turn.failed`, and exit 0. Codex's
//! log can omit commands that failed inside its sandbox, so maestro trusts the worktree diff,
//! not the event log, for what changed.

use serde_json::Value;

use super::adapter::{Adapter, Event, Invocation, count, home_dir, usage_event};
use super::claude::{one_line, short_input, short_line};
use super::runner::{Exit, ProcessSpec};
use crate::model::budget::Usage;

/// The provider id maestro registers for `base_url`, and the variable that carries its key.
const PROVIDER: &str = "maestro";
const KEY_VAR: &str = "MAESTRO_CODEX_API_KEY";

#[derive(Default)]
pub struct Codex {
    completed: bool,
    failure: Option<String>,
    /// The run's usage so far: Codex reports it per turn.
    used: Usage,
}

/// One turn's usage: `input_tokens` of which `cached_input_tokens` were cache reads, and
/// `output_tokens` (reasoning included).
fn turn_usage(v: &Value) -> Result<Usage, String> {
    let input = count(v, "/usage/input_tokens")?;
    let cached = count(v, "/usage/cached_input_tokens")?;
    if cached > input {
        return Err(format!("{cached} cached of {input} input tokens"));
    }
    Ok(Usage { input: input - cached, cache_read: cached, cache_write: 0, output: count(v, "/usage/output_tokens")? })
}

impl Adapter for Codex {
    fn spec(&self, inv: Invocation<'_>) -> ProcessSpec {
        let p = inv.performer;
        let mut args: Vec<String> =
            vec!["exec".into(), "--json".into(), "-C".into(), inv.worktree.display().to_string()];
        if !p.extra_args.iter().any(|a| a == "--sandbox" || a.starts_with("--sandbox=")) {
            // Codex's own sandbox cannot nest inside Landlock: under git-maestro's, it stands
            // down (DESIGN §13).
            let own = if inv.confined { "danger-full-access" } else { "workspace-write" };
            args.extend(["--sandbox".into(), own.into()]);
        }
        args.extend(["--skip-git-repo-check".into(), "--ephemeral".into()]);
        let mut config = vec!["features.plugins=false".to_owned(), "analytics.enabled=false".to_owned()];
        if let Some(model) = &p.model {
            config.push(format!("model={}", toml_string(model)));
        }
        let mut env = inv.env.clone();
        if let Some(url) = &p.base_url {
            let base = format!("{}/v1", url.trim_end_matches('/').trim_end_matches("/v1"));
            config.push(format!("model_provider={PROVIDER}"));
            config.push(format!(
                "model_providers.{PROVIDER}={{name=\"maestro\", base_url={}, env_key=\"{KEY_VAR}\", wire_api=\"responses\"}}",
                toml_string(&base)
            ));
            // Codex insists on the variable; a local gateway without `api_key_env` needs no key.
            let key = p.api_key_env.as_deref().and_then(|v| std::env::var(v).ok()).unwrap_or_else(|| "none".into());
            env.push((KEY_VAR.into(), key));
        }
        let mcp_env: Vec<String> = inv.mcp.env.iter().map(|(k, v)| format!("{k}={}", toml_string(v))).collect();
        config.push(format!("mcp_servers.maestro.command={}", toml_string(&inv.mcp.command.display().to_string())));
        config.push("mcp_servers.maestro.args=[\"mcp\"]".into());
        config.push(format!("mcp_servers.maestro.env={{{}}}", mcp_env.join(", ")));
        // Without it, `codex exec` refuses every MCP call: its approval policy is "never".
        config.push("mcp_servers.maestro.default_tools_approval_mode=\"approve\"".into());
        for c in config {
            args.extend(["-c".into(), c]);
        }
        args.extend(p.extra_args.iter().cloned());
        args.push("-".into());
        if let Some(home) = home_dir(&inv.homes, p) {
            env.push(("CODEX_HOME".into(), home.display().to_string()));
        }
        inv.into_spec(args, env)
    }

    fn prepare(&self, inv: &Invocation<'_>) -> std::io::Result<()> {
        match home_dir(&inv.homes, inv.performer) {
            Some(home) => std::fs::create_dir_all(home),
            None => Ok(()),
        }
    }

    fn parse(&mut self, line: &str) -> Vec<Event> {
        let Ok(v) = serde_json::from_str::<Value>(line) else { return Vec::new() };
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
        match v.get("type").and_then(Value::as_str) {
            Some("thread.started") => vec![Event::Session(s("/thread_id"))],
            Some("item.completed") => match v.pointer("/item/type").and_then(Value::as_str) {
                Some("agent_message") => vec![Event::Message(s("/item/text"))],
                Some("command_execution") => {
                    vec![Event::Tool { name: "shell".into(), detail: short_line(&s("/item/command")) }]
                }
                Some("mcp_tool_call") => vec![Event::Tool {
                    name: format!("{}.{}", s("/item/server"), s("/item/tool")),
                    detail: short_input(v.pointer("/item/arguments")),
                }],
                Some("error") => {
                    self.failure = Some(s("/item/message"));
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Some("turn.completed") => {
                self.completed = true;
                match turn_usage(&v) {
                    Ok(turn) => {
                        self.used = self.used.plus(&turn);
                        vec![usage_event(Ok(self.used), None)]
                    }
                    Err(why) => vec![Event::BadUsage(why)],
                }
            }
            Some("turn.failed") => {
                let message = s("/error/message");
                self.failure = Some(message.clone());
                vec![Event::Result { ok: false, text: message }]
            }
            Some("error") => {
                self.failure = Some(s("/message"));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn verdict(&self, exit: Exit) -> Result<(), String> {
        match (&self.failure, self.completed, exit) {
            (_, _, Exit::TimedOut | Exit::Cancelled) => super::adapter::Command.verdict(exit),
            (Some(f), false, _) | (Some(f), _, Exit::Code(1..)) => {
                Err(format!("Codex reported an error: {}", one_line(f)))
            }
            (_, true, Exit::Code(0)) => Ok(()),
            (_, _, exit) => Err(format!("Codex exited with {exit} before completing its turn")),
        }
    }
}

/// A TOML basic string, for `-c key=value`.
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_events_and_verdict() {
        let mut c = Codex::default();
        assert_eq!(c.parse(r#"{"type":"thread.started","thread_id":"t-1"}"#), vec![Event::Session("t-1".into())]);
        let tool = c.parse(
            r#"{"type":"item.completed","item":{"type":"command_execution","command":"bash -lc ls","exit_code":0}}"#,
        );
        assert_eq!(tool, vec![Event::Tool { name: "shell".into(), detail: "bash -lc ls".into() }]);
        let used = c.parse(
            r#"{"type":"turn.completed","usage":{"input_tokens":12,"cached_input_tokens":10,"output_tokens":5}}"#,
        );
        let tokens = Usage { input: 2, cache_read: 10, cache_write: 0, output: 5 };
        assert_eq!(used, vec![Event::Usage { tokens, cost_usd: None }]);
        let bad = c.parse(r#"{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":10}}"#);
        assert!(matches!(bad.as_slice(), [Event::BadUsage(_)]), "{bad:?}");
        let absurd = c.parse(r#"{"type":"turn.completed","usage":{"input_tokens":5000000000000}}"#);
        assert!(matches!(absurd.as_slice(), [Event::BadUsage(_)]), "absurdly large is not usage: {absurd:?}");
        assert_eq!(c.verdict(Exit::Code(0)), Ok(()));
        let mut f = Codex::default();
        f.parse(r#"{"type":"turn.failed","error":{"message":"unexpected status 401"}}"#);
        assert_eq!(f.verdict(Exit::Code(1)), Err("Codex reported an error: unexpected status 401".into()));
    }
}
