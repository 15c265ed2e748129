//! Where each record lives in the state tree. See the tree in the `store` module doc.

/// Every ref maestro owns lives under this prefix.
pub const REF_PREFIX: &str = "refs/maestro/";
/// The ref holding the shared state.
pub const STATE_REF: &str = "refs/maestro/state";
/// Refs that keep result commits reachable: `refs/maestro/keep/<sha>`.
pub const KEEP_PREFIX: &str = "refs/maestro/keep/";
/// One archive ref per cleaned-up Score, `refs/maestro/archive/<score>`: a commit whose
/// parents are every tip `gc` removed, so none of them becomes unreachable.
pub const ARCHIVE_PREFIX: &str = "refs/maestro/archive/";
/// The root record of the state.
pub const MAESTRO_TOML: &str = "maestro.toml";
/// The directory of all Scores.
pub const SCORES_DIR: &str = "scores";
/// The directory of the decision log.
pub const DECISIONS_DIR: &str = "decisions";
/// Long-term knowledge entries, fanned out like decisions.
pub const KNOWLEDGE_DIR: &str = "knowledge";

/// Open intents: git effects of lifecycle steps not yet settled (see `store::effects`).
pub const INTENTS_DIR: &str = "intents";

/// `intents/<id>.toml`
pub fn intent_file(id: &str) -> String {
    format!("{INTENTS_DIR}/{id}.toml")
}

/// `scores/<score>/score.toml`
pub fn score_file(score: &str) -> String {
    format!("{SCORES_DIR}/{score}/score.toml")
}

/// `scores/<score>/tasks/<a>/<b>/<task>.toml`, where `<a>/<b>` are two hex digits of a hash
/// of the task id ([`bucket`]). Two levels of 16 keep every tree on a write's path small: in a
/// Score of 10,000 tasks a write rewrites trees of 16, 16 and about 40 entries, and in one of
/// 100 tasks trees of 16 and about 6, where one level of 256 rewrote one of up to 256.
/// `git maestro task show <score>/<task> -v` names the path, for
/// `git show refs/maestro/state:<path>`.
pub fn task_file(score: &str, task: &str) -> String {
    format!("{SCORES_DIR}/{score}/tasks/{}/{task}.toml", bucket(task))
}

/// `sessions/<score>/<a>/<b>/<task>/<run>.toml`, fanned out like the tasks.
pub fn session_file(score: &str, task: &str, run: &str) -> String {
    format!("sessions/{score}/{}/{task}/{run}.toml", bucket(task))
}

/// The bucket of a task's records within its Score: two hex digits as two directories, `a/b`.
pub fn bucket(task: &str) -> String {
    let byte = mix(fnv1a(task.as_bytes())) >> 56;
    format!("{:x}/{:x}", byte >> 4, byte & 0xf)
}

/// Where a format-1 state (tasks and sessions not fanned out, decisions in two levels of 256)
/// keeps the record that `path` names, when the two differ.
pub fn format1_path(path: &str) -> Option<String> {
    // Every read asks: the records that did not move are told apart without splitting.
    if !path.starts_with("scores/") && !path.starts_with("sessions/") && !path.starts_with("decisions/") {
        return None;
    }
    match path.split('/').collect::<Vec<_>>()[..] {
        ["scores", score, "tasks", _, _, file] => Some(format!("{SCORES_DIR}/{score}/tasks/{file}")),
        ["sessions", score, _, _, task, run] => Some(format!("sessions/{score}/{task}/{run}")),
        [DECISIONS_DIR, _, _, _, file] => Some(fanned(DECISIONS_DIR, file.strip_suffix(".toml")?)),
        _ => None,
    }
}

