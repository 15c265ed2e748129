//! The invariants of the lifecycle (DESIGN.md §12.4), checked over the state and the repository
//! together, and the repairs that are safe to make.
//!
//! [`check`] only reads: the state at the tip of `refs/maestro/state`, refs, and commits. It
//! writes nothing, not even this clone's id, so `doctor` may run beside any command. [`repair`]
//! makes the safe fixes, each through the store, then [`check`] tells what is left.
//!
//! # Open intents
//!
//! A step whose git effects are recorded but not settled yet (see `store::effects`) is not a
//! violation: the next write of the clone that made it settles it. The invariants are judged as
//! if this clone's intents were applied: a ref an intent moves that still is at the intent's old
//! value counts at its new value. An intent whose ref moved elsewhere will fail and its step be
//! undone, and another clone's intent is settled by that clone; the records of such a step (the
//! merged or reverted tasks, the landed Score) are not judged until then. Every open intent is
//! reported ([`OpenIntent`]); one left by a process of this clone that stopped is settled by
//! [`repair`] (any write would do it).
//!
//! # The rules, as implemented
//!
//! A Score's *branch* is `maestro/<score>/integration` (after open intents); its *commits* are
//! those reachable from its tip but not from the Score's `base`; its *line* is the first-parent
//! line from the tip down to the base. A *revert* of a merge `M` is a commit of the branch,
//! descending from `M`, whose message has the line `This reverts merge <M>.`.
//!
//! - **I1** A `merged` task names a merge commit that is among its branch's commits, whose
//!   trailers say `Maestro-Score: <score>` and `Maestro-Task: <task>`, and that no revert on the
//!   branch undoes.
//! - **I2** A `reverted` task names a merge commit, and its branch holds a revert of it.
//! - **I3** A `running` task's lease is live (its process runs on this host) or foreign (another
//!   host's, with a recent heartbeat; a task another clone claimed before leases existed counts
//!   as foreign). A task that is not running holds no lease. Fixes: a dead run is released
//!   (`lifecycle::interrupt`, with a decision) unless the lease is another host's or some process
//!   here holds the task's run lock; a dead lease of this host left on a task that is not
//!   running is dropped.
//! - **I4** Every commit the state names exists and is reachable from `refs/heads/*`,
//!   `refs/tags/*`, `refs/remotes/*`, `refs/maestro/keep/*` or `refs/maestro/archive/*` (or
//!   from an open intent's new value): each task's `merge_commit` and attempt results, each Score's `base`, `landed`
//!   commit and integration tip, and approved landing tip, and every decision's `commit`. Fix:
//!   an existing but unreachable commit is kept as `refs/maestro/keep/<sha>`. A missing one has
//!   no safe fix.
//! - **I5** A Score whose status is `landed` has a target branch that holds (descends from) the
//!   `landed.integration` tip it records.
//! - **I6** Every *task merge* on a Score's line (a commit with two or more parents and a
//!   `Maestro-Task` trailer) is known to the state: its `Maestro-Score` is this Score, and either
//!   (a) it is the `merge_commit` of its task and that task is `merged` or `reverted` (I1 and I2
//!   say the rest), or (b) a revert on the branch undoes it and the state knows it as that task's
//!   merge: it is the task's `merge_commit`, or a `merge` decision about the task names it. (b)
//!   is the first merge of a task that was rolled back, reworked and merged again (or is being
//!   reworked): rollback appends a revert and keeps the old `merge_commit` until the new merge
//!   replaces it, and the old merge's decision stays in the log. Anything else is unknown: a
//!   merge the state never recorded, a second merge of a task whose first one was never
//!   reverted, the merge of a task the state says is not merged, or another Score's task merged
//!   after this Score's base.
//!
//! - **I7** A Score's status says what its tasks say ([`crate::model::lifecycle::settle_status`]):
//!   done when every task is merged (unless landed or rolled back), not done while a task is
//!   not merged, not landed while a task is neither merged nor reverted. Fix: that status, with
//!   a decision. A Score with a step still to settle is not judged.
//!
//! Records the store refuses (see `store::validate`: a record away from its place, one that
//! does not read) are skipped here: the state check (`store::check_all`) reports them.
//!
//! Must not print.

