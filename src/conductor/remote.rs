//! How a run shares its Score with other machines (`run --remote`): the state and the Scores'
//! branches are synced before scheduling and every second while workers run; a performer
//! starts, and a merge happens, only while this machine still holds the task's claim; and a
//! merge is published at once.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::{ConductorError, Progress};
use crate::approval::share::{self, SharedBranch};
use crate::model::Task;
use crate::store::{self, Store};

/// Syncs of one process go one at a time: they fetch into the same refs.
static SYNCING: Mutex<()> = Mutex::new(());

/// The remote a run shares its Score through.
pub(super) struct Remote {
    name: String,
    /// The Score the run drives: the only one whose branches it shares, every second.
    score: String,
    /// Problems already reported: a run says each once, not every second.
    reported: Mutex<BTreeSet<String>>,
}

impl Remote {
    pub(super) fn new(name: &str, score: &str) -> Remote {
        Remote { name: name.to_owned(), score: score.to_owned(), reported: Mutex::default() }
    }

    /// One sync, as the run goes. A failed sync is reported and the run goes on locally; the
    /// next one catches up. Lost claims show in the state, where the loop finds them.
    pub(super) fn sync(&self, store: &Store, on: &mut dyn FnMut(Progress)) {
        let problems = self.sync_once(store);
        self.report("", problems, on);
    }

    /// Sync, then read `score/task` again: `None` when another machine's claim on it won. A
    /// claim is confirmed by the push that carries it (only a merge made elsewhere under an
    /// older claim still beats it); so a run checks before its performer starts and before it
    /// merges.
    pub(super) fn confirm(
        &self,
        store: &Store,
        score: &str,
        task: &str,
        send: &dyn Fn(Progress),
    ) -> Result<Option<Task>, ConductorError> {
        self.report(task, self.sync_once(store), &mut |p| send(p));
        let t = store::task(&store.view()?, score, task)?;
        Ok((!t.claimed_elsewhere(&store.clone_id()?)).then_some(t))
    }

    /// After a merge: push the Score's branches, then the state that records the merge, at
    /// once: others build on it, and a claim they might still win finds the task merged. A
    /// failure leaves the merge here, for the next sync to push.
    pub(super) fn publish(&self, store: &Store, score: &str, task: &str, send: &dyn Fn(Progress)) {
        let shared = {
            let _one_at_a_time = SYNCING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            share::share_score(store, &self.name, score)
        };
        let problems = match shared {
            Ok(_) => self.sync_once(store),
            Err(e) => vec![format!("sharing {score}'s branches: {e}")],
        };
        self.report(task, problems, &mut |p| send(p));
    }

    /// Sync the state and the run's Score's branches; what went wrong, in sentences.
    fn sync_once(&self, store: &Store) -> Vec<String> {
        let _one_at_a_time = SYNCING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (remote, verify) = (self.name.as_str(), &crate::hooks::verify_sync_push);
        match store::sync::sync(store, remote, verify, &[share::fetch_refspec(remote)]) {
            Err(e) => vec![e.to_string()],
            Ok(_) => match share::share_fetched(store, remote, Some(&self.score)) {
                Ok(branches) => branches.iter().filter_map(SharedBranch::problem).collect(),
                Err(e) => vec![e.to_string()],
            },
        }
    }

    /// Report each problem once, under `task` (or under the sync itself, for "").
    fn report(&self, task: &str, problems: Vec<String>, on: &mut dyn FnMut(Progress)) {
        let mut reported = self.reported.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for message in problems {
            if reported.insert(message.clone()) {
                let (task, message) = match task {
                    "" => (format!("sync with {}", self.name), message),
                    task => (task.to_owned(), format!("sync with {}: {message}", self.name)),
                };
                on(Progress::Error { task, message });
            }
        }
    }
}
