//! Writing small objects to the loose object store with one zlib state per thread.
//!
//! gix 0.90's loose writer builds a new deflate state for every object: about 370 KB,
//! allocated and zeroed each time, in memory the process has never touched, so each object
//! also pays a run of page faults. A state write stores about a dozen small objects and a task
//! run about seventy, and that set-up was about 15% of a whole-process `task claim` (page
//! faults 650 → 452, median 14.2 → 11.9 ms). Here the state is made once per thread and reset
//! between objects, which clears only its hash table.
//!
//! The object is the one gix and git write: `<kind> <size>\0<data>`, deflated at the
//! repository's loose compression level (`core.looseCompression`, else `core.compression`),
//! read-only, in a temporary file beside it that is then renamed to `objects/xx/<rest>`. An
//! object the store already has is not written again. Large files are streamed by
//! [`super::stream`] instead, through gix.

use std::cell::RefCell;
use std::io::{self, Write as _};
use std::path::Path;

use gix::ObjectId;
use gix::objs::Kind;
use gix::zlib::Compression;
use gix::zlib::stream::deflate::{Compress, FlushCompress};

use super::{Error, GixContext, Result};

thread_local! {
    /// The deflate state of this thread and the level it compresses at.
    static DEFLATE: RefCell<Option<(Compression, Compress)>> = const { RefCell::new(None) };
}

/// Write `data` as an object of `kind` unless the store has it; its id either way. A failure
/// says `context()`.
pub(super) fn write(repo: &gix::Repository, kind: Kind, data: &[u8], context: impl Fn() -> String) -> Result<ObjectId> {
    let id = gix::objs::compute_hash(repo.object_hash(), kind, data).ctx(&context)?;
    // Like gix, never list the pack directory again for a miss: a new object always misses.
    if repo.objects.exists_without_refresh(&id) {
        return Ok(id);
    }
    let header = gix::objs::encode::loose_header(kind, data.len() as u64);
    let compressed = deflate(repo.objects.loose_compression, &header, data).ctx(&context)?;
    // As a gix error, so that `retry_transient` sees the cause as it sees gix's own.
    persist(repo.objects.store_ref().path(), &id, &compressed).map_err(gix::Error::from_error).ctx(&context)?;
    Ok(id)
}

/// Encode `object` and [`write`] it.
pub(super) fn write_object(
    repo: &gix::Repository,
    object: &impl gix::objs::WriteTo,
    context: impl Fn() -> String,
) -> Result<ObjectId> {
    let mut data = Vec::with_capacity(object.size() as usize);
    object.write_to(&mut data).map_err(|source| Error::Io { context: context(), source })?;
    write(repo, object.kind(), &data, context)
}

/// `header` then `data` as one zlib stream, with this thread's deflate state.
fn deflate(level: Compression, header: &[u8], data: &[u8]) -> gix::Result<Vec<u8>> {
    DEFLATE.with_borrow_mut(|slot| {
        let compress = match slot {
            Some((kept, compress)) if *kept == level => {
                compress.reset();
                compress
            }
            _ => &mut slot.insert((level, Compress::new(level))).1,
        };
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        feed(compress, header, FlushCompress::None, &mut out)?;
        feed(compress, data, FlushCompress::Finish, &mut out)?;
        Ok(out)
    })
}

/// Compress all of `input` into `out`, growing it as needed; with `Finish`, end the stream.
fn feed(compress: &mut Compress, mut input: &[u8], flush: FlushCompress, out: &mut Vec<u8>) -> gix::Result<()> {
    use gix::zlib::Status;
    loop {
        let start = out.len();
        out.resize(out.capacity().max(start + 256), 0);
        let (read, written) = (compress.total_in(), compress.total_out());
        let status = compress.compress(input, &mut out[start..], flush);
        out.truncate(start + (compress.total_out() - written) as usize);
        input = &input[(compress.total_in() - read) as usize..];
        match status? {
            Status::StreamEnd => return Ok(()),
            _ if flush == FlushCompress::None && input.is_empty() => return Ok(()),
            // Out of room: the next round grows `out`.
            _ => out.reserve(out.len().max(256)),
        }
    }
}

/// Put `compressed` at the loose path of `id` under `dir`, read-only, by a rename: a reader
/// sees the whole object or none. The fan-out directory is made when missing, as git does.
fn persist(dir: &Path, id: &ObjectId, compressed: &[u8]) -> io::Result<()> {
    let hex = id.to_hex().to_string();
    let fan_out = dir.join(&hex[..2]);
    let mut temp = temp_builder().tempfile_in(dir)?;
    temp.write_all(compressed)?;
    match std::fs::create_dir(&fan_out) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    temp.persist(fan_out.join(&hex[2..])).map_err(|e| e.error)?;
    Ok(())
}

fn temp_builder() -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("tmp_obj_");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o444));
    }
    builder
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn objects_are_the_ones_gix_writes_and_reads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = gix::init_bare(dir.path()).expect("init");
        let big: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for (kind, data) in [(Kind::Blob, &b""[..]), (Kind::Blob, b"format = 2\n"), (Kind::Blob, &big)] {
            let id = write(&repo, kind, data, String::new).expect("write");
            assert_eq!(id, gix::objs::compute_hash(repo.object_hash(), kind, data).expect("hash"));
            let object = repo.find_object(id).expect("read back");
            assert_eq!((object.kind, &object.data[..]), (kind, data));
            let mode = std::fs::metadata(object_file(dir.path(), id)).expect("object file").permissions().mode();
            assert_eq!(mode & 0o777, 0o444, "read-only");
            // Written again: the same id, nothing changed and no temporary file left.
            assert_eq!(write(&repo, kind, data, String::new).expect("write again"), id);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path().join("objects"))
            .expect("objects dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("tmp_obj_"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");

        // Another repository at another level: the thread's state is made again at that level.
        let stored = tempfile::tempdir().expect("temp dir");
        gix::init_bare(stored.path()).expect("init");
        let config = stored.path().join("config");
        let text = std::fs::read_to_string(&config).expect("config");
        std::fs::write(&config, text + "[core]\n\tlooseCompression = 0\n").expect("config");
        let stored_repo = gix::open(stored.path()).expect("open");
        assert_eq!(stored_repo.objects.loose_compression, Compression::NONE);
        let id = write(&stored_repo, Kind::Blob, &big, String::new).expect("write");
        let size = std::fs::metadata(object_file(stored.path(), id)).expect("object file").len();
        assert!(size > big.len() as u64, "stored, not deflated: {size} bytes");
        assert_eq!(stored_repo.find_object(id).expect("read back").data, big);

        // git checks every loose object's zlib stream and id.
        for git_dir in [dir.path(), stored.path()] {
            let fsck = std::process::Command::new("git").arg("-C").arg(git_dir).args(["fsck", "--strict"]).output();
            let fsck = fsck.expect("git runs");
            assert!(fsck.status.success(), "{}", String::from_utf8_lossy(&fsck.stderr));
        }
    }

    /// Where the loose object `id` of the bare repository at `git_dir` is.
    fn object_file(git_dir: &Path, id: ObjectId) -> std::path::PathBuf {
        let hex = id.to_hex().to_string();
        git_dir.join("objects").join(&hex[..2]).join(&hex[2..])
    }
}
