//! `git maestro mcp`: the MCP server performers call during a run (stdio, built on rmcp).
//!
//! The run it serves comes from the environment the adapter sets (`MAESTRO_SCORE`,
//! `MAESTRO_TASK`, `MAESTRO_RUN`, `MAESTRO_ACTOR`), never from the agent's arguments, so an
//! agent can only read and write the records of its own run.
//!
//! Tools: `task_get` (the task being worked on); the run's short-term memory: `note` (or
//! `report`) a working note, `stack_push` / `stack_pop` subtasks it found, `status` where it
//! stands; `kb_search` and `kb_propose` for long-term knowledge; `handover_ack` and
//! `handover_nack` to answer handover packets; and `decide` (a decision about the task).

use std::sync::Arc;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{ServiceExt, tool, tool_router};
use serde::Deserialize;

use crate::memory::{handover, kb, retrieval};
use crate::model::redact::redact;
use crate::model::{DecisionKind, MAX_STRING_BYTES, Note, RunSession};
use crate::store::{self, Store, layout};

/// Which run this server serves.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub score: String,
    pub task: String,
    pub run: String,
    pub performer: String,
}

/// Opens the store for one tool call (a fresh handle sees other writers' commits).
pub type OpenStore = Arc<dyn Fn() -> Result<Store, String> + Send + Sync>;

