//! `git maestro handover …`

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::memory::handover::{self, HandoverError};
use crate::model::handover::{Delivery, Handover};
use crate::store;

/// Hand a task over between performers: push, post, pull, broadcast
///
/// A packet carries the task, context, relevant files, current state, what was tried,
/// decisions, knowledge, acceptance criteria and constraints. It goes open → delivered → acked,
/// nacked or expired. The conductor writes one for every rework; a run gets the packets meant
/// for it in its prompt and answers through MCP (`handover_ack`, `handover_nack`). A refused or
/// expired packet makes routing give the task to another performer.
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum HandoverCommand {
    /// Write a packet for one performer
    Push(PushArgs),
    /// Queue a packet for whoever takes the task next (or pulls it)
    Post(PostArgs),
    /// Take the oldest queued packet, atomically (no two pullers get the same one)
    Pull(PullArgs),
    /// Send a message to every performer of a Score
    Broadcast(BroadcastArgs),
    /// List packets, oldest first
    List(ListArgs),
    /// Show one packet, whole
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The task, as <score>/<task>
    pub task: String,
    /// The performer it is for
    #[arg(long, value_name = "PERFORMER")]
    pub to: String,
    /// Context for the next performer
    #[arg(long, short = 'm', default_value = "handed over by hand")]
    pub message: String,
}

#[derive(Debug, clap::Args)]
pub struct PostArgs {
    /// The task, as <score>/<task>
    pub task: String,
    /// Context for whoever takes the task next
    #[arg(long, short = 'm', default_value = "handed over by hand")]
    pub message: String,
}

#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Who takes it
    #[arg(long = "as", value_name = "PERFORMER")]
    pub performer: String,
}

#[derive(Debug, clap::Args)]
pub struct BroadcastArgs {
    /// The Score id
    pub score: String,
    /// What every performer working on the Score should know
    #[arg(long, short = 'm')]
    pub message: String,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only this Score's
    #[arg(long, value_name = "SCORE")]
    pub score: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The packet id
    pub id: String,
}

pub fn run(ctx: &Context, cmd: HandoverCommand) -> CommandResult {
    let store = ctx.store()?;
    let actor = store.session.actor.clone();
    let packet = match cmd {
        HandoverCommand::Push(a) => write(&store, &a.task, Delivery::Push, Some(&a.to), &a.message)?,
        HandoverCommand::Post(a) => write(&store, &a.task, Delivery::Pull, None, &a.message)?,
        HandoverCommand::Broadcast(a) => {
            let score = args::slug("score id", &a.score)?;
            store::score(&store.view()?, &score)?;
            let outcome = store.transact(&format!("broadcast to {score}"), |tx| {
                handover::create(tx, &score, None, Delivery::Broadcast, None, &a.message, &actor)
            })?;
            outcome.value
        }
        HandoverCommand::Pull(a) => match handover::pull(&store, &a.performer)? {
            Some(h) => h,
            None => {
                if ctx.ui.json {
                    ctx.ui.json(&serde_json::Value::Null)?;
                }
                ctx.ui.status("No packet is waiting.");
                return Ok(());
            }
        },
        HandoverCommand::Show(a) => store::handovers(&store.view()?)?
            .into_iter()
            .find(|h| h.id == a.id)
            .ok_or_else(|| CommandError::from(HandoverError::NotFound(a.id.clone())))?,
        HandoverCommand::List(a) => {
            let all: Vec<Handover> = store::handovers(&store.view()?)?
                .into_iter()
                .filter(|h| a.score.as_ref().is_none_or(|s| &h.score == s))
                .collect();
            if ctx.ui.json {
                ctx.ui.json(&all)?;
                return Ok(());
            }
            for h in &all {
                let about = h.task.as_deref().map_or_else(|| h.score.clone(), |t| format!("{}/{t}", h.score));
                let to = h.to.as_deref().or(h.delivered_to.as_deref()).unwrap_or("-");
                ctx.ui.line(
                    format!("{}  {:?}  {:?}  {about}  {to}  {}", h.id, h.delivery, h.status, h.reason).to_lowercase(),
                )?;
            }
            return Ok(());
        }
    };
    if ctx.ui.json {
        ctx.ui.json(&packet)?;
    } else {
        ctx.ui.line(packet.render())?;
    }
    Ok(())
}

fn write(
    store: &store::Store,
    address: &str,
    delivery: Delivery,
    to: Option<&str>,
    message: &str,
) -> CommandResult<Handover> {
    let (score, id) = args::task_address(address)?;
    if let Some(to) = to {
        args::slug("performer", to)?;
    }
    let actor = store.session.actor.clone();
    let outcome = store.transact(&format!("hand over {score}/{id}"), |tx| {
        let task = store::task(tx, &score, &id)?;
        handover::create(tx, &score, Some(&task), delivery, to, message, &actor)
    })?;
    Ok(outcome.value)
}