mod repair;
mod report;
mod status;

pub use repair::{Repaired, repair};
pub use report::{Fix, IntentState, Invariant, OpenIntent, Report, Violation};

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;

use crate::git::{CommitInfo, ObjectId};
use crate::model::branches::integration_branch;
use crate::model::intent::{Effect, Intent, Step};
use crate::model::lease::Liveness;
use crate::model::{DecisionKind, Score, Task, TaskStatus};
use crate::store::origin::{self, LEASE_STALE_AFTER};
use crate::store::{self, Store, effects, layout};

fn oid(hex: &str) -> Option<ObjectId> {
    ObjectId::from_hex(hex.as_bytes()).ok()
}

fn short(id: impl std::fmt::Display) -> String {
    id.to_string().chars().take(12).collect()
}

/// A Score's integration branch, as far as the invariants look at it.
#[derive(Default)]
struct Branch {
    /// `maestro/<score>/integration`.
    name: String,
    /// Its tip, after open intents.
    tip: Option<ObjectId>,
    /// Its commits since the Score's base, by id.
    commits: HashMap<ObjectId, CommitInfo>,
    /// Its first-parent line, newest first, down to the base.
    line: Vec<ObjectId>,
    /// Reverting commits by the merge they revert.
    reverts: HashMap<ObjectId, Vec<ObjectId>>,
}

/// The state and the repository, read once for all the checks.
struct Reading<'s> {
    store: &'s Store,
    now: Timestamp,
    /// This clone's id, or "" when it has none (then nothing here is this clone's).
    clone: String,
    /// Refs an open intent of this clone moves, at the value they will have.
    overlay: HashMap<String, ObjectId>,
    /// Tasks (`score/task`) and Scores whose step an intent will undo or another clone settles.
    unsettled: HashSet<String>,
}

impl Reading<'_> {
    /// The value of the ref `name` once this clone's open intents are applied.
    fn tip(&self, name: &str) -> store::Result<Option<ObjectId>> {
        match self.overlay.get(name) {
            Some(id) => Ok(Some(*id)),
            None => Ok(self.store.repo.read_ref(name)?),
        }
    }

    fn is_ancestor(&self, ancestor: ObjectId, descendant: ObjectId) -> store::Result<bool> {
        let repo = &self.store.repo;
        Ok(repo.has_object(ancestor) && repo.has_object(descendant) && repo.is_ancestor(ancestor, descendant)?)
    }

    fn branch(&self, score: &Score) -> store::Result<Branch> {
        let repo = &self.store.repo;
        let name = integration_branch(&score.id);
        // A Score cleaned up by `gc` has its integration tip in its archive.
        let tip = match self.tip(&format!("refs/heads/{name}"))? {
            Some(tip) => Some(tip),
            None => self.store.archived_integration(&score.id)?,
        };
        let mut branch = Branch { name, tip, ..Branch::default() };
        let Some(tip) = tip.filter(|t| repo.has_object(*t)) else { return Ok(branch) };
        let base: Vec<ObjectId> =
            score.base.as_deref().and_then(oid).filter(|b| repo.has_object(*b)).into_iter().collect();
        for info in repo.new_commits(tip, &base, usize::MAX)? {
            if let Some(merge) = crate::model::branches::reverted_merge(&info.message).and_then(oid) {
                branch.reverts.entry(merge).or_default().push(info.id);
            }
            branch.commits.insert(info.id, info);
        }
        let mut at = Some(tip);
        while let Some(id) = at {
            let Some(info) = branch.commits.get(&id) else { break };
            branch.line.push(id);
            at = info.parents.first().copied();
        }
        Ok(branch)
    }

    /// The revert of `merge` on `branch`, if there is one.
    fn revert_of(&self, branch: &Branch, merge: ObjectId) -> store::Result<Option<ObjectId>> {
        for r in branch.reverts.get(&merge).into_iter().flatten() {
            if self.is_ancestor(merge, *r)? {
                return Ok(Some(*r));
            }
        }
        Ok(None)
    }
}

