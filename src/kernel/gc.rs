//! Cleaning up finished Scores, never losing a commit.
//!
//! For a Score that landed, was rolled back or failed, `gc` removes what it left behind:
//! - its task worktrees, each through [`super::prune::prune_one`] (under the task's run lock,
//!   with its lease judged, and removed or parked in the worktree pool through an intent),
//!   except a worktree with uncommitted changes, which stays for its owner to commit or discard;
//! - its scratch worktrees (`<score>/*.review`, `<score>/integration.post-merge`);
//! - its branches `maestro/<score>/tasks/*` and `maestro/<score>/integration`, except one
//!   checked out in any worktree, and an integration branch a remote shares (it has a
//!   remote-tracking ref) that lacks some of its commits: the archive is not shared, and other
//!   clones need them;
//! - the keep refs `refs/maestro/keep/*` of its history: commits reachable from a branch being
//!   removed, or carrying its `Maestro-Score` trailer, but not older than the Score's base.
//!
//! Every tip removed first becomes a parent of the Score's one archive commit,
//! `refs/maestro/archive/<score>` (see `store::archive`), and only then is its ref deleted, by
//! compare-and-swap: a crash in between leaves refs that a second run archives again (a no-op)
//! and removes. A Score still draft, approved, running or done (not landed) is left alone.
//! This module decides and applies; it prints nothing.

use std::path::Path;

use super::KernelError;
use super::prune::{self, Action, Pruned};
use super::try_run_lock;
use crate::git::ObjectId;
use crate::model::{Score, ScoreStatus};
use crate::store::refs::Moved;
use crate::store::{self, Store, layout};

/// What gc did (or would do) with one ref.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RefFate {
    pub name: String,
    pub tip: String,
    pub action: Action,
    pub reason: String,
}

/// What gc did (or would do) with one Score.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScoreGc {
    pub score: String,
    pub status: String,
    /// Why the Score was left alone, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    pub worktrees: Vec<Pruned>,
    pub refs: Vec<RefFate>,
    /// The archive commit written (or, with a dry run, `None` and `archive_ref` set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    /// The archive ref that keeps the removed tips reachable, when tips are removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_ref: Option<String>,
}

impl ScoreGc {
    /// Whether gc changed (or would change) anything for this Score.
    pub fn changes_anything(&self) -> bool {
        self.worktrees.iter().any(|w| w.action != Action::Kept) || self.refs.iter().any(|r| r.action != Action::Kept)
    }
}

/// Clean up every finished Score; with `dry_run`, only say what would go. Clean task
/// worktrees are parked in the worktree pool while it holds fewer than `pool` entries.
pub fn gc(store: &Store, dry_run: bool, pool: usize) -> Result<Vec<ScoreGc>, KernelError> {
    let mut out = Vec::new();
    for score in store::scores(&store.view()?)? {
        out.push(gc_score(store, &score, dry_run, pool)?);
    }
    Ok(out)
}

fn gc_score(store: &Store, score: &Score, dry_run: bool, pool: usize) -> Result<ScoreGc, KernelError> {
    let id = score.id.as_str();
    let mut report = ScoreGc {
        score: id.to_owned(),
        status: score.status.as_str().to_owned(),
        skipped: not_finished(score),
        worktrees: Vec::new(),
        refs: Vec::new(),
        archive: None,
        archive_ref: None,
    };
    if report.skipped.is_some() {
        return Ok(report);
    }
    report.worktrees = worktrees(store, score, dry_run, pool)?;
    let mut removable = branches(store, id, &mut report, dry_run)?;
    removable.extend(keep_refs(store, score, &removable)?);
    if removable.is_empty() {
        return Ok(report);
    }
    let archive_ref = Store::archive_ref(id);
    report.archive_ref = Some(archive_ref.clone());
    if !dry_run {
        let integration =
            store.repo.read_ref(&format!("refs/heads/{}", crate::model::branches::integration_branch(id)))?;
        let integration = integration.filter(|t| removable.iter().any(|(_, r)| r == t));
        let tips: Vec<ObjectId> = removable.iter().map(|(_, t)| *t).collect();
        if let Some((commit, moved)) = store.archive(id, &tips, integration)? {
            if moved == Moved::Conflict {
                report.skipped = Some(format!("{archive_ref} moved meanwhile (another gc?): run gc again"));
                return Ok(report);
            }
            report.archive = Some(commit.to_string());
        }
    }
    for (name, tip) in removable {
        let (action, reason) = if dry_run {
            (Action::Removed, format!("archived under {archive_ref}"))
        } else {
            remove_ref(store, id, &name, tip, &archive_ref)?
        };
        report.refs.push(RefFate { name, tip: tip.to_string(), action, reason });
    }
    Ok(report)
}

