//! `git maestro worktrees prune`

use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::git::{self, ObjectId};
use crate::model::TaskStatus;
use crate::store;

/// Remove task worktrees that are no longer needed, never losing work
///
/// Worktrees of running tasks are left alone. Uncommitted changes are committed on the task
/// branch first. A tip that is merged into the Score's integration branch or target is simply
/// removed; any other tip is archived as refs/maestro/keep/<sha> before its worktree goes.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Say what would be done, and do nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

#[derive(serde::Serialize)]
struct Pruned {
    task: String,
    path: String,
    /// removed | archived | kept
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tip: Option<String>,
    reason: String,
}

pub fn cmd_worktrees_prune(ctx: &Context, args: &PruneArgs) -> CommandResult {
    let store = ctx.store()?;
    let view = store.view()?;
    let mut report = Vec::new();
    for w in super::task_worktrees(&store.repo, &view)? {
        let task = format!("{}/{}", w.score, w.task);
        let path = w.info.path.display().to_string();
        if matches!(w.status, Some(TaskStatus::Running)) {
            report.push(Pruned { task, path, action: "kept", tip: None, reason: "its task is running".into() });
            continue;
        }
        let dirty = !git::dirty_paths(&w.info.path)?.is_empty();
        let mut tip = w.info.head;
        if dirty && !args.dry_run {
            let message = format!(
                "Uncommitted work kept by worktree prune\n\nMaestro-Score: {}\nMaestro-Task: {}\n",
                w.score, w.task
            );
            let identity = (store.session.actor.as_str(), store.session.email.as_str());
            tip = store
                .repo
                .commit_worktree(&w.info.path, &message, identity, store.session.now().as_second())?
                .commit
                .or(tip);
        }
        let merged = !dirty && tip.is_some_and(|t| merged_into_score(&store, &w.score, t).unwrap_or(false));
        let (action, reason) = if merged {
            ("removed", "merged and clean".to_owned())
        } else if dirty {
            ("archived", "it had uncommitted changes, now committed".to_owned())
        } else {
            ("archived", "not merged yet".to_owned())
        };
        if !args.dry_run {
            if action == "archived"
                && let Some(t) = tip
            {
                store.keep(t)?;
            }
            store.repo.remove_worktree(&w.info.path)?;
        }
        report.push(Pruned { task, path, action, tip: tip.map(|t| t.to_string()), reason });
    }
    // Scratch worktrees (reviews, post-merge checks) hold nothing: they are reset on every use.
    let root = crate::cli::commands::task::worktree_root(&store)?;
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    for info in store.repo.worktrees()? {
        let Ok(rel) = info.path.strip_prefix(&root) else { continue };
        let name = rel.display().to_string();
        if info.branch.is_some() || !name.contains('.') {
            continue;
        }
        if !args.dry_run {
            store.repo.remove_worktree(&info.path)?;
        }
        let path = info.path.display().to_string();
        let reason = "a scratch worktree".to_owned();
        report.push(Pruned { task: name, path, action: "removed", tip: None, reason });
    }
    if ctx.ui.json {
        ctx.ui.json(&report)?;
        return Ok(());
    }
    if report.is_empty() {
        ctx.ui.status("No task worktrees to prune.");
    }
    let verb = |a: &str| match (a, args.dry_run) {
        ("removed", true) => "would remove",
        ("archived", true) => "would archive",
        ("removed", false) => "removed",
        ("archived", false) => "archived",
        _ => "kept",
    };
    for p in &report {
        let archived = match (&p.tip, p.action) {
            (Some(t), "archived") => format!(" as refs/maestro/keep/{t}"),
            _ => String::new(),
        };
        ctx.ui.line(format!("{:<13} {}  {}{archived} ({})", verb(p.action), p.task, p.path, p.reason))?;
    }
    Ok(())
}

/// Whether `tip` is in the Score's integration branch or its target.
fn merged_into_score(store: &store::Store, score: &str, tip: ObjectId) -> CommandResult<bool> {
    let target = store::score(&store.view()?, score).map(|s| s.target).ok();
    let candidates =
        [Some(format!("refs/heads/maestro/{score}/integration")), target.map(|t| format!("refs/heads/{t}"))];
    for name in candidates.into_iter().flatten() {
        if let Some(head) = store.repo.read_ref(&name)?
            && store.repo.is_ancestor(tip, head)?
        {
            return Ok(true);
        }
    }
    Ok(false)
}
