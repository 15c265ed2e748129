//! Writing a small file whole: written beside it, then renamed over it (or linked to its name,
//! to create it only if missing), so a reader sees the old content or the new, never part of
//! either.

use std::path::{Path, PathBuf};

/// Replace `path` with `data`; its directory must exist. The file written beside it is
/// removed again when the write or the rename fails.
pub fn replace(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = beside(path);
    let written = std::fs::write(&tmp, data).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Create `path` with `data` unless it exists, whole: a reader racing the creation sees no
/// file or all of it, never an empty one. `false` when `path` was there already (then it is
/// left as it is). Its directory must exist.
pub fn create(path: &Path, data: &[u8]) -> std::io::Result<bool> {
    let tmp = beside(path);
    let created = std::fs::write(&tmp, data).and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match created {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// The file beside `path` that one call writes before giving it `path`'s name: named by the
/// process and a count, so neither two processes nor two threads write into one another's.
fn beside(path: &Path) -> PathBuf {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.{call}.maestro-tmp", std::process::id()));
    PathBuf::from(tmp)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_file_is_replaced_whole_and_nothing_is_left_beside_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("f.toml");
        super::replace(&file, b"one").expect("first write");
        super::replace(&file, b"two").expect("second write");
        assert_eq!(std::fs::read(&file).expect("read"), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("list").flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, ["f.toml"]);
        let missing = dir.path().join("no/such/dir/f");
        assert!(super::replace(&missing, b"x").is_err(), "a missing directory is an error");
    }

    /// Threads racing to create one file: one creates it, each of the others finds it there,
    /// and every read in between sees no file or all of one writer's content.
    #[test]
    fn a_file_is_created_once_and_never_seen_empty() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("id");
        let created: Vec<bool> = std::thread::scope(|s| {
            let racers: Vec<_> = (0..8)
                .map(|i| {
                    let file = &file;
                    s.spawn(move || {
                        let made = super::create(file, format!("writer-{i}").as_bytes()).expect("create");
                        let seen = std::fs::read_to_string(file).expect("read");
                        assert!(seen.starts_with("writer-"), "a whole id, not {seen:?}");
                        made
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().expect("racer")).collect()
        });
        assert_eq!(created.iter().filter(|made| **made).count(), 1, "{created:?}");
        assert!(!super::create(&file, b"later").expect("create"), "an existing file is kept");
        assert!(std::fs::read_to_string(&file).expect("read").starts_with("writer-"));
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("list").flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, ["id"], "nothing left beside it");
    }
}
