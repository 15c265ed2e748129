//! A run's transcript file (or its stderr log), capped in size with the tail kept: when a write
//! would take it past its cap, the oldest part is dropped at a line boundary and one marker line
//! at the top says how many bytes of output were dropped so far. The newest lines stay.
//!
//! Memory stays bounded: the file is never read whole. A cut copies what is kept (at most half
//! the cap) into a new file beside it, which then replaces it by rename, so a reader sees either
//! file whole. Keeping half the cap makes cuts rare: at least half the cap is written between two.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::config::TRANSCRIPT_MAX_MIN as MIN_MAX;

/// How far ahead a line boundary is looked for at a time.
const CHUNK: usize = 64 << 10;

/// The marker line that opens a cut transcript. It is a JSON line, as the transcripts of the
/// agent CLIs are, of a type no adapter knows, so parsers skip it.
pub fn marker(dropped: u64) -> String {
    format!("{{\"type\":\"maestro_transcript_cut\",\"dropped_bytes\":{dropped}}}\n")
}

/// The longest marker line.
fn marker_max() -> u64 {
    marker(u64::MAX).len() as u64
}

/// A file being written, kept under `max` bytes.
#[derive(Debug)]
pub struct CappedFile {
    path: PathBuf,
    file: File,
    max: u64,
    /// The file's length now.
    len: u64,
    /// The length of the marker line at its top (0 before the first cut).
    marker_len: u64,
    /// Bytes of output dropped so far.
    dropped: u64,
}

impl CappedFile {
    /// Create (or truncate) the file at `path`, to be kept under `max` bytes (at least
    /// [`MIN_MAX`]).
    pub fn create(path: &Path, max: u64) -> io::Result<CappedFile> {
        let file = File::create(path)?;
        let max = max.max(MIN_MAX);
        Ok(CappedFile { path: path.to_owned(), file, max, len: 0, marker_len: 0, dropped: 0 })
    }

