//! Running a performer's CLI once: its adapter's command line, the run's environment and
//! maestro's MCP server, live events, and Ctrl-C. Task runs, agent reviews and the planner go
//! through here. While the agent works, this process serves the run's MCP tools on a per-run
//! socket (see [`crate::mcp::owner`]); the `git maestro mcp` the agent starts only relays to it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::adapter::{self, Event, Invocation, McpLaunch};
use super::meter::Meter;
use super::runner::{self, Exit};
use crate::config::Performer;
use crate::mcp::{MaestroMcp, OpenStore, RunContext};
use crate::store::{Session, Store};

/// One run of a performer.
pub struct Launch<'a> {
    pub performer: &'a Performer,
    pub binary: &'a Path,
    /// The directory the agent works in.
    pub cwd: &'a Path,
    pub prompt: String,
    /// The environment handed down (PATH, HOME, …) before `MAESTRO_*` and the performer's own.
    pub base_env: &'a [(String, String)],
    /// This git-maestro binary, for the MCP server the agent starts.
    pub maestro_exe: &'a Path,
    /// The store: isolated agent homes and the MCP socket live under its common dir, and the
    /// run's MCP tools write through it.
    pub store: &'a Store,
    pub score: &'a str,
    pub task: &'a str,
    pub run: &'a str,
    pub transcript: PathBuf,
    /// The agent's own session to continue, where the adapter can.
    pub resume: Option<String>,
    /// Set to stop the run early, as Ctrl-C does (e.g. when its claim was lost to another
    /// machine).
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Prices the run's usage; the run stops at once when it says a cap is reached.
    pub meter: Meter,
}

/// What a run reported, gathered from its events.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub exit: Exit,
    pub duration: Duration,
    /// The agent's own session id.
    pub session: Option<String>,
    /// What the run used and cost, and whether it was stopped for its budget.
    pub meter: Meter,
    /// The agent's last message, in full.
    pub last_text: Option<String>,
    /// Why the adapter judges the run failed; `None` when it succeeded.
    pub failure: Option<String>,
    /// How far the sandbox was enforced (`None`: unknown).
    pub sandbox: Option<crate::sandbox::Level>,
    /// Processes the performer left running, killed when it ended.
    pub killed: u32,
    /// What the run changed that it must not have (put back since).
    pub aftermath: super::confine::Aftermath,
}

/// Run `launch`; `on_event` sees the performer's events live. An error means the performer
/// could not be started at all.
pub fn launch(launch: Launch<'_>, on_event: &mut dyn FnMut(&Event)) -> std::io::Result<Outcome> {
    let p = launch.performer;
    // Callers check first, with a hint; this only keeps a run that would fail late from starting.
    super::requirements::check(p, &super::requirements::Host::current())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{e}; {}", e.hint)))?;
    // This process serves the run's tools for as long as the performer runs; the socket and
    // its token go to the agent and to the relay it starts (in the server entry's explicit
    // `env`, which every CLI passes on as given).
    let common_dir = launch.store.repo.common_dir().to_owned();
    let context = RunContext {
        score: launch.score.to_owned(),
        task: launch.task.to_owned(),
        run: launch.run.to_owned(),
        performer: p.name.clone(),
    };
    let server = MaestroMcp::new(context.clone(), opener(launch.store, &p.name));
    let (endpoint, listener) = crate::mcp::owner::bind(&common_dir, context, server)?;
    let homes = common_dir.join("maestro/homes");
    let mut writable = adapter::agent_homes(&homes, p);
    writable.extend(p.writable.iter().cloned());
    let ports = super::confine::endpoint_ports(p.base_url.as_deref(), &p.allow_ports);
    let confinement = super::confine::Confinement::prepare(
        &launch.store.repo,
        p.sandbox,
        launch.cwd,
        launch.run,
        writable,
        Some(ports),
    )?;
    let (env, mcp_env) = environments(&launch, &endpoint, &confinement.env, &homes);
    let invocation = Invocation {
        mcp: McpLaunch { command: launch.maestro_exe.to_owned(), env: mcp_env },
        performer: p,
        binary: launch.binary.to_owned(),
        worktree: launch.cwd,
        prompt: launch.prompt,
        env,
        transcript: launch.transcript,
        homes: homes.clone(),
        resume: launch.resume,
        confined: confinement.confined,
        usd_left: launch.meter.usd_left(),
    };
    let mut adapter = adapter::for_kind(p.adapter);
    adapter.prepare(&invocation)?;
    let mut spec = adapter.spec(invocation);
    spec.sandbox = confinement.policy.clone();
    spec.secrets = spec.env.iter().filter(|(k, _)| is_secret_name(k)).map(|(_, v)| v.clone()).collect();
    let mut seen = Seen::default();
    let mut meter = launch.meter;
    // A stop asked from outside (`git maestro task stop`) counts as the flag does.
    let (stop, stop_dir, stop_run) = (launch.stop.clone(), common_dir.clone(), launch.run.to_owned());
    let stopped = move || {
        stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
            || super::stop::requested(&stop_dir, &stop_run)
    };
    let out = serve_while(&spec, (endpoint, listener), stopped, |line| {
        for event in adapter.parse(line) {
            let shown = meter.absorb(&event);
            seen.absorb(&shown);
            on_event(&shown);
        }
        // A budget reached stops the run now, before the agent can ask the model again.
        meter.over.is_some()
    });
    let aftermath = confinement.finish(&launch.store.repo).map_err(std::io::Error::other)?;
    forget_secrets(&homes, p);
    let out = out?;
    Ok(Outcome {
        exit: out.exit,
        duration: out.duration,
        session: seen.session,
        meter,
        last_text: seen.last_text,
        failure: adapter.verdict(out.exit).err().map(|v| super::failure_reason(&v, &out.stderr_tail)),
        sandbox: out.sandbox,
        killed: out.killed,
        aftermath,
    })
}