/// Check every invariant over the current state and the repository. Writes nothing.
pub fn check(store: &Store) -> store::Result<Report> {
    let view = store.view()?;
    let mut report = Report::default();
    let mut reading = Reading {
        store,
        now: store.session.now(),
        clone: store.existing_clone_id().unwrap_or_default(),
        overlay: HashMap::new(),
        unsettled: HashSet::new(),
    };
    for intent in effects::intents(&view)? {
        report.intents.push(open_intent(&mut reading, intent)?);
    }

    let mut scores: Vec<(Score, Vec<Task>)> = Vec::new();
    for (name, is_dir) in view.list(layout::SCORES_DIR)? {
        let Some(score) = is_dir.then(|| store::score(&view, &name).ok()).flatten().filter(|s| s.id == name) else {
            continue;
        };
        let tasks = score
            .tasks
            .iter()
            .filter_map(|id| store::task(&view, &score.id, id).ok().filter(|t| &t.id == id && t.score == score.id))
            .collect();
        scores.push((score, tasks));
    }
    report.scores = scores.len();
    let decisions = store::decisions(&view)?;
    // Merge commits each task's merge decisions name.
    let mut merges_decided: HashSet<(String, String, String)> = HashSet::new();
    for d in decisions.iter().filter(|d| d.kind == DecisionKind::Merge) {
        if let (Some(s), Some(t), Some(c)) = (&d.score, &d.task, &d.commit) {
            merges_decided.insert((s.clone(), t.clone(), c.clone()));
        }
    }

    let mut branches = Vec::new();
    for (score, tasks) in &scores {
        let branch = reading.branch(score)?;
        merges(&reading, &mut report, score, tasks, &branch)?;
        unknown_merges(&reading, &mut report, score, tasks, &branch, &merges_decided)?;
        landed(&reading, &mut report, score)?;
        status::score_status(&reading, &mut report, score, tasks);
        for task in tasks {
            leases(&reading, &mut report, task);
        }
        branches.push(branch);
    }
    reachable(&reading, &mut report, &scores, &decisions, &branches)?;
    Ok(report)
}

/// Where `intent` stands; records what it moves in the overlay, or that its step is unsettled.
fn open_intent(reading: &mut Reading<'_>, intent: Intent) -> store::Result<OpenIntent> {
    let repo = &reading.store.repo;
    let local = !reading.clone.is_empty() && intent.origin.clone == reading.clone;
    let state = if !local {
        IntentState::Elsewhere
    } else if origin::alive(&intent.origin) {
        IntentState::InProgress
    } else {
        IntentState::Stopped { due: effects::pending(reading.store, &intent)? }
    };
    let mut fails = false;
    if local {
        for effect in &intent.effects {
            let (name, old, new) = match effect {
                Effect::MoveRef { name, old, new } => (name, old.as_deref(), new),
                Effect::RefreshCheckout { name, old, new, .. } => (name, Some(old.as_str()), new),
                Effect::ResetWorktree { .. }
                | Effect::RemoveWorktree { .. }
                | Effect::ParkWorktree { .. }
                | Effect::ReuseWorktree { .. } => continue,
            };
            let now = repo.read_ref(name)?;
            if now.is_some() && now == oid(new) {
                continue;
            }
            match (now, old.map(oid)) {
                (None, None) => {}
                (Some(now), Some(Some(old))) if now == old => {}
                _ => {
                    fails = true;
                    continue;
                }
            }
            if let Some(new) = oid(new) {
                reading.overlay.insert(name.clone(), new);
            }
        }
    }
    if fails || !local {
        match &intent.step {
            Step::Merge { score, task } => _ = reading.unsettled.insert(format!("{score}/{task}")),
            Step::Rollback { score, tasks } => reading.unsettled.extend(tasks.iter().map(|t| format!("{score}/{t}"))),
            Step::Land { score, .. } => _ = reading.unsettled.insert(score.clone()),
            Step::Restart { .. } | Step::Prune { .. } | Step::Reuse { .. } => {}
        }
    }
    Ok(OpenIntent { intent, state, fails })
}

