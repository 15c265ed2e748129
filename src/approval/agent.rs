//! The `agent:<performer>` approval step: another agent reviews a result.
//!
//! The reviewer works in a scratch detached worktree at the result (`<task>.review` beside the
//! task's own), so nothing it does can reach the task branch. Its prompt carries the task
//! (spec, acceptance criteria, scope) and the diff the result would merge into the integration
//! tip. It must end with a JSON verdict line; no verdict, or one that does not parse, is a
//! rejection that says so. `agent:auto` picks a reviewer of another vendor than the author
//! where config has one, and every verdict records whether it was.

use serde_json::Value;

use super::chain::{ChainContext, ChainError, StepVerdict};
use super::{ApprovalError, integration_branch};
use crate::config::{Adapter, Config, Performer};
use crate::git::{MergeResult, ObjectId};
use crate::model::branches::task_branch;
use crate::model::{Evidence, Review, Task, TaskKind};
use crate::performer::invoke::{self, Launch};
use crate::performer::prompt::{self, VERDICT_FORMAT};
use crate::performer::runner::Exit;
use crate::performer::setup;
use crate::store::Store;

/// Diff bytes a reviewer is shown; the rest is named but left out.
const DIFF_BUDGET: usize = 200 << 10;

/// Run reviewer `who` (a performer name, or `auto`) on `task`'s submitted result.
pub(super) fn review(store: &Store, ctx: &ChainContext<'_>, task: &Task, who: &str) -> Result<StepVerdict, ChainError> {
    let repo = &store.repo;
    let (author, author_adapter) = task.attempts.last().map_or(("unknown", Adapter::Command), |a| {
        (a.performer.as_str(), Adapter::parse(&a.adapter).unwrap_or(Adapter::Command))
    });
    let author_vendor = author_adapter.vendor(author);
    let reviewer = pick(ctx.config, who, author, &author_vendor)?;
    let reviewer_vendor = reviewer.adapter.vendor(&reviewer.name);
    let base = repo.main_workdir().unwrap_or_else(|| repo.common_dir().to_owned());
    let binary = crate::performer::locate(&reviewer.command, &base).ok_or_else(|| ChainError::ReviewerUnavailable {
        name: reviewer.name.clone(),
        command: reviewer.command.clone(),
    })?;

    let task_ref = format!("refs/heads/{}", task_branch(&task.score, &task.id));
    let tip = repo.read_ref(&task_ref)?.ok_or(ApprovalError::NoBranch(task_ref))?;
    let diff = diff_for_review(store, &task.score, tip)?;
    let worktree = super::review_worktree(&ctx.worktree_root, &task.score, &task.id);
    repo.detached_worktree_at(&worktree, tip).map_err(ApprovalError::from)?;

    let run = store.session.new_id();
    let logs = repo.common_dir().join("maestro/logs").join(&task.score).join(&task.id);
    let transcript = logs.join(format!("review-{run}.jsonl"));
    // The scratch worktree gets its own ports, and its setup when it is new.
    let (ports, env) = setup::ready(repo, &ctx.config.setup, &worktree, &ctx.env, &ctx.maestro_exe, logs)
        .map_err(ApprovalError::Check)?;
    let mut reviewer = reviewer.clone();
    reviewer.allow_ports.extend(ports.ports());
    let launch = Launch {
        performer: &reviewer,
        binary: &binary,
        cwd: &worktree,
        prompt: prompt::review(task, &diff, &run),
        base_env: &env,
        maestro_exe: &ctx.maestro_exe,
        store,
        score: &task.score,
        task: &task.id,
        run: &run,
        transcript: transcript.clone(),
        resume: None,
        stop: None,
        // Plans and reviews are not charged to a task's budget.
        meter: crate::performer::meter::Meter::default(),
    };
    let outcome = invoke::launch(launch, &mut |_| {})?;
    if outcome.exit == Exit::Cancelled {
        return Err(ChainError::Interrupted);
    }
    let (approve, reasons) = match &outcome.failure {
        Some(failure) => (false, vec![format!("the reviewer gave no verdict: {failure}")]),
        None => parse_verdict(outcome.last_text.as_deref()).unwrap_or_else(|problem| (false, vec![problem])),
    };
    let reasons: Vec<String> = reasons.iter().map(|r| crate::model::redact::redact(r)).collect();
    let output = std::fs::read(&transcript).unwrap_or_default();
    let cross_vendor = reviewer_vendor != author_vendor;
    let verb = if approve { "approved" } else { "rejected" };
    let mut rationale = reasons.join("; ");
    if !cross_vendor {
        rationale.push_str(&format!(" (reviewed by the author's own vendor, {author_vendor})"));
    }
    Ok(StepVerdict {
        approve,
        actor: reviewer.name.clone(),
        summary: format!("{} {verb} {}", reviewer.name, task.address()),
        rationale: rationale.trim().to_owned(),
        evidence: vec![Evidence {
            check: format!("agent:{}", reviewer.name),
            exit: outcome.exit.to_string(),
            duration_ms: outcome.duration.as_millis() as u64,
            digest: repo.blob_id(&output).map_err(ApprovalError::from)?.to_string(),
            tail: reasons.join("\n"),
        }],
        review: Some(Review {
            reviewer: reviewer.name.clone(),
            reviewer_vendor,
            author: author.to_owned(),
            author_vendor,
            cross_vendor,
            approve,
            reasons,
        }),
    })
}

