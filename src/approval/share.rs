//! Sharing Scores' branches through a remote, beside the state (`sync`, `run --remote`).
//!
//! The state says what happened; the branches hold the code. So that machines sharing a
//! Score build on each other's merges:
//!
//! ```text
//! refs/heads/maestro/<score>/integration  shared: fast-forwarded to the remote's, or merged with
//!                                         it when both moved, then pushed (never forced)
//! refs/heads/maestro/<score>/<task>       pushed when it holds a result the remote lacks, so
//!                                         others can review it; never moved by a fetch (its
//!                                         worktree has it checked out)
//! refs/remotes/<remote>/maestro/...      what the last fetch saw of them
//! ```
//!
//! A branch checked out somewhere is never moved, as everywhere in git-maestro.

use serde::Serialize;

use super::{ApprovalError, integration_branch};
use crate::git::{MergeResult, ObjectId};
use crate::model::Score;
use crate::model::branches::task_branch;
use crate::store::{self, Store};

/// Rounds of fetch, merge and push before giving up on a busy remote, as for the state.
const MAX_ROUNDS: u32 = store::sync::MAX_ROUNDS;

/// The refspec that fetches every Score branch of `remote` into remote-tracking refs.
pub fn fetch_refspec(remote: &str) -> String {
    format!("+refs/heads/maestro/*:refs/remotes/{remote}/maestro/*")
}

/// What sharing did to one branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharedBranch {
    pub branch: String,
    /// `created`, `fast-forward`, `merged` or `pushed`; or, when nothing moved, `checked-out`
    /// (the local branch is behind but checked out), `conflict` (both sides moved and do not
    /// merge), `undecided` (both merged a task, and this state does not know both merges yet)
    /// or `diverged` (a task branch that differs from the remote's).
    pub action: &'static str,
    /// The branch's tip afterwards.
    pub commit: String,
    /// Conflicting paths, for `conflict`; the tasks merged on both sides, for `undecided`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
}

impl SharedBranch {
    /// What was left for a person to sort out, in a sentence.
    pub fn problem(&self) -> Option<String> {
        let branch = &self.branch;
        match self.action {
            "checked-out" => Some(format!("{branch} is checked out here, so it was not moved to the remote's tip")),
            "conflict" => Some(format!(
                "{branch} here and on the remote both merged tasks, and they conflict in {}",
                self.paths.join(", ")
            )),
            "diverged" => Some(format!("{branch} here and on the remote differ; neither was moved")),
            "undecided" => Some(format!(
                "{branch} here and on the remote both merged {}; they are merged once the state says whose merge stays",
                self.paths.join(", ")
            )),
            _ => None,
        }
    }
}

/// Share the branches of every Score with `remote` (or only of Score `only`), from what the
/// last fetch of [`fetch_refspec`] brought (`sync` fetches it with the state).
pub fn share_fetched(store: &Store, remote: &str, only: Option<&str>) -> Result<Vec<SharedBranch>, ApprovalError> {
    let view = store.view()?;
    let scores = match only {
        Some(id) => vec![store::score(&view, id)?],
        None => store::scores(&view)?,
    };
    let mut out = Vec::new();
    for score in &scores {
        out.extend(integration(store, remote, score, true)?);
    }
    out.extend(task_branches(store, remote, &scores)?);
    Ok(out)
}

/// Fetch the branches of one Score from `remote` and share them: what a run does around a
/// merge, so it merges on top of the others' work and publishes its own at once.
pub fn share_score(store: &Store, remote: &str, score_id: &str) -> Result<Vec<SharedBranch>, ApprovalError> {
    let score = store::score(&store.view()?, score_id)?;
    let mut out: Vec<SharedBranch> = integration(store, remote, &score, false)?.into_iter().collect();
    out.extend(task_branches(store, remote, std::slice::from_ref(&score))?);
    Ok(out)
}

fn tracking_ref(remote: &str, branch: &str) -> String {
    format!("refs/remotes/{remote}/{branch}")
}

