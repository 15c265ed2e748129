//! `git maestro kb …`: the long-term knowledge base.

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::memory::kb::{self, NewEntry};
use crate::memory::retrieval::{self, Query};
use crate::model::{Knowledge, KnowledgeStatus};
use crate::store;

/// Keep knowledge for later tasks: add, search, promote decisions, retire
///
/// Entries live in the state (knowledge/…). Each task's prompt gets the entries and design or
/// lesson decisions most relevant to it: by its scope paths, its kind and languages as tags,
/// BM25 relevance to its spec, and recency. Agents can search (`kb_search`) and propose
/// (`kb_propose`) entries through MCP; a proposal counts once someone accepts it.
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum KbCommand {
    /// Add an entry
    Add(AddArgs),
    /// Show an entry
    Show(ShowArgs),
    /// Search entries and decisions, best first
    Search(SearchArgs),
    /// Make a decision into a knowledge entry
    Promote(PromoteArgs),
    /// Accept a proposed entry, so that it is retrieved into prompts
    Accept(AcceptArgs),
    /// Retire an entry: it is kept, but never retrieved again
    Retire(RetireArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// One line: what is true
    #[arg(long)]
    pub title: String,
    /// The details
    #[arg(long, short = 'm', default_value = "")]
    pub body: String,
    #[command(flatten)]
    pub about: About,
    /// How sure, from 0 to 1
    #[arg(long, default_value_t = 0.8)]
    pub confidence: f64,
    /// The id of an entry this one replaces (it is never retrieved again)
    #[arg(long, value_name = "ID")]
    pub supersedes: Option<String>,
}

// Tags and paths of an entry. Not a doc comment: clap would make it the about of each command
// that flattens it, once the command is built lazily.
#[derive(Debug, clap::Args)]
pub struct About {
    /// A tag (repeat for more): a task kind, a language, a topic
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// A file or glob it is about (repeat for more)
    #[arg(long = "path", value_name = "GLOB")]
    pub paths: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The entry id
    pub id: String,
}

#[derive(Debug, clap::Args)]
pub struct AcceptArgs {
    /// The entry id
    pub id: String,
}

#[derive(Debug, clap::Args)]
pub struct RetireArgs {
    /// The entry id
    pub id: String,
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Words to look for
    pub words: Vec<String>,
    /// Rank for this task instead (<score>/<task>): its spec, scope, kind and languages
    #[arg(long, value_name = "TASK")]
    pub task: Option<String>,
    /// At most this many results
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The decision id
    pub decision: String,
    #[command(flatten)]
    pub about: About,
}

pub fn run(ctx: &Context, cmd: KbCommand) -> CommandResult {
    let store = ctx.store()?;
    let actor = store.session.actor.clone();
    let entry = match cmd {
        KbCommand::Add(a) => {
            let new = NewEntry {
                title: a.title,
                body: a.body,
                tags: a.about.tags,
                paths: a.about.paths,
                confidence: a.confidence,
                supersedes: a.supersedes,
                source: format!("person:{actor}"),
            };
            kb::add(&store, new, KnowledgeStatus::Accepted)?
        }
        KbCommand::Show(a) => store::knowledge_entry(&store.view()?, &a.id)?,
        KbCommand::Accept(a) => kb::accept(&store, &a.id)?,
        KbCommand::Retire(a) => kb::retire(&store, &a.id)?,
        KbCommand::Promote(a) => {
            let extra = NewEntry { tags: a.about.tags, paths: a.about.paths, confidence: 0.8, ..NewEntry::default() };
            kb::promote(&store, &a.decision, extra)?
        }
        KbCommand::Search(a) => return search(ctx, &store, &a),
    };
    show(ctx, &entry)
}

fn show(ctx: &Context, k: &Knowledge) -> CommandResult {
    if ctx.ui.json {
        ctx.ui.json(k)?;
        return Ok(());
    }
    let status = match &k.superseded_by {
        Some(by) => format!("superseded by {by}"),
        None => format!("{:?}", k.status).to_lowercase(),
    };
    ctx.ui.line(format!("{}  {}  ({status}, confidence {:.2}, from {})", k.id, k.title, k.confidence, k.source))?;
    if !k.tags.is_empty() {
        ctx.ui.line(format!("  tags: {}", k.tags.join(", ")))?;
    }
    if !k.paths.is_empty() {
        ctx.ui.line(format!("  paths: {}", k.paths.join(", ")))?;
    }
    if !k.body.is_empty() {
        ctx.ui.line(format!("  {}", k.body.replace('\n', "\n  ")))?;
    }
    Ok(())
}

fn search(ctx: &Context, store: &store::Store, a: &SearchArgs) -> CommandResult {
    let view = store.view()?;
    let (knowledge, decisions) = store::recall(store, &view)?;
    let task =
        a.task.as_deref().map(args::task_address).transpose()?.map(|(s, t)| store::task(&view, &s, &t)).transpose()?;
    let query = match &task {
        Some(t) => Query::for_task(t, store.session.now()),
        None if a.words.is_empty() => {
            return Err(CommandError::user("usage", "give words to search for, or --task <score>/<task>"));
        }
        None => Query { text: a.words.join(" "), paths: &[], tags: a.words.clone(), now: store.session.now() },
    };
    let mut hits = retrieval::rank(&knowledge, &decisions, &query);
    hits.truncate(a.limit);
    if ctx.ui.json {
        ctx.ui.json(&hits)?;
        return Ok(());
    }
    if hits.is_empty() {
        ctx.ui.status("Nothing matches.");
    }
    for h in &hits {
        ctx.ui.line(format!("{:.2}  {} {}  {}", h.score, h.kind, h.id, h.title))?;
    }
    Ok(())
}
