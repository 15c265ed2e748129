//! `git maestro status`

use crate::approval::{self, ForecastConflict};
use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::cli::ui::table;
use crate::model::{Score, Task, TaskStatus};
use crate::store;

/// Show the board: every Score and its tasks
///
/// For each task: status, who holds it, attempts so far, and what a submitted result waits
/// for (the next step of its approval chain). Below each Score: conflicts `sync` settled on its
/// tasks (resolve with `git maestro sync --resolve <score>/<task>`), and the conflicts forecast
/// between its active branches.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

#[derive(serde::Serialize)]
struct Row<'a> {
    id: &'a str,
    status: TaskStatus,
    assignee: Option<&'a str>,
    attempts: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting_for: Option<String>,
    /// Conflicts sync settled on this task by setting a value aside.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sync_conflicts: Vec<&'a crate::model::clock::SyncConflict>,
}

pub fn cmd_status(ctx: &Context, _args: &StatusArgs) -> CommandResult {
    let store = ctx.store()?;
    let view = store.view()?;
    let mut board = Vec::new();
    for score in store::scores(&view)? {
        let tasks = store::tasks(&view, &score)?;
        let (_, conflicts) = approval::conflicts(&store, &score.id).map_err(super::approve::error)?;
        board.push((score, tasks, conflicts));
    }
    if ctx.ui.json {
        let value: Vec<serde_json::Value> = board
            .iter()
            .map(|(s, tasks, conflicts)| {
                let rows: Vec<Row<'_>> = tasks.iter().map(|t| row(s, t)).collect();
                serde_json::json!({ "score": s.id, "status": s.status, "title": s.title, "tasks": rows, "conflicts": conflicts })
            })
            .collect();
        ctx.ui.json(&value)?;
        return Ok(());
    }
    if board.is_empty() {
        ctx.ui.status("No Scores yet: plan one with `git maestro plan --from <file>`.");
    }
    for (score, tasks, conflicts) in &board {
        let merged = tasks.iter().filter(|t| t.status == TaskStatus::Merged).count();
        ctx.ui.line(format!("{}  {}  {merged}/{} merged  {}", score.id, score.status, tasks.len(), score.title))?;
        let mut rows =
            vec![vec!["  TASK".into(), "STATUS".into(), "ASSIGNEE".into(), "ATTEMPTS".into(), "WAITING FOR".into()]];
        for t in tasks {
            let r = row(score, t);
            rows.push(vec![
                format!("  {}", r.id),
                r.status.to_string(),
                r.assignee.unwrap_or("-").to_owned(),
                r.attempts.to_string(),
                r.waiting_for.unwrap_or_default(),
            ]);
        }
        ctx.ui.line(table(&rows))?;
        for t in tasks {
            for c in t.sync.iter().flat_map(|s| &s.conflicts) {
                ctx.ui.line(format!("  sync conflict on {}: {}", t.id, c.describe()))?;
            }
        }
        for c in conflicts {
            ctx.ui.line(format!("  conflict forecast: {}", describe(c)))?;
        }
    }
    Ok(())
}

fn row<'a>(score: &Score, t: &'a Task) -> Row<'a> {
    let waiting_for = match t.status {
        TaskStatus::Submitted => {
            let steps = t.approval.as_ref().unwrap_or(&score.approval);
            steps.get(t.steps_passed(steps)).cloned()
        }
        TaskStatus::Merged if t.checkpoint && !t.checkpoint_released() => Some("checkpoint approval".into()),
        _ => None,
    };
    Row {
        id: &t.id,
        status: t.status,
        assignee: t.claim.as_ref().map(|c| c.holder.as_str()),
        attempts: t.attempts.len(),
        waiting_for,
        sync_conflicts: t.sync.iter().flat_map(|s| &s.conflicts).collect(),
    }
}

fn describe(c: &ForecastConflict) -> String {
    let files: Vec<String> = c
        .paths
        .iter()
        .map(|p| match c.overlaps.iter().find(|o| &o.path == p) {
            Some(o) => {
                let lines: Vec<String> =
                    o.lines.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
                format!("{p} lines {}", lines.join(","))
            }
            None => p.clone(),
        })
        .collect();
    format!("{} ~ {} in {}", c.a, c.b, files.join("; "))
}
