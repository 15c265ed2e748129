//! `git maestro sync`

use crate::approval::share::{self, SharedBranch};
use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::cli::ui::count;
use crate::model::ScoreStatus;
use crate::store::sync::{self, SyncError};

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The remote (default: origin, or the only remote)
    pub remote: Option<String>,
    /// Clear the conflicts sync recorded in a record (a state path, or <score>/<task>) once you
    /// have checked them; nothing is fetched or pushed
    #[arg(long, value_name = "RECORD", conflicts_with = "remote")]
    pub resolve: Option<String>,
}

pub fn cmd_sync(ctx: &Context, args: &SyncArgs) -> CommandResult {
    let store = ctx.store()?;
    if let Some(record) = &args.resolve {
        let path = match record.split_once('/') {
            Some((score, task)) if !record.ends_with(".toml") => {
                crate::store::layout::task_file(&args::slug("score id", score)?, &args::slug("task id", task)?)
            }
            _ => record.clone(),
        };
        let cleared = sync::resolve(&store, &path)?;
        if ctx.ui.json {
            ctx.ui.json(&serde_json::json!({ "record": path, "resolved": cleared }))?;
        } else {
            ctx.ui.line(format!("{path}: {} resolved", count(cleared, "sync conflict")))?;
        }
        return Ok(());
    }
    let remote = sync::pick_remote(&store, args.remote.as_deref()).map_err(error)?;
    let also = [share::fetch_refspec(&remote)];
    let report = sync::sync(&store, &remote, &crate::hooks::verify_sync_push, &also).map_err(error)?;
    for notice in &report.notices {
        ctx.ui.warn(notice);
    }
    let branches = share::share_fetched(&store, &remote, None)?;
    if ctx.ui.json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            state: &'a sync::Report,
            branches: &'a [SharedBranch],
        }
        ctx.ui.json(&Out { state: &report, branches: &branches })?;
        return Ok(());
    }
    for lost in &report.lost_claims {
        ctx.ui.warn(format!(
            "{}: the claim of {} lost to {}, whose claim on another machine was pushed first",
            lost.task, lost.holder, lost.winner
        ));
    }
    for (path, conflict) in report.conflicts.iter().filter(|(_, c)| c.field != "claim") {
        ctx.ui.warn(format!("{path}: sync conflict on {}", conflict.describe()));
    }
    let rounds = if report.rounds > 1 { format!(" after {} rounds", report.rounds) } else { String::new() };
    let tip = report.after.as_deref().map_or("", |t| &t[..12]);
    let what = match report.action {
        "up-to-date" => format!("up to date with {remote} at {tip}"),
        "fast-forward" => format!("fast-forwarded to {remote}'s state {tip}"),
        "adopted" => format!("took {remote}'s state {tip}"),
        "merged" => format!("merged {remote}'s state and pushed {tip}{rounds}"),
        _ => format!("pushed {tip} to {remote}{rounds}"),
    };
    ctx.ui.line(what)?;
    for s in &report.settled {
        let why = match s.status {
            ScoreStatus::Done => "every task is merged",
            _ => "a task is reverted or still to do",
        };
        ctx.ui.line(format!("{}  {}: {why}", s.score, s.status))?;
    }
    for b in &branches {
        let tip = &b.commit[..12];
        let line = match b.action {
            "created" => format!("{}: took {remote}'s at {tip}", b.branch),
            "fast-forward" => format!("{}: fast-forwarded to {remote}'s {tip}", b.branch),
            "merged" => format!("{}: merged {remote}'s and pushed {tip}", b.branch),
            "pushed" => format!("{}: pushed {tip}", b.branch),
            _ => continue,
        };
        ctx.ui.line(line)?;
    }
    for problem in branches.iter().filter_map(SharedBranch::problem) {
        ctx.ui.warn(problem);
    }
    if branches.iter().any(|b| b.action == "conflict") {
        ctx.ui.status(
            "Hint: roll back one of the conflicting tasks here (`git maestro rollback <score>/<task>`), then sync again; \
             the task can run again on top of the shared branch",
        );
    }
    Ok(())
}

/// Sync the state and the Scores' branches with `remote` once, before a command that needs
/// what is there (`run --remote` as the first command in a fresh clone); warnings only.
pub(super) fn sync_first(ctx: &Context, store: &crate::store::Store, remote: &str) -> CommandResult {
    let also = [share::fetch_refspec(remote)];
    let report = sync::sync(store, remote, &crate::hooks::verify_sync_push, &also).map_err(error)?;
    for notice in &report.notices {
        ctx.ui.warn(notice);
    }
    for problem in share::share_fetched(store, remote, None)?.iter().filter_map(SharedBranch::problem) {
        ctx.ui.warn(problem);
    }
    Ok(())
}

/// A sync error with what to do about it.
pub(super) fn error(e: SyncError) -> CommandError {
    let e = match e {
        SyncError::Store(e) => return e.into(),
        SyncError::Git(e) => return e.into(),
        other => other,
    };
    let (code, hint) = match &e {
        SyncError::Store(_) | SyncError::Git(_) => ("sync", None), // returned above
        SyncError::NoSuchRemote(_) | SyncError::NoRemote => (
            "no-remote",
            Some("run `git remote -v` to see the remotes, or add one with `git remote add <name> <url>`".to_owned()),
        ),
        SyncError::NothingToSync(_) => {
            ("not-initialized", Some("run `git maestro init` to create the state".to_owned()))
        }
        SyncError::Rewound { remote, quarantine, .. } => (
            "remote-rewound",
            Some(format!(
                "nothing was adopted and the local state is unchanged. Inspect it with `git log {quarantine}`; \
                 if the rewind was deliberate, `git update-ref -d {}` and sync again, which pushes the local state back on top",
                sync::seen_ref(remote)
            )),
        ),
        SyncError::Unrelated(remote) => (
            "unrelated-state",
            Some(format!(
                "the local state and {remote}'s were created apart; keep one: `git update-ref -d refs/maestro/state` drops the local one"
            )),
        ),
        SyncError::Busy { .. } => {
            ("contention", Some("run `git maestro sync` again; what merged is kept locally".to_owned()))
        }
        SyncError::Unreadable { quarantine, .. } => (
            "invalid-remote-state",
            Some(format!(
                "nothing was adopted and the local state is unchanged; the remote's state is kept as {quarantine} \
                 (inspect it with `git show {quarantine}`); ask whoever pushed it to repair it with a current git-maestro"
            )),
        ),
        SyncError::Refused { .. } => ("push-refused", None),
    };
    let err = CommandError::user(code, e.to_string());
    match hint {
        Some(h) => err.hint(h),
        None => err,
    }
}
