//! This process as an [`Origin`], and whether the process an origin names is still alive.
//!
//! Liveness is judged only on the origin's own host and boot: the pid must exist, not be a
//! zombie, and have the start time recorded (a reused pid has another). Anything made on
//! another host is judged by its heartbeat instead (see [`lease_liveness`]).

use std::sync::OnceLock;

use jiff::{SignedDuration, Timestamp};

use crate::model::lease::{Lease, Liveness};
use crate::model::origin::Origin;

/// How long another host's lease stays held without a heartbeat, unless config says otherwise.
pub const LEASE_STALE_AFTER: SignedDuration = SignedDuration::from_mins(30);

/// This host's name and boot id, read once.
fn host() -> &'static (String, String) {
    static HOST: OnceLock<(String, String)> = OnceLock::new();
    HOST.get_or_init(|| {
        let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_owned()).unwrap_or_default();
        let mut name = read("/proc/sys/kernel/hostname");
        if name.is_empty() {
            name = "localhost".into();
        }
        (name, read("/proc/sys/kernel/random/boot_id"))
    })
}

/// The start time (clock ticks since boot) of process `pid`, if it runs and is no zombie.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // fields[0] is the state (field 3); the start time is field 22.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// This process, in clone `clone`.
pub fn current(clone: &str) -> Origin {
    let (host, boot) = host().clone();
    let pid = std::process::id();
    Origin { clone: clone.to_owned(), host, boot, pid, start: start_time(pid).unwrap_or(0) }
}

/// Whether `origin` was made on this host since its last boot.
pub fn is_local(origin: &Origin) -> bool {
    let (host, boot) = host();
    origin.host == *host && origin.boot == *boot
}

/// Whether the process `origin` names runs right now. Only meaningful when [`is_local`].
pub fn alive(origin: &Origin) -> bool {
    is_local(origin) && start_time(origin.pid) == Some(origin.start)
}

/// How `lease` looks from here at `now`: a local lease lives with its process, another
/// host's until its heartbeat is older than `stale_after`.
pub fn lease_liveness(lease: Option<&Lease>, now: Timestamp, stale_after: SignedDuration) -> Liveness {
    let Some(lease) = lease else { return Liveness::Dead };
    if is_local(&lease.origin) {
        return if alive(&lease.origin) { Liveness::Live } else { Liveness::Dead };
    }
    if now.duration_since(lease.heartbeat) < stale_after { Liveness::Foreign } else { Liveness::Dead }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = current("c");
        assert!(alive(&me), "{me:?}");
        let reused = Origin { start: me.start + 1, ..me.clone() };
        assert!(!alive(&reused), "another start time is another process");
        let elsewhere = Origin { host: "elsewhere.invalid".into(), ..me };
        assert!(!is_local(&elsewhere));
        let lease = Lease {
            run: "r".into(),
            origin: elsewhere,
            started: Timestamp::UNIX_EPOCH,
            heartbeat: Timestamp::UNIX_EPOCH,
        };
        let soon = Timestamp::UNIX_EPOCH + SignedDuration::from_mins(1);
        assert_eq!(lease_liveness(Some(&lease), soon, LEASE_STALE_AFTER), Liveness::Foreign);
        let late = Timestamp::UNIX_EPOCH + SignedDuration::from_hours(1);
        assert_eq!(lease_liveness(Some(&lease), late, LEASE_STALE_AFTER), Liveness::Dead);
    }
}
