//! `git maestro score show`

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::cli::ui::table;
use crate::store;

/// Show a Score and its tasks
///
/// With --json, prints the Score's fields as written in the Score file, plus the live status of
/// the Score and every task.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The Score id
    pub score: String,
}

pub fn cmd_score_show(ctx: &Context, args: &ShowArgs) -> CommandResult {
    let id = args::slug("score id", &args.score)?;
    let store = ctx.store()?;
    let view = store.view()?;
    let score = store::score(&view, &id)?;
    let tasks = store::tasks(&view, &score)?;
    if ctx.ui.json {
        let mut value = serde_json::to_value(&score).map_err(std::io::Error::other)?;
        value["tasks"] = serde_json::to_value(&tasks).map_err(std::io::Error::other)?;
        ctx.ui.json(&value)?;
        return Ok(());
    }
    let mut out = vec![
        format!("Score:    {} ({})", score.id, score.status),
        format!("Title:    {}", score.title),
        format!("Target:   {}", score.target),
        format!("Approval: {} (plan: {})", score.approval.join(" -> "), score.plan_approval.as_str()),
        format!(
            "Attempts: up to {} per task; overlapping scopes: {}",
            score.max_attempts,
            score.conflict_policy.as_str()
        ),
    ];
    if !score.post_merge_checks.is_empty() {
        out.push(format!("Post-merge checks: {}", score.post_merge_checks.join(", ")));
    }
    if !score.requirement.is_empty() {
        out.push(String::new());
        out.extend(score.requirement.trim_end().lines().map(|l| format!("    {l}")));
    }
    out.push(String::new());
    let mut rows = vec![["TASK", "STATUS", "KIND", "CLAIMED BY", "DEPENDS ON", "TITLE"].map(String::from).to_vec()];
    for t in &tasks {
        rows.push(vec![
            t.id.clone(),
            t.status.to_string(),
            t.kind.as_str().to_owned(),
            t.claim.as_ref().map_or("-".into(), |c| c.holder.clone()),
            if t.deps.is_empty() { "-".into() } else { t.deps.join(",") },
            t.title.clone(),
        ]);
    }
    out.push(table(&rows));
    ctx.ui.line(out.join("\n"))?;
    Ok(())
}
