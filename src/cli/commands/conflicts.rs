//! `git maestro conflicts`

use crate::approval;
use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::CommandResult;
use crate::store;

#[derive(Debug, clap::Args)]
pub struct ConflictsArgs {
    /// The Score id
    pub score: Option<String>,
}

pub fn cmd_conflicts(ctx: &Context, args: &ConflictsArgs) -> CommandResult {
    let store = ctx.store()?;
    let ids: Vec<String> = match &args.score {
        Some(s) => vec![args::slug("score id", s)?],
        None => store::scores(&store.view()?)?.into_iter().map(|s| s.id).collect(),
    };
    let mut report = Vec::new();
    for id in ids {
        let (overlaps, conflicts) = approval::conflicts(&store, &id)?;
        report.push((id, overlaps, conflicts));
    }
    if ctx.ui.json {
        let value: Vec<_> = report
            .iter()
            .map(|(id, o, c)| serde_json::json!({ "score": id, "scope_overlaps": o, "conflicts": c }))
            .collect();
        ctx.ui.json(&value)?;
        return Ok(());
    }
    for (id, overlaps, conflicts) in &report {
        for o in overlaps {
            ctx.ui.line(format!("{id}  scope    {} ~ {}  ({})", o.a, o.b, o.globs.join("; ")))?;
        }
        for c in conflicts {
            ctx.ui.line(format!("{id}  conflict {} ~ {}  ({})", c.a, c.b, c.paths.join(", ")))?;
            for o in &c.overlaps {
                let spans: Vec<String> =
                    o.lines.iter().map(|&(s, e)| if s == e { format!("{s}") } else { format!("{s}-{e}") }).collect();
                ctx.ui.line(format!("{id}           {}: lines {}", o.path, spans.join(", ")))?;
            }
        }
    }
    if report.iter().all(|(_, o, c)| o.is_empty() && c.is_empty()) {
        ctx.ui.status("No conflicts forecast.");
    }
    Ok(())
}
