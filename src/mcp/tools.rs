//! The MCP tools, scoped to one run: what an agent may read and write.
//!
//! Every call works on the run's own task, never on ids from the agent's arguments. A write is
//! refused unless the run still holds its task (the task is `running` under this run's lease),
//! and it never creates a task, Score or session record: those come from the run loop. Every
//! argument is bounded (see [`super::limits`]) before anything is read or written.

use std::sync::Arc;

use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{tool, tool_handler, tool_router};
use serde::{Deserialize, Serialize};

use super::limits;
use super::{OpenStore, RunContext};
use crate::memory::{handover, kb, retrieval};
use crate::model::{Note, OpenKind, RunSession, Task, TaskStatus};
use crate::store::{self, Store, layout};

/// What the server tells a client about itself at `initialize`.
const INSTRUCTIONS: &str = "git-maestro runs you as a performer on one task of a Score. These tools \
read and write the shared records of that task only. Start with task_get for the spec, acceptance \
criteria and scope. Keep short-term memory with note, status, stack_push and stack_pop; later \
runs of the task see it. Search what the team knows with kb_search and propose what you learned \
with kb_propose. Record design or lesson decisions with decide. Answer handover packets from \
your prompt with handover_ack or handover_nack. Do not commit: git-maestro commits your worktree \
when you finish. Writes are refused once your run has ended.";

/// The tools, one line each, for `git maestro mcp --help` (a test checks it lists every tool).
pub const TOOLS_HELP: &str = "Tools:\n  \
    task_get       the task being worked on (read-only)\n  \
    kb_search      knowledge entries and design or lesson decisions (read-only)\n  \
    note           add a working note to the run's session\n  \
    status         set where the run stands\n  \
    stack_push     push a subtask onto the task's stack\n  \
    stack_pop      pop the most recent subtask\n  \
    kb_propose     propose a knowledge entry\n  \
    decide         record a design or lesson decision about the task\n  \
    handover_ack   acknowledge a handover packet\n  \
    handover_nack  refuse a handover packet, with the reason";

/// The server for one run. Cheap to clone: each connection gets a clone.
#[derive(Clone)]
pub struct MaestroMcp {
    inner: Arc<Inner>,
}