/// A process's environment, in order.
type Env = Vec<(String, String)>;

/// The performer's environment, and that of the MCP relay it starts: what is handed down, the
/// run's `MAESTRO_*` names, the MCP endpoint, the performer's own, the confinement's, and the
/// isolated home's caches.
fn environments(
    launch: &Launch<'_>,
    endpoint: &crate::mcp::owner::Endpoint,
    confined: &[(String, String)],
    homes: &Path,
) -> (Env, Env) {
    let maestro = |extra: &[(&str, &str)]| -> Env {
        [("MAESTRO_SCORE", launch.score), ("MAESTRO_TASK", launch.task), ("MAESTRO_RUN", launch.run)]
            .iter()
            .chain(extra)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let mut env = launch.base_env.to_vec();
    env.extend(maestro(&[("MAESTRO_WORKTREE", &launch.cwd.display().to_string())]));
    env.extend(endpoint.env());
    env.extend(launch.performer.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut mcp_env: Env = launch.base_env.iter().filter(|(k, _)| k == "PATH" || k == "HOME").cloned().collect();
    mcp_env.extend(maestro(&[]));
    mcp_env.extend(endpoint.env());
    env.extend(confined.iter().cloned());
    if let Some(home) = adapter::home_dir(homes, launch.performer) {
        // What the CLIs write beside their home (caches, MCP logs) stays in the isolated one.
        env.push(("XDG_CACHE_HOME".into(), home.join(".cache").display().to_string()));
        env.push(("XDG_STATE_HOME".into(), home.join(".local/state").display().to_string()));
    }
    (env, mcp_env)
}

/// Run `spec` while serving the run's MCP tools, handing each stdout line to `on_line`, which
/// says whether to stop the run; it also stops on Ctrl-C or when `stopped()`.
fn serve_while(
    spec: &runner::ProcessSpec,
    (endpoint, listener): (crate::mcp::owner::Endpoint, crate::mcp::owner::Listener),
    stopped: impl Fn() -> bool + Send + 'static,
    mut on_line: impl FnMut(&str) -> bool,
) -> std::io::Result<runner::ProcessOutcome> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let cancel_tx = std::sync::Arc::new(cancel_tx);
    let out = rt.block_on(async {
        let serving = tokio::spawn(listener.serve());
        let cancel = cancel_tx.clone();
        let watcher = tokio::spawn(async move {
            while !crate::git::interrupted() && !stopped() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = cancel.send(true);
        });
        let out = runner::run(
            spec,
            |line| {
                if on_line(line) {
                    let _ = cancel_tx.send(true);
                }
            },
            cancel_rx,
        )
        .await;
        watcher.abort();
        serving.abort();
        out
    });
    // The performer is gone: nobody may reach the run's tools any more. Calls in flight finish
    // when the runtime drops, before the run records its end.
    drop(endpoint);
    drop(rt);
    out
}

/// Whether the variable `name` holds a credential (an API key, a token, a secret).
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    ["KEY", "TOKEN", "SECRET", "PASSWORD"].iter().any(|w| name.contains(w))
}

/// Remove what an isolated agent home keeps that holds the run's environment, keys included:
/// Codex's shell snapshots.
fn forget_secrets(homes: &Path, performer: &Performer) {
    if performer.adapter == crate::config::Adapter::Codex
        && let Some(home) = adapter::home_dir(homes, performer)
    {
        let _ = std::fs::remove_dir_all(home.join("shell_snapshots"));
    }
}

/// Opens the store for one MCP tool call, writing as `actor` (the performer).
fn opener(store: &Store, actor: &str) -> OpenStore {
    let dir = store.repo.common_dir().to_owned();
    let (actor, email, argv, clock) =
        (actor.to_owned(), store.session.email.clone(), store.session.argv.clone(), store.session.clock);
    std::sync::Arc::new(move || {
        let repo = crate::git::Repo::discover(&dir).map_err(|e| e.to_string())?;
        Ok(Store::new(repo, Session::new(actor.clone(), email.clone(), argv.clone(), clock, None)))
    })
}

#[derive(Default)]
struct Seen {
    session: Option<String>,
    last_text: Option<String>,
}

impl Seen {
    fn absorb(&mut self, event: &Event) {
        match event {
            Event::Session(id) => self.session = Some(id.clone()),
            Event::Message(text) | Event::Result { text, .. } if !text.trim().is_empty() => {
                self.last_text = Some(text.clone());
            }
            _ => {}
        }
    }
}