/// Why gc leaves `score` alone, unless it landed, was rolled back or failed.
fn not_finished(score: &Score) -> Option<String> {
    match score.status {
        ScoreStatus::Landed | ScoreStatus::RolledBack | ScoreStatus::Failed => None,
        ScoreStatus::Done => Some(format!(
            "it is done but not landed: land it with `git maestro approve {0}` and `git maestro land {0}` first",
            score.id
        )),
        other => Some(format!("it is {}, not finished", other.as_str())),
    }
}

/// The Score's branches gc may remove, with their tips; one checked out in a worktree is
/// reported kept. A dry run counts the worktrees in `report` it would remove as gone.
fn branches(
    store: &Store,
    id: &str,
    report: &mut ScoreGc,
    dry_run: bool,
) -> Result<Vec<(String, ObjectId)>, KernelError> {
    let mut checked_out = store.repo.checked_out_refs()?;
    if dry_run {
        // The worktrees a real run removes no longer hold their branches by then.
        let going: Vec<String> = report
            .worktrees
            .iter()
            .filter(|w| w.action != Action::Kept)
            .map(|w| format!("refs/heads/maestro/{}", w.task.replacen('/', "/tasks/", 1)))
            .collect();
        checked_out.retain(|name| !going.contains(name));
    }
    let prefix = format!("refs/heads/maestro/{id}/");
    let mut removable = Vec::new();
    for (name, tip) in store.repo.refs_under(&prefix)? {
        let rest = &name[prefix.len()..];
        if rest != "integration" && !rest.starts_with("tasks/") {
            continue;
        }
        let kept = if checked_out.contains(&name) {
            Some("it is checked out in a worktree; switch that worktree away and run gc again".to_owned())
        } else if rest == "integration" {
            unshared(store, &name, tip)?
        } else {
            None
        };
        match kept {
            Some(reason) => report.refs.push(RefFate { name, tip: tip.to_string(), action: Action::Kept, reason }),
            None => removable.push((name, tip)),
        }
    }
    Ok(removable)
}

/// Why the integration branch `name` at `tip` must stay: a remote shares it (it has a
/// remote-tracking ref) and lacks some of its commits. The state other clones read names those
/// commits (a rollback's revert, say); the archive here is not shared, so they would find them
/// nowhere. `sync` brings the two together (or says they conflict), so it always clears this.
/// A task branch is not held back: its merge is on the integration branch, and `sync` does not
/// push one a rework restarted.
fn unshared(store: &Store, name: &str, tip: ObjectId) -> Result<Option<String>, KernelError> {
    let branch = name.strip_prefix("refs/heads/").unwrap_or(name);
    for remote in store.repo.remote_names() {
        let Some(theirs) = store.repo.read_ref(&format!("refs/remotes/{remote}/{branch}"))? else { continue };
        if !store.repo.is_ancestor(tip, theirs)? {
            return Ok(Some(format!(
                "{remote} shares it but lacks some of its commits: run `git maestro sync {remote}`, then gc again"
            )));
        }
    }
    Ok(None)
}

