//! A scripted model server on 127.0.0.1 for driving the real agent CLIs offline.
//!
//! It speaks the Anthropic Messages SSE (Claude Code), the OpenAI Responses SSE (Codex) and
//! Gemini `streamGenerateContent` SSE, as shared/AGENT-CLIS.md describes. It plays a scenario
//! (`fixtures/scenarios/*.toml`): a list of turns, each a tool call or a final text, or a fault
//! (an HTTP status, or no answer at all). The turn answered is the number of tool results
//! already in the request, so side requests and client retries do not skip turns. Every
//! request is logged as one JSON line. Each response is closed (`Connection: close`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// `shell`, `write`, or `mcp:<tool>`; mapped to each CLI's tool names.
    pub tool: Option<String>,
    #[serde(default)]
    pub args: serde_json::Map<String, Value>,
    /// Final text instead of a tool call.
    pub say: Option<String>,
    /// Other answers (a text or a tool call), each used when the request contains its
    /// `contains` text (the first that matches wins).
    #[serde(default)]
    pub say_when: Vec<SayWhen>,
    /// Answer with this HTTP status and an error body instead.
    pub status: Option<u16>,
    /// Never answer.
    #[serde(default)]
    pub hang: bool,
    /// The usage the response reports (default: input from the request's size, 7 output).
    pub usage: Option<TurnUsage>,
}

/// Token usage a response reports, each CLI's wire format spelling it its own way.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnUsage {
    /// Input read fresh.
    #[serde(default)]
    pub input: u64,
    #[serde(default)]
    pub cache_read: u64,
    #[serde(default)]
    pub cache_write: u64,
    #[serde(default)]
    pub output: u64,
    /// Reasoning (Responses) or thoughts (Gemini) tokens, part of the output.
    #[serde(default)]
    pub thoughts: u64,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SayWhen {
    pub contains: String,
    /// Say this instead…
    pub say: Option<String>,
    /// …or call this tool instead.
    pub tool: Option<String>,
    #[serde(default)]
    pub args: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub turns: Vec<Turn>,
    /// Answer every turn past the last with the last: a model that never stops on its own.
    #[serde(default)]
    pub forever: bool,
}

impl Scenario {
    pub fn load(name: &str) -> Scenario {
        let path = super::fixtures_dir().join("scenarios").join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// A running server; it stops when dropped (its thread ends with the test process).
pub struct ModelServer {
    pub port: u16,
    pub log: PathBuf,
}

impl ModelServer {
    pub fn start(scenario: Scenario, log: &Path) -> ModelServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("addr").port();
        let log_file = Arc::new(Mutex::new(std::fs::File::create(log).expect("request log")));
        let scenario = Arc::new(scenario);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (scenario, log_file) = (scenario.clone(), log_file.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &scenario, &log_file);
                });
            }
        });
        ModelServer { port, log: log.to_owned() }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every logged request.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("log line"))
            .collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Protocol {
    Anthropic,
    Responses,
    Gemini,
}

