//! `git maestro doctor`

use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::git::{self, GitVersion};
use crate::hooks;
use crate::kernel::invariants::{self, IntentState, Invariant};
use crate::store::{self, layout::STATE_REF, lock};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Repair what is safe to repair, then check again
    ///
    /// Finishes the git effects that stopped processes of this clone left, releases running tasks
    /// whose run is gone (I3), drops leases left on tasks that are not running (I3), and keeps
    /// commits the state names that no ref reaches as refs/maestro/keep/<sha> (I4), and sets a
    /// Score's status to what its tasks say (I7). Each repair is reported; nothing else changes.
    #[arg(long)]
    pub fix: bool,
}

#[derive(Serialize)]
struct Finding {
    check: &'static str,
    status: Status,
    /// What the finding is about: a task as `<score>/<task>`, a Score, a commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
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
    Finding { check, status, subject: None, detail: detail.into(), hint }
}

pub fn cmd_doctor(ctx: &Context, args: &DoctorArgs) -> CommandResult {
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
        Ok(store) => {
            if args.fix && store.tip()?.is_some() {
                repair(&store, &mut findings)?;
            }
            check_store(&store, &mut findings)?;
        }
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
        return Err(CommandError::user("doctor", format!("{} found", crate::cli::ui::count(broken, "problem"))));
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
    findings.push(hook_finding(&hooks::HookPaths::of(repo)));
    findings.extend(include_finding(repo));
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
    let problems = store::check_all(&view)?;
    let files = view.files().map_or(0, |f| f.len());
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
    let unreadable = !problems.is_empty();
    for p in problems {
        findings.push(finding(
            "state",
            Status::Error,
            p,
            Some("find the commit that introduced it with `git log -p refs/maestro/state`".into()),
        ));
    }
    if unreadable {
        findings.push(finding(
            "invariants",
            Status::Warn,
            "not checked: the state holds records that do not read",
            Some("fix the records named above, then run `git maestro doctor` again".into()),
        ));
        return Ok(());
    }
    check_invariants(store, findings)
}

/// `.worktreeinclude`, when the checkout has one: a pattern that reaches outside it fails every
/// new worktree.
fn include_finding(repo: &git::Repo) -> Option<Finding> {
    let plan = match repo.main_workdir().as_deref().map(git::plan_includes).transpose() {
        Ok(plan) => plan.flatten()?,
        Err(e) => return Some(finding("include", Status::Warn, e.to_string(), None)),
    };
    Some(if plan.refused.is_empty() {
        let detail = format!(
            "{}: {} copied into new worktrees",
            git::INCLUDE_FILE,
            crate::cli::ui::count(plan.files.len(), "file")
        );
        finding("include", Status::Ok, detail, None)
    } else {
        let hint = format!("patterns name files inside the checkout only: fix {}", git::INCLUDE_FILE);
        finding("include", Status::Error, crate::cli::ui::shown(&plan.refused.join("; ")).into_owned(), Some(hint))
    })
}

