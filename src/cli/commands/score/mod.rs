//! `git maestro score …`

mod edit;
mod list;
mod show;

use crate::cli::context::Context;
use crate::cli::error::CommandResult;

/// Look at and edit Scores
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum ScoreCommand {
    /// List the Scores with their status and task counts
    List(list::ListArgs),
    /// Show a Score and its tasks
    ///
    /// With --json, prints the Score's fields as written in the Score file, plus the live status of
    /// the Score and every task.
    Show(show::ShowArgs),
    /// Edit a draft Score in your editor; it is validated before anything is stored
    ///
    /// Opens the Score as a Score file in $VISUAL or $EDITOR (else vi). When you save and quit, the
    /// file is validated exactly like `plan --from`; nothing is stored unless it is valid, and an
    /// invalid edit is kept so you can fix it: the next `score edit` reopens it. Only a draft can be
    /// edited; the id stays the same.
    Edit(edit::EditArgs),
}

pub fn run(ctx: &Context, cmd: ScoreCommand) -> CommandResult {
    match cmd {
        ScoreCommand::List(args) => list::cmd_score_list(ctx, &args),
        ScoreCommand::Show(args) => show::cmd_score_show(ctx, &args),
        ScoreCommand::Edit(args) => edit::cmd_score_edit(ctx, &args),
    }
}