fn serve(stream: TcpStream, scenario: &Scenario, log: &Mutex<std::fs::File>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        read_chunked(&mut reader)?
    } else {
        let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        body
    };
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let protocol = if path.starts_with("/v1/messages") && !path.contains("count_tokens") {
        Some(Protocol::Anthropic)
    } else if path.starts_with("/v1/responses") {
        Some(Protocol::Responses)
    } else if path.contains(":streamGenerateContent") || path.contains(":generateContent") {
        Some(Protocol::Gemini)
    } else {
        None
    };
    let has_tools = json.get("tools").is_some_and(|t| t.as_array().is_some_and(|a| !a.is_empty()));
    let turn_index = protocol.map(|p| tool_results(p, &json));
    {
        let entry = json!({
            "method": request_line.split_whitespace().next(),
            "path": path,
            "protocol": protocol.map(|p| format!("{p:?}")),
            "turn": turn_index,
            "main": has_tools,
            "headers": headers.iter().filter(|(k, _)| k != "authorization" && k != "x-api-key" && k != "x-goog-api-key").map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>(),
            "body": json,
            "raw_len": body.len(),
        });
        let mut log = log.lock().expect("log lock");
        writeln!(log, "{entry}")?;
    }
    let mut out = stream;
    let Some(protocol) = protocol else {
        return respond(&mut out, 404, "application/json", b"{\"error\":\"not scripted\"}");
    };
    // Side requests (titles, summaries, checks) carry no tools: answer briefly, keep the turn.
    let index = turn_index.unwrap_or(0);
    let index = if scenario.forever { index.min(scenario.turns.len().saturating_sub(1)) } else { index };
    let turn = if has_tools { scenario.turns.get(index).cloned() } else { None };
    let mut turn = turn.unwrap_or(Turn {
        tool: None,
        args: Default::default(),
        say: Some("ok".into()),
        say_when: Vec::new(),
        status: None,
        hang: false,
        usage: None,
    });
    let text = json.to_string();
    if let Some(w) = turn.say_when.iter().find(|w| text.contains(&w.contains)).cloned() {
        turn.say = w.say;
        turn.tool = w.tool;
        turn.args = w.args;
    }
    // `$HANDOVER_ID` in an argument is the last handover packet id the request shows.
    if let Some(id) = text.rmatch_indices("Handover ").find_map(|(i, _)| {
        let id: String = text[i + 9..].chars().take_while(char::is_ascii_alphanumeric).collect();
        (id.len() == 26).then_some(id)
    }) {
        for v in turn.args.values_mut() {
            if v == "$HANDOVER_ID" {
                *v = Value::String(id.clone());
            }
        }
    }
    if turn.hang {
        std::thread::sleep(std::time::Duration::from_secs(3600));
        return Ok(());
    }
    if let Some(status) = turn.status {
        let body = json!({"type": "error", "error": {"type": "scripted_error", "message": format!("scripted status {status}"), "code": status}});
        return respond(&mut out, status, "application/json", body.to_string().as_bytes());
    }
    let model = json.get("model").and_then(Value::as_str).unwrap_or("scripted").to_owned();
    let usage =
        turn.usage.unwrap_or(TurnUsage { input: (body.len() / 4).max(1) as u64, output: 7, ..TurnUsage::default() });
    static RESPONSES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = RESPONSES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let events = match protocol {
        Protocol::Anthropic => anthropic(&turn, &model, &usage, n),
        Protocol::Responses => responses(&turn, &usage, n),
        Protocol::Gemini => gemini(&turn, &usage),
    };
    let mut sse = String::new();
    for (event, data) in events {
        if let Some(event) = event {
            sse.push_str(&format!("event: {event}\n"));
        }
        sse.push_str(&format!("data: {data}\n\n"));
    }
    respond(&mut out, 200, "text/event-stream", sse.as_bytes())
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        if n == 0 {
            let mut end = String::new();
            reader.read_line(&mut end)?;
            return Ok(body);
        }
        let mut chunk = vec![0; n + 2];
        reader.read_exact(&mut chunk)?;
        body.extend_from_slice(&chunk[..n]);
    }
}

fn respond(out: &mut TcpStream, status: u16, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        if status == 200 { "OK" } else { "Scripted" }
    );
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    out.flush()?;
    out.shutdown(std::net::Shutdown::Both)
}

/// How many tool results the conversation in `body` already holds: the turn to answer.
fn tool_results(protocol: Protocol, body: &Value) -> usize {
    let items = |key: &str| body.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    match protocol {
        Protocol::Anthropic => items("messages")
            .iter()
            .filter_map(|m| m.get("content").and_then(Value::as_array))
            .flatten()
            .filter(|c| c.get("type").and_then(Value::as_str) == Some("tool_result"))
            .count(),
        Protocol::Responses => items("input")
            .iter()
            .filter(|i| i.get("type").and_then(Value::as_str).is_some_and(|t| t.ends_with("_call_output")))
            .count(),
        Protocol::Gemini => items("contents")
            .iter()
            .filter_map(|c| c.get("parts").and_then(Value::as_array))
            .flatten()
            .filter(|p| p.get("functionResponse").is_some())
            .count(),
    }
}

