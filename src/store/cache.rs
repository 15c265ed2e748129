//! The clone's private caches, under `.git/maestro/cache/`: derived from the state, so only
//! ever a speed-up. A file that is missing, too large or does not parse reads as absent, and
//! one that cannot be written (a read-only repository) only costs the next read its speed.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Store;

/// A cache file larger than this is ignored, and not written.
const MAX_BYTES: usize = 16 * 1024 * 1024;

/// The cache file `name` (a relative path) of `store`'s clone.
pub(super) fn file(store: &Store, name: &str) -> PathBuf {
    store.repo.common_dir().join("maestro").join("cache").join(name)
}

/// The cache at `file`, if it reads.
pub(super) fn read<T: DeserializeOwned>(file: &Path) -> Option<T> {
    let fits = std::fs::metadata(file).is_ok_and(|m| m.len() <= MAX_BYTES as u64);
    fits.then(|| std::fs::read(file).ok()).flatten().and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// Replace the cache at `file` whole, beside it then renamed over: a reader sees the old cache
/// or the new one.
pub(super) fn write<T: Serialize>(file: &Path, value: &T) {
    let (Some(dir), Ok(bytes)) = (file.parent(), serde_json::to_vec(value)) else { return };
    if bytes.len() <= MAX_BYTES {
        let _ = std::fs::create_dir_all(dir).and_then(|()| crate::files::replace(file, &bytes));
    }
}
