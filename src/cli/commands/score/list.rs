//! `git maestro score list`

use std::collections::BTreeMap;

use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct ListArgs {}

pub fn cmd_score_list(ctx: &Context, _args: &ListArgs) -> CommandResult {
    let store = ctx.store()?;
    let view = store.view()?;
    let mut rows = Vec::new();
    let mut json = Vec::new();
    for score in store::scores(&view)? {
        let tasks = store::tasks(&view, &score)?;
        let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
        for t in &tasks {
            *by_status.entry(t.status.as_str()).or_default() += 1;
        }
        let counts: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
        rows.push(vec![score.id.clone(), score.status.to_string(), counts.join(", "), score.title.clone()]);
        json.push(serde_json::json!({
            "id": score.id, "title": score.title, "status": score.status, "target": score.target,
            "tasks": tasks.len(), "by_status": by_status,
        }));
    }
    if ctx.ui.json {
        ctx.ui.json(&json)?;
    } else if rows.is_empty() {
        ctx.ui.status("No Scores yet. Create one with `git maestro plan --from score.toml`.");
    } else {
        rows.insert(0, ["SCORE", "STATUS", "TASKS", "TITLE"].map(String::from).to_vec());
        ctx.ui.painted(&ctx.ui.table(&rows, 1))?;
    }
    Ok(())
}
