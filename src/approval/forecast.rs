//! Conflict forecast: which tasks will conflict, before anyone merges.
//!
//! At plan time, from the tasks' declared `scope` globs; while running, from pairwise in-memory
//! merges (gix, no checkout) of every active task branch with each other and with the
//! integration tip (or the target, before the first merge).

use serde::Serialize;

use super::{ApprovalError, integration_branch};
use crate::git::{Hunk, ObjectId, Repo};
use crate::model::branches::task_branch;
use crate::model::{Score, Task, TaskStatus};
use crate::store::{self, Store};

/// Two tasks whose declared scopes may touch the same files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeOverlap {
    pub a: String,
    pub b: String,
    /// The pairs of globs that overlap, as `a-glob ~ b-glob`.
    pub globs: Vec<String>,
}

/// Two branches whose merge conflicts now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForecastConflict {
    /// A task id, or `integration`.
    pub a: String,
    pub b: String,
    pub paths: Vec<String>,
    /// Per conflicting text file, the lines of the merge base that both sides changed.
    pub overlaps: Vec<LineOverlap>,
}

/// Lines of one file that two branches both changed, 1-based and inclusive, in the file as it
/// was at their merge base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineOverlap {
    pub path: String,
    pub lines: Vec<(u32, u32)>,
}

pub use crate::model::plan::globs_overlap;

/// Every pair of tasks whose scopes overlap.
pub fn scope_overlaps(tasks: &[Task]) -> Vec<ScopeOverlap> {
    let mut out = Vec::new();
    for (i, a) in tasks.iter().enumerate() {
        for b in &tasks[i + 1..] {
            let globs: Vec<String> = a
                .scope
                .iter()
                .flat_map(|ga| b.scope.iter().filter(|gb| globs_overlap(ga, gb)).map(move |gb| format!("{ga} ~ {gb}")))
                .collect();
            if !globs.is_empty() {
                out.push(ScopeOverlap { a: a.id.clone(), b: b.id.clone(), globs });
            }
        }
    }
    out
}

/// The pairs of open tasks (not closed) whose scopes overlap, neither depending on the other
/// (directly or not): work that may run side by side on the same files. From the records
/// only, no git.
pub fn open_overlaps(tasks: &[Task]) -> Vec<ScopeOverlap> {
    let open: Vec<Task> = tasks.iter().filter(|t| !t.status.is_closed()).cloned().collect();
    let related = |a: &str, b: &str| {
        let find = |id: &str| tasks.iter().find(|t| t.id == id);
        find(a).is_some_and(|t| depends_on(tasks, t, b)) || find(b).is_some_and(|t| depends_on(tasks, t, a))
    };
    scope_overlaps(&open).into_iter().filter(|o| !related(&o.a, &o.b)).collect()
}

/// Tasks that share scope with an interface task without depending on it (directly or not):
/// they may build on an interface before it exists.
pub fn interface_warnings(tasks: &[Task]) -> Vec<String> {
    let mut out = Vec::new();
    for iface in tasks.iter().filter(|t| t.kind == crate::model::TaskKind::Interface) {
        for t in tasks.iter().filter(|t| t.id != iface.id && !depends_on(tasks, t, &iface.id)) {
            if t.scope.iter().any(|a| iface.scope.iter().any(|b| globs_overlap(a, b))) {
                out.push(format!(
                    "task {} shares scope with interface task {} but does not depend on it",
                    t.id, iface.id
                ));
            }
        }
    }
    out
}

/// Whether `task` depends on `id`, directly or through other tasks.
fn depends_on(tasks: &[Task], task: &Task, id: &str) -> bool {
    let mut seen: Vec<&str> = Vec::new();
    let mut todo: Vec<&str> = task.deps.iter().map(String::as_str).collect();
    while let Some(d) = todo.pop() {
        if d == id {
            return true;
        }
        if seen.contains(&d) {
            continue;
        }
        seen.push(d);
        if let Some(t) = tasks.iter().find(|t| t.id == d) {
            todo.extend(t.deps.iter().map(String::as_str));
        }
    }
    false
}

/// Tasks whose branch holds work that is not merged yet.
pub fn is_active(status: TaskStatus) -> bool {
    matches!(
        status,
        TaskStatus::Running
            | TaskStatus::Submitted
            | TaskStatus::Approved
            | TaskStatus::Conflict
            | TaskStatus::Rejected
            | TaskStatus::Failed
    )
}

/// Pairwise merges of the Score's active task branches and its integration tip.
pub fn forecast(store: &Store, score: &Score, tasks: &[Task]) -> Result<Vec<ForecastConflict>, ApprovalError> {
    let active = tasks.iter().filter(|t| is_active(t.status)).map(|t| t.id.as_str());
    let sides = forecast_sides(&store.repo, score, active)?;
    forecast_between(&store.repo, &sides)
}

/// What a forecast of `score` compares: its integration branch (its target before the first
/// merge) and the branch of each of the `active` tasks that has one, with their tips. Reading
/// them is cheap; a caller may keep the forecast while they stay the same.
pub fn forecast_sides<'t>(
    repo: &Repo,
    score: &Score,
    active: impl Iterator<Item = &'t str>,
) -> Result<Vec<(String, ObjectId)>, ApprovalError> {
    let mut sides: Vec<(String, ObjectId)> = Vec::new();
    let integration = repo.read_ref(&format!("refs/heads/{}", integration_branch(&score.id)))?;
    let target = repo.read_ref(&format!("refs/heads/{}", score.target))?;
    if let Some(tip) = integration.or(target) {
        sides.push(("integration".into(), tip));
    }
    for id in active {
        if let Some(tip) = repo.read_ref(&format!("refs/heads/{}", task_branch(&score.id, id)))? {
            sides.push((id.to_owned(), tip));
        }
    }
    Ok(sides)
}

