//! `git maestro task …`

mod claim;
mod list;
mod memory;
mod release;
mod review;
mod run;

pub use run::{inherited_env, worktree_root};
mod show;
mod stop;

use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::model::{DecisionKind, Task};
use crate::store::{self, Tx};

/// Look at tasks, claim, run and review them, and read their memory
#[derive(Debug, clap::Subcommand)]
pub enum TaskCommand {
    List(list::ListArgs),
    Show(show::ShowArgs),
    Claim(claim::ClaimArgs),
    Release(release::ReleaseArgs),
    Run(run::RunArgs),
    Stop(stop::StopArgs),
    Review(review::ReviewArgs),
    Stack(memory::StackArgs),
    Notes(memory::NotesArgs),
}

pub fn run(ctx: &Context, cmd: TaskCommand) -> CommandResult {
    match cmd {
        TaskCommand::List(args) => list::cmd_task_list(ctx, &args),
        TaskCommand::Show(args) => show::cmd_task_show(ctx, &args),
        TaskCommand::Claim(args) => claim::cmd_task_claim(ctx, &args),
        TaskCommand::Release(args) => release::cmd_task_release(ctx, &args),
        TaskCommand::Run(args) => run::cmd_task_run(ctx, &args),
        TaskCommand::Stop(args) => stop::cmd_task_stop(ctx, &args),
        TaskCommand::Review(args) => review::cmd_task_review(ctx, &args),
        TaskCommand::Stack(args) => memory::cmd_task_stack(ctx, &args),
        TaskCommand::Notes(args) => memory::cmd_task_notes(ctx, &args),
    }
}

/// Record an assignment decision about `score/task` in the same transaction.
fn record_assignment(tx: &mut Tx<'_>, actor: &str, score: &str, task: &str, summary: String) -> store::Result<()> {
    let decision = store::new_decision(tx, DecisionKind::Assignment, summary, actor).about(score, Some(task));
    store::append_decision(tx, &decision)
}

/// The tasks table shared by `task list` and `score show`, its statuses coloured.
pub fn table(ui: &crate::cli::ui::Ui, tasks: &[Task]) -> crate::cli::ui::Painted {
    let mut rows = vec![["TASK", "STATUS", "KIND", "CLAIMED BY", "DEPENDS ON", "TITLE"].map(String::from).to_vec()];
    for t in tasks {
        rows.push(vec![
            t.id.clone(),
            t.status.to_string(),
            t.kind.as_str().to_owned(),
            t.claim.as_ref().map_or("-".into(), |c| c.holder.clone()),
            if t.deps.is_empty() { "-".into() } else { t.deps.join(",") },
            t.title.clone(),
        ]);
    }
    ui.table(&rows, 1)
}
