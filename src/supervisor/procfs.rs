//! Finding a process's descendants through `/proc`, and ending them.
//!
//! Only Linux `/proc/<pid>/stat` is read. A process can fork between a scan and a kill, so
//! callers scan again until a scan finds nothing alive.

use std::collections::{BTreeSet, HashMap};

use rustix::process::{Pid, Signal, WaitOptions};

/// One process seen in `/proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    pid: i32,
    parent: i32,
    /// Exited, waiting to be reaped: nothing to kill.
    zombie: bool,
}

/// Parse `/proc/<pid>/stat`: `pid (comm) state ppid …`; `comm` may hold spaces and parentheses,
/// so the fields after it are found from the last `)`.
fn parse_stat(text: &str) -> Option<Entry> {
    let (head, tail) = text.rsplit_once(')')?;
    let pid = head.split_once(' ')?.0.trim().parse().ok()?;
    let mut fields = tail.split_whitespace();
    let state = fields.next()?;
    let parent = fields.next()?.parse().ok()?;
    Some(Entry { pid, parent, zombie: state == "Z" || state == "X" })
}

fn processes() -> Vec<Entry> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| {
        let name = e.ok()?.file_name();
        let pid: i32 = name.to_str()?.parse().ok()?;
        // A process that ended since the listing has no stat file any more: it is gone.
        parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    })
    .collect()
}

/// The descendants of `root` (not `root` itself), alive or zombie, as `(pid, zombie)`.
fn descendants_of(root: i32, all: &[Entry]) -> Vec<Entry> {
    let mut children: HashMap<i32, Vec<Entry>> = HashMap::new();
    for e in all {
        children.entry(e.parent).or_default().push(*e);
    }
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        for child in children.get(&pid).into_iter().flatten() {
            // pid 0 and a self-parent never occur in /proc; the guard keeps a bad read finite.
            if child.pid != root && !found.iter().any(|f: &Entry| f.pid == child.pid) {
                found.push(*child);
                queue.push(child.pid);
            }
        }
    }
    found
}

/// SIGKILL every live descendant of this process and reap those that became its children, until
/// none is left or `rounds` scans have passed. Returns the pids that were killed, and whether
/// some descendant was still alive after the last round.
///
/// Call it only once the direct child has been waited for: reaping here takes any child's
/// status. The process must be the child subreaper of its subtree.
pub fn kill_descendants(rounds: usize) -> (BTreeSet<i32>, bool) {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let mut killed = BTreeSet::new();
    for _ in 0..rounds {
        // As the subreaper of its subtree, a process with no child left has no descendant:
        // every orphan in the subtree becomes its child. This spares the scan of every process
        // after a command that left nothing behind.
        if reap() {
            return (killed, false);
        }
        let found = descendants_of(me, &processes());
        let alive: Vec<i32> = found.iter().filter(|e| !e.zombie).map(|e| e.pid).collect();
        for pid in &alive {
            if let Some(p) = Pid::from_raw(*pid) {
                // Gone already is fine: the next scan tells.
                let _ = rustix::process::kill_process(p, Signal::KILL);
                killed.insert(*pid);
            }
        }
        reap();
        if alive.is_empty() {
            return (killed, false);
        }
        // Killed processes take a moment to die; their orphans then become ours.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let left = descendants_of(me, &processes()).iter().any(|e| !e.zombie);
    (killed, left)
}

/// Wait for every child that has already ended, without blocking; whether no child is left,
/// alive or ended.
fn reap() -> bool {
    loop {
        // Any child: `waitpid(None)` would see only those in this process group.
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some(_)) | Err(rustix::io::Errno::INTR) => {}
            Ok(None) => return false,
            Err(e) => return e == rustix::io::Errno::CHILD,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        let e = parse_stat("42 (a (b) c) S 7 42 42 0 -1").expect("a stat line");
        assert_eq!(e, Entry { pid: 42, parent: 7, zombie: false });
        let z = parse_stat("43 (sh) Z 1 1 1").expect("a zombie's stat line");
        assert!(z.zombie);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn descendants_are_found_through_every_generation_and_not_beyond() {
        let e = |pid, parent| Entry { pid, parent, zombie: false };
        let all = [e(1, 0), e(10, 1), e(11, 10), e(12, 11), e(13, 11), e(20, 1), e(21, 20)];
        let mut found: Vec<i32> = descendants_of(10, &all).iter().map(|e| e.pid).collect();
        found.sort_unstable();
        assert_eq!(found, [11, 12, 13], "children and grandchildren of 10, and nothing of 20");
    }
}