    /// Bytes of output dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Append `bytes`, first dropping the oldest output if the file would pass its cap.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let incoming = bytes.len() as u64;
        if self.len + incoming <= self.max {
            self.file.write_all(bytes)?;
            self.len += incoming;
            return Ok(());
        }
        let room = self.max - marker_max();
        if incoming > room {
            // This write alone is too large: all of the file goes, and the start of the write,
            // cut at its first line boundary that leaves it small enough.
            let from = bytes.len() - room as usize;
            let cut = match bytes[from - 1..].iter().position(|b| *b == b'\n') {
                Some(nl) => from + nl,
                None => from,
            };
            let dropped = self.len - self.marker_len + cut as u64;
            return self.replace(dropped, self.len, &bytes[cut..]);
        }
        let keep = (self.max / 2).min(room - incoming);
        let start = self.len.saturating_sub(keep).max(self.marker_len);
        let cut = self.line_start_at_or_after(start)?;
        let dropped = cut - self.marker_len;
        self.replace(dropped, cut, bytes)
    }

    /// The first offset at or after `start` where a line begins (or the end of the file).
    fn line_start_at_or_after(&mut self, start: u64) -> io::Result<u64> {
        if start == 0 {
            return Ok(0);
        }
        let mut reader = File::open(&self.path)?;
        // A line begins after a newline: look from the byte before `start`.
        let mut at = start - 1;
        reader.seek(SeekFrom::Start(at))?;
        let mut buf = vec![0u8; CHUNK];
        while at < self.len {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if let Some(nl) = buf[..n].iter().position(|b| *b == b'\n') {
                return Ok(at + nl as u64 + 1);
            }
            at += n as u64;
        }
        Ok(self.len)
    }

    /// Replace the file with: a marker for `dropped` more bytes, what it holds from `keep_from`
    /// on, then `bytes`.
    fn replace(&mut self, dropped: u64, keep_from: u64, bytes: &[u8]) -> io::Result<()> {
        self.file.flush()?;
        let total = self.dropped + dropped;
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(".cut");
        let aside = self.path.with_file_name(name);
        let mut out = File::create(&aside)?;
        let marker = marker(total);
        out.write_all(marker.as_bytes())?;
        let mut kept = 0;
        if keep_from < self.len {
            let mut reader = File::open(&self.path)?;
            reader.seek(SeekFrom::Start(keep_from))?;
            kept = io::copy(&mut reader.take(self.len - keep_from), &mut out)?;
        }
        out.write_all(bytes)?;
        std::fs::rename(&aside, &self.path)?;
        self.file = out;
        self.marker_len = marker.len() as u64;
        self.len = self.marker_len + kept + bytes.len() as u64;
        self.dropped = total;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(from: usize, to: usize) -> Vec<String> {
        (from..to).map(|i| format!("{{\"line\":{i:06},\"pad\":\"{}\"}}\n", "x".repeat(40))).collect()
    }

    #[test]
    fn the_file_stays_under_its_cap_and_keeps_the_newest_whole_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("run.jsonl");
        let mut file = CappedFile::create(&path, 8 << 10).expect("create");
        let all = lines(0, 2000);
        let mut peak = 0;
        for line in &all {
            file.write(line.as_bytes()).expect("write");
            peak = peak.max(std::fs::metadata(&path).expect("stat").len());
        }
        assert!(peak <= 8 << 10, "the file reached {peak} bytes, over its cap");
        let text = std::fs::read_to_string(&path).expect("read");
        let mut rest = text.lines();
        let marker_line = rest.next().expect("a marker line");
        let kept: Vec<&str> = rest.collect();
        assert!(kept.len() > 10, "a good part of the cap is kept: {} lines", kept.len());
        let newest: Vec<&str> = all[all.len() - kept.len()..].iter().map(|l| l.trim_end()).collect();
        assert_eq!(kept, newest, "the kept lines are the newest ones, whole and in order");
        let kept_bytes: usize = kept.iter().map(|l| l.len() + 1).sum();
        let written: usize = all.iter().map(String::len).sum();
        assert_eq!(file.dropped() as usize, written - kept_bytes, "the marker counts every dropped byte");
        assert_eq!(marker_line, marker(file.dropped()).trim_end());
        assert!(!dir.path().join("run.jsonl.cut").exists(), "nothing is left beside it");
    }

    #[test]
    fn a_file_under_its_cap_is_written_as_it_comes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("run.jsonl");
        let mut file = CappedFile::create(&path, 64 << 10).expect("create");
        let all = lines(0, 100);
        for line in &all {
            file.write(line.as_bytes()).expect("write");
        }
        assert_eq!(std::fs::read_to_string(&path).expect("read"), all.concat());
        assert_eq!(file.dropped(), 0);
    }

    #[test]
    fn one_write_larger_than_the_cap_keeps_its_tail_from_a_line_boundary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("run.stderr");
        let mut file = CappedFile::create(&path, MIN_MAX).expect("create");
        file.write(b"first\n").expect("write");
        let big: String = lines(0, 200).concat();
        file.write(big.as_bytes()).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.len() as u64 <= MIN_MAX, "{} bytes", text.len());
        let (marker_line, kept) = text.split_once('\n').expect("a marker line");
        assert!(big.ends_with(kept), "the tail of the write is kept");
        assert!(kept.starts_with("{\"line\""), "from a line boundary: {:?}", &kept[..20]);
        assert_eq!(marker_line, marker(6 + (big.len() - kept.len()) as u64).trim_end());
    }

    #[test]
    fn a_line_with_no_end_is_cut_in_its_middle_rather_than_passing_the_cap() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("run.stderr");
        let mut file = CappedFile::create(&path, MIN_MAX).expect("create");
        for _ in 0..100 {
            file.write(&[b'y'; 100]).expect("write");
        }
        let len = std::fs::metadata(&path).expect("stat").len();
        assert!(len <= MIN_MAX, "{len} bytes");
        assert_eq!(file.dropped() + len - marker(file.dropped()).len() as u64, 100 * 100);
    }
}