/// The keep refs of the Score's history: reachable from one of its `branches` going, or
/// carrying its `Maestro-Score` trailer, and not older than its base.
fn keep_refs(
    store: &Store,
    score: &Score,
    branches: &[(String, ObjectId)],
) -> Result<Vec<(String, ObjectId)>, KernelError> {
    let base = score.base.as_deref().and_then(|b| ObjectId::from_hex(b.as_bytes()).ok());
    let trailer = format!("\nMaestro-Score: {}\n", score.id);
    let mut out = Vec::new();
    for (name, tip) in store.repo.refs_under(layout::KEEP_PREFIX)? {
        if let Some(b) = base
            && store.repo.is_ancestor(tip, b)?
        {
            continue;
        }
        let mut ours = store.repo.commit_info(tip).is_ok_and(|c| format!("\n{}\n", c.message).contains(&trailer));
        for (_, b) in branches {
            if ours {
                break;
            }
            ours = store.repo.is_ancestor(tip, *b)?;
        }
        if ours {
            out.push((name, tip));
        }
    }
    Ok(out)
}

/// The Score's task worktrees (clean ones only) and scratch worktrees.
fn worktrees(store: &Store, score: &Score, dry_run: bool, pool: usize) -> Result<Vec<Pruned>, KernelError> {
    let (mut out, id) = (Vec::new(), score.id.as_str());
    for info in store.repo.worktrees()? {
        let path = info.path.display().to_string();
        match info.branch.as_deref().map(|b| b.split('/').collect::<Vec<_>>()).as_deref() {
            Some(["maestro", score, "tasks", task]) if *score == id => {
                if info.path.exists() && !crate::git::dirty_paths(&info.path)?.is_empty() {
                    out.push(Pruned {
                        task: format!("{id}/{task}"),
                        path,
                        action: Action::Kept,
                        tip: None,
                        reason: "it has uncommitted changes: commit or discard them, then run gc again".into(),
                    });
                    continue;
                }
                out.push(prune::prune_one(store, (id, task), &info.path, dry_run, pool)?);
            }
            None if is_scratch(&info.path, score) => {
                if !dry_run {
                    store.repo.remove_worktree(&info.path)?;
                }
                let task = format!("{id}/{}", info.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
                out.push(Pruned {
                    task,
                    path,
                    action: Action::Removed,
                    tip: None,
                    reason: "a scratch worktree".into(),
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Whether `path` is one of the Score's scratch worktrees, `<root>/<score>/integration.post-merge`
/// or `<root>/<score>/<task>.review` (see `approval`). Judged by name, not by the worktree root:
/// the root this process would use may differ from the one that made them (`demo` has its own).
fn is_scratch(path: &Path, score: &Score) -> bool {
    let name = |p: Option<&Path>| p.and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned());
    if name(path.parent()).as_deref() != Some(score.id.as_str()) {
        return false;
    }
    let Some(file) = name(Some(path)) else { return false };
    file == "integration.post-merge" || file.strip_suffix(".review").is_some_and(|t| score.tasks.iter().any(|x| x == t))
}

/// Delete one archived ref by compare-and-swap; a task branch under its task's run lock.
fn remove_ref(
    store: &Store,
    id: &str,
    name: &str,
    tip: ObjectId,
    archive_ref: &str,
) -> Result<(Action, String), KernelError> {
    let task = name.strip_prefix(&format!("refs/heads/maestro/{id}/tasks/"));
    let _lock = match task {
        Some(task) => match try_run_lock(store.repo.common_dir(), id, task)? {
            Some(lock) => Some(lock),
            None => return Ok((Action::Kept, "a run of its task holds it right now".into())),
        },
        None => None,
    };
    let moved = if name.starts_with(layout::KEEP_PREFIX) {
        store.drop_keep(name, tip)?
    } else {
        store.move_ref(name, Some(tip), None, &format!("maestro: gc {id}, archived under {archive_ref}"))?
    };
    Ok(match moved {
        Moved::Yes => (Action::Removed, format!("archived under {archive_ref}")),
        Moved::Conflict => (Action::Kept, "it moved meanwhile; run gc again".into()),
    })
}
