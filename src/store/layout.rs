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

/// `scores/<score>/tasks`
pub fn tasks_dir(score: &str) -> String {
    format!("{SCORES_DIR}/{score}/tasks")
}

/// `scores/<score>/tasks/<task>.toml`
pub fn task_file(score: &str, task: &str) -> String {
    format!("{SCORES_DIR}/{score}/tasks/{task}.toml")
}

/// `sessions/<score>/<task>/<run>.toml`
pub fn session_file(score: &str, task: &str, run: &str) -> String {
    format!("sessions/{score}/{task}/{run}.toml")
}

/// `decisions/<aa>/<bb>/<id>.toml`
pub fn decision_file(id: &str) -> String {
    fanned(DECISIONS_DIR, id)
}

/// `<dir>/<aa>/<bb>/<id>.toml`, where `aa` and `bb` are the first two bytes of a hash of the id
/// in hex. Two levels of 256 keep every tree small, so one write rewrites three small trees
/// instead of one huge one.
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
        assert_eq!(decision_file("01jd5v0000abcdefghjkmnpqrs"), "decisions/25/a9/01jd5v0000abcdefghjkmnpqrs.toml");
        let mut buckets = std::collections::HashSet::new();
        for i in 0..1000 {
            buckets.insert(decision_file(&format!("id{i}"))[..15].to_owned());
        }
        assert!(buckets.len() > 900, "1000 ids should land in many buckets, got {}", buckets.len());
    }
}
