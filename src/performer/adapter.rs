//! Adapters turn a performer's CLI into a [`ProcessSpec`] and its output into [`Event`]s.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::runner::{Exit, ProcessSpec};
use crate::config::{Adapter as AdapterKind, Performer};
use crate::model::budget::Usage;

/// What a performer reported while running.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The agent's own session id.
    Session(String),
    /// A tool call, with a short description of its input.
    Tool { name: String, detail: String },
    /// A message from the agent.
    Message(String),
    /// The model the CLI says it uses.
    Model(String),
    /// Tokens used so far in the run (cumulative), and the cost in dollars where it is known:
    /// the CLI's own figure, else (once git-maestro priced it) tokens × the configured price.
    Usage { tokens: Usage, cost_usd: Option<f64> },
    /// Usage figures that cannot be true; they are not counted.
    BadUsage(String),
    /// The CLI stopped because the budget git-maestro passed it ran out.
    BudgetSpent,
    /// The CLI's final verdict on the run.
    Result { ok: bool, text: String },
}

/// Everything an adapter needs to build the command line.
pub struct Invocation<'a> {
    pub performer: &'a Performer,
    pub binary: PathBuf,
    pub worktree: &'a Path,
    pub prompt: String,
    pub env: Vec<(String, String)>,
    pub transcript: PathBuf,
    /// Where isolated agent homes live (`<git-common-dir>/maestro/homes`).
    pub homes: PathBuf,
    /// How to start maestro's MCP server for this run.
    pub mcp: McpLaunch,
    /// The agent's own session to continue (adapters that cannot resume ignore it).
    pub resume: Option<String>,
    /// Whether the run is confined by git-maestro's sandbox (Codex then drops its own).
    pub confined: bool,
    /// Dollars the run may still spend, for CLIs that enforce a budget themselves.
    pub usd_left: Option<f64>,
}

/// The command line and environment of `git maestro mcp` for one run.
#[derive(Debug, Clone)]
pub struct McpLaunch {
    pub command: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Invocation<'_> {
    /// The process: `args` and `env` as the adapter built them, the rest from the invocation.
    pub fn into_spec(self, args: Vec<String>, env: Vec<(String, String)>) -> ProcessSpec {
        ProcessSpec {
            program: self.binary,
            args,
            cwd: self.worktree.to_owned(),
            env,
            stdin: self.prompt.into_bytes(),
            timeout: std::time::Duration::from_secs(self.performer.timeout),
            transcript: self.transcript,
            // The MCP server is this git-maestro binary, which also supervises the run.
            supervisor: self.mcp.command,
            sandbox: crate::sandbox::Policy::default(),
            secrets: Vec::new(),
            transcript_max: self.performer.transcript_max,
        }
    }
}

impl McpLaunch {
    /// The server as the `mcpServers` JSON entry Claude Code and Gemini read.
    pub fn json(&self) -> serde_json::Value {
        let env: serde_json::Map<String, serde_json::Value> =
            self.env.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        serde_json::json!({ "command": self.command, "args": ["mcp"], "env": env })
    }
}

/// The isolated home of `performer` when its config asks for one; `None` leaves the user's
/// own agent home (and their login) alone.
pub fn home_dir(homes: &Path, performer: &Performer) -> Option<PathBuf> {
    performer.isolate_home.then(|| homes.join(&performer.name))
}

/// Where the agent keeps its state, which a confined run must be able to write (DESIGN §13):
/// the isolated home, else the CLI's own directories in the user's home.
pub fn agent_homes(homes: &Path, performer: &Performer) -> Vec<PathBuf> {
    if let Some(home) = home_dir(homes, performer) {
        return vec![home];
    }
    let Some(user) = std::env::var_os("HOME").map(PathBuf::from) else { return Vec::new() };
    let names: &[&str] = match performer.adapter {
        AdapterKind::Claude => &[".claude", ".claude.json"],
        AdapterKind::Codex => &[".codex"],
        AdapterKind::Gemini => &[".gemini"],
        AdapterKind::Command => &[],
    };
    names.iter().map(|n| user.join(n)).collect()
}

