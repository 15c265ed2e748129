//! Feedback from a pull request (the `pr` approval step, read through `gh`): its checks, and the
//! reviews and inline comments made since the last push.
//!
//! While the step waits, every `run` round and `task review` looks again. A failing check or a
//! "changes requested" review on the pushed result turns into one rework packet (failing jobs,
//! the tail of their failed log, each comment with file and line, secrets redacted) and the task
//! goes back to a performer; its next result is pushed to the same branch, and the step waits
//! again. How many times, and when another performer takes over or a person must decide, is the
//! lifecycle's rule ([`lifecycle::after_sendback`]).
//!
//! Every reaction is a `rejection` decision by actor `pr` naming the head commit it reacted to,
//! with the author of the result in its `review`: the same head is never sent back twice, across
//! restarts and clones, and the tries per performer are counted from the log. A PR closed, or
//! pushed to by someone else, blocks the task with the reason; `gh` missing or not logged in
//! leaves it waiting with a hint.

use super::chain::{ChainContext, ChainError, StepVerdict};
use super::gh::{Gh, GhError, PrCheck, PrReview, ReviewComment, log_tail};
use super::{ApprovalError, PrState};
use crate::git::ObjectId;
use crate::model::handover::Delivery;
use crate::model::redact::redact;
use crate::model::{Decision, DecisionKind, Evidence, PullRequest, Review, Task, TaskStatus, lifecycle};
use crate::store::{self, Store, layout};

/// Lines and bytes of a failed log kept per Actions run.
const LOG_LINES: usize = 60;
const LOG_BYTES: usize = 6000;
/// Bytes of one comment or review body kept in the packet.
const BODY_BYTES: usize = 1500;
/// Comments kept in one packet.
const MAX_COMMENTS: usize = 40;

/// What the `pr` step found.
pub(super) enum PrStep {
    Verdict(Box<StepVerdict>),
    Waiting(String),
    /// Sent back for rework, or blocked for a person, for this reason.
    SentBack(String),
}

