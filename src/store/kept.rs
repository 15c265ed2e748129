//! Task records kept by bucket tree across reads of successive state commits, for a watcher
//! (`status --watch`, the board) that reads the state again after every write: a write
//! changes one bucket of a Score, so the next read decodes about 40 records of a 10,000-task
//! Score, not all of them. A tree id names its content, so what is kept is never stale.

use std::collections::{BTreeMap, HashMap};

use super::codec::{self, CodecError};
use super::layout::{self, SCORES_DIR};
use super::{Error, Result, View};
use crate::git::ObjectId;
use crate::model::{Score, Task};

/// A bucket's records by file name: the task, or the path and why it does not read.
pub(super) type Bucket = HashMap<String, std::result::Result<Task, (String, String)>>;

/// Buckets decoded before, by tree id, with whether the current read used them.
#[derive(Default)]
pub struct KeptTasks {
    buckets: HashMap<ObjectId, (Bucket, bool)>,
}

impl KeptTasks {
    /// [`super::readable_tasks`] of `score` in `view`, decoding only the buckets not kept.
    pub fn readable_tasks(&mut self, view: &View<'_>, score: &Score) -> Result<(Vec<Task>, BTreeMap<String, String>)> {
        let Some(buckets) = buckets(view, &score.id)? else { return super::readable_tasks(view, score) };
        let dir = format!("{SCORES_DIR}/{}/tasks", score.id);
        let mut trees = HashMap::new();
        for (name, tree) in buckets {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.buckets.entry(tree) {
                slot.insert((read_bucket(view, &format!("{dir}/{name}"))?, true));
            }
            trees.insert(name, tree);
        }
        let (mut good, mut bad) = (Vec::new(), BTreeMap::new());
        for id in &score.tasks {
            let kept = trees.get(&layout::bucket(id)).and_then(|tree| self.buckets.get_mut(tree));
            let found = kept.and_then(|(bucket, used)| {
                *used = true;
                bucket.get(&format!("{id}.toml"))
            });
            match found {
                Some(Ok(task)) => good.push(task.clone()),
                Some(Err((path, why))) => {
                    bad.insert(path.clone(), why.clone());
                }
                None => return Err(Error::TaskNotFound { score: score.id.clone(), task: id.clone() }),
            }
        }
        Ok((good, bad))
    }

    /// Forget the buckets no read used since the last sweep.
    pub fn sweep(&mut self) {
        self.buckets.retain(|_, (_, used)| std::mem::take(used));
    }
}

/// The buckets of the tasks of `score` in `view`, as `(bucket, tree)`, each named as
/// [`layout::bucket`] names it. `None` when the state keeps them otherwise: unbucketed
/// (format 1), or in one level of 256 until its next write moves them. Callers then read
/// task by task.
pub(super) fn buckets(view: &View<'_>, score: &str) -> Result<Option<Vec<(String, ObjectId)>>> {
    if view.is_format1()? {
        return Ok(None);
    }
    let mut out = Vec::new();
    for (a, is_dir, tree) in view.list_ids(&format!("{SCORES_DIR}/{score}/tasks"))? {
        match (is_dir, a.len()) {
            (false, _) => continue,
            (true, 1) => {}
            (true, _) => return Ok(None),
        }
        out.extend(
            view.list_tree(tree)?
                .into_iter()
                .filter(|(_, is_dir, _)| *is_dir)
                .map(|(b, _, id)| (format!("{a}/{b}"), id)),
        );
    }
    Ok(Some(out))
}

/// Decode every record of the bucket `dir`, keeping why one does not read as
/// [`super::readable_tasks`] reports it.
pub(super) fn read_bucket(view: &View<'_>, dir: &str) -> Result<Bucket> {
    let mut bucket = Bucket::new();
    for (name, is_dir, blob) in view.list_ids(dir)? {
        if is_dir {
            continue;
        }
        let path = format!("{dir}/{name}");
        let read = match view.blob(&path, blob) {
            Ok(bytes) => codec::read::<Task>(&path, &bytes).map_err(Error::Codec),
            Err(e) => Err(e),
        };
        let entry = match read {
            Ok(task) => Ok(task),
            Err(Error::Codec(CodecError::Invalid { path, message })) => Err((path, message)),
            Err(Error::Codec(e)) => Err((path, e.to_string())),
            Err(e) => return Err(e),
        };
        bucket.insert(name, entry);
    }
    Ok(bucket)
}
