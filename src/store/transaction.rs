//! `transact`: every state write, as DESIGN.md §2 specifies.
//!
//! 1. read the tip T0 of the state ref;
//! 2. run the operation on a [`Tx`] over T0's tree; it re-checks its preconditions every time;
//! 3. write blobs, the changed trees and a commit whose parent is T0, with trailers;
//! 4. move the ref from T0 by compare-and-swap;
//! 5. on a conflict or a busy lock, back off (10 ms doubling to 5 s, plus 0–50 ms jitter) and
//!    start again, until a 20 s deadline;
//! 6. when the operation changed nothing, write nothing.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::codec::{self, MAX_BLOB_BYTES};
use super::layout::{self, MAESTRO_TOML, STATE_REF};
use super::validate::Record;
use super::{Error, Result, Store, lock};
use crate::git::{CasError, ObjectId, RefUpdate, Repo};
use crate::model::clock::Hlc;

mod upgrade;

pub(super) use upgrade::in_current_layout;

const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const MAX_JITTER_MS: u64 = 50;
/// How long a write may keep retrying before it gives up.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The trailer holding a state commit's hybrid clock.
pub const CLOCK_TRAILER: &str = "Maestro-Clock";

/// A read-only view of the state at one commit.
pub struct View<'s> {
    repo: &'s Repo,
    /// The state commit, `None` before `init`.
    pub commit: Option<ObjectId>,
    pub(super) tree: Option<ObjectId>,
    /// Whether the state is of format 1, which did not fan out tasks and sessions; read from
    /// the root on first need.
    format1: OnceCell<bool>,
}

impl<'s> View<'s> {
    pub(super) fn at(repo: &'s Repo, commit: Option<ObjectId>) -> Result<View<'s>> {
        let tree = commit.map(|c| repo.commit_tree(c)).transpose()?;
        Ok(View { repo, commit, tree, format1: OnceCell::new() })
    }

    /// A view of `tree` itself, with no commit (the tree a sync merge builds).
    pub(super) fn of_tree(repo: &'s Repo, tree: ObjectId) -> View<'s> {
        View { repo, commit: None, tree: Some(tree), format1: OnceCell::new() }
    }

    /// Note the root's format, read by the caller, so the first record read need not.
    pub(super) fn knows_format(&self, format: u32) {
        let _ = self.format1.set(format < 2);
    }

    /// Whether the state is of format 1 (its tasks and sessions not fanned out, its decisions
    /// in two levels of 256).
    pub(super) fn is_format1(&self) -> Result<bool> {
        if let Some(known) = self.format1.get() {
            return Ok(*known);
        }
        let root = self.raw(MAESTRO_TOML)?.map(|b| codec::decode::<toml::Table>(MAESTRO_TOML, &b)).transpose()?;
        let format = root.as_ref().and_then(|r| r.get("format")).and_then(toml::Value::as_integer);
        Ok(*self.format1.get_or_init(|| format.is_some_and(|f| f < 2)))
    }

    /// Where this state keeps the record the current layout places at `path` (for
    /// `git show <state>:<path>`).
    pub fn physical<'p>(&self, path: &'p str) -> Result<Cow<'p, str>> {
        Ok(match layout::format1_path(path) {
            Some(old) if self.is_format1()? => Cow::Owned(old),
            _ => Cow::Borrowed(path),
        })
    }

