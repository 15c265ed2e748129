//! A Score's tasks in brief: how many are in each status, what their attempts spent, and
//! which tasks a person should see ([`Task::is_quiet`]). What `status` shows of a big Score.
//!
//! A brief is summed from one per bucket (`scores/<score>/tasks/<bb>/`). The briefs of the
//! buckets are kept in `.git/maestro/cache/briefs/<score>.json` by the id of the bucket's
//! tree, so a brief reads again only the buckets whose tree changed: a write touches one
//! bucket, and a `status` after it reads about 40 records of a 10,000-task Score, not all of
//! them. The cache is derived and private to this clone: a file that does not read is
//! ignored, and one that cannot be written is not an error.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::layout::{self, SCORES_DIR};
use super::{Result, Store, View, codec};
use crate::model::budget::Spent;
use crate::model::budget::ledger::usage_of;
use crate::model::{Score, Task, TaskStatus};

/// Raised when what a brief holds, or [`Task::is_quiet`], changes: older caches are dropped.
const CACHE_VERSION: u32 = 1;
/// A cache file larger than this is ignored (a 10,000-task Score's is about 20 KB).
const CACHE_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// The tasks of a Score (or of one bucket of it) in brief.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Brief {
    /// How many tasks are in each status.
    pub counts: BTreeMap<TaskStatus, usize>,
    /// What the attempts of all the tasks used and cost.
    pub spent: Spent,
    /// The tasks that are not quiet, by id, in no particular order.
    pub loud: Vec<String>,
}

impl Brief {
    /// How many tasks the brief covers.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    fn add_task(&mut self, t: &Task) {
        *self.counts.entry(t.status).or_default() += 1;
        for a in &t.attempts {
            self.spent.add(&usage_of(a), a.cost_usd);
        }
        if !t.is_quiet() {
            self.loud.push(t.id.clone());
        }
    }

    fn add(&mut self, other: &Brief) {
        for (status, n) in &other.counts {
            *self.counts.entry(*status).or_default() += n;
        }
        self.spent.sum(&other.spent);
        self.loud.extend(other.loud.iter().cloned());
    }
}

/// The cache file: the brief of each bucket tree read before, by tree id.
#[derive(Default, Serialize, Deserialize)]
struct Cache {
    version: u32,
    buckets: HashMap<String, Brief>,
}

/// The brief of `score` in `view`, or `None` when the records do not add up to what the Score
/// lists (a task missing or in the wrong place) or the state keeps tasks unbucketed (format
/// 1): the caller then reads every task, which reports what is wrong. A record that does not
/// read is an error, as for [`super::tasks`].
pub fn brief(store: &Store, view: &View<'_>, score: &Score) -> Result<Option<Brief>> {
    if view.is_format1()? {
        return Ok(None);
    }
    let mut expected: HashMap<String, usize> = HashMap::new();
    for id in &score.tasks {
        *expected.entry(layout::bucket(id)).or_default() += 1;
    }
    let tasks_dir = format!("{SCORES_DIR}/{}/tasks", score.id);
    let file = cache_file(store, &score.id);
    let cached = read_cache(&file);
    let mut kept = Cache { version: CACHE_VERSION, buckets: HashMap::new() };
    let (mut brief, mut read_any) = (Brief::default(), false);
    for (bucket, is_dir, tree) in view.list_ids(&tasks_dir)? {
        if !is_dir {
            continue;
        }
        let key = tree.to_string();
        let part = match cached.buckets.get(&key) {
            Some(part) => part.clone(),
            None => {
                read_any = true;
                match read_bucket(view, score, &format!("{tasks_dir}/{bucket}"), &bucket)? {
                    Some(part) => part,
                    None => return Ok(None),
                }
            }
        };
        if expected.remove(&bucket) != Some(part.total()) {
            return Ok(None);
        }
        brief.add(&part);
        kept.buckets.insert(key, part);
    }
    if !expected.is_empty() {
        return Ok(None);
    }
    if read_any || kept.buckets.len() != cached.buckets.len() {
        write_cache(&file, &kept);
    }
    Ok(Some(brief))
}

/// The brief of the bucket `dir`, or `None` if a record in it is not where its id places it.
fn read_bucket(view: &View<'_>, score: &Score, dir: &str, bucket: &str) -> Result<Option<Brief>> {
    let mut brief = Brief::default();
    for (name, is_dir, blob) in view.list_ids(dir)? {
        let Some(id) = name.strip_suffix(".toml").filter(|_| !is_dir) else { continue };
        let path = format!("{dir}/{name}");
        let task: Task = codec::read(&path, &view.blob(&path, blob)?)?;
        if task.id != id || task.score != score.id || layout::bucket(id) != bucket {
            return Ok(None);
        }
        brief.add_task(&task);
    }
    Ok(Some(brief))
}

fn cache_file(store: &Store, score: &str) -> PathBuf {
    store.repo.common_dir().join("maestro").join("cache").join("briefs").join(format!("{score}.json"))
}

/// The cache at `file`, or an empty one if it is missing, too large, unreadable or of another
/// version.
fn read_cache(file: &Path) -> Cache {
    let fits = std::fs::metadata(file).is_ok_and(|m| m.len() <= CACHE_MAX_BYTES);
    let cache = fits.then(|| std::fs::read(file).ok()).flatten().and_then(|b| serde_json::from_slice::<Cache>(&b).ok());
    cache.filter(|c| c.version == CACHE_VERSION).unwrap_or_default()
}

/// Write the cache whole beside `file`, then rename it over: a reader sees the old cache or
/// the new one. A failure (a read-only repository) only costs the next read its speed.
fn write_cache(file: &Path, cache: &Cache) {
    let (Some(dir), Ok(bytes)) = (file.parent(), serde_json::to_vec(cache)) else { return };
    let tmp = dir.join(format!(".{}.{}", std::process::id(), file.file_name().unwrap_or_default().to_string_lossy()));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, file));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}