/// The conflicts a merge of each pair of `sides` would meet.
pub fn forecast_between(repo: &Repo, sides: &[(String, ObjectId)]) -> Result<Vec<ForecastConflict>, ApprovalError> {
    let mut out = Vec::new();
    for (i, (a, ta)) in sides.iter().enumerate() {
        for (b, tb) in &sides[i + 1..] {
            let paths = repo.merge_conflicts(*ta, *tb)?;
            if !paths.is_empty() {
                let overlaps = line_overlaps(repo, *ta, *tb, &paths)?;
                out.push(ForecastConflict { a: a.clone(), b: b.clone(), paths, overlaps });
            }
        }
    }
    Ok(out)
}

/// For each conflicting path, the base lines both `a` and `b` changed (binary files have none).
fn line_overlaps(repo: &Repo, a: ObjectId, b: ObjectId, paths: &[String]) -> Result<Vec<LineOverlap>, ApprovalError> {
    let Some(base) = repo.merge_base(a, b)? else { return Ok(Vec::new()) };
    let (base, a, b) = (repo.commit_tree(base)?, repo.commit_tree(a)?, repo.commit_tree(b)?);
    let mut out = Vec::new();
    for path in paths {
        if let (Some(ha), Some(hb)) = (repo.path_hunks(base, a, path)?, repo.path_hunks(base, b, path)?) {
            let lines = touching(&ha, &hb);
            if !lines.is_empty() {
                out.push(LineOverlap { path: path.clone(), lines });
            }
        }
    }
    Ok(out)
}

/// The spans of base lines where a hunk of `a` and a hunk of `b` overlap or touch (git treats
/// adjacent changes as one conflict), merged, 1-based and inclusive.
fn touching(a: &[Hunk], b: &[Hunk]) -> Vec<(u32, u32)> {
    let mut spans: Vec<(u32, u32)> = Vec::new();
    for ha in a {
        for hb in b.iter().filter(|hb| ha.before.start <= hb.before.end && hb.before.start <= ha.before.end) {
            let start = ha.before.start.min(hb.before.start);
            let end = ha.before.end.max(hb.before.end).max(start + 1);
            spans.push((start + 1, end));
        }
    }
    spans.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::new();
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 + 1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Both parts of the forecast for `score`.
pub fn conflicts(store: &Store, score_id: &str) -> Result<(Vec<ScopeOverlap>, Vec<ForecastConflict>), ApprovalError> {
    let (score, tasks) = store::score_with_readable_tasks(&store.view()?, score_id)?;
    Ok((scope_overlaps(&tasks), forecast(store, &score, &tasks)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_overlap_is_by_literal_prefix() {
        assert!(globs_overlap("src/auth/*.rs", "src/auth/token.rs"));
        assert!(globs_overlap("src/**", "src/auth/*.rs"));
        assert!(globs_overlap("docs/auth.md", "docs/auth.md"));
        assert!(!globs_overlap("docs/*", "src/*"));
        assert!(!globs_overlap("src/a.rs", "src/b.rs"));
        assert!(!globs_overlap("src/auth/*.rs", "src/billing/*.rs"));
    }

    fn hunk(before: std::ops::Range<u32>) -> Hunk {
        Hunk { before, after: 0..0 }
    }

    #[test]
    fn overlapping_hunks_give_base_line_spans() {
        // Lines 3-4 vs 4-6 overlap; an insertion before line 11 touches a change of line 11;
        // lines 20-21 vs 30 do not meet.
        let a = [hunk(2..4), hunk(10..10), hunk(19..21)];
        let b = [hunk(3..6), hunk(10..11), hunk(29..30)];
        assert_eq!(touching(&a, &b), vec![(3, 6), (11, 11)]);
        assert_eq!(touching(&a, &[]), vec![]);
    }

    fn scoped(id: &str, status: TaskStatus, scope: &[&str], deps: &[&str]) -> Task {
        let mut t = crate::model::task::sample(status);
        t.id = id.into();
        t.scope = scope.iter().map(|s| (*s).to_owned()).collect();
        t.deps = deps.iter().map(|s| (*s).to_owned()).collect();
        t
    }

    #[test]
    fn open_overlaps_leave_out_closed_tasks_and_dependants() {
        let tasks = [
            scoped("a", TaskStatus::Running, &["src/auth/*.rs"], &[]),
            scoped("b", TaskStatus::Ready, &["src/auth/token.rs"], &[]),
            scoped("c", TaskStatus::Pending, &["src/**"], &["b"]),
            scoped("d", TaskStatus::Merged, &["src/auth/*.rs"], &[]),
            scoped("e", TaskStatus::Pending, &["docs/*"], &[]),
        ];
        let overlaps = open_overlaps(&tasks);
        let pairs: Vec<(&str, &str)> = overlaps.iter().map(|o| (o.a.as_str(), o.b.as_str())).collect();
        assert_eq!(pairs, [("a", "b"), ("a", "c")]);
    }
}
