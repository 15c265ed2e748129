//! The errors of the core modules' operations (approval, task runs, the run loop, memory),
//! converted exhaustively: every variant gets its code and, where there is one, the command to
//! run next. A new variant does not compile until it is placed here.

use super::{CommandError, Kind};
use crate::approval::{ApprovalError, ChainError};
use crate::conductor::ConductorError;
use crate::memory::handover::HandoverError;
use crate::memory::kb::KbError;
use crate::performer::task_run::RunError;

fn user(code: &'static str, e: impl std::fmt::Display) -> CommandError {
    CommandError::user(code, e.to_string())
}

impl From<crate::model::score::ScoreTransitionError> for CommandError {
    fn from(e: crate::model::score::ScoreTransitionError) -> CommandError {
        CommandError::wrap(Kind::User, "invalid-transition", e)
    }
}

impl From<ApprovalError> for CommandError {
    fn from(e: ApprovalError) -> CommandError {
        use ApprovalError as A;
        match e {
            A::Store(e) => e.into(),
            A::Task(e) => e.into(),
            A::Git(e) => e.into(),
            A::Refused(e) => e.into(),
            A::Score(e) => e.into(),
            A::CheckedOut { ref branch } => {
                let hint = format!("switch that worktree to another branch, or remove it, then merge again ({branch})");
                user("checked-out", &e).hint(hint)
            }
            A::DirtyTarget { .. } => user("dirty-target", &e).hint("commit or stash those changes, then land again"),
            A::NoRemote { ref remotes, .. } => {
                let hint = if remotes.is_empty() {
                    "add one with `git remote add origin <url>`".to_owned()
                } else {
                    format!("use --remote with one of: {}", remotes.join(", "))
                };
                user("no-remote", &e).hint(hint)
            }
            A::NotSubmitted { ref task, .. } => {
                let hint = format!("run it first: `git maestro task run {task}`");
                user("not-submitted", &e).hint(hint)
            }
            A::PullRequest(_) => user("pull-request", &e),
            A::RevertConflict { .. } => user("revert-conflict", &e)
                .hint("roll back the later tasks that touch those files first, or fix the integration branch by hand"),
            A::LandConflict { .. } => user("land-conflict", &e)
                .hint("merge the target into the work by hand, or roll back the conflicting tasks, then land again"),
            A::UnknownCheck(ref name) => unknown_check(name, &e),
            A::Check(_) => user("check-failed", &e),
            A::NoBranch(_) => user("no-branch", &e),
            A::Archived { ref branch, ref tip, .. } => {
                let hint = format!("bring it back with `git branch {branch} {tip}`, then run the command again");
                user("archived", &e).hint(hint)
            }
            A::NoTarget(ref t) => no_target(t, &e),
            A::AlreadyIntegrated { .. } => user("already-integrated", &e),
            A::Moved(_) => user("moved", &e).hint("run the command again"),
        }
    }
}

impl From<ChainError> for CommandError {
    fn from(e: ChainError) -> CommandError {
        use ChainError as C;
        match e {
            C::Approval(e) => e.into(),
            C::NotSubmitted { .. } => user("not-submitted", &e),
            C::UnknownCheck(ref name) => unknown_check(name, &e),
            C::Unsupported(_) => user("unsupported-step", &e),
            C::UnknownReviewer(_) | C::NoReviewer | C::ReviewerUnavailable { .. } => user("reviewer-unavailable", &e)
                .hint("configure the reviewer in .maestro/config.toml; see `git maestro performers`"),
            C::Changed(ref task) => user("changed", &e).hint(format!("run `git maestro task review {task}` again")),
            C::Interrupted => user("interrupted", &e),
            C::ResultElsewhere { ref task, ref branch } => user("result-elsewhere", &e).hint(format!(
                "review it on that machine, or read the branch it pushed (`git log -p <remote>/{branch}`) \
                 and decide with `git maestro approve|reject {task}`"
            )),
            C::ResultGone { ref task, ref branch, ref commit } => {
                let rerun = format!("`git maestro reject {task} -m <why>`, then run it again");
                user("result-gone", &e).hint(match commit {
                    Some(c) => {
                        format!("`git branch {branch} {c}` restores it, its commit being still here; or {rerun}")
                    }
                    None => format!("its commit is gone too: {rerun}"),
                })
            }
            C::Io(_) => user("approval", &e),
        }
    }
}

