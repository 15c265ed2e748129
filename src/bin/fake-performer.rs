//! A scripted performer for tests (built with the `test-support` feature). It reads the prompt
//! on stdin and does what its environment says, in this order (`{task}` in any value is
//! `MAESTRO_TASK`):
//!
//! - `FAKE_LOG=<file>`: append `start <task> <nanos>` now and `end <task> <nanos>` at exit;
//! - `FAKE_PROMPT_COPY=<file>`: write the prompt it received to `<file>`;
//! - `FAKE_READ=<path>=<file>`: copy `<path>` from the cwd (if there) to `<file>`;
//! - `FAKE_WRITE=<path>=<content>` (several on separate lines): write files under the cwd; a
//!   `\n` in the content is a line break;
//! - `FAKE_BIG_FILE=<path>=<n>`: write `n` bytes that do not compress well to `<path>` under
//!   the cwd;
//! - `FAKE_OUTSIDE=<absolute path>`: write a file outside its worktree;
//! - `FAKE_OUTPUT_BYTES=<n>`: print about `n` bytes of output;
//! - `FAKE_SLEEP_MS=<ms>`; `FAKE_HANG=1`: sleep forever;
//! - `FAKE_SAY=<text>`: print it as the last line (a `\n` in it is a line break);
//! - `FAKE_EXIT=<code>`: exit with that code (default 0), after printing a last message;
//!   `FAKE_EXIT_FOR=<task>` limits it to that task.
//!
//! `FAKE_LOG`, `FAKE_PROMPT_COPY`, `FAKE_READ` and `FAKE_OUTSIDE` write outside the worktree, which
//! the sandbox forbids: tests that use them configure the performer with `sandbox = "off"`.

use std::io::{Read, Write};

fn main() {
    let mut prompt = String::new();
    let _ = std::io::stdin().read_to_string(&mut prompt);
    let task = std::env::var("MAESTRO_TASK").unwrap_or_default();
    let var = |k: &str| {
        let v = std::env::var(k).ok().filter(|v| !v.is_empty())?;
        Some(v.replace("{task}", &task))
    };
    let log = |what: &str| {
        if let Some(path) = var("FAKE_LOG") {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let mut f = std::fs::File::options().create(true).append(true).open(path).expect("open log");
            // One write per line: with O_APPEND it cannot interleave with another performer's.
            let line = format!("{what} {task} {}\n", nanos.as_nanos());
            f.write_all(line.as_bytes()).expect("write log");
        }
    };
    log("start");
    if let Some(path) = var("FAKE_PROMPT_COPY") {
        std::fs::write(path, &prompt).expect("write prompt copy");
    }
    if let Some((from, to)) = var("FAKE_READ").as_deref().and_then(|s| s.split_once('='))
        && let Ok(data) = std::fs::read(from)
    {
        std::fs::write(to, data).expect("copy");
    }
    if let Some(spec) = var("FAKE_WRITE") {
        for item in spec.lines().filter(|s| !s.is_empty()) {
            let (path, content) = item.split_once('=').expect("FAKE_WRITE items are path=content");
            if let Some(dir) = std::path::Path::new(path).parent() {
                std::fs::create_dir_all(dir).expect("create dirs");
            }
            std::fs::write(path, format!("{}\n", content.replace("\\n", "\n"))).expect("write file");
            println!("wrote {path}");
        }
    }
    if let Some((path, n)) = var("FAKE_BIG_FILE").as_deref().and_then(|s| s.split_once('=')) {
        big_file(path, n.parse().expect("FAKE_BIG_FILE is path=<bytes>"));
    }
    if let Some(path) = var("FAKE_OUTSIDE") {
        std::fs::write(&path, "written outside the worktree\n").expect("write outside");
        println!("wrote {path}");
    }
    if let Some(n) = var("FAKE_OUTPUT_BYTES").and_then(|n| n.parse::<usize>().ok()) {
        let line = "x".repeat(99);
        let mut out = std::io::stdout().lock();
        for _ in 0..n / 100 {
            if writeln!(out, "{line}").is_err() {
                break;
            }
        }
    }
    if let Some(ms) = var("FAKE_SLEEP_MS").and_then(|n| n.parse().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    if var("FAKE_HANG").is_some() {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    let applies = var("FAKE_EXIT_FOR").is_none_or(|t| t == task);
    let code: i32 = var("FAKE_EXIT").filter(|_| applies).and_then(|c| c.parse().ok()).unwrap_or(0);
    log("end");
    println!("fake-performer done (exit {code})");
    if let Some(text) = var("FAKE_SAY") {
        println!("{}", text.replace("\\n", "\n"));
    }
    std::process::exit(code);
}

/// Write `len` bytes of a xorshift sequence to `path`, a chunk at a time.
fn big_file(path: &str, len: usize) {
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir).expect("create dirs");
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create the big file"));
    let mut state = 0x9e37_79b9_u32;
    for _ in 0..len {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        out.write_all(&[state as u8]).expect("write the big file");
    }
    out.flush().expect("write the big file");
}
