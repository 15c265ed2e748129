//! Recovery of a ref lock left behind by a process that died (`kill -9`, power loss).
//!
//! A lock is stale when it is older than [`STALE_AFTER`] and no other git-maestro process is
//! alive. Both conditions are needed: age alone would break a slow live writer, and "no other
//! process" alone would race with a writer that is just starting.

use std::path::Path;
use std::time::{Duration, SystemTime};

/// How old a lock must be before it may be considered stale.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// What [`inspect`] found about a lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockState {
    pub age: Duration,
    pub other_maestro_alive: bool,
}

impl LockState {
    /// Whether the lock can be removed safely.
    pub fn is_stale(&self) -> bool {
        self.age >= STALE_AFTER && !self.other_maestro_alive
    }
}

/// Inspect `lock`; `None` if it does not exist.
pub fn inspect(lock: &Path) -> Option<LockState> {
    let modified = std::fs::metadata(lock).ok()?.modified().ok()?;
    let age = SystemTime::now().duration_since(modified).unwrap_or_default();
    Some(LockState { age, other_maestro_alive: other_maestro_alive() })
}

/// Remove `lock` if it is stale. Returns a line describing what was done, for the log.
pub fn recover(lock: &Path) -> Option<String> {
    let state = inspect(lock)?;
    if !state.is_stale() {
        return None;
    }
    std::fs::remove_file(lock).ok()?;
    Some(format!("removed stale lock {} ({}s old, no git-maestro process alive)", lock.display(), state.age.as_secs()))
}

/// Whether another process named `git-maestro` runs on this machine. Without `/proc` we cannot
/// tell, and answer `false`, leaving age as the only guard.
fn other_maestro_alive() -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else { return false };
    let me = std::process::id().to_string();
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let Some(pid) = name.to_str() else { return false };
        pid != me
            && pid.bytes().all(|b| b.is_ascii_digit())
            && std::fs::read_to_string(entry.path().join("comm")).is_ok_and(|comm| comm.trim_end() == "git-maestro")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_lock_is_never_stale() {
        let dir = std::env::temp_dir().join(format!("maestro-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lock = dir.join("state.lock");
        std::fs::write(&lock, "x").unwrap();
        assert_eq!(recover(&lock), None);
        assert!(lock.exists());
        let old = SystemTime::now() - Duration::from_secs(120);
        std::fs::File::options().write(true).open(&lock).unwrap().set_modified(old).unwrap();
        assert!(inspect(&lock).unwrap().age >= STALE_AFTER);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
