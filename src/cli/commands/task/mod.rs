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
#[command(defer = true)]
pub enum TaskCommand {
    /// List the tasks of a Score
    List(list::ListArgs),
    /// Show one task: its spec, acceptance criteria, scope, dependencies, claim and attempts
    ///
    /// Each attempt shows its number, performer, outcome and exit status, tokens and cost, the
    /// commit holding its result, why it failed, and the logs it left on this machine; with -v
    /// also its run id, adapter, start and duration, the performer's last message, and files
    /// written outside the worktree, and where the task's record is in the state (for
    /// `git show refs/maestro/state:<path>`).
    Show(show::ShowArgs),
    /// Claim a task, so that nobody else works on it
    ///
    /// Exactly one claimant wins a race. Claiming a task someone else holds fails with exit code 1
    /// and names the holder. Claiming a task you already hold changes nothing.
    Claim(claim::ClaimArgs),
    /// Release a claimed task, so that someone else may take it
    ///
    /// A running task is released only once its run is gone (its attempt ends interrupted). A
    /// task whose result waits for approval or merge, or is merged, keeps the claim of who made
    /// it: reject the result to send it back, or roll the merge back.
    Release(release::ReleaseArgs),
    /// Run one task with a performer, in the task's own worktree
    ///
    /// Claims the task for the performer, creates the worktree on branch
    /// maestro/<score>/tasks/<task> from the Score's target, sends the task's spec, acceptance
    /// criteria and scope to the performer on stdin, commits everything it leaves in the worktree,
    /// and records the attempt. The task ends `submitted`, or `failed` with the reason (exit 1).
    /// Ctrl-C stops the performer and records the run as interrupted.
    Run(run::RunArgs),
    /// Stop the running attempt of a task, as Ctrl-C stops a run
    ///
    /// Asks the run on this machine that holds the task's lease to stop its performer. The attempt
    /// ends `interrupted` and the task is `ready` again; a `git maestro run` that was running it
    /// leaves it waiting for you instead of starting it again (`git maestro task run` starts it).
    /// The request is recorded as your decision. Waits up to a minute for the attempt to end.
    Stop(stop::StopArgs),
    /// Run a submitted task's approval chain up to its first waiting step
    ///
    /// Steps come from the task's `approval`, else the Score's. `checks` runs the task's named
    /// checks from trusted config in the task worktree and records exit, duration, an output digest
    /// and its tail as evidence. `agent:<performer>` has that performer review the diff the result
    /// would merge, with the spec and acceptance criteria, in a scratch worktree; it must answer
    /// with a JSON verdict (`agent:auto` picks a reviewer of another vendor than the author).
    /// The first failing step rejects the task (exit 1). At `human` or `pr` the chain waits for
    /// `git maestro approve` or the pull request. A chain without a waiting step approves the task.
    Review(review::ReviewArgs),
    /// Show the subtasks on a task's stack, top first
    ///
    /// Agents push subtasks they discover and pop them when done (MCP tools `stack_push` and
    /// `stack_pop`); each run starts from the stack the previous run left.
    Stack(memory::StackArgs),
    /// Show the working notes of every run of a task, oldest first
    ///
    /// Agents add notes with the MCP tool `note`; later runs see them in their
    /// prompt. Each run's last status is shown too.
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
