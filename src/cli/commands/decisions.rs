//! `git maestro decisions`

use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::cli::ui::table;
use crate::model::DecisionKind;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct DecisionsArgs {
    /// Only decisions about this Score
    #[arg(long, value_name = "SCORE")]
    pub score: Option<String>,
    /// Only decisions about this task (task id, or <score>/<task>)
    #[arg(long, value_name = "TASK")]
    pub task: Option<String>,
    /// Only decisions of this kind
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Only decisions by this actor (a person, a performer, `checks` or `pr`)
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,
    /// Only decisions at or after this time (RFC 3339, or a date like 2026-11-24)
    #[arg(long, value_name = "TIME", value_parser = crate::cli::args::time)]
    pub since: Option<jiff::Timestamp>,
    /// Only decisions before this time (RFC 3339, or a date)
    #[arg(long, value_name = "TIME", value_parser = crate::cli::args::time)]
    pub until: Option<jiff::Timestamp>,
}

pub fn cmd_decisions(ctx: &Context, args: &DecisionsArgs) -> CommandResult {
    let kind = args
        .kind
        .as_deref()
        .map(|k| {
            DecisionKind::parse(k).ok_or_else(|| {
                CommandError::user("invalid-kind", format!("unknown decision kind {k:?}"))
                    .hint(format!("use one of: {}", DecisionKind::NAMES.join(", ")))
            })
        })
        .transpose()?;
    let (score, task) = match args.task.as_deref().map(|t| t.split_once('/')) {
        Some(Some((s, t))) => (Some(s.to_owned()), Some(t.to_owned())),
        _ => (args.score.clone(), args.task.clone()),
    };
    let store = ctx.store()?;
    let view = store.view()?;
    let decisions: Vec<_> = store::decisions(&view)?
        .into_iter()
        .filter(|d| score.is_none() || d.score == score)
        .filter(|d| task.is_none() || d.task == task)
        .filter(|d| kind.is_none_or(|k| d.kind == k))
        .filter(|d| args.actor.as_ref().is_none_or(|a| &d.actor == a))
        .filter(|d| args.since.is_none_or(|t| d.at >= t))
        .filter(|d| args.until.is_none_or(|t| d.at < t))
        .collect();
    if ctx.ui.json {
        ctx.ui.json(&decisions)?;
        return Ok(());
    }
    if decisions.is_empty() {
        ctx.ui.status("No decisions match.");
        return Ok(());
    }
    let mut rows = vec![["ID", "TIME", "KIND", "ACTOR", "ABOUT", "SUMMARY"].map(String::from).to_vec()];
    for d in &decisions {
        let about = match (&d.score, &d.task) {
            (Some(s), Some(t)) => format!("{s}/{t}"),
            (Some(s), None) => s.clone(),
            _ => "-".into(),
        };
        rows.push(vec![
            d.id.clone(),
            d.at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            d.kind.as_str().into(),
            d.actor.clone(),
            about,
            d.summary.clone(),
        ]);
    }
    ctx.ui.line(table(&rows))?;
    Ok(())
}
