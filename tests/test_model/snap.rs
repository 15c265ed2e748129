//! What a clone's state and branches say after a command, and the invariants (DESIGN.md §12.4)
//! they break.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use git_maestro::git::{ObjectId, Repo};
use git_maestro::model::intent::{Effect, Intent};
use git_maestro::model::{Score, Task, TaskStatus};
use git_maestro::store::{self, Clock, Session, Store};

use super::{NOOP_MERGE, SCORE, TASKS, deps};

/// What one clone's state and branches say, read in process (cheap) after a command.
#[derive(Clone)]
pub(super) struct Snap {
    /// The state commit.
    pub(super) tip: Option<ObjectId>,
    pub(super) score: Score,
    pub(super) tasks: BTreeMap<String, Task>,
    /// This clone's id.
    pub(super) clone: String,
    /// Open intents made by this clone.
    pub(super) own_intents: usize,
    /// The integration branch, as it is once this clone's open intents settle.
    pub(super) integration: Option<ObjectId>,
    /// Tasks whose branch exists here, and whose worktree exists here.
    pub(super) branches: BTreeSet<String>,
    pub(super) worktrees: BTreeSet<String>,
    /// Merged dependencies whose merge commit the local integration branch lacks, by task.
    pub(super) behind: BTreeSet<String>,
    /// Of those, the merged tasks whose merge commit is not in this repository at all.
    pub(super) elsewhere: BTreeSet<String>,
}

impl Snap {
    pub(super) fn status(&self, t: &str) -> TaskStatus {
        self.tasks[t].status
    }

    pub(super) fn deps_merged(&self, t: &str) -> bool {
        deps(t).iter().all(|d| self.status(d) == TaskStatus::Merged)
    }

    pub(super) fn claimed_elsewhere(&self, t: &str) -> bool {
        self.tasks[t].claimed_elsewhere(&self.clone)
    }

    /// Statuses, merge commits, and the Score's status, landing approval and landing.
    pub(super) fn summary(&self) -> String {
        let mut out = format!(
            "score {} landing={:?} landed={:?}\n",
            self.score.status,
            self.score.landing.as_ref().map(|l| short(&l.integration)),
            self.score.landed.as_ref().map(|l| short(&l.integration))
        );
        for (id, t) in &self.tasks {
            out.push_str(&format!(
                "  {id}: {}{}{}{}\n",
                t.status,
                t.merge_commit.as_deref().map(|c| format!(" merge={}", short(c))).unwrap_or_default(),
                t.claim
                    .as_ref()
                    .map(|c| format!(" claim={}@{}", c.holder, c.clone.as_deref().unwrap_or("?")))
                    .unwrap_or_default(),
                if t.passed.is_empty() { String::new() } else { format!(" passed={:?}", t.passed) },
            ));
        }
        out
    }

    /// Whether the records the model follows are the same.
    pub(super) fn same_as(&self, other: &Snap) -> bool {
        let key = |s: &Snap| {
            let tasks: Vec<_> = s.tasks.values().map(|t| (t.status, t.merge_commit.clone())).collect();
            (
                s.score.status,
                s.score.landing.as_ref().map(|l| l.integration.clone()),
                s.score.landed.as_ref().map(|l| l.integration.clone()),
                tasks,
            )
        };
        key(self) == key(other)
    }
}

pub(super) fn short(s: &str) -> String {
    s.chars().take(10).collect()
}

fn open(dir: &Path) -> Store {
    let session = Session::new("model".into(), "model@localhost".into(), String::new(), Clock::System, Some(1));
    Store::new(Repo::discover(dir).expect("a repository"), session)
}

/// Where `name` will be once this clone's open intents are settled.
fn effective(store: &Store, intents: &[Intent], name: &str) -> Option<ObjectId> {
    let now = store.repo.read_ref(name).expect("read ref");
    let mut at = now;
    for effect in intents.iter().flat_map(|i| &i.effects) {
        let (n, new) = match effect {
            Effect::MoveRef { name, new, .. } | Effect::RefreshCheckout { name, new, .. } => (name, new),
            Effect::ResetWorktree { .. }
            | Effect::RemoveWorktree { .. }
            | Effect::ParkWorktree { .. }
            | Effect::ReuseWorktree { .. } => continue,
        };
        if n == name {
            at = ObjectId::from_hex(new.as_bytes()).ok();
        }
    }
    at
}

fn trailer<'m>(message: &'m str, key: &str) -> Option<&'m str> {
    message.lines().rev().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(": ")))
}