/// I1 and I2: merged tasks' merges are on the branch, reverted tasks' merges are reverted.
fn merges(
    reading: &Reading<'_>,
    report: &mut Report,
    score: &Score,
    tasks: &[Task],
    branch: &Branch,
) -> store::Result<()> {
    let name = &branch.name;
    let reflog = format!("find where {name} was with `git reflog show {name}`");
    for task in tasks.iter().filter(|t| !reading.unsettled.contains(&t.address())) {
        let address = task.address();
        let invariant = match task.status {
            TaskStatus::Merged => Invariant::I1,
            TaskStatus::Reverted => Invariant::I2,
            _ => continue,
        };
        report.count(invariant);
        let Some(merge) = task.merge_commit.as_deref() else {
            let explanation = format!("{address} is {} but names no merge commit", task.status);
            report.violation(
                invariant,
                &address,
                explanation,
                format!("see the record with `git maestro task show {address}`"),
            );
            continue;
        };
        let Some(merge) = oid(merge).filter(|m| branch.commits.contains_key(m)) else {
            let explanation = match branch.tip {
                None => format!("{address} is {} but {name} does not exist", task.status),
                Some(_) => format!("{address} is {} but its merge {} is not on {name}", task.status, short(merge)),
            };
            report.violation(
                invariant,
                &address,
                explanation,
                format!("{reflog}, and move it back with `git update-ref refs/heads/{name} <commit>`"),
            );
            continue;
        };
        let revert = reading.revert_of(branch, merge)?;
        if invariant == Invariant::I2 {
            if revert.is_none() {
                let explanation =
                    format!("{address} is reverted but no commit on {name} reverts its merge {}", short(merge));
                report.violation(
                    Invariant::I2,
                    &address,
                    explanation,
                    format!("{reflog}: the revert says `This reverts merge {merge}.`"),
                );
            }
            continue;
        }
        let message = &branch.commits[&merge].message;
        let (s, t) = (store::trailer(message, "Maestro-Score"), store::trailer(message, "Maestro-Task"));
        if s != Some(score.id.as_str()) || t != Some(task.id.as_str()) {
            let whose = format!("{}/{}", s.unwrap_or("?"), t.unwrap_or("?"));
            let explanation = format!("{address} names {} as its merge, but that merges {whose}", short(merge));
            report.violation(
                Invariant::I1,
                &address,
                explanation,
                format!("compare `git show {merge}` with `git maestro task show {address}`"),
            );
        } else if let Some(revert) = revert {
            let explanation =
                format!("{address} is merged but {} on {name} reverts its merge {}", short(revert), short(merge));
            report.violation(Invariant::I1, &address, explanation, format!("see `git show {revert}`; {reflog}"));
        }
    }
    Ok(())
}

/// I6: every task merge on the branch's first-parent line is one the state knows.
fn unknown_merges(
    reading: &Reading<'_>,
    report: &mut Report,
    score: &Score,
    tasks: &[Task],
    branch: &Branch,
    decided: &HashSet<(String, String, String)>,
) -> store::Result<()> {
    let name = &branch.name;
    for id in &branch.line {
        let info = &branch.commits[id];
        let Some(task_id) = store::trailer(&info.message, "Maestro-Task").filter(|_| info.parents.len() >= 2) else {
            continue;
        };
        let hint = format!(
            "see it with `git show {id}`; if it does not belong there, find where {name} was with `git reflog show {name}`"
        );
        let owner = store::trailer(&info.message, "Maestro-Score").unwrap_or("?");
        if owner != score.id {
            if score.base.is_some() {
                report.count(Invariant::I6);
                let explanation =
                    format!("{name} holds {}, a merge of {owner}/{task_id} from another Score", short(id));
                report.violation(Invariant::I6, &score.id, explanation, hint);
            }
            continue;
        }
        report.count(Invariant::I6);
        let address = format!("{}/{task_id}", score.id);
        if reading.unsettled.contains(&address) {
            continue;
        }
        let Some(task) = tasks.iter().find(|t| t.id == task_id) else {
            let explanation =
                format!("{name} holds {}, a merge of {address}, a task the state does not know", short(id));
            report.violation(Invariant::I6, &address, explanation, hint);
            continue;
        };
        let current = task.merge_commit.as_deref().and_then(oid) == Some(*id);
        if current && matches!(task.status, TaskStatus::Merged | TaskStatus::Reverted) {
            continue;
        }
        let recorded = current || decided.contains(&(score.id.clone(), task.id.clone(), id.to_string()));
        if recorded && reading.revert_of(branch, *id)?.is_some() {
            continue;
        }
        let explanation = match (recorded, task.status) {
            (true, status) => {
                format!("{name} holds the merge {} of {address}, which the state says is {status}", short(id))
            }
            (false, TaskStatus::Merged) => format!(
                "{name} holds {}, a second merge of {address} beside its recorded merge {}, and neither was reverted",
                short(id),
                short(task.merge_commit.as_deref().unwrap_or("?"))
            ),
            (false, status) => format!(
                "{name} holds {}, a merge of {address} the state never recorded ({address} is {status})",
                short(id)
            ),
        };
        report.violation(Invariant::I6, &address, explanation, hint);
    }
    Ok(())
}

