//! `git maestro worktrees list`

use crate::cli::context::Context;
use crate::cli::error::CommandResult;

#[derive(Debug, clap::Args)]
pub struct ListArgs {}

pub fn cmd_worktrees_list(ctx: &Context, _args: &ListArgs) -> CommandResult {
    let store = ctx.store()?;
    let worktrees = super::task_worktrees(&store.repo, &store.view()?)?;
    let status = |w: &super::TaskWorktree| w.status.map_or("gone".to_owned(), |s| s.to_string());
    if ctx.ui.json {
        let rows: Vec<_> = worktrees
            .iter()
            .map(|w| {
                serde_json::json!({
                    "task": format!("{}/{}", w.score, w.task), "status": status(w), "path": w.info.path,
                    "branch": w.info.branch, "head": w.info.head.map(|h| h.to_string()), "locked": w.info.locked,
                })
            })
            .collect();
        ctx.ui.json(&rows)?;
    } else if worktrees.is_empty() {
        ctx.ui.status("No task worktrees. `git maestro task run` creates them.");
    } else {
        let mut rows = vec![["TASK", "STATUS", "HEAD", "PATH"].map(String::from).to_vec()];
        for w in &worktrees {
            rows.push(vec![
                format!("{}/{}", w.score, w.task),
                status(w),
                w.info.head.map_or("-".into(), |h| h.to_hex_with_len(12).to_string()),
                w.info.path.display().to_string(),
            ]);
        }
        ctx.ui.painted(&ctx.ui.table(&rows, 1))?;
    }
    Ok(())
}
