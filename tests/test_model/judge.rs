//! The reference model: what each command may have done to the clone it ran in.

use std::collections::BTreeSet;

use git_maestro::model::lifecycle;
use git_maestro::model::score::PlanApproval;
use git_maestro::model::{ScoreStatus, TaskStatus as S};

use super::snap::Snap;
use super::steps::Cmd;
use super::world::World;
use super::{dependants, deps};

impl World {
    /// What the model allows `cmd` to have done in clone `i`, from `pre` to `post`, given
    /// whether it succeeded and what it printed on stderr (`None`: it was killed).
    pub(super) fn judge(
        &self,
        i: usize,
        cmd: &Cmd,
        pre: &Snap,
        post: &Snap,
        ok: bool,
        stderr: Option<&str>,
    ) -> Result<(), String> {
        let o = Outcome { pre, post, ok };
        match cmd {
            Cmd::ApproveScore => o.approve_score(),
            Cmd::TaskRun { task, fail } => o.task_run(task, *fail, self.crashed[i].contains(*task), self.fixed_content),
            Cmd::Review { task, pass } => o.review(task, *pass),
            Cmd::Approve { task } => o.verdict(task, S::Approved),
            Cmd::Reject { task } => o.verdict(task, S::Rejected),
            Cmd::Merge { task } => o.merge(task, self.known_merges.get(*task)),
            Cmd::Rollback { task, with_dependants } => o.rollback(task, *with_dependants, stderr),
            Cmd::Land => o.land(),
            Cmd::Prune => o.prune(),
            Cmd::Release { task } => o.release(task),
            Cmd::Sync => must(ok, "sync works").and_then(|()| o.score_agrees_with_tasks()),
            Cmd::Run { .. } => o.run(),
        }
    }

    /// A command killed at a crash point: the state is the old one or the new one (or a run
    /// left `running` for the next command to recover).
    pub(super) fn judge_crash(&self, i: usize, cmd: &Cmd, pre: &Snap, post: &Snap) -> Result<(), String> {
        if pre.same_as(post) {
            return Ok(());
        }
        let new = self
            .judge(i, cmd, pre, post, true, None)
            .or_else(|e| self.judge(i, cmd, pre, post, false, None).map_err(|f| format!("{e}; {f}")));
        match cmd {
            Cmd::TaskRun { task, .. } => {
                // Running with a dead lease, or released by `doctor --fix` after it (ready,
                // its attempt interrupted): the run is gone, nothing else moved.
                if matches!(post.status(task), S::Running | S::Ready) {
                    let others: Vec<_> = post.tasks.keys().filter(|k| k != task).collect();
                    for id in others {
                        if pre.tasks[id].status != post.tasks[id].status {
                            return Err(format!("a crashed run of {task} changed {id}"));
                        }
                    }
                    return Ok(());
                }
                new
            }
            Cmd::Run { .. } | Cmd::Sync => Ok(()),
            _ => new.map_err(|e| format!("after the crash the state is neither the old one nor a new one: {e}")),
        }
    }
}

fn must(cond: bool, what: &str) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.to_owned()) }
}

/// A command's outcome in one clone: the clone before and after, and whether it succeeded.
struct Outcome<'a> {
    pre: &'a Snap,
    post: &'a Snap,
    ok: bool,
}