/// The `pr` step of the submitted `task`.
pub(super) fn step(store: &Store, ctx: &ChainContext<'_>, task: &Task) -> Result<PrStep, ChainError> {
    let Some(pr) = task.pr.clone() else {
        return Ok(PrStep::Waiting(format!("its pull request: open it with `git maestro pr {}`", task.address())));
    };
    let repo = &store.repo;
    let branch = format!("refs/heads/{}", crate::model::branches::task_branch(&task.score, &task.id));
    let tip = repo.read_ref(&branch)?.ok_or(ApprovalError::NoBranch(branch))?;
    let short = tip.to_hex_with_len(12).to_string();
    let tip_hex = tip.to_string();
    let Some(url) = pr.url.clone() else {
        // A branch pushed without `gh`: the verdict is finding it merged into the remote base.
        if pr.head != tip_hex {
            return push_result(store, task, &short);
        }
        return Ok(from_state(task, super::pr::state(repo, &pr, tip)?));
    };
    let dir = repo.main_workdir().unwrap_or_else(|| repo.common_dir().to_owned());
    let gh = match Gh::locate(&dir) {
        Ok(gh) => gh,
        Err(e) => return without_gh(store, task, &pr, tip, &url, &e),
    };
    let view = match gh.view(&url) {
        Ok(view) => view,
        Err(e) => return Ok(PrStep::Waiting(gh_wait(&url, &e))),
    };
    match view.state.as_str() {
        "MERGED" => return Ok(verdict(task, true, format!("{url} was merged"))),
        "CLOSED" => {
            let why = format!(
                "{url} was closed without merging. The result stays on {}; reopen the pull request and run \
                 `git maestro task run {}`, or open a new one after that run with `git maestro pr {}`",
                pr.branch,
                task.address(),
                task.address()
            );
            return block(store, task, tip, &why);
        }
        _ => {}
    }
    let head = view.head_ref_oid.as_str();
    if !head.is_empty() && head != tip_hex && head != pr.head && !ours(store, head, tip) {
        let why = format!(
            "someone else pushed {} to {} ({url}): git-maestro never pushed that commit and does not overwrite \
             it. Its result stays on the local branch; bring the two together by hand, then run `git maestro \
             task run {}`",
            &head[..head.len().min(12)],
            pr.branch,
            task.address()
        );
        return block(store, task, tip, &why);
    }
    if pr.head != tip_hex {
        return push_result(store, task, &short);
    }
    if !head.is_empty() && head != tip_hex {
        return Ok(PrStep::Waiting(format!("{url} to show {short}, which was pushed")));
    }
    let checks = match gh.checks(&url) {
        Ok(checks) => checks,
        Err(e) => return Ok(PrStep::Waiting(gh_wait(&url, &e))),
    };
    let pending: Vec<&str> = checks.iter().filter(|c| c.bucket == "pending").map(|c| c.name.as_str()).collect();
    if !pending.is_empty() {
        return Ok(PrStep::Waiting(format!("the checks of {url} to finish: {}", pending.join(", "))));
    }
    let failing: Vec<&PrCheck> = checks.iter().filter(|c| matches!(c.bucket.as_str(), "fail" | "cancel")).collect();
    let changes: Vec<&PrReview> = view
        .latest_reviews
        .iter()
        .filter(|r| r.state == "CHANGES_REQUESTED" && r.commit.as_ref().is_some_and(|c| c.oid == tip_hex))
        .collect();
    if !failing.is_empty() || !changes.is_empty() {
        let feedback = Feedback::gather(&gh, &url, &tip_hex, &failing, &changes);
        return react(store, ctx, task, tip, &url, &feedback);
    }
    Ok(match view.review_decision.as_deref() {
        Some("APPROVED") => verdict(task, true, format!("{url} was approved and its checks passed")),
        Some("CHANGES_REQUESTED") => {
            PrStep::Waiting(format!("a new review of {url}: changes were requested on an earlier result"))
        }
        _ => PrStep::Waiting(format!("{url} waits for review")),
    })
}

fn from_state(task: &Task, state: PrState) -> PrStep {
    match state {
        PrState::Pending { how } => PrStep::Waiting(how),
        PrState::Approved { how } => verdict(task, true, how),
        PrState::Rejected { reason } => verdict(task, false, reason),
    }
}

fn verdict(task: &Task, approve: bool, rationale: String) -> PrStep {
    let verb = if approve { "approved" } else { "rejected" };
    PrStep::Verdict(Box::new(StepVerdict {
        approve,
        actor: "pr".into(),
        summary: format!("the pull request {verb} {}", task.address()),
        rationale,
        evidence: Vec::new(),
        review: None,
    }))
}

fn gh_wait(url: &str, e: &GhError) -> String {
    format!("{url}, which cannot be read now: {e}; {}", e.hint())
}

/// Without `gh`: a branch found merged into the remote base still approves; otherwise it waits.
fn without_gh(
    store: &Store,
    task: &Task,
    pr: &PullRequest,
    tip: ObjectId,
    url: &str,
    e: &GhError,
) -> Result<PrStep, ChainError> {
    if pr.head == tip.to_string().as_str() {
        let unlinked = PullRequest { url: None, ..pr.clone() };
        if let PrState::Approved { how } = super::pr::state(&store.repo, &unlinked, tip)? {
            return Ok(verdict(task, true, how));
        }
    }
    Ok(PrStep::Waiting(gh_wait(url, e)))
}

/// Whether `head` is a commit of this task's result (GitHub may show an earlier push a little
/// longer): an ancestor of the tip. Anything else was pushed by someone else.
fn ours(store: &Store, head: &str, tip: ObjectId) -> bool {
    ObjectId::from_hex(head.as_bytes()).is_ok_and(|h| store.repo.is_ancestor(h, tip).unwrap_or(false))
}

