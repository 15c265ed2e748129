//! `git maestro task …`

mod claim;
mod list;
mod release;
mod show;

use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::model::{Decision, DecisionKind, FORMAT};
use crate::store::{Tx, layout};

/// Look at tasks, and claim or release them
#[derive(Debug, clap::Subcommand)]
pub enum TaskCommand {
    List(list::ListArgs),
    Show(show::ShowArgs),
    Claim(claim::ClaimArgs),
    Release(release::ReleaseArgs),
}

pub fn run(ctx: &Context, cmd: TaskCommand) -> CommandResult {
    match cmd {
        TaskCommand::List(args) => list::cmd_task_list(ctx, &args),
        TaskCommand::Show(args) => show::cmd_task_show(ctx, &args),
        TaskCommand::Claim(args) => claim::cmd_task_claim(ctx, &args),
        TaskCommand::Release(args) => release::cmd_task_release(ctx, &args),
    }
}

/// Record an assignment decision about `score/task` in the same transaction.
fn record_assignment(
    tx: &mut Tx<'_>,
    actor: &str,
    score: &str,
    task: &str,
    summary: String,
) -> crate::store::Result<()> {
    let decision = Decision {
        format: FORMAT as u32,
        id: tx.new_id(),
        kind: DecisionKind::Assignment,
        summary,
        rationale: String::new(),
        alternatives: Vec::new(),
        actor: actor.to_owned(),
        score: Some(score.to_owned()),
        task: Some(task.to_owned()),
        op: tx.op.to_owned(),
        at: tx.now,
    };
    tx.create(&layout::decision_file(&decision.id), &decision)
}