impl Outcome<'_> {
    /// It must have been refused, for `why`, and a refusal writes nothing: only this clone's
    /// leftover intents may be settled.
    fn refused(&self, why: &str) -> Result<(), String> {
        if self.ok {
            return Err(format!("it should have been refused ({why}), yet it succeeded"));
        }
        if self.pre.tip != self.post.tip && (self.pre.own_intents == 0 || !self.pre.same_as(self.post)) {
            return Err(format!("it was refused ({why}) but the state changed"));
        }
        Ok(())
    }

    /// Only the `changed` tasks may have changed.
    fn others_same(&self, changed: &[&str]) -> Result<(), String> {
        for (id, t) in &self.post.tasks {
            if changed.contains(&id.as_str()) {
                continue;
            }
            let b = &self.pre.tasks[id];
            if (b.status, &b.merge_commit) != (t.status, &t.merge_commit) {
                return Err(format!(
                    "{id} changed from {} to {} though the command was not about it",
                    b.status, t.status
                ));
            }
        }
        Ok(())
    }

    /// Whether the Score can land, but for an approval: every task merged or reverted, and
    /// something merged or landed.
    fn finished(&self) -> bool {
        let all_done = self.pre.tasks.values().all(|t| matches!(t.status, S::Merged | S::Reverted));
        let something = self.pre.tasks.values().any(|t| t.status == S::Merged) || self.pre.score.landed.is_some();
        all_done && something
    }

    /// The Score's status says what its tasks say, whatever each clone did to either: done
    /// exactly when every task is merged (landed or rolled back may be too), and not landed
    /// with a task still to do.
    fn score_agrees_with_tasks(&self) -> Result<(), String> {
        let status = self.post.score.status;
        let merged = self.post.tasks.values().all(|t| t.status == S::Merged);
        let active = self.post.tasks.values().any(|t| !matches!(t.status, S::Merged | S::Reverted));
        let open = matches!(status, ScoreStatus::Approved | ScoreStatus::Running | ScoreStatus::Failed);
        must(!merged || !open, &format!("the Score is {status} with every task merged"))?;
        must(merged || status != ScoreStatus::Done, "the Score is done with a task not merged")?;
        must(!active || status != ScoreStatus::Landed, "the Score is landed with a task still to do")
    }

    /// The integration tip, as it is once this clone's open intents settle.
    fn tip(&self) -> Option<String> {
        self.pre.integration.map(|c| c.to_string())
    }

    fn approve_score(&self) -> Result<(), String> {
        let (pre, post) = (self.pre, self.post);
        if pre.score.status == ScoreStatus::Draft {
            must(self.ok, "approving a draft's plan must succeed")?;
            must(post.score.status == ScoreStatus::Approved, "the plan is approved")?;
            return self.others_same(&[]);
        }
        let tip = self.tip();
        let fresh = pre.score.landing.as_ref().map(|l| &l.integration) != tip.as_ref();
        if !(self.finished() && tip.is_some() && fresh) {
            return self.refused("landing needs every task merged or reverted, a merge, and a new tip");
        }
        must(self.ok, "a landing approval of a finished Score must succeed")?;
        must(
            post.score.landing.as_ref().map(|l| &l.integration) == tip.as_ref(),
            "the landing approval names the integration tip",
        )?;
        self.others_same(&[])
    }

    /// `task run`; `crashed`: a crash left the task `running`; `fixed`: the performer writes
    /// the same content every time.
    fn task_run(&self, task: &str, fail: bool, crashed: bool, fixed: bool) -> Result<(), String> {
        let pre = self.pre;
        let t = &pre.tasks[task];
        let rework = matches!(t.status, S::Failed | S::Rejected | S::Conflict | S::Blocked | S::Reverted);
        let why = if pre.score.status == ScoreStatus::Draft {
            Some("the plan is not approved")
        } else if matches!(t.status, S::Submitted | S::Approved) {
            Some("it has a result waiting")
        } else if t.status == S::Merged {
            Some("it is merged")
        } else if t.status == S::Running && !crashed {
            Some("it is running")
        } else if !pre.deps_merged(task) {
            Some("its dependencies are not merged")
        } else if t.status != S::Running && !rework && pre.claimed_elsewhere(task) {
            Some("another clone holds it")
        } else if deps(task).iter().any(|d| pre.behind.contains(*d)) {
            Some("its dependencies' merges are not here yet")
        } else {
            None
        };
        if let Some(why) = why {
            return self.refused(why);
        }
        must(self.post.score.status == ScoreStatus::Running, "a task that runs makes its Score run")?;
        let end = self.post.status(task);
        // A task sent back with a reason (by `run`, by `task run` itself when the task failed,
        // was rejected or conflicted, or by a failed post-merge check) must change its result:
        // the same content again fails.
        let sent_back = t.rework.is_some() || matches!(t.status, S::Failed | S::Rejected | S::Conflict);
        let reason = self.post.tasks[task].attempts.last().and_then(|a| a.reason.as_deref());
        if fixed && sent_back && !self.ok && reason == Some(lifecycle::UNCHANGED_REWORK) {
            must(end == S::Failed, &format!("an unchanged rework fails, not {end}"))?;
            return self.others_same(&[task]);
        }
        match (self.ok, fail) {
            (true, false) => must(end == S::Submitted, &format!("a run that worked submits, not {end}"))?,
            (false, true) => must(end == S::Failed, &format!("a run that failed is failed, not {end}"))?,
            (true, true) => return Err("a failing performer's run succeeded".into()),
            (false, false) => return Err(format!("a run that should work failed ({end})")),
        }
        self.others_same(&[task])
    }

    /// `task review`, whose check passes when `pass`.
    fn review(&self, task: &str, pass: bool) -> Result<(), String> {
        let t = &self.pre.tasks[task];
        if t.status != S::Submitted {
            return self.refused("only a submitted result is reviewed");
        }
        if !self.pre.branches.contains(task) {
            // Run on another machine: its branch is not here to check out.
            return self.refused("its branch is not here");
        }
        let end = self.post.status(task);
        if t.passed.first().map(String::as_str) == Some("checks") || pass {
            must(self.ok && end == S::Submitted, &format!("the chain waits for a person ({end})"))?;
            must(self.post.tasks[task].passed == ["checks"], "the checks step is recorded as passed")?;
        } else {
            must(!self.ok && end == S::Rejected, &format!("a failing check rejects it ({end})"))?;
        }
        self.others_same(&[task])
    }

    /// `approve` or `reject` of a task: a verdict that makes it `want`.
    fn verdict(&self, task: &str, want: S) -> Result<(), String> {
        if self.pre.status(task) != S::Submitted {
            return self.refused("only a submitted result gets a verdict");
        }
        must(self.ok && self.post.status(task) == want, &format!("the verdict makes it {want}"))?;
        self.others_same(&[task])
    }

    /// `merge`; `known`: the merge commits of the task any clone recorded before.
    fn merge(&self, task: &str, known: Option<&BTreeSet<String>>) -> Result<(), String> {
        if self.pre.status(task) != S::Approved {
            return self.refused("only an approved task merges");
        }
        if !self.pre.branches.contains(task) {
            return self.refused("its branch is not here");
        }
        let t = &self.post.tasks[task];
        if self.ok {
            must(t.status == S::Merged, &format!("a merge that worked leaves it merged, not {}", t.status))?;
            let mc = t.merge_commit.clone().unwrap_or_default();
            must(!known.is_some_and(|k| k.contains(&mc)), "a merge writes a new merge commit")?;
            must(self.post.score.landing.is_none(), "a merge voids the landing approval")?;
            let last = self.post.tasks.values().all(|t| t.status == S::Merged);
            let want = if last { ScoreStatus::Done } else { self.pre.score.status };
            must(self.post.score.status == want, &format!("the merge left the Score {}", self.post.score.status))?;
        } else {
            must(
                t.status == S::Conflict || self.pre.same_as(self.post),
                &format!("a failed merge conflicts or changes nothing ({})", t.status),
            )?;
        }
        self.others_same(&[task])
    }

    fn rollback(&self, task: &str, with_dependants: bool, stderr: Option<&str>) -> Result<(), String> {
        let (pre, post) = (self.pre, self.post);
        if pre.status(task) != S::Merged {
            return self.refused("only a merged task is rolled back");
        }
        if !self.ok {
            // The one refusal a merged task's rollback may meet, besides its merge not being
            // here yet (made on another machine).
            let conflict = stderr.is_none_or(|e| e.contains("conflicts with later changes"));
            if !conflict && pre.elsewhere.is_empty() {
                return Err(format!("a rollback failed, and not on a conflict: {}", stderr.unwrap_or_default()));
            }
            return self.refused("the revert conflicts");
        }
        let mut gone = vec![task];
        if with_dependants {
            gone.extend(dependants(task).into_iter().filter(|d| pre.status(d) == S::Merged));
        }
        for t in &gone {
            must(post.status(t) == S::Reverted, &format!("{t} is reverted, not {}", post.status(t)))?;
        }
        if matches!(pre.score.status, ScoreStatus::Running | ScoreStatus::Done | ScoreStatus::Landed) {
            must(post.score.status == ScoreStatus::Running, "a rolled back Score runs again")?;
        }
        self.others_same(&gone)
    }

    fn land(&self) -> Result<(), String> {
        let tip = self.tip();
        let approved = self.pre.score.landing.as_ref().map(|l| &l.integration) == tip.as_ref() && tip.is_some();
        if !(self.finished() && approved) {
            return self.refused("landing needs a finished Score and an approval of this very tip");
        }
        let post = self.post;
        must(self.ok, "landing an approved, finished Score must succeed")?;
        must(post.score.status == ScoreStatus::Landed, "the Score is landed")?;
        must(post.score.landed.as_ref().map(|l| &l.integration) == tip.as_ref(), "it landed the approved tip")?;
        self.others_same(&[])
    }

    fn prune(&self) -> Result<(), String> {
        must(self.ok, "prune always works")?;
        for (id, t) in &self.post.tasks {
            let b = &self.pre.tasks[id];
            let recovered = b.status == S::Running && t.status == S::Ready;
            must(b.status == t.status || recovered, &format!("prune changed {id} from {} to {}", b.status, t.status))?;
            if matches!(b.status, S::Submitted | S::Approved) && self.pre.worktrees.contains(id) {
                must(
                    self.post.worktrees.contains(id),
                    &format!("prune removed the worktree of {id}, a waiting result"),
                )?;
            }
        }
        Ok(())
    }

    fn release(&self, task: &str) -> Result<(), String> {
        let (b, a) = (self.pre.status(task), self.post.status(task));
        if matches!(b, S::Submitted | S::Approved | S::Merged) {
            return self.refused("a result keeps the claim of who made it");
        }
        must(self.ok, "release works")?;
        let want = if matches!(b, S::Running | S::Assigned) { S::Ready } else { b };
        must(a == want, &format!("release makes a {b} task {want}, not {a}"))?;
        self.others_same(&[task])
    }

    /// `run <score>`: it starts only what is ready, leaves what waits for a person, and leaves
    /// nothing running here.
    fn run(&self) -> Result<(), String> {
        let (pre, post) = (self.pre, self.post);
        if pre.score.status == ScoreStatus::Draft && pre.score.plan_approval == PlanApproval::Human {
            return self.refused("the plan is not approved");
        }
        for (id, t) in &post.tasks {
            let b = &pre.tasks[id];
            if b.status == S::Merged && pre.own_intents == 0 {
                must(
                    t.status == S::Merged && t.merge_commit == b.merge_commit,
                    &format!("run left merged {id} alone"),
                )?;
            }
            if matches!(b.status, S::Reverted | S::Blocked) {
                must(t.status == b.status, &format!("run leaves a {} task to a person ({id})", b.status))?;
            }
            if t.attempts.len() > b.attempts.len() {
                must(post.deps_merged(id), &format!("run started {id} before its dependencies merged"))?;
            }
            if t.status == S::Running {
                must(post.claimed_elsewhere(id), &format!("run left {id} running"))?;
            }
        }
        let merged = post.tasks.values().all(|t| t.status == S::Merged);
        let started = post.tasks.iter().any(|(id, t)| t.attempts.len() > pre.tasks[id].attempts.len());
        let want =
            if pre.score.status == ScoreStatus::Landed && !started { ScoreStatus::Landed } else { ScoreStatus::Done };
        if self.ok && merged {
            must(post.score.status == want, &format!("run left a Score {}, not {want}", post.score.status))?;
        }
        Ok(())
    }
}
