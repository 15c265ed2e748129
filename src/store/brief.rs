//! A Score's tasks in brief: how many are in each status, what their attempts spent, and
//! which tasks a person should see ([`Task::is_quiet`]). What `status` shows of a big Score.
//!
//! A brief is summed from one per bucket (`scores/<score>/tasks/<a>/<b>/`). The briefs of the
//! buckets are kept in `.git/maestro/cache/briefs/<score>.json` by the id of the bucket's
//! tree, so a brief reads again only the buckets whose tree changed: a write touches one
//! bucket, and a `status` after it reads about 40 records of a 10,000-task Score, not all of
//! them. The cache is derived and private to this clone: a file that does not read is
//! ignored, and one that cannot be written is not an error.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::layout::{self, SCORES_DIR};
use super::{Result, Store, View};
use crate::model::budget::Spent;
use crate::model::budget::ledger::usage_of;
use crate::model::{Score, Task, TaskStatus};

/// Raised when what a brief holds, or [`Task::is_quiet`], changes: older caches are dropped.
const CACHE_VERSION: u32 = 2;

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

/// The cache file of a Score: its record as last read, by blob id, and the brief of each
/// bucket tree read before, by tree id.
#[derive(Default, Serialize, Deserialize)]
struct Cache {
    version: u32,
    #[serde(default)]
    score: Option<(String, Score)>,
    buckets: HashMap<String, Brief>,
}

/// Every Score of `view`, with the brief of its tasks when it has more than `over` (see
/// [`brief_of`]). The record of a Score shown in brief is kept in its cache file too, by blob
/// id: a 10,000-task Score's record is 89 KB of TOML, most of what such a `status` reads. A
/// record that does not read is an error, as for [`super::scores`].
pub fn scores(store: &Store, view: &View<'_>, over: usize) -> Result<Vec<(Score, Option<Brief>)>> {
    let mut out = Vec::new();
    for (id, is_dir) in view.list(SCORES_DIR)? {
        if !is_dir {
            continue;
        }
        let record = view
            .list_ids(&format!("{SCORES_DIR}/{id}"))?
            .into_iter()
            .find(|(name, is_dir, _)| name == "score.toml" && !is_dir);
        let blob = record.map(|(_, _, blob)| blob.to_string());
        let file = cache_file(store, &id);
        // Only a big Score has a cache file; a small one's read is not worth a file read.
        let mut cache = Cache::default();
        let mut score = None;
        if blob.is_some() && file.exists() {
            cache = read_cache(&file);
            score = cache.score.as_ref().filter(|(b, _)| Some(b) == blob.as_ref()).map(|(_, s)| s.clone());
        }
        let score = match score {
            Some(score) => score,
            None => super::score(view, &id)?,
        };
        if score.tasks.len() <= over {
            out.push((score, None));
            continue;
        }
        let fresh = cache.score.as_ref().map(|(b, _)| b) != blob.as_ref();
        cache.score = blob.map(|b| (b, score.clone()));
        let (brief, read_any) = brief_of(view, &score, &mut cache)?;
        if brief.is_some() && (fresh || read_any) {
            cache.version = CACHE_VERSION;
            super::cache::write(&file, &cache);
        }
        out.push((score, brief));
    }
    Ok(out)
}

/// The brief of `score` in `view`, from the `cache` of its buckets (which it brings up to
/// date), and whether it read any bucket. `None` when the records do not add up to what the
/// Score lists (a task missing or in the wrong place), the state keeps tasks in another
/// layout ([`super::kept::buckets`]), or a record does not read: the caller then reads every
/// task, which reports what is wrong.
fn brief_of(view: &View<'_>, score: &Score, cache: &mut Cache) -> Result<(Option<Brief>, bool)> {
    let Some(buckets) = super::kept::buckets(view, &score.id)? else { return Ok((None, false)) };
    let mut expected: HashMap<String, usize> = HashMap::new();
    for id in &score.tasks {
        *expected.entry(layout::bucket(id)).or_default() += 1;
    }
    let tasks_dir = format!("{SCORES_DIR}/{}/tasks", score.id);
    let mut kept = HashMap::new();
    let (mut brief, mut read_any) = (Brief::default(), false);
    for (bucket, tree) in buckets {
        let key = tree.to_string();
        let part = match cache.buckets.remove(&key) {
            Some(part) => part,
            None => {
                read_any = true;
                match read_bucket(view, score, &format!("{tasks_dir}/{bucket}"), &bucket)? {
                    Some(part) => part,
                    None => return Ok((None, read_any)),
                }
            }
        };
        if expected.remove(&bucket) != Some(part.total()) {
            return Ok((None, read_any));
        }
        brief.add(&part);
        kept.insert(key, part);
    }
    // Only the buckets of this state stay: the cache does not grow with the history.
    read_any |= !cache.buckets.is_empty();
    cache.buckets = kept;
    Ok((expected.is_empty().then_some(brief), read_any))
}

/// The brief of the bucket `dir`, or `None` if a record in it does not read or is not where
/// its id places it (the full read then reports it).
fn read_bucket(view: &View<'_>, score: &Score, dir: &str, bucket: &str) -> Result<Option<Brief>> {
    let mut brief = Brief::default();
    for (name, read) in super::kept::read_bucket(view, dir)? {
        let Some(id) = name.strip_suffix(".toml") else { continue };
        match read {
            Ok(task) if task.id == id && task.score == score.id && layout::bucket(id) == bucket => {
                brief.add_task(&task)
            }
            _ => return Ok(None),
        }
    }
    Ok(Some(brief))
}

fn cache_file(store: &Store, score: &str) -> PathBuf {
    super::cache::file(store, &format!("briefs/{score}.json"))
}

/// The cache at `file`, or an empty one if it does not read or is of another version.
fn read_cache(file: &Path) -> Cache {
    super::cache::read::<Cache>(file).filter(|c| c.version == CACHE_VERSION).unwrap_or_default()
}
