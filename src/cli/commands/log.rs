//! `git maestro log`

use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::store::trailer;

#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// Show at most N operations
    #[arg(short = 'n', long = "max-count", value_name = "N")]
    pub max_count: Option<usize>,
}

#[derive(Serialize)]
struct Entry {
    commit: String,
    at: jiff::Timestamp,
    actor: String,
    op: String,
    summary: String,
}

pub fn cmd_log(ctx: &Context, args: &LogArgs) -> CommandResult {
    let store = ctx.store()?;
    let tip = store.tip()?.ok_or(crate::store::Error::NotInitialized)?;
    let mut entries = Vec::new();
    for id in store.repo.ancestors(tip)?.into_iter().take(args.max_count.unwrap_or(usize::MAX)) {
        let info = store.repo.commit_info(id)?;
        let subject = info.message.lines().next().unwrap_or_default();
        entries.push(Entry {
            commit: id.to_string(),
            at: jiff::Timestamp::from_second(info.time).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            actor: trailer(&info.message, "Maestro-Actor").unwrap_or("?").to_owned(),
            op: trailer(&info.message, "Maestro-Op").unwrap_or_default().to_owned(),
            summary: subject.strip_prefix("maestro: ").unwrap_or(subject).to_owned(),
        });
    }
    if ctx.ui.json {
        ctx.ui.json(&entries)?;
        return Ok(());
    }
    for e in &entries {
        ctx.ui.line(format!(
            "{} {} {}  {}",
            &e.commit[..12],
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.summary
        ))?;
    }
    Ok(())
}