/// The integration branch's history: each task's merges, and the merges reverted since.
#[derive(Default)]
struct History {
    commits: BTreeSet<ObjectId>,
    merges: BTreeMap<String, Vec<ObjectId>>,
    reverted: BTreeSet<String>,
}

impl History {
    fn of(repo: &Repo, integration: Option<ObjectId>) -> History {
        let mut h = History::default();
        let Some(tip) = integration else { return h };
        for id in repo.ancestors(tip).expect("walk the integration branch") {
            h.commits.insert(id);
            let info = repo.commit_info(id).expect("commit");
            if let Some(rest) = info.message.split("This reverts merge ").nth(1) {
                h.reverted.insert(rest.chars().take(40).collect());
            }
            if info.parents.len() >= 2
                && info.message.starts_with(&format!("Merge {SCORE}/"))
                && let Some(task) = trailer(&info.message, "Maestro-Task")
            {
                h.merges.entry(task.to_owned()).or_default().push(id);
            }
        }
        h
    }

    /// The merges of `task` the branch holds and has not reverted.
    fn live(&self, task: &str) -> Vec<String> {
        let merges = self.merges.get(task).into_iter().flatten().map(ToString::to_string);
        merges.filter(|m| !self.reverted.contains(m)).collect()
    }
}

/// What is read once for the checks of every task.
struct Here<'a> {
    repo: &'a Repo,
    integration: Option<ObjectId>,
    history: History,
}

/// Where a merged task's merge commit is, when it is not on the integration branch.
enum Missing {
    /// Not in this repository: merged on another machine, it arrives with the branch.
    Elsewhere,
    /// Here, but not on the branch.
    NotOnBranch,
}

/// Read the clone at `dir`, and list the invariants its state and branches break.
pub(super) fn observe(dir: &Path, landed_here: bool) -> (Snap, Vec<String>) {
    let store = open(dir);
    let repo = &store.repo;
    let view = store.view().expect("view");
    let (score, tasks) = store::score_with_tasks(&view, SCORE).expect("the Score reads");
    let clone = store.clone_id().expect("clone id");
    let intents: Vec<_> =
        store::effects::intents(&view).expect("intents read").into_iter().filter(|i| i.origin.clone == clone).collect();
    let integration = effective(&store, &intents, &format!("refs/heads/maestro/{SCORE}/integration"));
    let main = effective(&store, &intents, "refs/heads/main");
    let tasks: BTreeMap<String, Task> = tasks.into_iter().map(|t| (t.id.clone(), t)).collect();
    let (branches, worktrees) = branches_and_worktrees(repo);
    let here = Here { repo, integration, history: History::of(repo, integration) };
    let mut bad = Vec::new();
    let (mut behind, mut elsewhere) = (BTreeSet::new(), BTreeSet::new());
    for (id, t) in &tasks {
        if t.status == TaskStatus::Merged {
            // A merge found wanting is the finding: its results are not looked at.
            if let Err(missing) = here.check_merged(id, t, &mut bad) {
                if missing.is_some() {
                    behind.insert(id.clone());
                }
                if matches!(missing, Some(Missing::Elsewhere)) {
                    elsewhere.insert(id.clone());
                }
                continue;
            }
        } else {
            let live = here.history.live(id);
            if !live.is_empty() {
                bad.push(format!(
                    "I6: {id} is {} but maestro/{SCORE}/integration holds its unreverted merge {:?}",
                    t.status,
                    live.iter().map(|m| short(m)).collect::<Vec<_>>()
                ));
            }
        }
        here.check_kept(id, t, &mut bad);
    }
    // I5: the target holds what the Score landed (where it was landed).
    if landed_here
        && let Some(l) = &score.landed
        && let Ok(landed) = ObjectId::from_hex(l.integration.as_bytes())
        && !main.is_some_and(|m| repo.is_ancestor(landed, m).unwrap_or(false))
    {
        bad.push(format!("I5: {SCORE} landed {} but main lacks it", short(&l.integration)));
    }
    let snap = Snap {
        tip: store.tip().expect("tip"),
        score,
        tasks,
        clone,
        own_intents: intents.len(),
        integration,
        branches,
        worktrees,
        behind,
        elsewhere,
    };
    (snap, bad)
}

/// The tasks whose branch exists here, and those whose worktree does.
fn branches_and_worktrees(repo: &Repo) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut branches, mut worktrees) = (BTreeSet::new(), BTreeSet::new());
    for t in TASKS {
        let branch = format!("refs/heads/maestro/{SCORE}/tasks/{t}");
        if repo.read_ref(&branch).expect("read ref").is_some() {
            branches.insert(t.to_owned());
        }
        if repo.worktree_with_branch(&branch).expect("worktrees").is_some_and(|p| p.exists()) {
            worktrees.insert(t.to_owned());
        }
    }
    (branches, worktrees)
}