/// Push the new result to the pull request's branch (never forced), then wait for its checks.
fn push_result(store: &Store, task: &Task, short: &str) -> Result<PrStep, ChainError> {
    let remote = task.pr.as_ref().map(|p| p.remote.clone());
    match super::pr::open_task_pr(store, &task.score, &task.id, remote.as_deref()) {
        Ok(opened) => {
            let at = opened.pr.url.clone().unwrap_or_else(|| format!("{}/{}", opened.pr.remote, opened.pr.branch));
            Ok(PrStep::Waiting(format!("the checks and reviews of {short}, pushed to {at}")))
        }
        Err(ApprovalError::Git(e)) => Ok(PrStep::Waiting(format!(
            "a push of {short} to the pull request's branch, which failed: {e}; run `git maestro pr {}` once \
             the remote takes it",
            task.address()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// What the pull request says about the pushed result.
struct Feedback {
    failing: Vec<(PrCheck, String)>,
    logs: Vec<(String, String)>,
    reviews: Vec<PrReview>,
    comments: Vec<ReviewComment>,
    notes: Vec<String>,
}

impl Feedback {
    fn gather(gh: &Gh, url: &str, tip: &str, failing: &[&PrCheck], changes: &[&PrReview]) -> Feedback {
        let mut notes = Vec::new();
        let mut logs: Vec<(String, String)> = Vec::new();
        for run in failing.iter().filter_map(|c| c.run_id()) {
            if logs.iter().any(|(r, _)| r == run) {
                continue;
            }
            match gh.failed_log(run) {
                Ok(log) => logs.push((run.to_owned(), log)),
                Err(e) => notes.push(format!("the log of run {run} could not be read: {e}")),
            }
        }
        let comments = match gh.review_comments(url) {
            Ok(all) => all.into_iter().filter(|c| c.original_commit_id == tip || c.commit_id == tip).collect(),
            Err(e) => {
                notes.push(format!("the review comments of {url} could not be read: {e}"));
                Vec::new()
            }
        };
        Feedback {
            failing: failing
                .iter()
                .map(|c| {
                    let log = c.run_id().and_then(|r| logs.iter().find(|(id, _)| id == r)).map(|(_, l)| l.clone());
                    ((*c).clone(), log.unwrap_or_default())
                })
                .collect(),
            logs,
            reviews: changes.iter().map(|r| (*r).clone()).collect(),
            comments,
            notes,
        }
    }

    /// One line saying what it is about.
    fn headline(&self) -> String {
        let mut parts = Vec::new();
        if !self.failing.is_empty() {
            let names: Vec<&str> = self.failing.iter().map(|(c, _)| c.name.as_str()).collect();
            parts.push(format!("failing checks: {}", names.join(", ")));
        }
        if !self.reviews.is_empty() {
            let who: Vec<&str> = self.reviews.iter().map(|r| r.author.login.as_str()).collect();
            parts.push(format!("changes requested by {} ({} comments)", who.join(", "), self.comments.len()));
        }
        parts.join("; ")
    }

    /// The rework packet.
    fn packet(&self, url: &str, short: &str) -> String {
        let mut out = format!("The pull request {url} sent this result ({short}) back.\n");
        if !self.failing.is_empty() {
            out.push_str("\nFailing checks:\n");
            for (c, _) in &self.failing {
                let workflow = if c.workflow.is_empty() { String::new() } else { format!(" ({})", c.workflow) };
                out.push_str(&format!("- {}{workflow}: {} {}\n", c.name, c.state, c.link));
            }
            for (run, log) in &self.logs {
                out.push_str(&format!("\nThe end of the failed log of run {run}:\n"));
                out.push_str(&log_tail(log, LOG_LINES, LOG_BYTES));
                out.push('\n');
            }
        }
        for r in &self.reviews {
            out.push_str(&format!("\nChanges requested by {}:\n{}\n", r.author.login, clip(&r.body)));
        }
        if !self.comments.is_empty() {
            out.push_str("\nReview comments:\n");
            for c in self.comments.iter().take(MAX_COMMENTS) {
                let line = c.line.or(c.original_line).map(|l| format!(":{l}")).unwrap_or_default();
                out.push_str(&format!("- {}{line} ({}): {}\n", c.path, c.user.login, clip(&c.body)));
            }
        }
        for n in &self.notes {
            out.push_str(&format!("\nNote: {n}\n"));
        }
        redact(&out)
    }

    fn evidence(&self, store: &Store) -> Vec<Evidence> {
        self.failing
            .iter()
            .map(|(c, log)| Evidence {
                check: format!("pr:{}", c.name),
                exit: c.state.to_lowercase(),
                duration_ms: 0,
                digest: store.repo.blob_id(log.as_bytes()).map(|d| d.to_string()).unwrap_or_default(),
                tail: redact(&log_tail(log, 20, 2000)),
            })
            .collect()
    }

    fn reasons(&self) -> Vec<String> {
        let checks = self.failing.iter().map(|(c, _)| format!("check {} {}: {}", c.name, c.state, c.link));
        let comments =
            self.comments.iter().map(|c| format!("{}:{} {}", c.path, c.line.or(c.original_line).unwrap_or(0), c.id));
        redact(&checks.chain(comments).collect::<Vec<_>>().join("\n")).lines().map(str::to_owned).collect()
    }
}

fn clip(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(BODY_BYTES) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// How many results of each performer the pull request of `task` sent back, from the decision
/// log (oldest performer first).
pub fn sendbacks(decisions: &[Decision], task: &Task) -> Vec<(String, u32)> {
    let mut counts: Vec<(String, u32)> = Vec::new();
    let mine = decisions.iter().filter(|d| {
        d.kind == DecisionKind::Rejection
            && d.actor == "pr"
            && d.score.as_deref() == Some(&task.score)
            && d.task.as_deref() == Some(&task.id)
    });
    for author in mine.filter_map(|d| d.review.as_ref().map(|r| r.author.clone())) {
        match counts.iter_mut().find(|(p, _)| *p == author) {
            Some((_, n)) => *n += 1,
            None => counts.push((author, 1)),
        }
    }
    counts
}

/// Performers whose tries at `task`'s pull request are spent: routing avoids them.
pub fn spent_performers(store: &Store, task: &Task, max_attempts: u32) -> Result<Vec<String>, store::Error> {
    if task.pr.is_none() {
        return Ok(Vec::new());
    }
    Ok(lifecycle::spent(&sendbacks(&store::decisions(&store.view()?)?, task), max_attempts))
}

/// Whether the pull request already reacted to `head` for `task`.
fn reacted(decisions: &[Decision], task: &Task, head: &str) -> bool {
    decisions.iter().any(|d| {
        d.kind == DecisionKind::Rejection
            && d.actor == "pr"
            && d.score.as_deref() == Some(&task.score)
            && d.task.as_deref() == Some(&task.id)
            && d.commit.as_deref() == Some(head)
    })
}

/// Send the result back (or block the task when nobody is left to try), in one transaction
/// with the decision that says why.
fn react(
    store: &Store,
    ctx: &ChainContext<'_>,
    task: &Task,
    tip: ObjectId,
    url: &str,
    feedback: &Feedback,
) -> Result<PrStep, ChainError> {
    let short = tip.to_hex_with_len(12).to_string();
    let packet = feedback.packet(url, &short);
    let headline = redact(&feedback.headline());
    let author = task.attempts.last().map(|a| (a.performer.clone(), a.adapter.clone())).unwrap_or_default();
    let author_vendor =
        ctx.config.performers.get(&author.0).map_or_else(|| author.1.clone(), |p| p.adapter.vendor(&author.0));
    let host = super::gh::api_path(url).map_or_else(|| "github".to_owned(), |(h, _)| h);
    let review = Review {
        reviewer: "pr".into(),
        reviewer_vendor: host,
        author: author.0.clone(),
        author_vendor,
        cross_vendor: true,
        approve: false,
        reasons: feedback.reasons(),
    };
    let evidence = feedback.evidence(store);
    let (score_id, id) = (task.score.as_str(), task.id.as_str());
    let run = task.attempts.last().map(|a| a.run.clone());
    let outcome = store.transact(&format!("pull request feedback on {score_id}/{id}"), |tx| {
        let mut t = store::task(tx, score_id, id)?;
        if t.status != TaskStatus::Submitted || t.attempts.last().map(|a| &a.run) != run.as_ref() {
            return Err(ChainError::Changed(t.address()));
        }
        let decisions = store::decisions(tx)?;
        if reacted(&decisions, &t, &tip.to_string()) {
            return Ok(None);
        }
        let mut counts = sendbacks(&decisions, &t);
        match counts.iter_mut().find(|(p, _)| *p == author.0) {
            Some((_, n)) => *n += 1,
            None => counts.push((author.0.clone(), 1)),
        }
        let max = store::score(tx, score_id)?.max_attempts;
        let (summary, reason) = match lifecycle::after_sendback(&counts, &author.0, max) {
            lifecycle::PrNext::Rework { avoid } => {
                let mut reason = packet.clone();
                if !avoid.is_empty() {
                    reason.push_str(&format!(
                        "\nThis task comes to you because {} spent their tries at this pull request.\n",
                        avoid.join(", ")
                    ));
                }
                crate::memory::handover::create(tx, score_id, Some(&t), Delivery::Pull, None, &reason, "pr")?;
                lifecycle::sent_back(&mut t, &reason, tx.now).map_err(ApprovalError::from)?;
                (format!("the pull request sent {} back: {headline}", t.address()), headline.clone())
            }
            lifecycle::PrNext::Block { why } => {
                let reason = format!("blocked for a person: {why}");
                lifecycle::blocked_by_pr(&mut t, &format!("{reason}\n\n{packet}"), tx.now)
                    .map_err(ApprovalError::from)?;
                store::record_outcome(tx, &t, crate::model::stats::Outcome::Blocked)?;
                (format!("the pull request sent {} back; {reason}", t.address()), reason)
            }
        };
        tx.put(&layout::task_file(score_id, id), &t)?;
        let mut d = store::new_decision(tx, DecisionKind::Rejection, summary, "pr").about(score_id, Some(id));
        d.rationale.clone_from(&packet);
        d.commit = Some(tip.to_string());
        d.evidence.clone_from(&evidence);
        d.review = Some(review.clone());
        store::append_decision(tx, &d)?;
        Ok(Some(reason))
    })?;
    Ok(match outcome.value {
        Some(reason) => PrStep::SentBack(reason),
        None => PrStep::Waiting(format!("a new result: the feedback of {url} on {short} was sent back already")),
    })
}

/// Block the submitted task for a person with `why` (a decision records it).
fn block(store: &Store, task: &Task, tip: ObjectId, why: &str) -> Result<PrStep, ChainError> {
    let (score_id, id) = (task.score.as_str(), task.id.as_str());
    let run = task.attempts.last().map(|a| a.run.clone());
    let why = redact(why);
    let _written = store.transact(&format!("pull request of {score_id}/{id} needs a person"), |tx| {
        let mut t = store::task(tx, score_id, id)?;
        if t.status != TaskStatus::Submitted || t.attempts.last().map(|a| &a.run) != run.as_ref() {
            return Err(ChainError::Changed(t.address()));
        }
        lifecycle::blocked_by_pr(&mut t, &why, tx.now).map_err(ApprovalError::from)?;
        tx.put(&layout::task_file(score_id, id), &t)?;
        let summary = format!("{} is blocked: its pull request needs a person", t.address());
        let mut d = store::new_decision(tx, DecisionKind::Rejection, summary, "pr").about(score_id, Some(id));
        d.rationale.clone_from(&why);
        d.commit = Some(tip.to_string());
        store::append_decision(tx, &d)?;
        Ok(())
    })?;
    Ok(PrStep::SentBack(format!("blocked: {why}")))
}
