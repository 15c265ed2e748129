//! `git maestro decide`

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::model::redact::redact;
use crate::model::{MAX_STRING_BYTES, OpenKind};
use crate::store;

#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    /// One-line summary of what was decided
    #[arg(short = 'm', long = "message", value_name = "SUMMARY")]
    pub summary: String,
    /// The kind of decision: design, handover, lesson or plan
    #[arg(long, default_value = "design", value_name = "KIND")]
    pub kind: String,
    /// The Score it is about
    #[arg(long, value_name = "SCORE")]
    pub score: Option<String>,
    /// The task it is about (needs --score, or write <score>/<task>)
    #[arg(long, value_name = "TASK")]
    pub task: Option<String>,
    /// Why
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub rationale: String,
}

pub fn cmd_decide(ctx: &Context, args: &DecideArgs) -> CommandResult {
    // Approvals, merges and the other system kinds are refused before anything is opened.
    let kind = OpenKind::parse(&args.kind)?.kind();
    let (score, task) = match (&args.score, &args.task) {
        (_, Some(t)) if t.contains('/') => {
            let (s, t) = args::task_address(t)?;
            (Some(s), Some(t))
        }
        (Some(s), Some(t)) => (Some(args::slug("score id", s)?), Some(args::slug("task id", t)?)),
        (None, Some(_)) => {
            return Err(CommandError::user("usage", "--task needs a Score")
                .hint("write --task <score>/<task>, or add --score <score>"));
        }
        (Some(s), None) => (Some(args::slug("score id", s)?), None),
        (None, None) => (None, None),
    };
    let summary = redact(args.summary.trim());
    if summary.is_empty() || summary.contains('\n') {
        return Err(
            CommandError::user("usage", "the summary must be one non-empty line").hint("put details in --rationale")
        );
    }
    for (field, text) in [("summary", &summary), ("rationale", &args.rationale)] {
        if text.len() > MAX_STRING_BYTES {
            return Err(CommandError::user(
                "too-large",
                format!("the {field} is {} bytes; the limit is {MAX_STRING_BYTES}", text.len()),
            ));
        }
    }
    let store = ctx.store()?;
    let actor = store.session.actor.clone();
    let outcome = store.transact(&format!("decide: {summary}"), |tx| {
        if let Some(s) = &score {
            store::score(tx, s)?;
            if let Some(t) = &task {
                store::task(tx, s, t)?;
            }
        }
        let mut decision = store::new_decision(tx, kind, summary.clone(), &actor);
        decision.rationale = redact(&args.rationale);
        decision.score.clone_from(&score);
        decision.task.clone_from(&task);
        store::append_decision(tx, &decision)?;
        Ok::<_, CommandError>(decision)
    })?;
    if ctx.ui.json {
        ctx.ui.json(&outcome.value)?;
    } else {
        ctx.ui.line(&outcome.value.id)?;
    }
    super::report_write(ctx, &outcome, "Recorded the decision.");
    Ok(())
}