struct Inner {
    run: RunContext,
    open: OpenStore,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct NoteArgs {
    /// One working note: what was done, found, or is next.
    pub text: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct StackPushArgs {
    /// A subtask you found and will come back to.
    pub item: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct StatusArgs {
    /// Where you stand, in one line.
    pub status: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct HandoverAckArgs {
    /// The packet id from the handover block.
    pub id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct HandoverNackArgs {
    /// The packet id from the handover block.
    pub id: String,
    /// Why you cannot take it.
    pub reason: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct KbSearchArgs {
    /// Words to look for.
    pub query: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct KbProposeArgs {
    /// One line: what is true.
    pub title: String,
    /// The details.
    #[serde(default)]
    pub body: String,
    /// Topics, task kinds or languages.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Files or globs it is about.
    #[serde(default)]
    pub paths: Vec<String>,
}

/// The decision kinds an agent may record. Approvals, rejections, merges, landings, rollbacks
/// and assignments come only from the commands that make them.
#[derive(Debug, Clone, Copy, Default, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum AgentKind {
    // A choice about how to build it. (`//`, so the schema is a plain `enum` of names.)
    #[default]
    Design,
    // Something learned that later tasks should know.
    Lesson,
}

impl AgentKind {
    fn open(self) -> OpenKind {
        match self {
            AgentKind::Design => OpenKind::DESIGN,
            AgentKind::Lesson => OpenKind::LESSON,
        }
    }
}

impl<'de> Deserialize<'de> for AgentKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<AgentKind, D::Error> {
        let name = String::deserialize(d)?;
        match name.as_str() {
            "design" => Ok(AgentKind::Design),
            "lesson" => Ok(AgentKind::Lesson),
            other => {
                let why = match OpenKind::parse(other) {
                    Err(e) => e.to_string(),
                    Ok(_) => format!("agents do not record {other} decisions"),
                };
                Err(serde::de::Error::custom(format!("{why}; an agent records only design or lesson decisions")))
            }
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct DecideArgs {
    /// One line: what was decided.
    pub summary: String,
    /// Why.
    #[serde(default)]
    pub rationale: String,
    /// `design` (a choice about how to build it) or `lesson` (something later tasks should
    /// know). Approvals, merges and the other system kinds come only from their commands.
    #[serde(default)]
    pub kind: AgentKind,
}

/// The task, as `task_get` returns it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TaskView {
    /// The Score the task belongs to.
    pub score: String,
    /// The task's id within its Score.
    pub id: String,
    pub title: String,
    pub kind: String,
    pub status: String,
    pub spec: String,
    pub acceptance: Vec<String>,
    /// Globs of the files the task expects to touch.
    pub scope: Vec<String>,
    /// Tasks of the same Score this one builds on.
    pub deps: Vec<String>,
}

/// What `kb_search` found, best first.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SearchResult {
    pub hits: Vec<HitView>,
}

/// One knowledge entry or decision.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct HitView {
    /// `knowledge` or `decision`.
    pub kind: String,
    pub id: String,
    pub title: String,
    pub text: String,
    /// Relevance; higher is better.
    pub score: f64,
}

/// Why a call was refused.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl From<String> for CallError {
    fn from(message: String) -> CallError {
        CallError::Refused(message)
    }
}

#[tool_router]
impl MaestroMcp {
    /// A server for `run`, opening the store with `open` for each call.
    pub fn new(run: RunContext, open: OpenStore) -> MaestroMcp {
        MaestroMcp { inner: Arc::new(Inner { run, open }) }
    }

    /// The run it serves.
    pub fn run(&self) -> &RunContext {
        &self.inner.run
    }

    /// The names of every tool, for help text and tests.
    pub fn tool_names() -> Vec<String> {
        Self::tool_router().list_all().into_iter().map(|t| t.name.to_string()).collect()
    }

    #[tool(
        description = "Get the task you are working on: spec, acceptance criteria, scope and dependencies.",
        annotations(title = "Get the task", read_only_hint = true, open_world_hint = false)
    )]
    async fn task_get(&self) -> Result<Json<TaskView>, String> {
        self.blocking(|inner| {
            let store = (inner.open)()?;
            let task = inner.task(&store)?;
            Ok(Json(TaskView {
                score: task.score,
                id: task.id,
                title: task.title,
                kind: task.kind.as_str().to_owned(),
                status: task.status.as_str().to_owned(),
                spec: task.spec,
                acceptance: task.acceptance,
                scope: task.scope,
                deps: task.deps,
            }))
        })
        .await
    }

    #[tool(
        description = "Search what the team knows: knowledge entries and design or lesson decisions, best first.",
        annotations(title = "Search the knowledge base", read_only_hint = true, open_world_hint = false)
    )]
    async fn kb_search(&self, Parameters(args): Parameters<KbSearchArgs>) -> Result<Json<SearchResult>, String> {
        let text = limits::QUERY.check("query", &args.query)?;
        self.blocking(move |inner| {
            let store = (inner.open)()?;
            let task = inner.task(&store)?;
            let view = store.view().map_err(|e| e.to_string())?;
            let mut query = retrieval::Query::for_task(&task, store.session.now());
            query.text = text;
            let (knowledge, decisions) = store::recall(&store, &view).map_err(|e| e.to_string())?;
            let mut hits = retrieval::rank(&knowledge, &decisions, &query);
            hits.truncate(limits::SEARCH_HITS);
            let hits = hits
                .into_iter()
                .map(|h| HitView { kind: h.kind.to_owned(), id: h.id, title: h.title, text: h.text, score: h.score })
                .collect();
            Ok(Json(SearchResult { hits }))
        })
        .await
    }