/// The pre-push verifier: in place, never installed, or installed and since broken by a hook
/// manager or an edit (a problem: pushes are no longer verified, or the user's hook no longer
/// runs).
fn hook_finding(paths: &hooks::HookPaths) -> Finding {
    use hooks::HookHealth as H;
    let repair = Some("run `git maestro init --hooks` to put it back".to_owned());
    match hooks::health(paths) {
        H::Installed { path } => {
            finding("hook", Status::Ok, format!("pre-push verifier installed in {}", path.display()), None)
        }
        H::Missing { path } => finding(
            "hook",
            Status::Warn,
            format!("no pre-push verifier in {}", path.display()),
            Some("run `git maestro init` to install it".into()),
        ),
        H::Overwritten { path, was } => {
            let detail = if path == was {
                format!("the pre-push verifier was removed from {}: pushes are not verified", path.display())
            } else {
                format!(
                    "the pre-push verifier was installed in {}, but git now runs {}, which lacks it: pushes are not verified",
                    was.display(),
                    path.display()
                )
            };
            finding("hook", Status::Error, detail, repair)
        }
        H::Unchained { path, script } => finding(
            "hook",
            Status::Error,
            format!(
                "the pre-push verifier in {} replaced husky's runner, so {} does not run",
                path.display(),
                script.display()
            ),
            repair,
        ),
        H::Nested { path, chained } => finding(
            "hook",
            Status::Error,
            format!(
                "{} runs {}, a copy of the pre-commit framework's hook, which refuses to run from its own legacy hook: pushes fail",
                path.display(),
                chained.display()
            ),
            Some("run `git maestro init --hooks` to remove the copy (pre-commit still runs as the hook itself)".into()),
        ),
        H::Orphaned { path, chained } => finding(
            "hook",
            Status::Error,
            format!(
                "{} was overwritten (by a hook manager's reinstall?): pushes are not verified, and {} is left over",
                path.display(),
                chained.display()
            ),
            repair,
        ),
    }
}

/// The lifecycle's invariants (DESIGN.md §12.4), and the open intents. One line per invariant
/// when it holds (only once there is a Score), one per violation otherwise.
fn check_invariants(store: &store::Store, findings: &mut Vec<Finding>) -> CommandResult {
    let report = match invariants::check(store) {
        Ok(report) => report,
        Err(e) => {
            let hint = "find the commit that introduced it with `git log -p refs/maestro/state`";
            findings.push(finding("invariants", Status::Error, format!("cannot check: {e}"), Some(hint.into())));
            return Ok(());
        }
    };
    for open in &report.intents {
        let intent = &open.intent;
        let (status, detail, hint) = match open.state {
            IntentState::InProgress => {
                (Status::Ok, format!("{}: being applied by {}", intent.why, intent.origin), None)
            }
            IntentState::Elsewhere => (
                Status::Ok,
                format!("{}: made on {} by another clone, which settles it", intent.why, intent.origin.host),
                None,
            ),
            IntentState::Stopped { due } => {
                let what = match (open.fails, due) {
                    (true, _) => "it can no longer happen (a ref moved meanwhile), so its step will be undone",
                    (false, true) => "its git effects are still to be applied",
                    (false, false) => "its git effects were applied but not yet recorded",
                };
                let detail = format!("{}: left by {}, which stopped; {what}", intent.why, intent.origin);
                let hint = "`git maestro doctor --fix` settles it, as does the next command of this clone that writes";
                (Status::Warn, detail, Some(hint.to_owned()))
            }
        };
        findings.push(finding("intent", status, detail, hint));
    }
    for invariant in Invariant::ALL {
        let mut broken = false;
        for v in report.of(invariant) {
            broken = true;
            findings.push(Finding {
                check: invariant.name(),
                status: Status::Error,
                subject: Some(v.subject.clone()),
                detail: v.explanation.clone(),
                hint: Some(v.hint.clone()),
            });
        }
        if !broken && report.scores > 0 {
            let n = report.checked.get(&invariant).copied().unwrap_or(0);
            findings.push(finding(invariant.name(), Status::Ok, format!("{} ({n} checked)", invariant.rule()), None));
        }
    }
    Ok(())
}

/// `--fix`: the safe repairs, each reported as a finding of its invariant.
fn repair(store: &store::Store, findings: &mut Vec<Finding>) -> CommandResult {
    for r in invariants::repair(store)? {
        let check = r.invariant.map_or("intent", Invariant::name);
        let status = if r.done { Status::Ok } else { Status::Warn };
        let subject = Some(r.subject).filter(|s| !s.is_empty());
        let detail = if r.done { format!("fixed: {}", r.detail) } else { r.detail };
        findings.push(Finding { check, status, subject, detail, hint: None });
    }
    Ok(())
}