impl From<RunError> for CommandError {
    fn from(e: RunError) -> CommandError {
        use RunError as R;
        match e {
            R::Store(e) => e.into(),
            R::Task(e) => e.into(),
            R::Git(e) => e.into(),
            R::Refused(e) => e.into(),
            R::Busy(_) => user("busy", &e)
                .hint("wait for that run to finish, or stop it; `git maestro task show` shows its attempt"),
            R::NoTarget(ref t) => no_target(t, &e),
            R::BaseBehind { .. } => {
                user("base-behind", &e).hint("run `git maestro sync` to fetch the Score's branches, then run it again")
            }
            R::Unmet(ref u) => user("performer-misconfigured", &e).hint(format!("{}; nothing was changed", u.hint)),
            R::Prepare(_) | R::Start(_) => CommandError::wrap(Kind::User, "run-failed", e),
            R::Io(_) => user("run-failed", &e),
            R::Kernel(e) => e.into(),
            R::OverBudget { ref score, ref task, ref why } => {
                let id = task.rsplit('/').next().unwrap_or_default();
                user("over-budget", &e)
                    .hint(format!("{}; nothing was changed", crate::cli::money::budget_hint(score, id, why)))
            }
            R::NoSandbox(_) => user("no-sandbox", &e).hint(
                "run on a Linux kernel with Landlock (5.13 or later, `lsm=landlock`), or set sandbox = \"auto\" \
                 for this performer to run it unconfined where Landlock is missing",
            ),
        }
    }
}

impl From<ConductorError> for CommandError {
    fn from(e: ConductorError) -> CommandError {
        use ConductorError as C;
        match e {
            C::Store(e) => e.into(),
            C::Task(e) => e.into(),
            C::Git(e) => e.into(),
            C::Refused(e) => e.into(),
            C::Score(e) => e.into(),
            C::Run(e) => e.into(),
            C::Chain(e) => e.into(),
            C::Approval(e) => e.into(),
            C::PlanNotApproved(ref s) => user("not-approved", &e)
                .hint(format!("review it with `git maestro score show {s}`, then `git maestro approve {s}`")),
            C::InvalidPlan { problems, text } => CommandError::problems(
                "invalid-plan",
                "the Score the planner wrote",
                "; nothing was stored",
                problems.into_iter().chain(std::iter::once(format!("what it wrote:\n{text}"))),
            )
            .hint("try again, perhaps with a more precise requirement, or write the Score yourself and use --from"),
            C::Other(_) => user("run", &e),
        }
    }
}

impl From<HandoverError> for CommandError {
    fn from(e: HandoverError) -> CommandError {
        match e {
            HandoverError::Store(e) => e.into(),
            HandoverError::NotFound(_) => user("handover-not-found", &e).hint("see `git maestro handover list`"),
            HandoverError::State { .. } => user("handover-state", &e),
        }
    }
}

impl From<KbError> for CommandError {
    fn from(e: KbError) -> CommandError {
        match e {
            KbError::Store(e) => e.into(),
            KbError::NoDecision(_) => user("decision-not-found", &e).hint("see `git maestro decisions`"),
            KbError::State { .. } => user("knowledge-state", &e),
            KbError::Empty(_) | KbError::Confidence(_) | KbError::Glob { .. } => user("invalid-knowledge", &e),
        }
    }
}

fn unknown_check(name: &str, e: &impl std::fmt::Display) -> CommandError {
    user("unknown-check", e).hint(format!("define it in .maestro/config.toml: [checks.{name}] run = \"…\""))
}

fn no_target(target: &str, e: &impl std::fmt::Display) -> CommandError {
    user("no-target", e).hint(format!("create the branch first, e.g. `git branch {target}`"))
}

impl From<crate::hooks::Error> for CommandError {
    fn from(e: crate::hooks::Error) -> CommandError {
        use crate::hooks::Error as H;
        match e {
            H::Io { .. } => user("hook-install", &e)
                .hint("check the permissions of the hooks directory, then run `git maestro init --hooks`"),
            H::ChainTaken { ref hook, ref chained } => {
                let hint = format!(
                    "combine the two into {} yourself and remove {}, then run `git maestro init --hooks`",
                    hook.display(),
                    chained.display()
                );
                user("hook-install", &e).hint(hint)
            }
        }
    }
}

impl From<crate::performer::stop::StopError> for CommandError {
    fn from(e: crate::performer::stop::StopError) -> CommandError {
        use crate::performer::stop::StopError as S;
        match e {
            S::Store(e) => e.into(),
            S::NotRunning { ref task, .. } => user("not-running", &e)
                .hint(format!("`git maestro task show {task}` shows its attempts; nothing was changed")),
            S::Elsewhere { .. } => user("running-elsewhere", &e)
                .hint("stop it on that machine (`git maestro task stop` there, or Ctrl-C); nothing was changed"),
            S::Gone { ref task, .. } => user("run-gone", &e).hint(format!(
                "`git maestro task release {task}` gives it back, or `git maestro run` recovers it; nothing was changed"
            )),
            S::Io(_) => user("stop", &e),
        }
    }
}
