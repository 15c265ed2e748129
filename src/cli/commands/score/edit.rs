//! `git maestro score edit`

use std::process::Command;

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::cli::ui::count;
use crate::model::plan::{self, ScoreFile};
use crate::model::{DecisionKind, ScoreStatus};
use crate::store::{self, layout};

#[derive(Debug, clap::Args)]
pub struct EditArgs {
    /// The Score id
    pub score: String,
    /// Drop a kept edit that was not stored, and start again from the stored Score
    #[arg(long)]
    pub discard: bool,
}

pub fn cmd_score_edit(ctx: &Context, args: &EditArgs) -> CommandResult {
    let id = args::slug("score id", &args.score)?;
    let store = ctx.store()?;
    let (score, tasks) = store::score_with_tasks(&store.view()?, &id)?;
    if score.status != ScoreStatus::Draft {
        return Err(CommandError::user("not-draft", format!("{id} is {}; only a draft can be edited", score.status))
            .hint("plan a new Score for further work"));
    }
    let before = toml::to_string(&ScoreFile::from_plan(&score, &tasks))
        .map_err(|e| CommandError::user("edit", format!("cannot write {id} as a Score file: {e}")))?;
    let dir = store.repo.common_dir().join("maestro/edit");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{id}.toml"));
    // An edit that was not stored is the user's work: reopen it rather than overwrite it.
    if path.exists() && args.discard {
        std::fs::remove_file(&path)?;
        ctx.ui.status(format!("Dropped your earlier edit of {id}."));
    }
    if path.exists() {
        ctx.ui.status(format!("Reopening your earlier edit of {id}, which was not stored: {}", path.display()));
        ctx.ui.status(format!("To start again from the stored Score, run `git maestro score edit {id} --discard`."));
    } else {
        std::fs::write(&path, &before)?;
    }
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "vi".into());
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{editor} \"$@\""))
        .arg("editor")
        .arg(&path)
        .status()
        .map_err(|e| CommandError::user("editor", format!("cannot run {editor}: {e}")))?;
    if !status.success() {
        return Err(CommandError::user("editor", format!("{editor} exited with {status}; nothing was stored"))
            .hint(format!("your edit is kept in {}", path.display())));
    }
    let after = std::fs::read_to_string(&path)?;
    if after == before {
        let _ = std::fs::remove_file(&path);
        ctx.ui.status("Nothing changed.");
        return Ok(());
    }
    let shown = path.display().to_string();
    let kept = |problems: Vec<String>| {
        CommandError::problems("invalid-score", &shown, "; nothing was stored", problems)
            .hint(format!("fix it and run `git maestro score edit {id}` again; your edit is kept in {shown}"))
    };
    let plan = plan::parse_score_file(&after)
        .map_err(|p| vec![p])
        .and_then(|file| plan::validate(file, store.session.now()))
        .map_err(|problems| kept(problems.iter().map(ToString::to_string).collect()))?;
    if plan.score.id != id {
        return Err(kept(vec![format!("id: the id must stay {id:?}")]));
    }
    let actor = store.session.actor.clone();
    let outcome = store.transact(&format!("edit {id}"), |tx| {
        let current = store::score(tx, &id)?;
        if current.status != ScoreStatus::Draft {
            return Err(CommandError::user("not-draft", format!("{id} was approved while you edited it")));
        }
        for old in current.tasks.iter().filter(|t| !plan.tasks.iter().any(|n| &&n.id == t)) {
            tx.remove(&layout::task_file(&id, old))?;
        }
        let mut s = plan.score.clone();
        s.created = current.created;
        s.raises = current.raises;
        tx.put(&layout::score_file(&id), &s)?;
        for t in &plan.tasks {
            tx.put(&layout::task_file(&id, &t.id), t)?;
        }
        let summary = format!("edited the plan of {id}: {}", count(plan.tasks.len(), "task"));
        let d = store::new_decision(tx, DecisionKind::Plan, summary, &actor).about(&id, None);
        store::append_decision(tx, &d)?;
        Ok(())
    })?;
    let _ = std::fs::remove_file(&path);
    ctx.ui.line(format!("{id}  draft  {}", count(plan.tasks.len(), "task")))?;
    super::super::report_write(ctx, &outcome, &format!("Stored your edit of {id}."));
    Ok(())
}
