//! Reading refs and moving them by compare-and-swap.

use std::path::PathBuf;

use gix::ObjectId;
use gix::refs::Target;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};

use super::{Error, GixContext, Repo, Result};

/// A compare-and-swap ref update. `expected = None` means the ref must not exist yet;
/// `new = None` deletes the ref (and its reflog).
#[derive(Debug, Clone)]
pub struct RefUpdate<'a> {
    pub name: &'a str,
    pub expected: Option<ObjectId>,
    pub new: Option<ObjectId>,
    /// One line for the reflog.
    pub log_message: &'a str,
}

/// Why a compare-and-swap did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    /// The ref moved since it was read: re-read, re-apply, retry.
    #[error("{name} changed since it was read")]
    Conflict { name: String },
    /// Another writer holds the lock file right now: retry after a pause.
    #[error("{} is locked by another writer", .lock.display())]
    Busy { lock: PathBuf },
    /// Anything else: not retryable.
    #[error(transparent)]
    Other(#[from] Error),
}

impl Repo {
    /// The object a direct ref points to, or `None` if the ref does not exist.
    pub fn read_ref(&self, name: &str) -> Result<Option<ObjectId>> {
        let Some(reference) = self.inner.try_find_reference(name).ctx(|| format!("cannot read {name}"))? else {
            return Ok(None);
        };
        match reference.inner.target {
            Target::Object(id) => Ok(Some(id)),
            Target::Symbolic(_) => Err(Error::UnsupportedFormat(format!("{name} is a symbolic ref"))),
        }
    }

    /// The tips of every ref under `prefix` (e.g. `refs/remotes/origin/`).
    pub fn ref_tips(&self, prefix: &str) -> Result<Vec<ObjectId>> {
        let platform = self.inner.references().ctx(|| "cannot list refs".into())?;
        let refs = platform.prefixed(prefix).ctx(|| format!("cannot list {prefix}"))?;
        let mut out = Vec::new();
        for r in refs {
            let Ok(mut r) = r else { continue };
            if let Ok(id) = r.peel_to_id() {
                out.push(id.detach());
            }
        }
        Ok(out)
    }

    /// The name and target of every direct ref under `prefix`, sorted by name.
    pub fn refs_under(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>> {
        let platform = self.inner.references().ctx(|| "cannot list refs".into())?;
        let refs = platform.prefixed(prefix).ctx(|| format!("cannot list {prefix}"))?;
        let mut out = Vec::new();
        for r in refs {
            let Ok(r) = r else { continue };
            if let Target::Object(id) = r.inner.target {
                out.push((r.inner.name.as_bstr().to_string(), id));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The lock file git and gix use for `name`.
    pub fn ref_lock_path(&self, name: &str) -> PathBuf {
        self.common_dir().join(format!("{name}.lock"))
    }

    /// Move a ref from `expected` to `new` atomically, appending to (and creating) its reflog;
    /// with `new = None`, delete it (it must exist and match `expected`).
    /// Never waits for the ref's lock: a busy lock is reported as [`CasError::Busy`] so the caller
    /// decides how to back off (`packed-refs`, which git holds for moments, is waited for). A
    /// stale expected value is [`CasError::Conflict`].
    pub fn cas_update(&self, update: &RefUpdate<'_>, (name, email): (&str, &str), time: i64) -> Result<(), CasError> {
        let previous = match update.expected {
            Some(id) => PreviousValue::MustExistAndMatch(Target::Object(id)),
            None => PreviousValue::MustNotExist,
        };
        let change = match update.new {
            None => Change::Delete { expected: previous, log: RefLog::AndReference },
            Some(new) => Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: true,
                    message: update.log_message.into(),
                },
                expected: previous,
                new: Target::Object(new),
            },
        };
        let edit = RefEdit {
            change,
            name: update.name.try_into().map_err(|e: gix::validate::reference::name::Error| {
                CasError::Other(Error::Gix {
                    context: format!("invalid ref name {}", update.name),
                    source: gix::Error::from_error(e),
                })
            })?,
            deref: false,
        };
        let committer = gix::actor::Signature {
            name: name.into(),
            email: email.into(),
            time: gix::date::Time { seconds: time, offset: 0 },
        };
        let mut time_buf = gix::date::parse::TimeBuf::default();
        // The ref's own lock is never waited for. `packed-refs` is locked only for moments by git
        // commands in this repository (a sync's fetch), so that one is waited for, briefly.
        let fail = gix::lock::acquire::Fail::Immediately;
        let packed = gix::lock::acquire::Fail::AfterDurationWithBackoff(std::time::Duration::from_secs(2));
        let result = self
            .inner
            .refs
            .transaction()
            .prepare([edit], fail, packed)
            .and_then(|tx| tx.commit(committer.to_ref(&mut time_buf)));
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.classify().is_conflict() => Err(CasError::Conflict { name: update.name.to_owned() }),
            Err(err) if err.classify().is_retryable() => {
                // Name the lock that is in the way: `packed-refs.lock` (every ref update takes it)
                // when it is there, so a caller can tell a stale one, left by a killed writer.
                let packed = self.common_dir().join("packed-refs.lock");
                Err(CasError::Busy { lock: if packed.exists() { packed } else { self.ref_lock_path(update.name) } })
            }
            Err(source) => {
                Err(CasError::Other(Error::Gix { context: format!("cannot update {}", update.name), source }))
            }
        }
    }
}
