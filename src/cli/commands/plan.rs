//! `git maestro plan --from <file>`, `git maestro plan "<requirement>" --with <performer>`

use std::path::PathBuf;

use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::cli::ui::count;
use crate::conductor::ConductorError;
use crate::conductor::planner::{self, PlanRequest};
use crate::model::DecisionKind;
use crate::model::plan::{self, Problem, ValidPlan};
use crate::store::codec::MAX_BLOB_BYTES;
use crate::store::{self, layout};

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The requirement to plan, in words (with --with)
    #[arg(conflicts_with = "from", requires = "with")]
    pub requirement: Option<String>,
    /// The Score file (TOML) to read
    #[arg(long, value_name = "FILE", required_unless_present = "requirement")]
    pub from: Option<PathBuf>,
    /// The performer that writes the Score
    #[arg(long, value_name = "PERFORMER", requires = "requirement")]
    pub with: Option<String>,
    /// The branch the planner reads and the Score lands on
    #[arg(long, value_name = "BRANCH", default_value = "main", requires = "requirement")]
    pub target: String,
}

pub fn cmd_plan(ctx: &Context, args: &PlanArgs) -> CommandResult {
    match (&args.from, &args.requirement, &args.with) {
        (Some(from), _, _) => plan_from_file(ctx, from),
        (None, Some(requirement), Some(with)) => plan_with(ctx, requirement, with, &args.target),
        _ => Err(CommandError::user("usage", "give --from <file>, or a requirement and --with <performer>")),
    }
}

fn plan_with(ctx: &Context, requirement: &str, with: &str, target: &str) -> CommandResult {
    let store = ctx.store()?;
    let config = ctx.config(&store.repo)?;
    let performer = config.performers.get(with).ok_or_else(|| {
        CommandError::user("unknown-performer", format!("no performer named {with:?} is configured"))
            .hint("see `git maestro performers`")
    })?;
    let base = store.repo.main_workdir().unwrap_or_else(|| store.repo.common_dir().to_owned());
    let binary = crate::performer::locate(&performer.command, &base).ok_or_else(|| {
        CommandError::user("performer-unavailable", format!("{with}: {} not found", performer.command))
    })?;
    let request = PlanRequest {
        requirement,
        performer,
        binary,
        worktree_root: super::task::worktree_root(&store)?,
        env: super::task::inherited_env(),
        maestro_exe: std::env::current_exe()?,
        target: target.to_owned(),
    };
    let spinner = ctx.ui.spinner(format!("planning with {with}"));
    if spinner.is_none() {
        ctx.ui.status(format!("Planning with {with}…"));
    }
    let planned = planner::plan_with_agent(&store, &request, &mut |_| {});
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    let planned = planned.map_err(|e| match e {
        ConductorError::InvalidPlan { problems, text } => CommandError::problems(
            "invalid-plan",
            &format!("the Score {with} wrote"),
            "; nothing was stored",
            problems.into_iter().chain(std::iter::once(format!("what it wrote:\n{text}"))),
        )
        .hint("try again, perhaps with a more precise requirement, or write the Score yourself and use --from"),
        other => other.into(),
    })?;
    if planned.rounds > 1 {
        ctx.ui.status("The planner's first Score was invalid; it fixed it after feedback.");
    }
    store_plan(ctx, &store, planned.plan, &format!("the planner {with}"))
}

fn plan_from_file(ctx: &Context, from: &std::path::Path) -> CommandResult {
    let path = ctx.dir().join(from);
    let shown = from.display().to_string();
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
    store_plan(ctx, &store, plan, &shown)
}

/// Store a validated plan as a new draft Score, with its plan decision; then warn about scope
/// overlaps and about tasks that share scope with an interface task they do not depend on.
fn store_plan(ctx: &Context, store: &store::Store, plan: ValidPlan, shown: &str) -> CommandResult {
    let score_id = plan.score.id.clone();
    let summary = format!("plan score {score_id} ({}) from {shown}", count(plan.tasks.len(), "task"));
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
        let summary = format!("planned {score_id} with {} from {shown}", count(plan.tasks.len(), "task"));
        let decision = store::new_decision(tx, DecisionKind::Plan, summary, &store.session.actor);
        store::append_decision(tx, &decision.about(&score_id, None))?;
        Ok::<_, CommandError>(())
    })?;
    if ctx.ui.json {
        let view = store.view()?;
        let score = store::score(&view, &score_id)?;
        ctx.ui.json(&serde_json::json!({ "score": score, "tasks": plan.tasks }))?;
    } else {
        ctx.ui.line(format!("{score_id}  draft  {}", count(plan.tasks.len(), "task")))?;
    }
    super::report_write(ctx, &outcome, &format!("Planned score {score_id} as a draft."));
    for o in crate::approval::scope_overlaps(&plan.tasks) {
        ctx.ui.warn(format!("tasks {} and {} may touch the same files ({})", o.a, o.b, o.globs.join("; ")));
    }
    for w in crate::approval::interface_warnings(&plan.tasks) {
        ctx.ui.warn(w);
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