/// The tool name each CLI uses for a scenario role.
fn tool_name(protocol: Protocol, role: &str) -> (Option<String>, String) {
    if let Some(tool) = role.strip_prefix("mcp:") {
        return match protocol {
            Protocol::Anthropic => (None, format!("mcp__maestro__{tool}")),
            Protocol::Responses => (Some("mcp__maestro".into()), tool.to_owned()),
            Protocol::Gemini => (None, format!("mcp_maestro_{tool}")),
        };
    }
    let name = match (protocol, role) {
        (Protocol::Anthropic, "shell") => "Bash",
        (Protocol::Anthropic, "write") => "Write",
        (Protocol::Responses, "shell") => "exec_command",
        (Protocol::Gemini, "shell") => "run_shell_command",
        (Protocol::Gemini, "write") => "write_file",
        (_, other) => other,
    };
    (None, name.to_owned())
}

/// Scenario args in each CLI's shape: `shell {command}` is `exec_command {cmd}` for Codex.
fn tool_args(protocol: Protocol, role: &str, args: &serde_json::Map<String, Value>) -> Value {
    let mut args = args.clone();
    if protocol == Protocol::Responses
        && role == "shell"
        && let Some(cmd) = args.remove("command")
    {
        args.insert("cmd".into(), cmd);
    }
    Value::Object(args)
}

type Events = Vec<(Option<&'static str>, Value)>;

fn anthropic(turn: &Turn, model: &str, u: &TurnUsage, n: u64) -> Events {
    let usage = json!({"input_tokens": u.input, "cache_creation_input_tokens": u.cache_write, "cache_read_input_tokens": u.cache_read, "output_tokens": 1});
    let mut events: Events = vec![(
        Some("message_start"),
        json!({"type": "message_start", "message": {"id": format!("msg_scripted_{n}"), "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage}}),
    )];
    let stop = if let Some(role) = &turn.tool {
        let (_, name) = tool_name(Protocol::Anthropic, role);
        let input = tool_args(Protocol::Anthropic, role, &turn.args).to_string();
        events.push((Some("content_block_start"), json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": format!("toolu_{}", input.len()), "name": name, "input": {}}})));
        events.push((Some("content_block_delta"), json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": input}})));
        "tool_use"
    } else {
        let text = turn.say.clone().unwrap_or_default();
        events.push((
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ));
        events.push((
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        ));
        "end_turn"
    };
    events.push((Some("content_block_stop"), json!({"type": "content_block_stop", "index": 0})));
    events.push((Some("message_delta"), json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": u.output}})));
    events.push((Some("message_stop"), json!({"type": "message_stop"})));
    events
}

fn responses(turn: &Turn, u: &TurnUsage, n: u64) -> Events {
    let item = if let Some(role) = &turn.tool {
        let (namespace, name) = tool_name(Protocol::Responses, role);
        let mut item = json!({"type": "function_call", "id": "fc_scripted", "call_id": format!("call_{n}"), "name": name, "arguments": tool_args(Protocol::Responses, role, &turn.args).to_string()});
        if let Some(ns) = namespace {
            item["namespace"] = json!(ns);
        }
        item
    } else {
        json!({"type": "message", "role": "assistant", "id": "msg_scripted", "content": [{"type": "output_text", "text": turn.say.clone().unwrap_or_default(), "annotations": []}]})
    };
    vec![
        (Some("response.created"), json!({"type": "response.created", "response": {"id": "resp_scripted"}})),
        (
            Some("response.output_item.done"),
            json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        ),
        (
            Some("response.completed"),
            json!({"type": "response.completed", "response": {"id": format!("resp_scripted_{n}"), "usage": {"input_tokens": u.input + u.cache_read, "input_tokens_details": {"cached_tokens": u.cache_read}, "output_tokens": u.output + u.thoughts, "output_tokens_details": {"reasoning_tokens": u.thoughts}, "total_tokens": u.input + u.cache_read + u.output + u.thoughts}}}),
        ),
    ]
}

fn gemini(turn: &Turn, u: &TurnUsage) -> Events {
    let part = if let Some(role) = &turn.tool {
        let (_, name) = tool_name(Protocol::Gemini, role);
        json!({"functionCall": {"name": name, "args": tool_args(Protocol::Gemini, role, &turn.args)}})
    } else {
        json!({"text": turn.say.clone().unwrap_or_default()})
    };
    vec![(
        None,
        json!({"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}], "usageMetadata": {"promptTokenCount": u.input + u.cache_read, "cachedContentTokenCount": u.cache_read, "candidatesTokenCount": u.output, "thoughtsTokenCount": u.thoughts, "totalTokenCount": u.input + u.cache_read + u.output + u.thoughts}}),
    )]
}