/// Bring the local and remote integration branches of `score` together; `fetched` when the
/// remote-tracking ref is fresh already.
fn integration(
    store: &Store,
    remote: &str,
    score: &Score,
    fetched: bool,
) -> Result<Option<SharedBranch>, ApprovalError> {
    let repo = &store.repo;
    let branch = integration_branch(&score.id);
    let (local_ref, tracking) = (format!("refs/heads/{branch}"), tracking_ref(remote, &branch));
    let mut done: Option<&'static str> = None;
    for round in 1..=MAX_ROUNDS {
        if round > 1 || !fetched {
            repo.fetch_if_present(remote, &[format!("+{local_ref}:{tracking}")])?;
        }
        let (ours, theirs) = (repo.read_ref(&local_ref)?, repo.read_ref(&tracking)?);
        let report = |action, commit: ObjectId, paths| SharedBranch {
            branch: branch.clone(),
            action,
            commit: commit.to_string(),
            paths,
        };
        let checked_out = || -> Result<bool, ApprovalError> { Ok(repo.checked_out_refs()?.contains(&local_ref)) };
        let push = match (ours, theirs) {
            (None, None) => return Ok(None),
            (Some(ours), Some(theirs)) if ours == theirs => return Ok(done.map(|a| report(a, ours, Vec::new()))),
            (None, Some(theirs)) => {
                // `gc` archived it here, with all the remote has: it stays archived.
                if let Some(archived) = store.archived_integration(&score.id)?
                    && repo.is_ancestor(theirs, archived)?
                {
                    return Ok(None);
                }
                if move_branch(store, &local_ref, None, theirs, "maestro: take the shared integration branch")? {
                    return Ok(Some(report("created", theirs, Vec::new())));
                }
                continue;
            }
            (Some(ours), Some(theirs)) if repo.is_ancestor(ours, theirs)? => {
                if checked_out()? {
                    return Ok(Some(report("checked-out", ours, Vec::new())));
                }
                if move_branch(store, &local_ref, Some(ours), theirs, "maestro: fast-forward to the shared branch")? {
                    return Ok(Some(report(done.unwrap_or("fast-forward"), theirs, Vec::new())));
                }
                continue;
            }
            (Some(ours), None) => ours,
            (Some(ours), Some(theirs)) if repo.is_ancestor(theirs, ours)? => ours,
            (Some(ours), Some(theirs)) => {
                let (ours_kept, theirs) = match merged_twice(store, score, ours, theirs)? {
                    Twice::Settled(ours, theirs) => (ours, theirs),
                    Twice::Undecided(tasks) => return Ok(Some(report("undecided", ours, tasks))),
                    Twice::Conflict(paths) => return Ok(Some(report("conflict", ours, paths))),
                };
                let tree = match repo.merge_commits(ours_kept, theirs)? {
                    MergeResult::Clean(tree) => tree,
                    MergeResult::Conflicts(paths) => return Ok(Some(report("conflict", ours, paths))),
                };
                if checked_out()? {
                    return Ok(Some(report("checked-out", ours, Vec::new())));
                }
                let message = format!(
                    "Merge {remote}'s {branch}\n\nBoth machines merged tasks of {id}.\n\nMaestro-Score: {id}\n",
                    id = score.id
                );
                let identity = (store.session.actor.as_str(), store.session.email.as_str());
                let merge =
                    repo.write_commit(tree, &[ours_kept, theirs], &message, identity, store.session.now().as_second())?;
                if !move_branch(store, &local_ref, Some(ours), merge, "maestro: merge the shared integration branch")? {
                    continue;
                }
                done = Some("merged");
                merge
            }
        };
        if repo.push_fast_forwards(remote, &[format!("{push}:{local_ref}")])?.is_empty() {
            return Ok(Some(report(done.unwrap_or("pushed"), push, Vec::new())));
        }
    }
    Err(ApprovalError::Moved(format!("{remote}'s {branch}")))
}

/// Push the task branches that hold results the remote lacks, fast-forward only, in one push.
/// Tasks another machine holds are left out: what this one did on them lost.
fn task_branches(store: &Store, remote: &str, scores: &[Score]) -> Result<Vec<SharedBranch>, ApprovalError> {
    let repo = &store.repo;
    let (view, clone) = (store.view()?, store.clone_id()?);
    let mut out = Vec::new();
    let mut refspecs = Vec::new();
    for score in scores {
        // What the task branches grew from: a branch with nothing beyond it holds no result.
        let base = match repo.read_ref(&format!("refs/heads/{}", integration_branch(&score.id)))? {
            Some(tip) => Some(tip),
            None => repo.read_ref(&format!("refs/heads/{}", score.target))?,
        };
        for task in store::tasks(&view, score)?.iter().filter(|t| !t.claimed_elsewhere(&clone)) {
            let branch = task_branch(&score.id, &task.id);
            let local_ref = format!("refs/heads/{branch}");
            let Some(ours) = repo.read_ref(&local_ref)? else { continue };
            let theirs = repo.read_ref(&tracking_ref(remote, &branch))?;
            let action = match theirs {
                Some(theirs) if theirs == ours || repo.is_ancestor(ours, theirs)? => continue,
                Some(theirs) if repo.is_ancestor(theirs, ours)? => "pushed",
                Some(_) => "diverged",
                None if base.map_or(Ok(false), |b| repo.is_ancestor(ours, b))? => continue,
                None => "pushed",
            };
            if action == "pushed" {
                refspecs.push(format!("{ours}:{local_ref}"));
            }
            out.push(SharedBranch { branch, action, commit: ours.to_string(), paths: Vec::new() });
        }
    }
    for moved in repo.push_fast_forwards(remote, &refspecs)? {
        if let Some(b) = out.iter_mut().find(|b| format!("refs/heads/{}", b.branch) == moved) {
            b.action = "diverged";
        }
    }
    Ok(out)
}

