//! `git maestro performers`

use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::cli::ui::table;
use crate::config::{Adapter, Performer};
use crate::performer;

#[derive(Debug, clap::Args)]
pub struct PerformersArgs {
    /// Check that each performer can run: its command is executable, its settings are complete, and
    /// an agent CLI answers `--version` (a `command` performer is never run)
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
    /// With --check: whether it can run as configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
    /// `off`, `auto` or `required`.
    sandbox: crate::sandbox::Mode,
    /// With --check: the Landlock ABI its runs get here (0: none, or the sandbox is off), and
    /// what that leaves unenforced.
    #[serde(skip_serializing_if = "Option::is_none")]
    sandbox_abi: Option<u8>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    not_enforced: Vec<&'static str>,
    source: String,
}

/// One performer's row: its binary resolved (never run); with `check`, its configuration's
/// requirements and, for the agent CLIs, their `--version`. A `command` performer is never run.
fn row(p: &Performer, base: &std::path::Path, check: bool) -> Row {
    let binary = performer::resolve(&p.command, base);
    let mut row = Row {
        name: p.name.clone(),
        adapter: p.adapter,
        command: p.command.clone(),
        binary: binary.as_ref().ok().map(|b| b.display().to_string()),
        version: None,
        tested_version: p.adapter.tested_version(),
        tested: None,
        ok: None,
        problem: None,
        hint: None,
        sandbox: p.sandbox,
        sandbox_abi: None,
        not_enforced: Vec::new(),
        source: p.source.clone(),
    };
    let path = match binary {
        Ok(path) => path,
        Err(e) => {
            row.problem = Some(e.to_string());
            row.hint = Some(e.hint(&p.name));
            row.ok = check.then_some(false);
            return row;
        }
    };
    if !check {
        return row;
    }
    let abi = if p.sandbox == crate::sandbox::Mode::Off { 0 } else { crate::sandbox::probe() };
    row.sandbox_abi = Some(abi);
    if p.sandbox != crate::sandbox::Mode::Off {
        row.not_enforced = crate::sandbox::not_enforced(abi);
    }
    if p.sandbox == crate::sandbox::Mode::Required && abi == 0 {
        row.problem = Some("sandbox = \"required\", but this kernel has no Landlock".into());
        row.hint = Some("run on a kernel with Landlock, or set sandbox = \"auto\"".into());
    } else if let Err(unmet) = performer::requirements::check(p, &performer::requirements::Host::current()) {
        row.problem = Some(unmet.problem);
        row.hint = Some(unmet.hint);
    } else if p.adapter.tested_version().is_some() {
        match performer::probe_version(&path) {
            Ok(v) => {
                row.tested = p.adapter.tested_version().map(|t| t == v);
                row.version = Some(v);
            }
            Err(e) => {
                row.problem = Some(e.to_string());
                row.hint = Some(format!("check that `{} --version` works in a shell", path.display()));
            }
        }
    }
    row.ok = Some(row.problem.is_none());
    row
}

