//! One file per command; a command group is a folder.

mod approve;
mod board;
mod budget;
mod complete;
mod completions;
mod conflicts;
mod costs;
mod decide;
mod decisions;
mod demo;
mod doctor;
mod gc;
mod handover;
mod hook;
mod init;
mod install_man;
mod kb;
mod land;
mod log;
mod mcp;
mod merge;
mod performers;
mod plan;
mod pr;
mod rollback;
mod run;
mod score;
pub(crate) mod status;
mod supervise;
mod sync;
mod task;
mod worktrees;

use super::context::Context;
use super::error::CommandResult;

/// The commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    Init(init::InitArgs),
    Demo(demo::DemoArgs),
    Plan(plan::PlanArgs),
    #[command(subcommand)]
    Score(score::ScoreCommand),
    #[command(subcommand)]
    Task(task::TaskCommand),
    Approve(approve::ApproveArgs),
    Reject(approve::RejectArgs),
    Run(run::RunArgs),
    Status(status::StatusArgs),
    Board(board::BoardArgs),
    #[command(subcommand)]
    Budget(budget::BudgetCommand),
    Pr(pr::PrArgs),
    Merge(merge::MergeArgs),
    Rollback(rollback::RollbackArgs),
    Land(land::LandArgs),
    Conflicts(conflicts::ConflictsArgs),
    Decide(decide::DecideArgs),
    Decisions(decisions::DecisionsArgs),
    Costs(costs::CostsArgs),
    #[command(subcommand)]
    Kb(kb::KbCommand),
    #[command(subcommand)]
    Handover(handover::HandoverCommand),
    Log(log::LogArgs),
    Doctor(doctor::DoctorArgs),
    Mcp(mcp::McpArgs),
    Performers(performers::PerformersArgs),
    Sync(sync::SyncArgs),
    Gc(gc::GcArgs),
    #[command(subcommand)]
    Worktrees(worktrees::WorktreesCommand),
    Completions(completions::CompletionsArgs),
    InstallMan(install_man::InstallManArgs),
    #[command(subcommand, hide = true)]
    Hook(hook::HookCommand),
    #[command(hide = true)]
    Supervise(supervise::SuperviseArgs),
    #[command(name = "__complete", hide = true)]
    Complete(complete::CompleteArgs),
}

/// Run one command.
pub fn run(ctx: &Context, command: Command) -> CommandResult {
    match command {
        Command::Init(args) => init::cmd_init(ctx, &args),
        Command::Demo(args) => demo::cmd_demo(ctx, &args),
        Command::Plan(args) => plan::cmd_plan(ctx, &args),
        Command::Score(cmd) => score::run(ctx, cmd),
        Command::Task(cmd) => task::run(ctx, cmd),
        Command::Approve(args) => approve::cmd_approve(ctx, &args),
        Command::Reject(args) => approve::cmd_reject(ctx, &args),
        Command::Run(args) => run::cmd_run(ctx, &args),
        Command::Status(args) => status::cmd_status(ctx, &args),
        Command::Board(args) => board::cmd_board(ctx, &args),
        Command::Budget(cmd) => budget::run(ctx, cmd),
        Command::Pr(args) => pr::cmd_pr(ctx, &args),
        Command::Merge(args) => merge::cmd_merge(ctx, &args),
        Command::Rollback(args) => rollback::cmd_rollback(ctx, &args),
        Command::Land(args) => land::cmd_land(ctx, &args),
        Command::Conflicts(args) => conflicts::cmd_conflicts(ctx, &args),
        Command::Decide(args) => decide::cmd_decide(ctx, &args),
        Command::Decisions(args) => decisions::cmd_decisions(ctx, &args),
        Command::Costs(args) => costs::cmd_costs(ctx, &args),
        Command::Kb(cmd) => kb::run(ctx, cmd),
        Command::Handover(cmd) => handover::run(ctx, cmd),
        Command::Log(args) => log::cmd_log(ctx, &args),
        Command::Doctor(args) => doctor::cmd_doctor(ctx, &args),
        Command::Mcp(args) => mcp::cmd_mcp(ctx, &args),
        Command::Performers(args) => performers::cmd_performers(ctx, &args),
        Command::Sync(args) => sync::cmd_sync(ctx, &args),
        Command::Gc(args) => gc::cmd_gc(ctx, &args),
        Command::Worktrees(cmd) => worktrees::run(ctx, cmd),
        Command::Completions(args) => completions::cmd_completions(ctx, &args),
        Command::InstallMan(args) => install_man::cmd_install_man(ctx, &args),
        Command::Hook(cmd) => hook::run(ctx, cmd),
        Command::Supervise(args) => supervise::cmd_supervise(ctx, &args),
        Command::Complete(args) => complete::cmd_complete(ctx, &args),
    }
}

/// Say what a write did: the usual last line of a mutating command.
fn report_write<T>(ctx: &Context, outcome: &crate::store::Outcome<T>, done: &str) {
    for notice in &outcome.notices {
        ctx.ui.warn(notice);
    }
    match outcome.commit {
        Some(_) => ctx.ui.status(done),
        None => ctx.ui.status("Nothing changed."),
    }
}
