//! `git maestro performers`

use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::cli::ui::table;
use crate::config::Adapter;
use crate::performer;

/// List the configured performers and whether their CLIs are installed
///
/// Performers come only from trusted config: ~/.config/git-maestro/config.toml, the checkout's
/// .maestro/config.toml and `git config maestro.performer.<name>.<key>`. With --check, runs each
/// binary's `--version`, reports the version and whether it is the version the test suite
/// drives, and exits 1 when any performer cannot run. With --stats, shows what was learned
/// about each performer from finished tasks, by task kind and language.
#[derive(Debug, clap::Args)]
pub struct PerformersArgs {
    /// Run each performer's `--version`
    #[arg(long)]
    pub check: bool,
    /// Show each performer's record: merged (first time), reworks, blocked, reverted
    #[arg(long, conflicts_with = "check")]
    pub stats: bool,
}

fn stats(ctx: &Context) -> CommandResult {
    let store = ctx.store()?;
    let all = crate::store::performer_stats(&store.view()?)?;
    if ctx.ui.json {
        ctx.ui.json(&all)?;
        return Ok(());
    }
    if all.is_empty() {
        ctx.ui.status("No finished tasks yet.");
        return Ok(());
    }
    let mut rows = vec![
        ["PERFORMER", "KIND/LANGUAGE", "MERGED", "FIRST TIME", "REWORKS", "BLOCKED", "REVERTED"]
            .map(String::from)
            .to_vec(),
    ];
    for s in &all {
        for (key, c) in &s.by {
            rows.push(vec![
                s.performer.clone(),
                key.clone(),
                c.merged.to_string(),
                c.first_time.to_string(),
                c.reworks.to_string(),
                c.blocked.to_string(),
                c.reverted.to_string(),
            ]);
        }
    }
    ctx.ui.line(table(&rows))?;
    Ok(())
}

#[derive(Serialize)]
struct Row {
    name: String,
    adapter: Adapter,
    command: String,
    binary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tested_version: Option<&'static str>,
    /// `None` when not checked or the adapter has no tested version.
    #[serde(skip_serializing_if = "Option::is_none")]
    tested: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
    source: String,
}

pub fn cmd_performers(ctx: &Context, args: &PerformersArgs) -> CommandResult {
    if args.stats {
        return stats(ctx);
    }
    let repo = ctx.repo()?;
    let config = ctx.config(&repo)?;
    let base = repo.main_workdir().unwrap_or_else(|| repo.common_dir().to_owned());
    let mut rows = Vec::new();
    for p in config.performers.values() {
        let binary = performer::locate(&p.command, &base);
        let mut row = Row {
            name: p.name.clone(),
            adapter: p.adapter,
            command: p.command.clone(),
            binary: binary.as_ref().map(|b| b.display().to_string()),
            version: None,
            tested_version: p.adapter.tested_version(),
            tested: None,
            problem: None,
            source: p.source.clone(),
        };
        match &binary {
            None => row.problem = Some(format!("{} not found", p.command)),
            Some(path) if args.check => match performer::probe_version(path) {
                Ok(v) => {
                    row.tested = p.adapter.tested_version().map(|t| t == v);
                    row.version = Some(v);
                }
                Err(e) => row.problem = Some(e.to_string()),
            },
            Some(_) => {}
        }
        rows.push(row);
    }
    let broken = rows.iter().filter(|r| r.problem.is_some()).count();
    if ctx.ui.json {
        ctx.ui.json(&rows)?;
    } else if rows.is_empty() {
        ctx.ui
            .status("No performers configured. Uncomment one in .maestro/config.toml (`git maestro init` creates it).");
    } else {
        let mut lines = vec![["PERFORMER", "ADAPTER", "BINARY", "VERSION", "TESTED"].map(String::from).to_vec()];
        for r in &rows {
            lines.push(vec![
                r.name.clone(),
                r.adapter.as_str().to_owned(),
                r.binary.clone().unwrap_or_else(|| format!("{} (not found)", r.command)),
                r.version.clone().unwrap_or_else(|| if args.check { "?".into() } else { "-".into() }),
                match (r.tested, r.tested_version) {
                    (Some(true), _) => "yes".into(),
                    (Some(false), Some(t)) => format!("no (tested: {t})"),
                    _ => "-".into(),
                },
            ]);
        }
        ctx.ui.line(table(&lines))?;
        for r in rows.iter().filter(|r| r.problem.is_some()) {
            ctx.ui.warn(format!("{}: {}", r.name, r.problem.as_deref().unwrap_or_default()));
        }
    }
    if args.check && broken > 0 {
        return Err(CommandError::user("performer-unavailable", format!("{broken} performer(s) cannot run"))
            .hint("install the missing CLIs, or set `command` for them in .maestro/config.toml"));
    }
    Ok(())
}
