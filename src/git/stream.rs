//! Writing a file of the worktree as a blob without holding it in memory.
//!
//! gix's `Repository::write_blob_stream` reads the whole stream into a buffer to hash it before
//! writing, so a 200 MB file a performer left would cost 200 MB of memory. The loose object
//! store's own `write_stream` deflates and hashes as it reads, into a temporary file it then
//! renames into place: memory stays at its buffers whatever the size. The object is the one
//! git writes (`git hash-object`): a loose object of the file's exact bytes, no filters applied.

use std::io::{self, Read};
use std::path::Path;

use gix::ObjectId;
use gix::objs::Write as _;

use super::{Error, GixContext, Result};

/// Files smaller than this are read whole and written as before (one write call, and no
/// object written again when it exists); larger ones are streamed.
const STREAM_FROM: u64 = 1 << 20;

/// Write the regular file at `file` (`path` in the tree, for messages) as a blob.
pub(super) fn write_file_blob(repo: &gix::Repository, file: &Path, path: &str) -> Result<ObjectId> {
    let io_err = |source| Error::Io { context: format!("cannot read {}", file.display()), source };
    let mut handle = std::fs::File::open(file).map_err(io_err)?;
    let size = handle.metadata().map_err(io_err)?.len();
    if size < STREAM_FROM {
        let mut data = Vec::with_capacity(size as usize);
        handle.read_to_end(&mut data).map_err(io_err)?;
        return super::loose::write(repo, gix::objs::Kind::Blob, &data, || {
            format!("cannot write the blob for '{path}'")
        });
    }
    let mut exact = Exact { inner: handle, left: size };
    repo.objects
        .write_stream(gix::objs::Kind::Blob, size, &mut exact)
        .ctx(|| format!("cannot write the blob for '{path}' from {}", file.display()))
}

impl super::Repo {
    /// The id the regular file at `file` has (or would have) as a blob, hashed as it is read:
    /// the file is never held in memory whole.
    pub fn file_blob_id(&self, file: &Path) -> Result<ObjectId> {
        let io_err = |source| Error::Io { context: format!("cannot read {}", file.display()), source };
        let handle = std::fs::File::open(file).map_err(io_err)?;
        let size = handle.metadata().map_err(io_err)?.len();
        let mut exact = Exact { inner: handle, left: size };
        let kind = self.inner.object_hash();
        gix::objs::compute_stream_hash(
            kind,
            gix::objs::Kind::Blob,
            &mut exact,
            size,
            &mut gix::progress::Discard,
            &std::sync::atomic::AtomicBool::new(false),
        )
        .ctx(|| format!("cannot hash {}", file.display()))
    }
}

/// Reads exactly `left` more bytes and fails if the file ends sooner or goes on: the object's
/// header gives the size up front, and a file that changed while it was read would otherwise
/// be stored as a corrupt object.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other("the file grew while it was being committed")),
            };
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 && want > 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank while it was being committed"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, super::super::Repo) {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = super::super::Repo::init(dir.path()).expect("init");
        (dir, repo)
    }

    /// Bytes that do not repeat in a way deflate could shrink much, and no NUL-free pattern.
    fn bytes(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect()
    }

    #[test]
    fn a_streamed_file_is_the_blob_git_computes_for_it() {
        let (dir, repo) = repo();
        for len in [0, 10, STREAM_FROM as usize - 1, STREAM_FROM as usize, 3 * STREAM_FROM as usize + 7] {
            let data = bytes(len);
            let file = dir.path().join(format!("f{len}"));
            std::fs::write(&file, &data).expect("write");
            let id = write_file_blob(&repo.inner, &file, "f").expect("write the blob");
            assert_eq!(id, repo.blob_id(&data).expect("hash"), "{len} bytes: the id of the same bytes in memory");
            assert_eq!(repo.file_blob_id(&file).expect("hash the file"), id, "{len} bytes: hashed as read");
            let back = repo.read_blob_by_id(id, "f", u64::MAX).expect("read back");
            assert!(back == data, "{len} bytes: the object holds the file's bytes");
        }
    }

    #[test]
    fn a_file_that_is_not_the_size_it_said_fails_instead_of_writing_a_corrupt_object() {
        let shrank = Exact { inner: &b"abc"[..], left: 5 }.read_to_end(&mut Vec::new());
        assert_eq!(shrank.expect_err("short").kind(), io::ErrorKind::UnexpectedEof);
        let grew = Exact { inner: &b"abcdef"[..], left: 5 }.read_to_end(&mut Vec::new());
        assert!(grew.expect_err("long").to_string().contains("grew"));
        let mut out = Vec::new();
        Exact { inner: &b"abcde"[..], left: 5 }.read_to_end(&mut out).expect("exact");
        assert_eq!(out, b"abcde");
    }
}
