//! `git maestro __complete …` (hidden): the dynamic values shell completion offers.
//!
//! It reads only tree entry names (no record is decoded), so it stays fast on a large state,
//! and it never fails loudly: outside a repository, before `init` or on a damaged state it
//! prints nothing and exits 0, because a completion script has nowhere to show an error.

use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::model::ids::validate_slug;
use crate::store::{self, View, layout};

#[derive(Debug, clap::Args)]
pub struct CompleteArgs {
    /// What to list: Score ids, task addresses (<score>/<task>), or both
    #[arg(value_enum, required = true)]
    pub kinds: Vec<Kind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Scores,
    Tasks,
}

pub fn cmd_complete(ctx: &Context, args: &CompleteArgs) -> CommandResult {
    let words = candidates(ctx, &args.kinds).unwrap_or_default();
    if !words.is_empty() {
        ctx.ui.line(words.join("\n"))?;
    }
    Ok(())
}

fn candidates(ctx: &Context, kinds: &[Kind]) -> Option<Vec<String>> {
    let store = ctx.store().ok()?;
    let view = store.view().ok()?;
    let scores = ids(&view, layout::SCORES_DIR);
    let mut out = Vec::new();
    if kinds.contains(&Kind::Scores) {
        out.extend(scores.iter().cloned());
    }
    if kinds.contains(&Kind::Tasks) {
        for score in &scores {
            let mut tasks = store::score(&view, score).map(|s| s.tasks).unwrap_or_default();
            tasks.retain(|id| validate_slug(id).is_ok());
            tasks.sort();
            out.extend(tasks.into_iter().map(|task| format!("{score}/{task}")));
        }
    }
    Some(out)
}

/// The valid ids of the directories in `dir`. Anything else (a name a hostile state smuggled
/// in) is left out rather than printed into the user's shell.
fn ids(view: &View<'_>, dir: &str) -> Vec<String> {
    let entries = view.list(dir).unwrap_or_default();
    entries
        .into_iter()
        .filter(|(_, is_dir)| *is_dir)
        .map(|(name, _)| name)
        .filter(|id| validate_slug(id).is_ok())
        .collect()
}