/// I5: a landed Score's target holds what it landed.
fn landed(reading: &Reading<'_>, report: &mut Report, score: &Score) -> store::Result<()> {
    let Some(landed) = score.landed.as_ref().filter(|_| score.status == crate::model::ScoreStatus::Landed) else {
        return Ok(());
    };
    if reading.unsettled.contains(&score.id) {
        return Ok(());
    }
    report.count(Invariant::I5);
    let target = &score.target;
    let again = format!(
        "find where {target} was with `git reflog show {target}`, or land again with `git maestro approve {0}` and `git maestro land {0}`",
        score.id
    );
    let explanation = match (reading.tip(&format!("refs/heads/{target}"))?, oid(&landed.integration)) {
        (None, _) => format!("{} landed on {target}, which does not exist", score.id),
        (_, None) => {
            format!("{} records {:?} as the integration tip it landed, not a commit id", score.id, landed.integration)
        }
        (Some(tip), Some(integration)) => {
            if reading.is_ancestor(integration, tip)? {
                return Ok(());
            }
            format!("{target} does not hold {}, the integration tip {} landed", short(integration), score.id)
        }
    };
    report.violation(Invariant::I5, &score.id, explanation, again);
    Ok(())
}

/// I3: running tasks have a live or foreign lease; other tasks hold none.
fn leases(reading: &Reading<'_>, report: &mut Report, task: &Task) {
    let address = task.address();
    let release = format!("`git maestro doctor --fix` releases it (or `git maestro task release {address}`)");
    if task.status == TaskStatus::Running {
        report.count(Invariant::I3);
        if super::Leases::for_clone(reading.store, reading.clone.clone()).liveness(task, reading.now) != Liveness::Dead
        {
            return;
        }
        let fix = Fix::Release { score: task.score.clone(), task: task.id.clone() };
        match &task.lease {
            None => {
                report.fixable(Invariant::I3, &address, format!("{address} is running without a lease"), release, fix)
            }
            Some(lease) if origin::is_local(&lease.origin) => {
                let explanation = format!("{address} is running, but its run {} ({}) is gone", lease.run, lease.origin);
                report.fixable(Invariant::I3, &address, explanation, release, fix);
            }
            Some(lease) => {
                let explanation = format!(
                    "{address} is running on {}, but its lease has had no heartbeat since {}",
                    lease.origin.host, lease.heartbeat
                );
                let hint = format!("if that run is gone, take the task over with `git maestro task release {address}`");
                report.violation(Invariant::I3, &address, explanation, hint);
            }
        }
        return;
    }
    let Some(lease) = &task.lease else { return };
    report.count(Invariant::I3);
    let explanation =
        format!("{address} is {} but still holds the lease of run {} ({})", task.status, lease.run, lease.origin);
    let dead = origin::lease_liveness(Some(lease), reading.now, LEASE_STALE_AFTER) == Liveness::Dead;
    if dead && origin::is_local(&lease.origin) {
        let fix = Fix::DropLease { score: task.score.clone(), task: task.id.clone() };
        report.fixable(Invariant::I3, &address, explanation, "`git maestro doctor --fix` drops it".into(), fix);
    } else {
        report.violation(
            Invariant::I3,
            &address,
            explanation,
            "wait for that run to end, then run `git maestro doctor` again".into(),
        );
    }
}

