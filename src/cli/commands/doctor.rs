//! `git maestro doctor`

use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::git::{self, GitVersion};
use crate::hooks;
use crate::store::{self, layout::STATE_REF, lock};

/// Check this repository's git-maestro setup and state
///
/// Checks the git version, the ref storage, leftover locks, the pre-push hook, and that every
/// file of the state parses. Each finding that needs attention comes with a hint. Exits 1 when
/// anything is broken.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {}

#[derive(Serialize)]
struct Finding {
    check: &'static str,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Error,
}

fn finding(check: &'static str, status: Status, detail: impl Into<String>, hint: Option<String>) -> Finding {
    Finding { check, status, detail: detail.into(), hint }
}

pub fn cmd_doctor(ctx: &Context, _args: &DoctorArgs) -> CommandResult {
    let mut findings = vec![match git::git_version() {
        Ok(v) if v >= GitVersion::MINIMUM => finding("git", Status::Ok, format!("git {v}"), None),
        Ok(v) => finding(
            "git",
            Status::Error,
            format!("git {v} is older than {}", GitVersion::MINIMUM),
            Some("install a newer git".into()),
        ),
        Err(e) => finding("git", Status::Error, e.to_string(), Some("install git and put it on PATH".into())),
    }];
    match ctx.store() {
        Ok(store) => check_store(&store, &mut findings)?,
        Err(e) => findings.push(finding("repository", Status::Error, e.error.to_string(), e.hints.first().cloned())),
    }
    let broken = findings.iter().filter(|f| f.status == Status::Error).count();
    if ctx.ui.json {
        ctx.ui.json(&findings)?;
    } else {
        for f in &findings {
            let mark = match f.status {
                Status::Ok => "ok   ",
                Status::Warn => "warn ",
                Status::Error => "error",
            };
            ctx.ui.line(format!("{mark} {:<11} {}", f.check, f.detail))?;
            if let Some(h) = &f.hint {
                ctx.ui.line(format!("      {:<11} Hint: {h}", ""))?;
            }
        }
    }
    if broken > 0 {
        return Err(CommandError::user("doctor", format!("{broken} problem(s) found")));
    }
    Ok(())
}

fn check_store(store: &store::Store, findings: &mut Vec<Finding>) -> CommandResult {
    let repo = &store.repo;
    findings.push(finding("refs", Status::Ok, format!("ref storage: {}", repo.ref_storage()), None));
    let lock_path = repo.ref_lock_path(STATE_REF);
    let writing = lock::writer_alive(repo.common_dir());
    findings.push(match lock::age(&lock_path) {
        None => finding("lock", Status::Ok, "no lock on refs/maestro/state", None),
        Some(age) if writing => finding(
            "lock",
            Status::Ok,
            format!("a git-maestro write is in progress ({}s)", age.as_secs()),
            None,
        ),
        Some(age) => finding(
            "lock",
            Status::Warn,
            format!("{} was left behind ({}s old) and no git-maestro writer is alive", lock_path.display(), age.as_secs()),
            Some(format!(
                "the next write removes it once it is {}s old; if no git process is running, remove it now with `rm {}`",
                lock::STALE_AFTER.as_secs(),
                lock_path.display()
            )),
        ),
    });
    let hooks_dir = repo.hooks_dir();
    findings.push(if hooks::is_installed(&hooks_dir) {
        finding("hook", Status::Ok, "pre-push verifier installed", None)
    } else {
        finding(
            "hook",
            Status::Warn,
            format!("no pre-push verifier in {}", hooks_dir.display()),
            Some("run `git maestro init` to install it".into()),
        )
    });
    let Some(tip) = store.tip()? else {
        findings.push(finding(
            "state",
            Status::Warn,
            format!("{STATE_REF} does not exist"),
            Some("run `git maestro init`".into()),
        ));
        return Ok(());
    };
    let reflog = repo.common_dir().join("logs").join(STATE_REF);
    if !reflog.exists() {
        findings.push(finding(
            "reflog",
            Status::Warn,
            format!("{STATE_REF} has no reflog"),
            Some("the next write creates it".into()),
        ));
    }
    let view = store.view_at(tip)?;
    let files = view.files()?.len();
    let problems = store::check_all(&view)?;
    if problems.is_empty() {
        findings.push(finding(
            "state",
            Status::Ok,
            format!("{files} files at {} parse", tip.to_hex_with_len(12)),
            None,
        ));
    }
    for (path, c) in store::sync::conflicts(&view)? {
        findings.push(finding(
            "sync",
            Status::Warn,
            format!("{path}: sync conflict on {}", c.describe()),
            Some(format!("check the kept value, fix the record if needed, then `git maestro sync --resolve {path}`")),
        ));
    }
    for p in problems {
        findings.push(finding(
            "state",
            Status::Error,
            p,
            Some("find the commit that introduced it with `git log -p refs/maestro/state`".into()),
        ));
    }
    Ok(())
}