impl Here<'_> {
    /// I1, merged once, and content: the merged task `id`'s merge commit is on the integration
    /// branch, names it, is its only unreverted merge there, and the branch holds its result.
    /// `Err` when the merge commit is missing, or not where it should be (`None`: the task
    /// names none).
    fn check_merged(&self, id: &str, t: &Task, bad: &mut Vec<String>) -> Result<(), Option<Missing>> {
        let repo = self.repo;
        let Some(mc) = t.merge_commit.as_deref() else {
            bad.push(format!("I1: {id} is merged without a merge commit"));
            return Err(None);
        };
        let Some(oid) = ObjectId::from_hex(mc.as_bytes()).ok().filter(|o| repo.has_object(*o)) else {
            return Err(Some(Missing::Elsewhere));
        };
        if !self.history.commits.contains(&oid) {
            bad.push(format!(
                "I1: {id} is merged as {} which maestro/{SCORE}/integration ({}) lacks",
                short(mc),
                self.integration.map(|c| short(&c.to_string())).unwrap_or_default()
            ));
            return Err(Some(Missing::NotOnBranch));
        }
        let info = repo.commit_info(oid).expect("merge commit");
        if trailer(&info.message, "Maestro-Task") != Some(id) {
            bad.push(format!(
                "I1: the merge commit {} of {id} names task {:?}",
                short(mc),
                trailer(&info.message, "Maestro-Task")
            ));
        }
        let live = self.history.live(id);
        if live != [mc.to_owned()] {
            bad.push(format!(
                "merged once: {id} is merged as {} but the branch holds these unreverted merges of it: {:?}",
                short(mc),
                live.iter().map(|m| short(m)).collect::<Vec<_>>()
            ));
        }
        if let (Some(result), Some(tip)) = (info.parents.get(1), self.integration) {
            self.check_content(id, *result, info.parents.first().copied(), tip, bad);
        }
        Ok(())
    }

    /// The branch at `tip` holds the merged `result` of `id`: each task writes its own file.
    fn check_content(
        &self,
        id: &str,
        result: ObjectId,
        before: Option<ObjectId>,
        tip: ObjectId,
        bad: &mut Vec<String>,
    ) {
        let repo = self.repo;
        let read_file = |commit: ObjectId, path: &str| -> Option<Vec<u8>> {
            let tree = repo.commit_tree(commit).ok()?;
            repo.read_blob(tree, path, 1 << 20).ok().flatten().map(|(_, data)| data)
        };
        let file = format!("{id}.txt");
        let (want, have) = (read_file(result, &file), read_file(tip, &file));
        if want != have {
            // The result was in the branch already (merged, then reverted): the merge changed
            // nothing. Said, to tell it apart.
            let noop = before.is_some_and(|p| repo.is_ancestor(result, p).unwrap_or(false));
            bad.push(format!(
                "content: {id} is merged but maestro/{SCORE}/integration has {file} = {:?}, its result {:?}{}",
                have.map(|d| String::from_utf8_lossy(&d).trim().to_owned()),
                want.map(|d| String::from_utf8_lossy(&d).trim().to_owned()),
                if noop { NOOP_MERGE } else { "" }
            ));
        }
    }

    /// I4: every result commit the state names that is here is kept reachable.
    fn check_kept(&self, id: &str, t: &Task, bad: &mut Vec<String>) {
        let repo = self.repo;
        let refs = [
            format!("refs/heads/maestro/{SCORE}/tasks/{id}"),
            format!("refs/heads/maestro/{SCORE}/integration"),
            format!("refs/remotes/origin/maestro/{SCORE}/tasks/{id}"),
        ];
        for a in &t.attempts {
            let Some(c) = a.commit.as_deref().and_then(|c| ObjectId::from_hex(c.as_bytes()).ok()) else { continue };
            if !repo.has_object(c) {
                continue;
            }
            let kept = repo.read_ref(&format!("refs/maestro/keep/{c}")).expect("read ref").is_some();
            let reachable = kept
                || refs.iter().any(|r| {
                    repo.read_ref(r).ok().flatten().is_some_and(|tip| repo.is_ancestor(c, tip).unwrap_or(false))
                });
            if !reachable {
                bad.push(format!(
                    "I4: the result {} of {id} (run {}) is reachable from no ref",
                    short(&c.to_string()),
                    a.run
                ));
            }
        }
    }
}