    #[tool(
        description = "Add a working note to this run: what you did, found, or will do next. Later runs of the task see it.",
        annotations(
            title = "Add a note",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn note(&self, Parameters(args): Parameters<NoteArgs>) -> Result<String, String> {
        let text = limits::NOTE.check("text", &args.text)?;
        self.update_session("note", move |s, now| {
            if s.notes.len() >= limits::NOTES_PER_RUN {
                return Err(format!("this run already has {} notes, the limit", limits::NOTES_PER_RUN));
            }
            s.notes.push(Note { at: now, text: text.clone() });
            Ok("Recorded.".into())
        })
        .await
    }

    #[tool(
        description = "Push a subtask you discovered onto this task's stack, to come back to it later.",
        annotations(
            title = "Push a subtask",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn stack_push(&self, Parameters(args): Parameters<StackPushArgs>) -> Result<String, String> {
        let item = limits::LINE.check("item", &args.item)?;
        self.update_session("stack push", move |s, now| {
            if s.stack.len() >= limits::STACK_DEPTH {
                return Err(format!("the stack already holds {} subtasks, the limit", limits::STACK_DEPTH));
            }
            s.stack.push(Note { at: now, text: item.clone() });
            Ok("Recorded.".into())
        })
        .await
    }

    #[tool(
        description = "Pop the most recent subtask off this task's stack and return it.",
        annotations(
            title = "Pop a subtask",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn stack_pop(&self) -> Result<String, String> {
        self.update_session("stack pop", |s, _| {
            Ok(match s.stack.pop() {
                Some(item) => format!("Popped: {}", item.text),
                None => "The stack is empty.".into(),
            })
        })
        .await
    }

    #[tool(
        description = "Set this run's status: one line on where you stand (replaces the last one).",
        annotations(
            title = "Set the status",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn status(&self, Parameters(args): Parameters<StatusArgs>) -> Result<String, String> {
        let status = limits::LINE.check("status", &args.status)?;
        self.update_session("status", move |s, now| {
            s.status = Some(Note { at: now, text: status.clone() });
            Ok("Recorded.".into())
        })
        .await
    }

    #[tool(
        description = "Propose a knowledge entry for later tasks; a person accepts it before it is used.",
        annotations(
            title = "Propose knowledge",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn kb_propose(&self, Parameters(args): Parameters<KbProposeArgs>) -> Result<String, String> {
        let title = limits::LINE.check("title", &args.title)?;
        let body = limits::NOTE.check_optional("body", &args.body)?;
        let tags = limits::TAGS.check_all("tags", &args.tags)?;
        let paths = limits::PATHS.check_all("paths", &args.paths)?;
        self.blocking(move |inner| {
            let store = (inner.open)()?;
            let view = store.view().map_err(|e| e.to_string())?;
            let task = inner.task(&store)?;
            inner.holds(&task)?;
            let entry = kb::NewEntry {
                title,
                body,
                tags,
                paths,
                confidence: 0.5,
                supersedes: None,
                source: format!("agent:{}", inner.run.performer),
            };
            let policy = store::score(&view, &inner.run.score).map(|s| s.kb_approval).map_err(|e| e.to_string())?;
            if policy == crate::model::score::PlanApproval::Auto {
                let k = kb::add(&store, entry, crate::model::KnowledgeStatus::Accepted).map_err(|e| e.to_string())?;
                return Ok(format!("Added {} (this Score accepts proposals as they come).", k.id));
            }
            let k = kb::add(&store, entry, crate::model::KnowledgeStatus::Proposed).map_err(|e| e.to_string())?;
            Ok(format!("Proposed {}; it is used once accepted (`git maestro kb accept {}`).", k.id, k.id))
        })
        .await
    }

    #[tool(
        description = "Acknowledge a handover packet you received: you read it and take the task on.",
        annotations(
            title = "Acknowledge a handover",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn handover_ack(&self, Parameters(args): Parameters<HandoverAckArgs>) -> Result<String, String> {
        let id = limits::record_id("id", &args.id)?;
        self.answer(id, None).await?;
        Ok("Acknowledged.".into())
    }

    #[tool(
        description = "Refuse a handover packet, with the reason: the task goes to another performer.",
        annotations(
            title = "Refuse a handover",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn handover_nack(&self, Parameters(args): Parameters<HandoverNackArgs>) -> Result<String, String> {
        let id = limits::record_id("id", &args.id)?;
        let reason = limits::NOTE.check("reason", &args.reason)?;
        self.answer(id, Some(reason)).await?;
        Ok("Refused; the task will be routed to another performer.".into())
    }

    #[tool(
        description = "Record a design or lesson decision about this task (summary, rationale) in the shared decision log.",
        annotations(
            title = "Record a decision",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn decide(&self, Parameters(args): Parameters<DecideArgs>) -> Result<String, String> {
        let summary = limits::LINE.check("summary", &args.summary)?;
        let rationale = limits::NOTE.check_optional("rationale", &args.rationale)?;
        let kind = args.kind.open().kind();
        self.blocking(move |inner| {
            let store = (inner.open)()?;
            let run = &inner.run;
            let outcome = store
                .transact(&format!("decide: {summary}"), |tx| {
                    inner.holds(&store::task(tx, &run.score, &run.task)?)?;
                    let mut d = store::new_decision(tx, kind, summary.clone(), &run.performer)
                        .about(&run.score, Some(&run.task));
                    d.rationale.clone_from(&rationale);
                    store::append_decision(tx, &d)?;
                    Ok::<_, CallError>(d.id)
                })
                .map_err(|e| e.to_string())?;
            Ok(format!("Recorded decision {}.", outcome.value))
        })
        .await
    }
}

#[tool_handler]
impl rmcp::ServerHandler for MaestroMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("git-maestro", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS.to_owned())
    }
}

impl MaestroMcp {
    /// Run `work` on a blocking thread: the store is synchronous, and the runtime that serves
    /// the run also reads the performer's output.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, String> + Send + 'static,
    ) -> Result<T, String> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner)).await.map_err(|e| format!("the call failed: {e}"))?
    }

    /// Change this run's session record in one transaction, while the run holds its task.
    async fn update_session(
        &self,
        what: &'static str,
        mut change: impl FnMut(&mut RunSession, jiff::Timestamp) -> Result<String, String> + Send + 'static,
    ) -> Result<String, String> {
        self.blocking(move |inner| {
            let store = (inner.open)()?;
            let run = &inner.run;
            let path = layout::session_file(&run.score, &run.task, &run.run);
            let outcome = store
                .transact(&format!("{what} on {}/{} run {}", run.score, run.task, run.run), |tx| {
                    inner.holds(&store::task(tx, &run.score, &run.task)?)?;
                    let mut session =
                        tx.get::<RunSession>(&path)?.ok_or_else(|| format!("run {} has no session record", run.run))?;
                    let answer = change(&mut session, tx.now)?;
                    tx.put(&path, &session)?;
                    Ok::<_, CallError>(answer)
                })
                .map_err(|e| e.to_string())?;
            Ok(outcome.value)
        })
        .await
    }

    /// Acknowledge (`nack = None`) or refuse packet `id`, which must be about this run's task.
    async fn answer(&self, id: String, nack: Option<String>) -> Result<(), String> {
        self.blocking(move |inner| {
            let store = (inner.open)()?;
            let run = &inner.run;
            inner.holds(&inner.task(&store)?)?;
            let view = store.view().map_err(|e| e.to_string())?;
            let packet = store::handovers(&view)
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|h| h.id == id)
                .ok_or_else(|| format!("no handover packet {id:?}"))?;
            let ours = packet.score == run.score
                && packet.task.as_deref().is_none_or(|t| t == run.task)
                && packet.delivered_run.as_deref().is_none_or(|r| r == run.run);
            if !ours {
                return Err(format!("handover {id} is not for this run of {}/{}", run.score, run.task));
            }
            handover::answer(&store, &id, &run.performer, nack.as_deref()).map_err(|e| e.to_string())?;
            Ok(())
        })
        .await
    }
}

impl Inner {
    /// The run's task, as the store has it now.
    fn task(&self, store: &Store) -> Result<Task, String> {
        let run = &self.run;
        if run.score.is_empty() || run.task.is_empty() {
            return Err("this run works on no task".into());
        }
        let view = store.view().map_err(|e| e.to_string())?;
        store::task(&view, &run.score, &run.task).map_err(|e| e.to_string())
    }

