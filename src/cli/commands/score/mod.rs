//! `git maestro score …`

mod list;
mod show;

use crate::cli::context::Context;
use crate::cli::error::CommandResult;

/// Look at Scores
#[derive(Debug, clap::Subcommand)]
pub enum ScoreCommand {
    List(list::ListArgs),
    Show(show::ShowArgs),
}

pub fn run(ctx: &Context, cmd: ScoreCommand) -> CommandResult {
    match cmd {
        ScoreCommand::List(args) => list::cmd_score_list(ctx, &args),
        ScoreCommand::Show(args) => show::cmd_score_show(ctx, &args),
    }
}
