//! `git maestro costs`

use serde_json::{Value, json};

use crate::cli::args::{self, Since};
use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::cli::money;
use crate::cli::ui::table;
use crate::model::budget::costs::{self, By, Row};
use crate::model::budget::dollars;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct CostsArgs {
    /// Only this Score's tasks
    #[arg(value_name = "SCORE")]
    pub score: Option<String>,
    /// Group by: task (the default with a Score), score (the default without), performer,
    /// model or day
    #[arg(long, value_enum, value_name = "KEY")]
    pub by: Option<ByArg>,
    /// Only attempts started at or after this time: RFC 3339, a date like 2026-11-24 (midnight
    /// UTC), or how long ago, like 7d or 12h; a merged task counts when its last attempt does
    #[arg(long, value_name = "WHEN", value_parser = args::since)]
    pub since: Option<Since>,
}

/// `--by`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ByArg {
    Score,
    Task,
    Performer,
    Model,
    Day,
}

impl From<ByArg> for By {
    fn from(b: ByArg) -> By {
        match b {
            ByArg::Score => By::Score,
            ByArg::Task => By::Task,
            ByArg::Performer => By::Performer,
            ByArg::Model => By::Model,
            ByArg::Day => By::Day,
        }
    }
}

pub fn cmd_costs(ctx: &Context, args: &CostsArgs) -> CommandResult {
    let score = args.score.as_deref().map(|s| args::slug("score id", s)).transpose()?;
    let by = args.by.map_or(if score.is_some() { By::Task } else { By::Score }, By::from);
    let store = ctx.store()?;
    let view = store.view()?;
    let scores = match &score {
        Some(id) => vec![store::score(&view, id)?],
        None => store::scores(&view)?,
    };
    let mut tasks = Vec::new();
    for s in &scores {
        let (good, bad) = store::readable_tasks(&view, s)?;
        for (path, why) in bad {
            ctx.ui.warn(format!("{path} is left out: {why}"));
        }
        tasks.extend(good);
    }
    let since = args.since.map(|s| s.at(store.session.now()));
    let costs = costs::costs(&tasks, by, since);
    if ctx.ui.json {
        let rows: Vec<Value> = costs.rows.iter().map(|(key, row)| row_json(Some((by, key)), row)).collect();
        ctx.ui.json(&json!({ "by": by.as_str(), "rows": rows, "total": row_json(None, &costs.total) }))?;
        return Ok(());
    }
    if costs.rows.is_empty() {
        ctx.ui.status("No attempts match.");
        return Ok(());
    }
    let head = [by.as_str(), "attempts", "budget stops", "input", "cache read", "cache write", "output", "tokens"];
    let mut rows = vec![head.iter().chain(&["cost", "merged", "per merged"]).map(|h| h.to_uppercase()).collect()];
    rows.extend(costs.rows.iter().map(|(key, row)| row_text(key, row)));
    rows.push(row_text("TOTAL", &costs.total));
    ctx.ui.line(table(&rows))?;
    Ok(())
}

/// One row as JSON: its key (a task as `score` and `task`), then its figures.
fn row_json(key: Option<(By, &String)>, row: &Row) -> Value {
    let mut v = json!({
        "attempts": row.attempts,
        "budget_stops": row.budget_stops,
        "unknown_cost_attempts": row.unknown_cost_attempts,
        "merged_tasks": row.merged_tasks,
        "costed_merged_tasks": row.costed_merged_tasks,
        "cost_per_merged_task_usd": row.cost_per_merged_task(),
    });
    if let (Value::Object(map), Value::Object(usage)) = (&mut v, money::usage_json(&row.usage, row.cost())) {
        map.extend(usage);
        if let Some((by, key)) = key {
            map.insert(by.as_str().into(), Value::String(key.clone()));
        }
    }
    v
}

/// One row of the table.
fn row_text(key: &str, row: &Row) -> Vec<String> {
    let u = &row.usage;
    let mut cells = vec![key.to_owned(), row.attempts.to_string(), row.budget_stops.to_string()];
    cells.extend([u.input, u.cache_read, u.cache_write, u.output, u.total()].map(money::tokens));
    cells.push(cost_text(row));
    cells.push(row.merged_tasks.to_string());
    cells.push(match row.cost_per_merged_task() {
        Some(per) if row.costed_merged_tasks < row.merged_tasks => {
            format!("{} ({} of {} known)", dollars(per), row.costed_merged_tasks, row.merged_tasks)
        }
        Some(per) => dollars(per),
        None => "-".into(),
    });
    cells
}

/// `$1.20`, `$1.20 + 2 unknown`, `2 unknown`, or `-` when nothing was recorded.
fn cost_text(row: &Row) -> String {
    match (row.cost(), row.unknown_cost_attempts) {
        (Some(usd), 0) => dollars(usd),
        (Some(usd), n) => format!("{} + {n} unknown", dollars(usd)),
        (None, 0) => "-".into(),
        (None, n) => format!("{n} unknown"),
    }
}
