//! What every record read from the state must satisfy beyond its TOML shape (DESIGN §13): the
//! checks `plan` applies to what it writes, applied to whatever a remote, an older version or
//! plain git put there. Ids are allow-listed slugs, every record sits exactly where its ids
//! place it (so no id can name `..` or hold a newline), commit ids are hex, branch and remote
//! names follow git's rules, lists are bounded, and an intent only names refs and worktree
//! paths git-maestro itself would. Strings are bounded by the codec.
//!
//! A record that fails is refused with its path ([`super::CodecError::Invalid`]); nothing
//! from the state is ever executed, so these checks are what stands between a hostile state
//! and a ref move or a command line.

use serde::de::DeserializeOwned;

use super::Root;
use super::layout;
use crate::model::handover::Handover;
use crate::model::ids::validate_slug;
use crate::model::intent::{Effect, Intent};
use crate::model::plan::{validate_branch_name, validate_glob};
use crate::model::stats::PerformerStats;
use crate::model::{Decision, Knowledge, MAX_TASKS, PullRequest, RunSession, Score, Task};

/// The most items a list in a record may hold (attempts, notes, tags, …), beside the tasks of
/// a Score ([`MAX_TASKS`]).
pub const MAX_LIST: usize = 10_000;

/// A record type of the state.
pub trait Record: DeserializeOwned {
    /// Check the record read at `path`; the first problem, in words.
    fn check(&self, path: &str) -> Result<(), String>;
}

/// A problem found by a check, in words.
type Checked = Result<(), String>;

fn slug(field: &str, value: &str) -> Checked {
    validate_slug(value).map_err(|e| format!("{field} {:?} is not a valid id: {e}", value.escape_debug().to_string()))
}

fn slugs<'a>(field: &str, values: impl IntoIterator<Item = &'a String>) -> Checked {
    values.into_iter().try_for_each(|v| slug(field, v))
}

/// A dollar figure: finite, not negative, not absurd.
fn dollars(field: &str, value: Option<f64>) -> Checked {
    match value {
        Some(v) if !(v.is_finite() && (0.0..=1e9).contains(&v)) => {
            Err(format!("{field} {v} is not an amount of dollars"))
        }
        _ => Ok(()),
    }
}

fn placed(path: &str, want: &str) -> Checked {
    if path == want {
        Ok(())
    } else {
        Err(format!("its ids place it at {:?}, not here", want.escape_debug().to_string()))
    }
}

fn commit(field: &str, value: &str) -> Checked {
    if value.len() == 40 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(format!("{field} {:?} is not a commit id (40 lowercase hex digits)", value.escape_debug().to_string()))
    }
}

fn commits<'a>(field: &str, values: impl IntoIterator<Item = &'a String>) -> Checked {
    values.into_iter().try_for_each(|v| commit(field, v))
}

fn branch(field: &str, value: &str) -> Checked {
    validate_branch_name(value).map_err(|e| format!("{field}: {e}"))
}

fn bounded<T>(field: &str, list: &[T], limit: usize) -> Checked {
    if list.len() > limit { Err(format!("{field} holds {} items; the limit is {limit}", list.len())) } else { Ok(()) }
}

/// A path git-maestro may name in an intent: absolute, with no `.`/`..` component and no
/// control character.
fn worktree_path(field: &str, path: &str) -> Checked {
    let p = std::path::Path::new(path);
    let plain = p.components().all(|c| matches!(c, std::path::Component::RootDir | std::path::Component::Normal(_)));
    if p.is_absolute() && plain && !path.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(format!("{field} {:?} is not an absolute, plain path", path.escape_debug().to_string()))
    }
}

fn pull_request(pr: Option<&PullRequest>) -> Checked {
    let Some(pr) = pr else { return Ok(()) };
    if pr.remote.starts_with('-') || pr.remote.contains([':', '/']) {
        return Err(format!("pr.remote {:?} is not a remote name", pr.remote.escape_debug().to_string()));
    }
    branch("pr.remote", &pr.remote)?;
    branch("pr.branch", &pr.branch)?;
    branch("pr.base", &pr.base)
}

impl Record for Root {
    fn check(&self, path: &str) -> Checked {
        placed(path, layout::MAESTRO_TOML)?;
        slug("repo_id", &self.repo_id)
    }
}

impl Record for Score {
    fn check(&self, path: &str) -> Checked {
        slug("id", &self.id)?;
        placed(path, &layout::score_file(&self.id))?;
        branch("target", &self.target)?;
        bounded("tasks", &self.tasks, MAX_TASKS)?;
        slugs("tasks", &self.tasks)?;
        slugs("post_merge_checks", &self.post_merge_checks)?;
        commits("base", &self.base)?;
        if let Some(b) = &self.budget {
            dollars("budget.task_usd", b.task_usd)?;
            dollars("budget.score_usd", b.score_usd)?;
        }
        bounded("raises", &self.raises, MAX_LIST)?;
        for r in &self.raises {
            slug("raises.decision", &r.decision)?;
            dollars("raises.usd", r.usd)?;
        }
        if let Some(l) = &self.landing {
            commit("landing.integration", &l.integration)?;
        }
        if let Some(l) = &self.landed {
            commit("landed.integration", &l.integration)?;
            commit("landed.commit", &l.commit)?;
        }
        pull_request(self.pr.as_ref())
    }
}

