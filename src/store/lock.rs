//! Locks: the writer lock that queues this machine's writers, and recovery of a ref lock left
//! behind by a process that died (`kill -9`, power loss).
//!
//! Every state write holds the writer lock, an OS file lock (`flock`) on
//! `<git-common-dir>/maestro/writer.lock`, for its whole read-modify-write. Compare-and-swap
//! alone is correct but not fair: under heavy contention on few cores a writer can lose every
//! race until its deadline. The writer lock turns that into a queue. The kernel releases it
//! when its holder dies, so it can never go stale. The CAS on the ref stays, for writers that
//! do not take this lock (git itself, other tools).
//!
//! A ref lock (`refs/maestro/state.lock`) is stale when it is older than [`STALE_AFTER`] and
//! no maestro writer is alive, which holding the writer lock proves.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// How old a ref lock must be before it may be considered stale.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// The held writer lock; released on drop, or by the kernel if the process dies.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

/// Why the writer lock was not taken.
#[derive(Debug)]
pub enum WriterLockError {
    /// Another writer held it until the deadline.
    Timeout(PathBuf),
    Io(PathBuf, std::io::Error),
}

impl From<WriterLockError> for super::Error {
    fn from(e: WriterLockError) -> super::Error {
        match e {
            WriterLockError::Timeout(lock) => super::Error::Busy { lock, attempts: 0 },
            WriterLockError::Io(path, source) => {
                crate::git::Error::Io { context: format!("cannot open {}", path.display()), source }.into()
            }
        }
    }
}

/// The writer lock's path for a repository.
pub fn writer_lock_path(common_dir: &Path) -> PathBuf {
    common_dir.join("maestro").join("writer.lock")
}

/// Take the writer lock, polling until `deadline`.
pub fn acquire_writer(common_dir: &Path, deadline: Instant) -> Result<WriterLock, WriterLockError> {
    let path = writer_lock_path(common_dir);
    let io = |e| WriterLockError::Io(path.clone(), e);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(io)?;
    let mut pause = Duration::from_micros(500);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(WriterLock { _file: file }),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        if Instant::now() + pause > deadline {
            return Err(WriterLockError::Timeout(path));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Whether a maestro writer holds the writer lock right now. Never blocks.
pub fn writer_alive(common_dir: &Path) -> bool {
    let Ok(file) = File::options().write(true).open(writer_lock_path(common_dir)) else { return false };
    matches!(file.try_lock(), Err(TryLockError::WouldBlock))
}

/// The age of a lock file; `None` if it does not exist.
pub fn age(lock: &Path) -> Option<Duration> {
    let modified = std::fs::metadata(lock).ok()?.modified().ok()?;
    Some(SystemTime::now().duration_since(modified).unwrap_or_default())
}

/// Remove the ref lock `lock` if it is stale. Call only while holding the writer lock.
/// Returns a line describing what was done, for the log.
pub fn recover(lock: &Path, _held: &WriterLock) -> Option<String> {
    if age(lock)? < STALE_AFTER {
        return None;
    }
    remove_stale(lock)
}

/// Remove a lock the caller judged stale; a line describing what was done, for the log.
pub fn remove_stale(lock: &Path) -> Option<String> {
    let age = age(lock)?;
    std::fs::remove_file(lock).ok()?;
    Some(format!("removed stale lock {} ({}s old, no git-maestro writer alive)", lock.display(), age.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_lock_excludes_and_is_released_on_drop() {
        let dir = tempfile_dir("writer");
        let deadline = Instant::now() + Duration::from_millis(50);
        let held = acquire_writer(&dir, deadline).expect("nobody holds the writer lock");
        assert!(writer_alive(&dir));
        assert!(matches!(acquire_writer(&dir, deadline), Err(WriterLockError::Timeout(_))));
        drop(held);
        assert!(!writer_alive(&dir));
        let again =
            acquire_writer(&dir, Instant::now() + Duration::from_millis(50)).expect("the writer lock was released");

        let lock = dir.join("state.lock");
        std::fs::write(&lock, "x").expect("write a lock file");
        assert_eq!(recover(&lock, &again), None, "a fresh ref lock is never removed");
        let old = SystemTime::now() - Duration::from_secs(120);
        File::options().write(true).open(&lock).and_then(|f| f.set_modified(old)).expect("age the lock file");
        assert!(recover(&lock, &again).expect("an old lock is recovered").starts_with("removed stale lock"));
        assert!(!lock.exists());
        std::fs::remove_dir_all(&dir).expect("remove the test directory");
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("maestro-lock-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the test directory");
        dir
    }
}