pub fn cmd_performers(ctx: &Context, args: &PerformersArgs) -> CommandResult {
    if args.stats {
        return stats(ctx);
    }
    let repo = ctx.repo()?;
    let config = ctx.config(&repo)?;
    let base = repo.main_workdir().unwrap_or_else(|| repo.common_dir().to_owned());
    let rows: Vec<Row> = config.performers.values().map(|p| row(p, &base, args.check)).collect();
    let broken: Vec<&Row> = rows.iter().filter(|r| r.problem.is_some()).collect();
    let setup_problem = if args.check { worktree_setup(ctx, &repo, &config.setup) } else { None };
    if ctx.ui.json {
        ctx.ui.json(&rows)?;
    } else if rows.is_empty() {
        ctx.ui
            .status("No performers configured. Uncomment one in .maestro/config.toml (`git maestro init` creates it).");
    } else {
        let mut lines = vec![["PERFORMER", "ADAPTER", "BINARY", "VERSION", "TESTED"].map(String::from).to_vec()];
        if args.check {
            lines[0].extend(["SANDBOX".into(), "CHECK".into()]);
        }
        for r in &rows {
            let mut line = vec![
                r.name.clone(),
                r.adapter.as_str().to_owned(),
                r.binary.clone().unwrap_or_else(|| format!("{} (not found)", r.command)),
                r.version
                    .clone()
                    .unwrap_or_else(|| if args.check && r.tested_version.is_some() { "?".into() } else { "-".into() }),
                match (r.tested, r.tested_version) {
                    (Some(true), _) => "yes".into(),
                    (Some(false), Some(t)) => format!("no (tested: {t})"),
                    _ => "-".into(),
                },
            ];
            if args.check {
                line.push(match (r.sandbox, r.sandbox_abi) {
                    (crate::sandbox::Mode::Off, _) => "off".into(),
                    (_, Some(0) | None) => "none (no Landlock)".into(),
                    (_, Some(abi)) => format!("landlock ABI {abi}"),
                });
                line.push(match (r.ok, r.adapter) {
                    (Some(true), Adapter::Command) => "ok (executable; not run)".into(),
                    (Some(true), _) => "ok".into(),
                    _ => "cannot run".into(),
                });
            }
            lines.push(line);
        }
        ctx.ui.line(table(&lines))?;
        if let Some(r) = rows.iter().find(|r| !r.not_enforced.is_empty()) {
            ctx.ui.status(format!("The sandbox does not confine: {}.", r.not_enforced.join(", ")));
        }
        for r in &broken {
            ctx.ui.warn(format!("{}: {}", r.name, r.problem.as_deref().unwrap_or_default()));
        }
    }
    if let Some(problem) = setup_problem {
        return Err(CommandError::user("bad-setup", problem)
            .hint(format!("fix {} or [setup] in .maestro/config.toml", crate::git::INCLUDE_FILE)));
    }
    if args.check && !broken.is_empty() {
        let hint = match broken.as_slice() {
            [one] => one.hint.clone().unwrap_or_default(),
            _ => "fix each performer as its warning says; `git maestro performers --check --json` gives a hint per performer"
                .into(),
        };
        let names: Vec<&str> = broken.iter().map(|r| r.name.as_str()).collect();
        let n = broken.len();
        let what = if n == 1 { "performer cannot" } else { "performers cannot" };
        return Err(
            CommandError::user("performer-unavailable", format!("{n} {what} run: {}", names.join(", "))).hint(hint)
        );
    }
    Ok(())
}

/// With --check: say how new worktrees are prepared (what `.worktreeinclude` copies, which
/// setup commands run and which were imported from the repository); the problem that would
/// fail every run, if any.
fn worktree_setup(ctx: &Context, repo: &crate::git::Repo, setup: &crate::config::Setup) -> Option<String> {
    let main = repo.main_workdir();
    let mut problems = Vec::new();
    match main.as_deref().map(crate::git::plan_includes).transpose() {
        Ok(Some(Some(plan))) => {
            problems.extend(plan.refused.iter().cloned());
            if plan.refused.is_empty() {
                let files = if plan.files.is_empty() { "nothing yet".to_owned() } else { plan.files.join(", ") };
                ctx.ui.status(format!("Worktree setup: {} copies {files}.", crate::git::INCLUDE_FILE));
            }
            for (path, why) in &plan.skipped {
                ctx.ui.warn(format!("{}: {} is skipped: {why}", crate::git::INCLUDE_FILE, shown(path)));
            }
        }
        Ok(_) => {}
        Err(e) => problems.push(e.to_string()),
    }
    match performer::setup::commands(setup, main.as_deref()) {
        Ok(commands) => {
            for c in commands {
                let imported = if c.import.is_some() { " (imported)" } else { "" };
                ctx.ui.status(format!("Worktree setup: {}{imported} runs `{}`.", shown(&c.origin), shown(&c.run)));
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    for problem in &problems {
        ctx.ui.warn(shown(problem));
    }
    (!problems.is_empty()).then(|| shown(&format!("new worktrees cannot be prepared: {}", problems.join("; "))))
}

fn shown(text: &str) -> String {
    crate::cli::ui::shown(text).into_owned()
}