/// `base_url` and the key from the variable `api_key_env` names, as the CLI's variables.
pub fn env_for_endpoint(performer: &Performer, url_var: &str, key_var: &str) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(url) = &performer.base_url {
        env.push((url_var.to_owned(), url.clone()));
    }
    if let Some(key) = performer.api_key_env.as_deref().and_then(|v| std::env::var(v).ok()) {
        env.push((key_var.to_owned(), key));
    }
    env
}

/// A token count at `pointer` in a CLI's JSON: missing is 0; anything but a whole number of
/// tokens (negative, fractional, text) is an error.
pub fn count(v: &Value, pointer: &str) -> Result<u64, String> {
    match v.pointer(pointer) {
        None | Some(Value::Null) => Ok(0),
        Some(n) => n.as_u64().ok_or_else(|| format!("{} = {n} is not a token count", pointer.trim_start_matches('/'))),
    }
}

/// The event for usage figures a CLI reported: [`Event::BadUsage`] when they cannot be true.
pub fn usage_event(tokens: Result<Usage, String>, cost_usd: Option<f64>) -> Event {
    match tokens {
        Ok(t) if !t.is_plausible() => Event::BadUsage(format!("{} tokens in one run", t.total())),
        Ok(_) if cost_usd.is_some_and(|c| !(c.is_finite() && c >= 0.0)) => {
            Event::BadUsage(format!("a cost of {} dollars", cost_usd.unwrap_or_default()))
        }
        Ok(tokens) => Event::Usage { tokens, cost_usd },
        Err(why) => Event::BadUsage(why),
    }
}

/// One CLI protocol.
pub trait Adapter {
    /// Write what the CLI needs before it starts (an isolated home's settings).
    fn prepare(&self, _inv: &Invocation<'_>) -> std::io::Result<()> {
        Ok(())
    }
    /// The process to run.
    fn spec(&self, inv: Invocation<'_>) -> ProcessSpec;
    /// Parse one line of stdout.
    fn parse(&mut self, line: &str) -> Vec<Event>;
    /// Decide success from the exit status and what was parsed; `Err` carries the reason.
    fn verdict(&self, exit: Exit) -> Result<(), String>;
}

/// The adapter for `kind`.
pub fn for_kind(kind: AdapterKind) -> Box<dyn Adapter> {
    match kind {
        AdapterKind::Command => Box::new(Command),
        AdapterKind::Claude => Box::new(super::claude::Claude::default()),
        AdapterKind::Codex => Box::new(super::codex::Codex::default()),
        AdapterKind::Gemini => Box::new(super::gemini::Gemini::default()),
    }
}

/// Any program: prompt on stdin, `MAESTRO_*` in the environment, edits the cwd. Each stdout
/// line is a message; exit 0 is success.
pub struct Command;

impl Adapter for Command {
    fn spec(&self, inv: Invocation<'_>) -> ProcessSpec {
        let (args, env) = (inv.performer.extra_args.clone(), inv.env.clone());
        inv.into_spec(args, env)
    }

    fn parse(&mut self, line: &str) -> Vec<Event> {
        if line.trim().is_empty() { Vec::new() } else { vec![Event::Message(line.to_owned())] }
    }

    fn verdict(&self, exit: Exit) -> Result<(), String> {
        match exit {
            Exit::Code(0) => Ok(()),
            Exit::Code(c) => Err(format!("the performer exited with status {c}")),
            Exit::Signal(s) => Err(format!("the performer was killed by signal {s}")),
            Exit::TimedOut => Err("the performer did not finish before its timeout and was killed".into()),
            Exit::Cancelled => Err("the run was interrupted".into()),
        }
    }
}
