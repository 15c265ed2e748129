//! `git maestro score show`

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::cli::ui::Painted;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The Score id
    pub score: String,
}

pub fn cmd_score_show(ctx: &Context, args: &ShowArgs) -> CommandResult {
    let id = args::slug("score id", &args.score)?;
    let store = ctx.store()?;
    let (score, tasks) = store::score_with_tasks(&store.view()?, &id)?;
    if ctx.ui.json {
        let mut value = serde_json::to_value(&score).map_err(std::io::Error::other)?;
        value["tasks"] = serde_json::to_value(&tasks).map_err(std::io::Error::other)?;
        ctx.ui.json(&value)?;
        return Ok(());
    }
    let header = Painted::plain(&format!("Score:    {} (", score.id))
        .then(ctx.ui.status_word(score.status.as_str()))
        .text(")\n");
    let mut out = vec![
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
    out.push(String::new());
    let table = super::super::task::table(&ctx.ui, &tasks);
    ctx.ui.painted(&header.text(&out.join("\n")).then(table))?;
    Ok(())
}