/// The server.
#[derive(Clone)]
pub struct MaestroMcp {
    run: RunContext,
    open: OpenStore,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReportArgs {
    /// One progress note: what was done, found, or is next.
    pub note: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct NoteArgs {
    /// One working note.
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
pub struct EmptyArgs {}

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

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct DecideArgs {
    /// One line: what was decided.
    pub summary: String,
    /// Why.
    #[serde(default)]
    pub rationale: String,
    /// design (default), lesson, or another decision kind.
    #[serde(default)]
    pub kind: Option<String>,
}

#[tool_router(server_handler)]
impl MaestroMcp {
    /// A server for `run`.
    pub fn new(run: RunContext, open: OpenStore) -> MaestroMcp {
        MaestroMcp { run, open }
    }

    /// The task you are working on: id, title, kind, spec, acceptance criteria, scope, deps.
    #[tool(description = "Get the task you are working on: spec, acceptance criteria, scope and dependencies.")]
    fn task_get(&self) -> Result<String, String> {
        let store = (self.open)()?;
        let view = store.view().map_err(|e| e.to_string())?;
        let task = store::task(&view, &self.run.score, &self.run.task).map_err(|e| e.to_string())?;
        let value = serde_json::json!({
            "id": task.address(), "title": task.title, "kind": task.kind.as_str(), "status": task.status,
            "spec": task.spec, "acceptance": task.acceptance, "scope": task.scope, "deps": task.deps,
        });
        serde_json::to_string_pretty(&value).map_err(|e| e.to_string())
    }

    /// Record a progress note in this run's session record.
    #[tool(description = "Report progress: record a short note about what you did or found in this run's log.")]
    fn report(&self, Parameters(args): Parameters<ReportArgs>) -> Result<String, String> {
        let note = checked("note", &args.note)?;
        self.update_session("report", |s, now| s.notes.push(Note { at: now, text: note.clone() }))
    }

    /// A working note, kept for this task's later runs.
    #[tool(description = "Add a working note for this task; later runs of the task see it.")]
    fn note(&self, Parameters(args): Parameters<NoteArgs>) -> Result<String, String> {
        let text = checked("text", &args.text)?;
        self.update_session("note", |s, now| s.notes.push(Note { at: now, text: text.clone() }))
    }

    /// Push a subtask onto the task's stack.
    #[tool(description = "Push a subtask you discovered onto this task's stack, to come back to it later.")]
    fn stack_push(&self, Parameters(args): Parameters<StackPushArgs>) -> Result<String, String> {
        let item = checked("item", &args.item)?;
        self.update_session("stack push", |s, now| s.stack.push(Note { at: now, text: item.clone() }))
    }

    /// Pop the top subtask off the task's stack.
    #[tool(description = "Pop the most recent subtask off this task's stack and return it.")]
    fn stack_pop(&self, Parameters(_): Parameters<EmptyArgs>) -> Result<String, String> {
        let popped = std::cell::RefCell::new(None);
        self.update_session("stack pop", |s, _| *popped.borrow_mut() = s.stack.pop())?;
        Ok(match popped.into_inner() {
            Some(item) => format!("Popped: {}", item.text),
            None => "The stack is empty.".into(),
        })
    }

    /// Say where the run stands.
    #[tool(description = "Set this run's status: one line on where you stand.")]
    fn status(&self, Parameters(args): Parameters<StatusArgs>) -> Result<String, String> {
        let status = checked("status", &args.status)?;
        self.update_session("status", |s, now| s.status = Some(Note { at: now, text: status.clone() }))
    }

    /// Search the knowledge base and the design and lesson decisions.
    #[tool(description = "Search what the team knows: knowledge entries and design or lesson decisions, best first.")]
    fn kb_search(&self, Parameters(args): Parameters<KbSearchArgs>) -> Result<String, String> {
        let store = (self.open)()?;
        let view = store.view().map_err(|e| e.to_string())?;
        let task = store::task(&view, &self.run.score, &self.run.task).map_err(|e| e.to_string())?;
        let mut query = retrieval::Query::for_task(&task, store.session.now());
        query.text = args.query;
        let knowledge = store::knowledge(&view).map_err(|e| e.to_string())?;
        let decisions = store::decisions(&view).map_err(|e| e.to_string())?;
        let mut hits = retrieval::rank(&knowledge, &decisions, &query);
        hits.truncate(5);
        if hits.is_empty() {
            return Ok("Nothing matches.".into());
        }
        serde_json::to_string_pretty(&hits).map_err(|e| e.to_string())
    }

    /// Propose a knowledge entry; it counts once someone accepts it.
    #[tool(description = "Propose a knowledge entry for later tasks; a person accepts it before it is used.")]
    fn kb_propose(&self, Parameters(args): Parameters<KbProposeArgs>) -> Result<String, String> {
        let store = (self.open)()?;
        let entry = kb::NewEntry {
            title: checked("title", &args.title)?,
            body: args.body,
            tags: args.tags,
            paths: args.paths,
            confidence: 0.5,
            supersedes: None,
            source: format!("agent:{}", self.run.performer),
        };
        let view = store.view().map_err(|e| e.to_string())?;
        let policy = store::score(&view, &self.run.score).map(|s| s.kb_approval).unwrap_or_default();
        if policy == crate::model::score::PlanApproval::Auto {
            let k = kb::add(&store, entry, crate::model::KnowledgeStatus::Accepted).map_err(|e| e.to_string())?;
            return Ok(format!("Added {} (this Score accepts proposals as they come).", k.id));
        }
        let k = kb::add(&store, entry, crate::model::KnowledgeStatus::Proposed).map_err(|e| e.to_string())?;
        Ok(format!("Proposed {}; it is used once accepted (`git maestro kb accept {}`).", k.id, k.id))
    }

    /// Acknowledge a handover packet.
    #[tool(description = "Acknowledge a handover packet you received: you read it and take the task on.")]
    fn handover_ack(&self, Parameters(args): Parameters<HandoverAckArgs>) -> Result<String, String> {
        let store = (self.open)()?;
        handover::answer(&store, args.id.trim(), &self.run.performer, None).map_err(|e| e.to_string())?;
        Ok("Acknowledged.".into())
    }

    /// Refuse a handover packet.
    #[tool(description = "Refuse a handover packet, with the reason: the task goes to another performer.")]
    fn handover_nack(&self, Parameters(args): Parameters<HandoverNackArgs>) -> Result<String, String> {
        let reason = checked("reason", &args.reason)?;
        let store = (self.open)()?;
        handover::answer(&store, args.id.trim(), &self.run.performer, Some(&reason)).map_err(|e| e.to_string())?;
        Ok("Refused; the task will be routed to another performer.".into())
    }

    /// Record a decision about this task in the shared decision log.
    #[tool(description = "Record a decision about this task (summary, rationale) in the shared decision log.")]
    fn decide(&self, Parameters(args): Parameters<DecideArgs>) -> Result<String, String> {
        let summary = checked("summary", &args.summary)?;
        let rationale = redact(&args.rationale);
        let kind_name = args.kind.as_deref().unwrap_or("design");
        let kind = DecisionKind::parse(kind_name).ok_or_else(|| format!("unknown decision kind {kind_name:?}"))?;
        let store = (self.open)()?;
        let run = &self.run;
        let outcome = store
            .transact(&format!("decide: {summary}"), |tx| {
                let mut d =
                    store::new_decision(tx, kind, summary.clone(), &run.performer).about(&run.score, Some(&run.task));
                d.rationale.clone_from(&rationale);
                store::append_decision(tx, &d)?;
                Ok::<_, store::Error>(d.id)
            })
            .map_err(|e| e.to_string())?;
        Ok(format!("Recorded decision {}.", outcome.value))
    }
}

impl MaestroMcp {
    /// Change this run's session record in one transaction.
    fn update_session(
        &self,
        what: &str,
        mut change: impl FnMut(&mut RunSession, jiff::Timestamp),
    ) -> Result<String, String> {
        let store = (self.open)()?;
        let run = &self.run;
        let path = layout::session_file(&run.score, &run.task, &run.run);
        let _written = store
            .transact(&format!("{what} on {}/{} run {}", run.score, run.task, run.run), |tx| {
                let mut session = tx
                    .get::<RunSession>(&path)?
                    .unwrap_or_else(|| RunSession::new(&run.run, &run.score, &run.task, &run.performer));
                change(&mut session, tx.now);
                tx.put(&path, &session)
            })
            .map_err(|e| e.to_string())?;
        Ok("Recorded.".into())
    }
}

/// One non-empty line of at most the string limit, with secrets redacted.
fn checked(field: &str, text: &str) -> Result<String, String> {
    let text = redact(text.trim());
    if text.is_empty() {
        return Err(format!("{field} is empty"));
    }
    if text.len() > MAX_STRING_BYTES {
        return Err(format!("{field} is {} bytes; the limit is {MAX_STRING_BYTES}", text.len()));
    }
    Ok(text)
}

/// Serve MCP on stdin/stdout until the client goes away.
pub async fn serve(server: MaestroMcp) -> std::io::Result<()> {
    let running = server.serve(rmcp::transport::stdio()).await.map_err(std::io::Error::other)?;
    running.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}
