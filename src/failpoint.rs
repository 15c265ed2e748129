//! Deterministic crash points (DESIGN.md §12.5), for tests only.
//!
//! With the `test-support` feature, `MAESTRO_FAILPOINTS` names points as `name` or `name#n`
//! (the n-th time the process reaches it, from 1), comma-separated. Reaching a named point kills
//! the process with SIGKILL, exactly as `kill -9` would: no destructor, no lock cleanup.
//! `MAESTRO_FAILPOINTS_LOG` names a file where every point reached is appended, one per line,
//! so a test can enumerate the points of a command and then crash at each in turn.
//! Without the feature, [`hit`] does nothing.

/// Reach the crash point `name`.
#[cfg(feature = "test-support")]
pub fn hit(name: &str) {
    use std::collections::HashMap;
    use std::io::Write as _;
    use std::sync::Mutex;

    static COUNTS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);
    let n = {
        let mut counts = COUNTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = counts.get_or_insert_with(HashMap::new).entry(name.to_owned()).or_default();
        *n += 1;
        *n
    };
    if let Some(log) = std::env::var_os("MAESTRO_FAILPOINTS_LOG")
        && let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log)
    {
        let _ = f.write_all(format!("{name}#{n}\n").as_bytes());
    }
    let Ok(points) = std::env::var("MAESTRO_FAILPOINTS") else { return };
    // The count follows the last `#`: names such as `effect:merge#0` have one of their own.
    let armed = points
        .split(',')
        .map(str::trim)
        .any(|p| p == name || p.rsplit_once('#').is_some_and(|(point, k)| point == name && k.parse() == Ok(n)));
    if armed {
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        std::process::abort();
    }
}

/// Reach the crash point `name` (a no-op without the `test-support` feature).
#[cfg(not(feature = "test-support"))]
#[inline(always)]
pub fn hit(_name: &str) {}