/// The reviewer: the performer named `who`, or for `auto`, the first (by name) performer other
/// than the author, preferring those with the `review` kind, then another vendor.
fn pick<'a>(config: &'a Config, who: &str, author: &str, author_vendor: &str) -> Result<&'a Performer, ChainError> {
    if who != "auto" {
        return config.performers.get(who).ok_or_else(|| ChainError::UnknownReviewer(who.to_owned()));
    }
    config
        .performers
        .values()
        .filter(|p| p.name != author)
        .min_by_key(|p| (!p.kinds.contains(&TaskKind::Review), p.adapter.vendor(&p.name) == author_vendor))
        .ok_or(ChainError::NoReviewer)
}

/// What merging `tip` would change on the Score's integration branch (or its target, before
/// the first merge). When the merge conflicts, the task's own changes since it branched.
fn diff_for_review(store: &Store, score: &str, tip: ObjectId) -> Result<String, ApprovalError> {
    let repo = &store.repo;
    let target = crate::store::score(&store.view()?, score)?.target;
    let integration = match repo.read_ref(&format!("refs/heads/{}", integration_branch(score)))? {
        Some(id) => id,
        None => repo.read_ref(&format!("refs/heads/{target}"))?.ok_or(ApprovalError::NoTarget(target))?,
    };
    let (old, new) = match repo.merge_commits(integration, tip)? {
        MergeResult::Clean(tree) => (repo.commit_tree(integration)?, tree),
        MergeResult::Conflicts(_) => {
            let base = repo.merge_base(integration, tip)?.unwrap_or(integration);
            (repo.commit_tree(base)?, repo.commit_tree(tip)?)
        }
    };
    Ok(repo.unified_diff(old, new, DIFF_BUDGET)?)
}

/// The verdict in a reviewer's last message: the last JSON object with a `verdict` field.
/// `Err` says why there is none.
fn parse_verdict(text: Option<&str>) -> Result<(bool, Vec<String>), String> {
    let text = text.ok_or("the reviewer sent no message, so no verdict")?;
    let found = text.match_indices('{').rev().find_map(|(i, _)| {
        let value = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>().next()?.ok()?;
        value.get("verdict").is_some().then_some(value)
    });
    let Some(value) = found else {
        let tail: String = text.chars().rev().take(200).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(format!("the reviewer gave no verdict line {VERDICT_FORMAT}; its message ended: {tail:?}"));
    };
    let approve = match value["verdict"].as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("approve" | "approved") => true,
        Some("reject" | "rejected") => false,
        _ => return Err(format!("the reviewer's verdict {} is neither \"approve\" nor \"reject\"", value["verdict"])),
    };
    let mut reasons: Vec<String> = match &value["reasons"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().map(|r| r.as_str().map_or_else(|| r.to_string(), str::to_owned)).collect(),
        _ => Vec::new(),
    };
    reasons.retain(|r| !r.trim().is_empty());
    if !approve && reasons.is_empty() {
        reasons.push("the reviewer rejected the result without a reason".into());
    }
    Ok((approve, reasons))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_verdict_object_counts() {
        let text = "Looks fine.\n```json\n{\"verdict\": \"approve\", \"reasons\": [\"tests cover {edge} cases\"]}\n```";
        assert_eq!(parse_verdict(Some(text)), Ok((true, vec!["tests cover {edge} cases".to_owned()])));
        let text = r#"{"verdict":"approve"} then I changed my mind: {"verdict": "REJECT", "reasons": "no tests"}"#;
        assert_eq!(parse_verdict(Some(text)), Ok((false, vec!["no tests".to_owned()])));
        let bare = parse_verdict(Some(r#"{"verdict": "reject"}"#)).expect("a bare verdict parses");
        assert_eq!(bare.1, vec!["the reviewer rejected the result without a reason"]);
    }

    #[test]
    fn a_missing_or_odd_verdict_is_an_error_that_says_so() {
        assert!(parse_verdict(None).unwrap_err().contains("no message"));
        let e = parse_verdict(Some("LGTM!")).unwrap_err();
        assert!(e.contains("no verdict line") && e.contains("LGTM!"), "{e}");
        let e = parse_verdict(Some(r#"{"verdict": "maybe"}"#)).unwrap_err();
        assert!(e.contains("\"maybe\" is neither"), "{e}");
        assert!(parse_verdict(Some(r#"{"verdict": "approve""#)).is_err(), "unterminated JSON");
    }
}