    /// Where the current layout places the record this state keeps at `physical`: the
    /// reverse of [`View::physical`], for walks over the tree.
    pub fn logical<'p>(&self, physical: &'p str) -> Result<Cow<'p, str>> {
        let current =
            if self.is_format1()? { layout::current_path(physical) } else { layout::from_one_level(physical) };
        Ok(current.map_or(Cow::Borrowed(physical), Cow::Owned))
    }

    /// The hybrid clock of the state commit (zero before the first write, or for states
    /// written before clocks). Only writers need it, so reads never decode the message.
    pub(super) fn clock(&self) -> Result<Hlc> {
        let Some(id) = self.commit else { return Ok(Hlc::default()) };
        let message = self.repo.commit_info(id)?.message;
        Ok(trailer(&message, CLOCK_TRAILER).and_then(Hlc::parse).unwrap_or_default())
    }

    /// The raw bytes of the record the current layout places at `path`, size-checked before
    /// reading.
    pub fn get_bytes(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let found = self.raw(&self.physical(path)?)?;
        if found.is_some() {
            return Ok(found);
        }
        // Builds of this version made before tasks took two levels kept them in one level of
        // 256, until the next write moves them (`upgrade`); only a miss looks there.
        match layout::one_level_path(path) {
            Some(old) if !self.is_format1()? => self.raw(&old),
            _ => Ok(None),
        }
    }

    /// The raw bytes at `path` in this tree, as it is.
    fn raw(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(tree) = self.tree else { return Ok(None) };
        match self.repo.read_blob(tree, path, MAX_BLOB_BYTES) {
            Ok(found) => Ok(found.map(|(_, data)| data)),
            Err(crate::git::Error::TooLarge { path, size, .. }) => {
                Err(codec::CodecError::TooLarge { path, len: size as usize }.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Decode the record at `path`, or `None` if there is none.
    pub fn get<T: Record>(&self, path: &str) -> Result<Option<T>> {
        match self.get_bytes(path)? {
            Some(bytes) => Ok(Some(codec::read(path, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Entry names of the directory `dir`, with whether each is a directory.
    pub fn list(&self, dir: &str) -> Result<Vec<(String, bool)>> {
        Ok(self.list_ids(dir)?.into_iter().map(|(name, is_dir, _)| (name, is_dir)).collect())
    }

    /// [`View::list`] with the id of each entry's tree or blob.
    pub(super) fn list_ids(&self, dir: &str) -> Result<Vec<(String, bool, ObjectId)>> {
        let Some(tree) = self.tree else { return Ok(Vec::new()) };
        Ok(self.repo.list_data_dir(tree, dir)?)
    }

    /// [`View::list_ids`] of the tree `tree` of this state, by its id.
    pub(super) fn list_tree(&self, tree: ObjectId) -> Result<Vec<(String, bool, ObjectId)>> {
        Ok(self.repo.list_data_dir(tree, "")?)
    }

    /// The tree of the first subdirectory of `dir`, if it has one.
    pub(super) fn first_subdir(&self, dir: &str) -> Result<Option<ObjectId>> {
        let Some(tree) = self.tree else { return Ok(None) };
        Ok(self.repo.first_subdir(tree, dir)?)
    }

    /// Every file in the state, as `(path, blob id)`, sorted by path.
    pub fn files(&self) -> Result<Vec<(String, ObjectId)>> {
        self.files_since(None)
    }

    /// The files of this state that `since` does not hold as they are (same blob at the same
    /// path), sorted by path. A directory whose tree is the same in both is not read at all,
    /// so this costs what changed, not the size of the state.
    pub fn files_since(&self, since: Option<&View<'_>>) -> Result<Vec<(String, ObjectId)>> {
        self.files_since_in("", since)
    }

    /// [`View::files_since`] of the directory `dir` (a path from the root) alone.
    pub fn files_since_in(&self, dir: &str, since: Option<&View<'_>>) -> Result<Vec<(String, ObjectId)>> {
        let Some(tree) = self.tree else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        let before = match since {
            Some(since) if dir.is_empty() => since.tree,
            Some(since) => {
                let (parent, name) = dir.rsplit_once('/').unwrap_or(("", dir));
                since.list_ids(parent)?.into_iter().find(|(n, is_dir, _)| n == name && *is_dir).map(|(.., id)| id)
            }
            None => None,
        };
        // Each directory to read, with its tree in `since` if it had one there.
        let mut dirs = vec![(dir.to_owned(), before)];
        while let Some((dir, before)) = dirs.pop() {
            let known: std::collections::HashMap<String, (bool, ObjectId)> = match before {
                Some(before) => self.repo.list_dir(before, "")?.into_iter().map(|(n, d, id)| (n, (d, id))).collect(),
                None => Default::default(),
            };
            for (name, is_dir, id) in self.repo.list_data_dir(tree, &dir)? {
                let was = known.get(&name).copied();
                if was == Some((is_dir, id)) {
                    continue;
                }
                let path = if dir.is_empty() { name } else { format!("{dir}/{name}") };
                if is_dir {
                    dirs.push((path, was.filter(|(d, _)| *d).map(|(_, id)| id)));
                } else {
                    out.push((path, id));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Read a blob by id with the size limit, for walks over [`View::files`].
    pub fn blob(&self, path: &str, id: ObjectId) -> Result<Vec<u8>> {
        match self.repo.read_blob_by_id(id, path, MAX_BLOB_BYTES) {
            Err(crate::git::Error::TooLarge { path, size, .. }) => {
                Err(codec::CodecError::TooLarge { path, len: size as usize }.into())
            }
            other => Ok(other?),
        }
    }
}

/// A transaction in progress: a view of T0 plus the writes staged on top of it.
pub struct Tx<'s> {
    view: View<'s>,
    staged: BTreeMap<String, Option<Vec<u8>>>,
    /// What T0 holds at paths this transaction looked at, so each is read once.
    base: RefCell<BTreeMap<String, Option<Vec<u8>>>>,
    /// This operation's id: the `Maestro-Op` trailer, stable across retries.
    pub op: &'s str,
    /// The time of this operation.
    pub now: jiff::Timestamp,
    /// The hybrid time of this operation: later than everything in T0.
    pub clock: Hlc,
    /// The second parent of a sync merge, and the tree it merged to.
    merge_parent: Option<ObjectId>,
    replaced_tree: Option<ObjectId>,
    /// Intents this transaction recorded, applied once its commit is in.
    pub(super) intents: Vec<crate::model::intent::Intent>,
    pub(super) store: &'s Store,
}

impl Tx<'_> {
    /// The bytes at `path` in T0, read at most once per transaction.
    fn base_bytes(&self, path: &str) -> Result<Option<Vec<u8>>> {
        if let Some(cached) = self.base.borrow().get(path) {
            return Ok(cached.clone());
        }
        let bytes = self.view.get_bytes(path)?;
        self.base.borrow_mut().insert(path.to_owned(), bytes.clone());
        Ok(bytes)
    }

    /// Decode the record at `path`, seeing this transaction's own writes.
    pub fn get<T: Record>(&self, path: &str) -> Result<Option<T>> {
        match self.staged.get(path) {
            Some(Some(bytes)) => Ok(Some(codec::read(path, bytes)?)),
            Some(None) => Ok(None),
            None => self.base_bytes(path)?.map(|bytes| codec::read(path, &bytes)).transpose().map_err(Into::into),
        }
    }

    /// Whether a record exists at `path`.
    pub fn exists(&self, path: &str) -> Result<bool> {
        Ok(match self.staged.get(path) {
            Some(staged) => staged.is_some(),
            None => self.base_bytes(path)?.is_some(),
        })
    }

    /// Stage `value` at `path`. Writing what is already there stages nothing. A mutable
    /// record gets this operation's clock and op id in its `[sync]` table.
    pub fn put<T: Serialize>(&mut self, path: &str, value: &T) -> Result<()> {
        let mut table = codec::to_table(path, value)?;
        let mut bytes = codec::encode_table(path, &table)?;
        if self.base_bytes(path)?.as_deref() == Some(bytes.as_slice()) {
            self.staged.remove(path);
            return Ok(());
        }
        // A record this version rewrites may gain fields of the current format: say so, so an
        // older binary refuses it as newer rather than as unknown fields.
        let older = table.get("format").and_then(toml::Value::as_integer).is_some_and(|f| f < crate::model::FORMAT);
        if older {
            table.insert("format".into(), toml::Value::Integer(crate::model::FORMAT));
        }
        if layout::is_versioned(path) {
            stamp(&mut table, self.clock, self.op);
        }
        if older || layout::is_versioned(path) {
            bytes = codec::encode_table(path, &table)?;
        }
        self.staged.insert(path.to_owned(), Some(bytes));
        Ok(())
    }

    /// Build the new state on `tree` (a sync merge) rather than on T0's tree. Reads still see
    /// T0; staged writes go on top of `tree`.
    pub(super) fn replace_tree(&mut self, tree: ObjectId) {
        self.replaced_tree = Some(tree);
    }

    /// Make this commit a merge with `other`, whose state has clock `other_clock`.
    pub(super) fn merge_with(&mut self, other: ObjectId, other_clock: Hlc) {
        self.merge_parent = Some(other);
        self.clock = Hlc::tick(self.clock.max(other_clock), self.clock.millis);
    }

    /// Stage the removal of the record at `path`, if there is one.
    pub fn remove(&mut self, path: &str) -> Result<()> {
        if self.base_bytes(path)?.is_some() {
            self.staged.insert(path.to_owned(), None);
        } else {
            self.staged.remove(path);
        }
        Ok(())
    }

    /// Stage a new record; fails if one is already at `path` (append-only logs use this).
    pub fn create<T: Serialize>(&mut self, path: &str, value: &T) -> Result<()> {
        if self.exists(path)? {
            return Err(Error::Exists { path: path.to_owned() });
        }
        self.put(path, value)
    }

    /// The read-only view this transaction started from.
    pub fn view(&self) -> &View<'_> {
        &self.view
    }

    /// A fresh random record id.
    pub fn new_id(&self) -> String {
        self.store.session.new_id()
    }
}

/// What a transaction did.
#[derive(Debug)]
#[must_use = "report whether anything changed"]
pub struct Outcome<T> {
    /// What the operation returned.
    pub value: T,
    /// The new state commit, or `None` when nothing changed and nothing was written.
    pub commit: Option<ObjectId>,
    /// How many times the operation ran (1 without contention).
    pub attempts: u32,
    /// Things done on the side that a user may want to know, e.g. a stale lock removed.
    pub notices: Vec<String>,
}

/// Whether a transaction may create the state ref.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// The state must exist (every command but `init`).
    Existing,
    /// The state must not exist yet (`init`); if it appears meanwhile, the op sees it.
    MayCreate,
}

impl Store {
    /// Run `op` as one compare-and-swap transaction with retry; see the module docs.
    ///
    /// `op` may run several times and must derive everything from the [`Tx`] it is given.
    pub fn transact<T, E>(&self, summary: &str, op: impl FnMut(&mut Tx<'_>) -> Result<T, E>) -> Result<Outcome<T>, E>
    where
        E: From<Error>,
    {
        self.transact_mode(Mode::Existing, summary, op)
    }

    pub(super) fn transact_mode<T, E>(
        &self,
        mode: Mode,
        summary: &str,
        mut op: impl FnMut(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<Outcome<T>, E>
    where
        E: From<Error>,
    {
        let writer = lock::acquire_writer(self.repo.common_dir(), Instant::now() + DEADLINE).map_err(|e| match e {
            lock::WriterLockError::Timeout(lock) => Error::Busy { lock, attempts: 0 },
            lock::WriterLockError::Io(path, source) => {
                Error::Git(crate::git::Error::Io { context: format!("cannot open {}", path.display()), source })
            }
        })?;
        let _held = Held::new(self, writer);
        let (mut outcome, intents) = self.attempts(mode, summary, &mut op)?;
        // Its commit (or its finding nothing to write) settled what this process applied.
        super::effects::forget_applied(self);
        if !intents.is_empty() {
            // The step is recorded; now its effects, then a commit that settles them (or, for a
            // store that settles later, the next transaction). A crash in between leaves the
            // intents for the next writer of this clone to settle.
            let mut done = true;
            for intent in &intents {
                done &= self.apply(intent);
            }
            if done && self.settles_later() {
                super::effects::remember_applied(self, &intents);
            } else {
                let whys: Vec<&str> = intents.iter().map(|i| i.why.as_str()).collect();
                let settle = format!("settle: {}", whys.join("; "));
                let (settled, _) = self.attempts(Mode::Existing, &settle, &mut |_| Ok::<_, Error>(()))?;
                outcome.attempts += settled.attempts;
                outcome.commit = settled.commit.or(outcome.commit);
            }
        }
        outcome.notices.extend(self.take_notices());
        Ok(outcome)
    }

    /// The read-modify-write loop of one transaction, under the writer lock. Intents this
    /// clone's dead processes left are settled first, in the same commit.
    fn attempts<T, E>(
        &self,
        mode: Mode,
        summary: &str,
        op: &mut impl FnMut(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<(Outcome<T>, Vec<crate::model::intent::Intent>), E>
    where
        E: From<Error>,
    {
        let op_id = self.session.new_id();
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let tip = self.repo.read_ref(STATE_REF).map_err(Error::from)?;
            if tip.is_none() && mode == Mode::Existing {
                return Err(Error::NotInitialized.into());
            }
            let view = View::at(&self.repo, tip)?;
            if tip.is_some() {
                super::check_root(&view)?;
            }
            let clock = Hlc::tick(view.clock()?, self.session.now_millis());
            let mut tx = Tx {
                view,
                staged: BTreeMap::new(),
                base: RefCell::new(BTreeMap::new()),
                op: &op_id,
                now: self.session.now(),
                clock,
                merge_parent: None,
                replaced_tree: None,
                intents: Vec::new(),
                store: self,
            };
            if tip.is_some() {
                super::effects::settle(self, &mut tx)?;
            }
            let value = op(&mut tx)?;
            if tx.staged.is_empty() && tx.merge_parent.is_none() {
                return Ok((Outcome { value, commit: None, attempts, notices: Vec::new() }, Vec::new()));
            }
            if tip.is_some() {
                upgrade::upgrade_root(&mut tx)?;
            }
            let commit = self.write_commit(&tx, summary, &op_id)?;
            crate::failpoint::hit("tx:before-cas");
            let update =
                RefUpdate { name: STATE_REF, expected: tip, new: Some(commit), log_message: &reflog_line(summary) };
            let (name, email) = self.session.signature();
            // A busy lock has its own deadline (below); only moves of the ref count as contention.
            let mut moved = false;
            match self.repo.cas_update(&update, (name, email), self.session.now().as_second()) {
                Ok(()) => {
                    crate::failpoint::hit("tx:after-cas");
                    let outcome = Outcome { value, commit: Some(commit), attempts, notices: Vec::new() };
                    return Ok((outcome, std::mem::take(&mut tx.intents)));
                }
                Err(CasError::Conflict { .. }) => moved = true,
                Err(CasError::Busy { lock }) => {
                    if let Some(notice) = self.recover_lock(&lock) {
                        self.notice(notice);
                        continue;
                    }
                    // We hold the writer lock, so no maestro writer holds this one: it is
                    // stale unless a foreign git writer is working. Wait until it is old enough
                    // to tell, rather than give up first.
                    let stale_at = lock::age(&lock).map(|age| lock::STALE_AFTER.saturating_sub(age) + backoff);
                    let deadline = DEADLINE.max(started.elapsed() + stale_at.unwrap_or_default());
                    if started.elapsed() + backoff > deadline || started.elapsed() > DEADLINE + lock::STALE_AFTER {
                        return Err(Error::Busy { lock, attempts }.into());
                    }
                }
                Err(CasError::Other(e)) => return Err(Error::from(e).into()),
            }
            if moved && started.elapsed() + backoff > DEADLINE {
                return Err(Error::Contention { attempts }.into());
            }
            std::thread::sleep(backoff + Duration::from_millis(fastrand::u64(..=MAX_JITTER_MS)));
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn write_commit(&self, tx: &Tx<'_>, summary: &str, op_id: &str) -> Result<ObjectId> {
        let mut edit = self.repo.edit_tree(tx.replaced_tree.or(tx.view.tree))?;
        for (path, change) in &tx.staged {
            match change {
                Some(bytes) => edit.upsert_blob(path, bytes)?,
                None => edit.remove(path)?,
            }
        }
        let tree = edit.write()?;
        let parents: Vec<ObjectId> = tx.view.commit.into_iter().chain(tx.merge_parent).collect();
        let message = format!(
            "{}\n\nMaestro-Op: {op_id}\nMaestro-Actor: {}\nMaestro-Argv: {}\n{CLOCK_TRAILER}: {}\n",
            reflog_line(summary),
            self.session.actor,
            self.session.argv,
            tx.clock,
        );
        Ok(self.repo.write_commit(
            tree,
            &parents,
            &message,
            self.session.signature(),
            self.session.now().as_second(),
        )?)
    }
}

/// The writer lock, held for a transaction and its effects; tells the store it holds it.
struct Held<'s> {
    store: &'s Store,
    _lock: lock::WriterLock,
}

impl<'s> Held<'s> {
    fn new(store: &'s Store, lock: lock::WriterLock) -> Held<'s> {
        store.writer.store(true, std::sync::atomic::Ordering::Relaxed);
        Held { store, _lock: lock }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.store.writer.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Set the `[sync]` table of a record to `clock` and `op`, keeping its recorded conflicts.
fn stamp(table: &mut toml::Table, clock: Hlc, op: &str) {
    let meta = table.entry("sync").or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !meta.is_table() {
        *meta = toml::Value::Table(toml::Table::new());
    }
    if let toml::Value::Table(meta) = meta {
        meta.insert("clock".into(), toml::Value::String(clock.to_string()));
        meta.insert("op".into(), toml::Value::String(op.to_owned()));
    }
}

/// One line, as reflogs and commit subjects need.
fn reflog_line(summary: &str) -> String {
    let line: String = summary.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    format!("maestro: {}", line.trim())
}

/// Trailers of a state commit message, for `log`.
pub fn trailer<'m>(message: &'m str, key: &str) -> Option<&'m str> {
    message.lines().rev().find_map(|line| line.strip_prefix(key)?.strip_prefix(": "))
}