impl Record for Task {
    fn check(&self, path: &str) -> Checked {
        slug("id", &self.id)?;
        slug("score", &self.score)?;
        placed(path, &layout::task_file(&self.score, &self.id))?;
        for (field, list) in [("languages", &self.languages), ("deps", &self.deps), ("checks", &self.checks)] {
            bounded(field, list, MAX_LIST)?;
            slugs(field, list)?;
        }
        slugs("performer", &self.performer)?;
        bounded("scope", &self.scope, MAX_LIST)?;
        self.scope.iter().try_for_each(|g| validate_glob(g).map_err(|e| format!("scope {g:?}: {e}")))?;
        for (field, list) in
            [("acceptance", &self.acceptance), ("conflicts", &self.conflicts), ("passed", &self.passed)]
        {
            bounded(field, list, MAX_LIST)?;
        }
        bounded("attempts", &self.attempts, MAX_LIST)?;
        for a in &self.attempts {
            slug("attempts.run", &a.run)?;
            dollars("attempts.cost_usd", a.cost_usd)?;
        }
        if let Some(claim) = &self.claim {
            slugs("claim.clone", &claim.clone)?;
        }
        if let Some(lease) = &self.lease {
            slug("lease.run", &lease.run)?;
        }
        commits("merge_commit", &self.merge_commit)?;
        pull_request(self.pr.as_ref())
    }
}

impl Record for RunSession {
    fn check(&self, path: &str) -> Checked {
        slug("run", &self.run)?;
        slug("score", &self.score)?;
        slug("task", &self.task)?;
        placed(path, &layout::session_file(&self.score, &self.task, &self.run))?;
        bounded("notes", &self.notes, MAX_LIST)?;
        bounded("stack", &self.stack, MAX_LIST)
    }
}

impl Record for Decision {
    fn check(&self, path: &str) -> Checked {
        slug("id", &self.id)?;
        placed(path, &layout::decision_file(&self.id))?;
        slugs("score", &self.score)?;
        slugs("task", &self.task)?;
        commits("commit", &self.commit)?;
        bounded("alternatives", &self.alternatives, MAX_LIST)?;
        bounded("evidence", &self.evidence, MAX_LIST)
    }
}

impl Record for Knowledge {
    fn check(&self, path: &str) -> Checked {
        slug("id", &self.id)?;
        placed(path, &layout::knowledge_file(&self.id))?;
        slugs("supersedes", &self.supersedes)?;
        slugs("superseded_by", &self.superseded_by)?;
        bounded("tags", &self.tags, MAX_LIST)?;
        bounded("paths", &self.paths, MAX_LIST)
    }
}

impl Record for Handover {
    fn check(&self, path: &str) -> Checked {
        slug("id", &self.id)?;
        placed(path, &layout::handover_file(&self.id))?;
        slug("score", &self.score)?;
        slugs("task", &self.task)?;
        slugs("delivered_run", &self.delivered_run)?;
        bounded("acked_by", &self.acked_by, MAX_LIST)?;
        bounded("sections.relevant_files", &self.sections.relevant_files, MAX_LIST)?;
        bounded("sections.tried", &self.sections.tried, MAX_LIST)
    }
}

impl Record for PerformerStats {
    fn check(&self, path: &str) -> Checked {
        slug("performer", &self.performer)?;
        placed(path, &layout::performer_stats_file(&self.performer))?;
        bounded("by", &self.by.keys().collect::<Vec<_>>(), MAX_LIST)
    }
}

impl Record for Intent {
    fn check(&self, path: &str) -> Checked {
        slug("id", &self.id)?;
        placed(path, &layout::intent_file(&self.id))?;
        slug("origin.clone", &self.origin.clone)?;
        bounded("effects", &self.effects, 64)?;
        self.effects.iter().try_for_each(effect)
    }
}

/// An effect names only what git-maestro's own steps move: branches, kept commits, and
/// worktrees by absolute path.
fn effect(e: &Effect) -> Checked {
    let name = |name: &str| match (name.strip_prefix("refs/heads/"), name.strip_prefix(layout::KEEP_PREFIX)) {
        (Some(b), _) => branch("effect ref", b),
        (None, Some(kept)) => commit("effect ref", kept),
        _ => Err(format!("effect ref {:?} is not a branch or a kept commit", name.escape_debug().to_string())),
    };
    match e {
        Effect::MoveRef { name: n, old, new } => {
            name(n)?;
            commits("effect old", old)?;
            commit("effect new", new)
        }
        Effect::RefreshCheckout { name: n, worktree, old, new } => {
            name(n)?;
            worktree_path("effect worktree", worktree)?;
            commit("effect old", old)?;
            commit("effect new", new)
        }
        Effect::ResetWorktree { path, commit: c } => {
            worktree_path("effect path", path)?;
            commit("effect commit", c)
        }
        Effect::RemoveWorktree { path } => worktree_path("effect path", path),
        Effect::ParkWorktree { path, pool } => {
            worktree_path("effect path", path)?;
            worktree_path("effect pool", pool)
        }
        Effect::ReuseWorktree { pool, path, commit: c } => {
            worktree_path("effect pool", pool)?;
            worktree_path("effect path", path)?;
            commit("effect commit", c)
        }
    }
}