/// Where builds of this version made before tasks took two levels kept the task or session
/// record that `path` names: in one level of 256 (`tasks/<ab>/`, `sessions/<score>/<ab>/`).
pub fn one_level_path(path: &str) -> Option<String> {
    match path.split('/').collect::<Vec<_>>()[..] {
        ["scores", score, "tasks", a, b, file] => Some(format!("{SCORES_DIR}/{score}/tasks/{a}{b}/{file}")),
        ["sessions", score, a, b, task, run] => Some(format!("sessions/{score}/{a}{b}/{task}/{run}")),
        _ => None,
    }
}

/// The reverse of [`one_level_path`]: where the current layout places the record kept at
/// `path` in one level of 256, if it is such a path.
pub fn from_one_level(path: &str) -> Option<String> {
    let byte = |ab: &str| ab.len() == 2 && ab.bytes().all(|b| b.is_ascii_hexdigit());
    match path.split('/').collect::<Vec<_>>()[..] {
        ["scores", score, "tasks", ab, file] if byte(ab) => {
            Some(format!("{SCORES_DIR}/{score}/tasks/{}/{}/{file}", &ab[..1], &ab[1..]))
        }
        ["sessions", score, ab, task, run] if byte(ab) => {
            Some(format!("sessions/{score}/{}/{}/{task}/{run}", &ab[..1], &ab[1..]))
        }
        _ => None,
    }
}

/// Where the current format keeps the record that an older layout has at `path`, when the
/// two differ: the reverse of [`format1_path`], and of [`one_level_path`].
pub fn current_path(old: &str) -> Option<String> {
    match old.split('/').collect::<Vec<_>>()[..] {
        ["scores", score, "tasks", file] => Some(task_file(score, file.strip_suffix(".toml")?)),
        ["sessions", score, task, run] => Some(format!("sessions/{score}/{}/{task}/{run}", bucket(task))),
        [DECISIONS_DIR, _, _, file] => Some(decision_file(file.strip_suffix(".toml")?)),
        _ => from_one_level(old),
    }
}

/// `decisions/<a>/<b>/<c>/<id>.toml`, where `a`, `b` and `c` are the first three hex digits of
/// a hash of the id. The log is the one directory that grows to 100,000 records: three levels
/// of 16 make a new decision rewrite about 70 tree entries at that size, where two levels of
/// 256 (format 1, and still the other fanned directories) rewrite about 520.
pub fn decision_file(id: &str) -> String {
    let h = mix(fnv1a(id.as_bytes()));
    format!("{DECISIONS_DIR}/{:x}/{:x}/{:x}/{id}.toml", h >> 60, (h >> 56) & 0xf, (h >> 52) & 0xf)
}

/// Handover packets, fanned out like decisions.
pub const HANDOVERS_DIR: &str = "handovers";

/// `handovers/<aa>/<bb>/<id>.toml`
pub fn handover_file(id: &str) -> String {
    fanned(HANDOVERS_DIR, id)
}

/// `stats/performers/<name>.toml`
pub fn performer_stats_file(performer: &str) -> String {
    format!("stats/performers/{performer}.toml")
}

/// `knowledge/<aa>/<bb>/<id>.toml`
pub fn knowledge_file(id: &str) -> String {
    fanned(KNOWLEDGE_DIR, id)
}

/// Whether the record at `path` is mutable, so every write stamps its `[sync]` clock: all
/// but the root and the append-only decision log.
pub fn is_versioned(path: &str) -> bool {
    path != MAESTRO_TOML && !path.starts_with("decisions/") && !path.starts_with("intents/")
}

/// `<dir>/<aa>/<bb>/<id>.toml`, where `aa` and `bb` are the first two bytes of a hash of the id
/// in hex. Two levels of 256 keep every tree small, so one write rewrites three small trees
/// instead of one huge one.
pub fn fanned(dir: &str, id: &str) -> String {
    let h = mix(fnv1a(id.as_bytes()));
    format!("{dir}/{:02x}/{:02x}/{id}.toml", h >> 56, (h >> 48) & 0xff)
}