/// Two integration branches that both moved, once no task is merged on both.
enum Twice {
    /// No task is merged on both, or the merges that lost are reverted: the two tips to merge.
    Settled(ObjectId, ObjectId),
    /// These tasks are merged on both sides, and this state has not recorded both merges.
    Undecided(Vec<String>),
    /// Reverting a merge that lost conflicts in these paths.
    Conflict(Vec<String>),
}

/// Two machines that ran a task apart (neither saw the other's claim) may both have merged
/// it. Once this state has recorded both merges, sync has kept one (the one pushed first, see
/// `store::merge`): the other is reverted, on top of the side that holds it, so the branches
/// merge into one that holds the task once and agrees with the state. A revert is written,
/// never a rewrite: the other machine may have pushed its merge already.
fn merged_twice(store: &Store, score: &Score, ours: ObjectId, theirs: ObjectId) -> Result<Twice, ApprovalError> {
    let (mine, yours) = (task_merges(store, score, ours, theirs)?, task_merges(store, score, theirs, ours)?);
    let twice: Vec<&String> = mine.keys().filter(|t| yours.contains_key(*t)).collect();
    if twice.is_empty() {
        return Ok(Twice::Settled(ours, theirs));
    }
    let view = store.view()?;
    let tasks = store::tasks(&view, score)?;
    let oid = |hex: &str| ObjectId::from_hex(hex.as_bytes()).ok();
    let known: Vec<ObjectId> = store::decisions(&view)?
        .into_iter()
        .filter(|d| d.kind == crate::model::DecisionKind::Merge && d.score.as_deref() == Some(score.id.as_str()))
        .filter_map(|d| oid(d.commit.as_deref()?))
        .collect();
    let (mut ours, mut theirs) = (ours, theirs);
    let mut undecided = Vec::new();
    for id in twice {
        let kept = tasks
            .iter()
            .find(|t| &t.id == id && t.status == crate::model::TaskStatus::Merged)
            .and_then(|t| oid(t.merge_commit.as_deref()?));
        let (a, b) = (mine[id], yours[id]);
        let both_known = known.contains(&a) && known.contains(&b);
        let (tip, lost) = match kept {
            Some(k) if both_known && k == b => (&mut ours, a),
            Some(k) if both_known && k == a => (&mut theirs, b),
            _ => {
                undecided.push(format!("{}/{id}", score.id));
                continue;
            }
        };
        let kept = if lost == a { b } else { a };
        let message = format!(
            "Revert {score}/{id}: merged on two machines apart\n\nThis reverts merge {lost}.\n\n\
             The task was run on two machines that did not see each other's claim; the earlier\n\
             claim's merge {kept} stays.\n\nMaestro-Score: {score}\nMaestro-Task: {id}\n",
            score = score.id
        );
        match super::rollback::revert(store, *tip, lost, &message)? {
            Ok(commit) => *tip = commit,
            Err(paths) => return Ok(Twice::Conflict(paths)),
        }
    }
    if undecided.is_empty() { Ok(Twice::Settled(ours, theirs)) } else { Ok(Twice::Undecided(undecided)) }
}

/// The merges of `score`'s tasks that `tip` holds and `other` lacks, not reverted on `tip`,
/// by task.
fn task_merges(
    store: &Store,
    score: &Score,
    tip: ObjectId,
    other: ObjectId,
) -> Result<std::collections::BTreeMap<String, ObjectId>, ApprovalError> {
    let commits = store.repo.new_commits(tip, &[other], usize::MAX)?;
    let reverted: Vec<ObjectId> = commits
        .iter()
        .filter_map(|c| {
            crate::model::branches::reverted_merge(&c.message).and_then(|m| ObjectId::from_hex(m.as_bytes()).ok())
        })
        .collect();
    Ok(commits
        .iter()
        .filter(|c| c.parents.len() >= 2 && !reverted.contains(&c.id))
        .filter(|c| store::trailer(&c.message, "Maestro-Score") == Some(score.id.as_str()))
        .filter_map(|c| Some((store::trailer(&c.message, "Maestro-Task")?.to_owned(), c.id)))
        .collect())
}

/// Move a local branch by compare-and-swap; `false` when it moved meanwhile (a merge here).
fn move_branch(
    store: &Store,
    name: &str,
    expected: Option<ObjectId>,
    new: ObjectId,
    message: &str,
) -> Result<bool, ApprovalError> {
    // An open intent of this clone will move it (a step whose effect is not settled yet).
    if store.intent_names(name)? {
        return Ok(false);
    }
    Ok(store.move_ref(name, expected, new, message)? == crate::store::refs::Moved::Yes)
}
