//! Replacing a small file whole: written beside it, then renamed over it, so a reader sees
//! the old content or the new, never part of either.

use std::path::{Path, PathBuf};

/// Replace `path` with `data`; its directory must exist. The file written beside it carries
/// the process id, so two processes replacing the same file never write into one another's,
/// and it is removed again when the write or the rename fails.
pub fn replace(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.maestro-tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = std::fs::write(&tmp, data).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
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
}
