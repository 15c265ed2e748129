//! `git maestro gc`

use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::kernel::gc;
use crate::kernel::prune::Action;

#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// Say what would be removed, and change nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

pub fn cmd_gc(ctx: &Context, args: &GcArgs) -> CommandResult {
    let store = ctx.store()?;
    let pool = ctx.config(&store.repo)?.worktrees.pool;
    let report = gc::gc(&store, args.dry_run, pool)?;
    if ctx.ui.json {
        ctx.ui.json(&report)?;
        return Ok(());
    }
    let verb = |a: &Action| match (a, args.dry_run) {
        (Action::Removed | Action::Archived, true) => "would remove",
        (Action::Removed | Action::Archived, false) => "removed",
        (Action::Pooled, true) => "would pool",
        (Action::Pooled, false) => "pooled",
        (Action::Kept, _) => "kept",
    };
    for s in &report {
        if let Some(why) = &s.skipped {
            ctx.ui.line(format!("{}  left alone: {why}", s.score))?;
        }
        for w in &s.worktrees {
            ctx.ui.line(format!(
                "{}  {:<12} worktree {}  {} ({})",
                s.score,
                verb(&w.action),
                w.task,
                w.path,
                w.reason
            ))?;
        }
        for r in &s.refs {
            ctx.ui.line(format!(
                "{}  {:<12} {} at {} ({})",
                s.score,
                verb(&r.action),
                r.name,
                &r.tip[..12],
                r.reason
            ))?;
        }
        match (&s.archive, &s.archive_ref) {
            (Some(commit), Some(name)) => {
                ctx.ui.line(format!("{}  archived     {name} at {}", s.score, &commit[..12]))?
            }
            (None, Some(name)) if args.dry_run => ctx.ui.line(format!("{}  would archive {name}", s.score))?,
            _ => {}
        }
    }
    if !report.iter().any(gc::ScoreGc::changes_anything) {
        ctx.ui.status(if args.dry_run { "Nothing to clean up." } else { "Nothing changed." });
    }
    Ok(())
}
