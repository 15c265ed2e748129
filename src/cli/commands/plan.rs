//! `git maestro plan --from <file>`

use std::path::PathBuf;

use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::model::DecisionKind;
use crate::model::plan::{self, Problem};
use crate::store::codec::MAX_BLOB_BYTES;
use crate::store::{self, layout};

/// Store a draft Score from a Score file
///
/// Validates everything first: ids, duplicate ids, unknown dependencies, dependency cycles and
/// scope globs, reporting every problem at once with its field. Nothing is written unless the
/// whole file is valid. The Score starts as a draft; approve it before running it.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The Score file (TOML) to read
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
}

pub fn cmd_plan(ctx: &Context, args: &PlanArgs) -> CommandResult {
    let path = ctx.dir().join(&args.from);
    let shown = args.from.display().to_string();
    let meta =
        std::fs::metadata(&path).map_err(|e| CommandError::user("unreadable", format!("cannot read {shown}: {e}")))?;
    if meta.len() > MAX_BLOB_BYTES {
        return Err(CommandError::user(
            "too-large",
            format!("{shown} is {} bytes; a Score file may be at most {MAX_BLOB_BYTES} bytes", meta.len()),
        )
        .hint("split the work into several Scores"));
    }
    let bytes = std::fs::read(&path)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CommandError::user("invalid-score", format!("{shown} is not UTF-8 text")))?;
    let store = ctx.store()?;
    let now = store.session.now();
    let plan = plan::parse_score_file(&text)
        .map_err(|p| vec![p])
        .and_then(|file| plan::validate(file, now))
        .map_err(|problems| invalid(&shown, &problems))?;
    let score_id = plan.score.id.clone();
    let summary = format!("plan score {score_id} ({} tasks) from {shown}", plan.tasks.len());
    let outcome = store.transact(&summary, |tx| {
        let score_path = layout::score_file(&score_id);
        if tx.exists(&score_path)? {
            return Err(CommandError::user("score-exists", format!("a score named {score_id:?} already exists"))
                .hint(format!("pick another id, or look at it with `git maestro score show {score_id}`")));
        }
        tx.put(&score_path, &plan.score)?;
        for task in &plan.tasks {
            tx.put(&layout::task_file(&score_id, &task.id), task)?;
        }
        let summary = format!("planned {score_id} with {} tasks from {shown}", plan.tasks.len());
        let decision = store::new_decision(tx, DecisionKind::Plan, summary, &store.session.actor);
        store::append_decision(tx, &decision.about(&score_id, None))?;
        Ok::<_, CommandError>(())
    })?;
    if ctx.ui.json {
        let view = store.view()?;
        let score = store::score(&view, &score_id)?;
        ctx.ui.json(&serde_json::json!({ "score": score, "tasks": plan.tasks }))?;
    } else {
        ctx.ui.line(format!("{score_id}  draft  {} tasks", plan.tasks.len()))?;
    }
    super::report_write(ctx, &outcome, &format!("Planned score {score_id} as a draft."));
    for o in crate::approval::scope_overlaps(&plan.tasks) {
        ctx.ui.warn(format!("tasks {} and {} may touch the same files ({})", o.a, o.b, o.globs.join("; ")));
    }
    ctx.ui.status(format!("Next: review it with `git maestro score show {score_id}`."));
    Ok(())
}

fn invalid(file: &str, problems: &[Problem]) -> CommandError {
    CommandError::problems(
        "invalid-score",
        file,
        "; nothing was stored",
        problems.iter().map(|p| format!("{file}: {p}")),
    )
    .hint("fix the fields named above and run the same command again")
}