/// How I4 names a run's result commit.
const ATTEMPT_RESULT: &str = "the result of run";

/// Every commit the state names, once, with what names it first: (subject, label).
fn named_commits(
    scores: &[(Score, Vec<Task>)],
    decisions: &[crate::model::Decision],
) -> BTreeMap<String, (String, String)> {
    let mut named: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut name = |commit: &str, subject: &str, label: String| {
        named.entry(commit.to_owned()).or_insert_with(|| (subject.to_owned(), label));
    };
    for (score, tasks) in scores {
        let s = score.id.as_str();
        if let Some(base) = &score.base {
            name(base, s, format!("the base of {s}"));
        }
        if let Some(landed) = &score.landed {
            name(&landed.commit, s, format!("the commit {s} landed as"));
            name(&landed.integration, s, format!("the integration tip {s} landed"));
        }
        if let Some(landing) = &score.landing {
            name(&landing.integration, s, format!("the integration tip approved for landing {s}"));
        }
        for task in tasks {
            let address = task.address();
            if let Some(merge) = &task.merge_commit {
                name(merge, &address, format!("the merge of {address}"));
            }
            for a in &task.attempts {
                if let Some(commit) = &a.commit {
                    name(commit, &address, format!("{ATTEMPT_RESULT} {} of {address}", a.run));
                }
            }
        }
    }
    for d in decisions {
        if let Some(commit) = &d.commit {
            let label = format!("the commit of decision {} ({})", d.id, d.kind.as_str());
            name(commit, &format!("decision {}", d.id), label);
        }
    }
    named
}

/// I4: every commit the state names exists and is reachable from a ref. A run's result that
/// another clone made and never shared is not required here.
fn reachable(
    reading: &Reading<'_>,
    report: &mut Report,
    scores: &[(Score, Vec<Task>)],
    decisions: &[crate::model::Decision],
    branches: &[Branch],
) -> store::Result<()> {
    let repo = &reading.store.repo;
    let named = named_commits(scores, decisions);
    let mut roots: HashSet<ObjectId> = reading.overlay.values().copied().collect();
    for prefix in ["refs/heads/", "refs/tags/", "refs/remotes/", layout::KEEP_PREFIX, layout::ARCHIVE_PREFIX] {
        roots.extend(repo.ref_tips(prefix)?);
    }
    let roots_list: Vec<ObjectId> = roots.iter().copied().collect();
    for (commit, (subject, label)) in named {
        report.count(Invariant::I4);
        let Some(id) = oid(&commit) else {
            report.violation(
                Invariant::I4,
                subject,
                format!("{label} is {commit:?}, not a commit id"),
                "see `git maestro doctor --json` for where it is".into(),
            );
            continue;
        };
        if !repo.has_object(id) {
            // A run's result stays in the clone that ran it until its branch is shared (a
            // merge brings it along, which I1 and I6 check): missing here is no fault.
            if label.starts_with(ATTEMPT_RESULT) {
                continue;
            }
            let explanation = format!("{label}, {}, is not in this repository", short(id));
            let hint = "if another clone has it, `git maestro sync` (or `git fetch`) brings it".to_owned();
            report.violation(Invariant::I4, subject, explanation, hint);
            continue;
        }
        if roots.contains(&id) || branches.iter().any(|b| b.commits.contains_key(&id)) {
            continue;
        }
        // Reachable from a root when a walk from it, hiding every root, finds nothing.
        match repo.new_commits(id, &roots_list, 1) {
            Ok(found) if found.is_empty() => {}
            Ok(_) => {
                let explanation =
                    format!("{label}, {}, is reachable from no ref, so `git gc` may delete it", short(id));
                let hint = format!("`git maestro doctor --fix` keeps it as {}{id}", layout::KEEP_PREFIX);
                report.fixable(Invariant::I4, subject, explanation, hint, Fix::Keep { commit: id });
            }
            Err(_) => {
                let explanation = format!("{label}, {}, is not a commit", short(id));
                report.violation(Invariant::I4, subject, explanation, format!("see it with `git cat-file -t {id}`"));
            }
        }
    }
    Ok(())
}
