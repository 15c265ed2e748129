//! `git maestro worktrees prune`

use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::kernel::prune::{self, Action};

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Say what would be done, and do nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

pub fn cmd_worktrees_prune(ctx: &Context, args: &PruneArgs) -> CommandResult {
    let store = ctx.store()?;
    let root = crate::cli::commands::task::worktree_root(&store)?;
    let report = prune::prune(&store, &root, args.dry_run)?;
    if ctx.ui.json {
        ctx.ui.json(&report)?;
        return Ok(());
    }
    if report.is_empty() {
        ctx.ui.status("No task worktrees to prune.");
    }
    let verb = |a: &Action| match (a, args.dry_run) {
        (Action::Removed, true) => "would remove",
        (Action::Archived, true) => "would archive",
        (Action::Removed, false) => "removed",
        (Action::Archived, false) => "archived",
        (Action::Pooled, true) => "would pool",
        (Action::Pooled, false) => "pooled",
        (Action::Kept, _) => "kept",
    };
    for p in &report {
        let archived = match (&p.tip, &p.action) {
            (Some(t), Action::Archived) => format!(" as refs/maestro/keep/{t}"),
            _ => String::new(),
        };
        let line = format!("{:<13} {}  {}{archived} ({})", verb(&p.action), p.task, p.path, p.reason);
        ctx.ui.line(line)?;
    }
    Ok(())
}
