//! `git maestro score …`

mod edit;
mod list;
mod show;

use crate::cli::context::Context;
use crate::cli::error::CommandResult;

/// Look at and edit Scores
#[derive(Debug, clap::Subcommand)]
pub enum ScoreCommand {
    List(list::ListArgs),
    Show(show::ShowArgs),
    Edit(edit::EditArgs),
}

pub fn run(ctx: &Context, cmd: ScoreCommand) -> CommandResult {
    match cmd {
        ScoreCommand::List(args) => list::cmd_score_list(ctx, &args),
        ScoreCommand::Show(args) => show::cmd_score_show(ctx, &args),
        ScoreCommand::Edit(args) => edit::cmd_score_edit(ctx, &args),
    }
}