/// murmur3's 64-bit finaliser: FNV alone leaves the top bits, which pick the buckets, nearly
/// unchanged for ids that differ only at the end.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// FNV-1a, 64 bit: stable across versions and platforms, which the layout depends on.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_is_stable_and_spread() {
        // Pinned: changing the hash would move every record of every existing repository.
        assert_eq!(knowledge_file("01jd5v0000abcdefghjkmnpqrs"), "knowledge/25/a9/01jd5v0000abcdefghjkmnpqrs.toml");
        assert_eq!(decision_file("01jd5v0000abcdefghjkmnpqrs"), "decisions/2/5/a/01jd5v0000abcdefghjkmnpqrs.toml");
        let mut buckets = std::collections::HashSet::new();
        for i in 0..1000 {
            buckets.insert(knowledge_file(&format!("id{i}"))[..15].to_owned());
        }
        assert!(buckets.len() > 900, "1000 ids should land in many buckets, got {}", buckets.len());
        let leaves: std::collections::HashSet<String> =
            (0..100_000).map(|i| decision_file(&format!("id{i}"))[..16].to_owned()).collect();
        assert_eq!(leaves.len(), 4096, "100,000 decisions use every leaf");
    }

    #[test]
    fn tasks_sessions_and_decisions_fan_out_and_map_to_format_1() {
        assert_eq!(task_file("s", "t1"), "scores/s/tasks/5/1/t1.toml");
        let session = session_file("s", "t1", "r1");
        assert_eq!(session, "sessions/s/5/1/t1/r1.toml");
        assert_eq!(format1_path(&task_file("s", "t1")).as_deref(), Some("scores/s/tasks/t1.toml"));
        assert_eq!(format1_path(&session).as_deref(), Some("sessions/s/t1/r1.toml"));
        assert_eq!(current_path("scores/s/tasks/t1.toml"), Some(task_file("s", "t1")));
        assert_eq!(current_path("sessions/s/t1/r1.toml"), Some(session.clone()));
        let decision = "decisions/25/a9/01jd5v0000abcdefghjkmnpqrs.toml";
        assert_eq!(current_path(decision), Some(decision_file("01jd5v0000abcdefghjkmnpqrs")));
        assert_eq!(format1_path(&decision_file("01jd5v0000abcdefghjkmnpqrs")).as_deref(), Some(decision));
        assert_eq!(current_path(&decision_file("01jd5v0000abcdefghjkmnpqrs")), None);
        assert_eq!(format1_path(&knowledge_file("k1")), None);
        assert_eq!(format1_path("scores/s/score.toml"), None);
        assert_eq!(current_path(&task_file("s", "t1")), None);
        assert_eq!(current_path(&session), None);
        let buckets: std::collections::HashSet<String> = (0..10_000).map(|i| bucket(&format!("t{i}"))).collect();
        assert_eq!(buckets.len(), 256, "10,000 tasks use every bucket");
    }

    #[test]
    fn records_in_one_level_of_256_map_to_two_levels_of_16_and_back() {
        let (task, session) = (task_file("s", "t1"), session_file("s", "t1", "r1"));
        assert_eq!(one_level_path(&task).as_deref(), Some("scores/s/tasks/51/t1.toml"));
        assert_eq!(one_level_path(&session).as_deref(), Some("sessions/s/51/t1/r1.toml"));
        assert_eq!(current_path("scores/s/tasks/51/t1.toml"), Some(task.clone()));
        assert_eq!(current_path("sessions/s/51/t1/r1.toml"), Some(session.clone()));
        assert_eq!(from_one_level(&task), None, "already in two levels");
        assert_eq!(from_one_level(&session), None);
        assert_eq!(from_one_level("scores/s/tasks/5x/t1.toml"), None, "not a bucket");
        assert_eq!(from_one_level("scores/s/tasks/515/t1.toml"), None);
        assert_eq!(one_level_path("scores/s/score.toml"), None);
        assert_eq!(one_level_path(&decision_file("d1")), None);
    }
}