    /// Refuse unless this run still holds its task: the task is `running` under its lease.
    fn holds(&self, task: &Task) -> Result<(), String> {
        let run = &self.run.run;
        let ours = match &task.lease {
            Some(lease) => lease.run == *run,
            None => task.attempts.last().is_some_and(|a| a.run == *run),
        };
        if task.status == TaskStatus::Running && ours {
            return Ok(());
        }
        Err(format!(
            "run {run} no longer holds {} (it is {}): its records are closed, and nothing was written",
            task.address(),
            task.status
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::task::sample;

    fn inner(run: &str) -> Inner {
        let run = RunContext { score: "s".into(), task: "t".into(), run: run.into(), performer: "p".into() };
        Inner { run, open: Arc::new(|| Err("no store in unit tests".to_owned())) }
    }

    fn with_attempt(status: TaskStatus, run: &str) -> Task {
        let mut task = sample(status);
        task.attempts.push(crate::model::Attempt::start(run, "p", "command", None, jiff::Timestamp::UNIX_EPOCH));
        task
    }

    #[test]
    fn only_the_run_that_holds_a_running_task_writes() {
        assert_eq!(inner("r1").holds(&with_attempt(TaskStatus::Running, "r1")), Ok(()));
        let other = inner("r0").holds(&with_attempt(TaskStatus::Running, "r1")).unwrap_err();
        assert!(other.contains("run r0 no longer holds s/t (it is running)"), "{other}");
        for status in [TaskStatus::Submitted, TaskStatus::Merged, TaskStatus::Ready, TaskStatus::Failed] {
            let closed = inner("r1").holds(&with_attempt(status, "r1")).unwrap_err();
            assert!(closed.contains("nothing was written"), "{closed}");
        }
        assert!(inner("r1").holds(&sample(TaskStatus::Running)).is_err(), "a run with no attempt holds nothing");
    }

    #[test]
    fn agents_name_only_open_decision_kinds() {
        let kind = |v: serde_json::Value| serde_json::from_value::<AgentKind>(v).map(|k| k.open().kind());
        assert_eq!(kind("lesson".into()).ok(), Some(crate::model::DecisionKind::Lesson));
        for forged in ["merge", "approval", "rejection", "rollback", "assignment", "landing", "plan"] {
            let err = kind(forged.into()).unwrap_err().to_string();
            assert!(err.contains("an agent records only design or lesson decisions"), "{forged}: {err}");
        }
    }
}
