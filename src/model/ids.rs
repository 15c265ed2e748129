//! Identifiers: user-facing slugs (scores, tasks, performer names) and random, time-sortable
//! record ids (decisions, knowledge, handovers, runs, ops).
//!
//! Slugs are allow-listed, never sanitised: a bad id is refused with the reason. Record ids are
//! never derived from content, so two equal decisions are still two records.

use std::fmt;

/// The longest slug: `^[a-z0-9][a-z0-9-]{0,62}$`.
pub const MAX_SLUG_LEN: usize = 63;

/// Names Windows reserves for devices: a file or ref with such a name breaks checkouts there.
const WINDOWS_DEVICE_NAMES: &[&str] = &[
    "con", "prn", "aux", "nul", "com0", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9", "lpt0",
    "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Why a slug was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("the id is empty")]
    Empty,
    #[error("the id is {len} characters long; the limit is {MAX_SLUG_LEN}")]
    TooLong { len: usize },
    #[error("the id must start with a lowercase letter or digit, not {0}")]
    BadStart(Shown),
    #[error("the id may only contain lowercase letters, digits and '-', found {ch} at position {pos}")]
    BadChar { ch: Shown, pos: usize },
    #[error("'{0}' is a reserved device name on Windows")]
    Reserved(String),
    #[error("'{0}' is not a record id (26 lowercase base32 characters)")]
    NotARecordId(String),
}

/// A character shown so that control characters stay visible in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown(pub char);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Check a user-facing slug against `^[a-z0-9][a-z0-9-]{0,62}$` and the Windows device names.
pub fn validate_slug(id: &str) -> Result<(), IdError> {
    let Some(first) = id.chars().next() else {
        return Err(IdError::Empty);
    };
    let len = id.chars().count();
    if len > MAX_SLUG_LEN {
        return Err(IdError::TooLong { len });
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(IdError::BadStart(Shown(first)));
    }
    if let Some((pos, ch)) =
        id.chars().enumerate().find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(IdError::BadChar { ch: Shown(ch), pos });
    }
    if WINDOWS_DEVICE_NAMES.contains(&id) {
        return Err(IdError::Reserved(id.to_owned()));
    }
    Ok(())
}

/// Crockford base32 in lowercase: no i, l, o, u, so ids read unambiguously.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Length of a record id: 10 characters of milliseconds, 16 of randomness (as ULID).
pub const RECORD_ID_LEN: usize = 26;

/// Check the shape of a record id (decision, knowledge, handover, run, op).
pub fn validate_record_id(id: &str) -> Result<(), IdError> {
    if id.len() == RECORD_ID_LEN && id.bytes().all(|b| ALPHABET.contains(&b)) {
        Ok(())
    } else {
        Err(IdError::NotARecordId(id.escape_debug().to_string()))
    }
}

/// Makes random, time-sortable record ids. Seeded for reproducible tests.
pub struct IdGen {
    rng: fastrand::Rng,
}

impl IdGen {
    /// A generator seeded from `seed`; two generators with the same seed produce the same ids.
    pub fn with_seed(seed: u64) -> IdGen {
        IdGen { rng: fastrand::Rng::with_seed(seed) }
    }

    /// A generator seeded from the OS.
    pub fn from_entropy() -> IdGen {
        IdGen { rng: fastrand::Rng::new() }
    }

    /// A new id for `millis` since the epoch. Ids of later milliseconds sort after earlier ones.
    pub fn next(&mut self, millis: u64) -> String {
        let mut out = [0u8; RECORD_ID_LEN];
        let time = millis & ((1 << 48) - 1);
        for (i, slot) in out[..10].iter_mut().enumerate() {
            let shift = 5 * (9 - i);
            *slot = ALPHABET[((time >> shift) & 31) as usize];
        }
        let random: u128 = u128::from(self.rng.u64(..)) << 16 | u128::from(self.rng.u16(..));
        for (i, slot) in out[10..].iter_mut().enumerate() {
            let shift = 5 * (15 - i);
            *slot = ALPHABET[((random >> shift) & 31) as usize];
        }
        // The alphabet is ASCII, so this cannot fail.
        String::from_utf8(out.to_vec()).expect("ASCII alphabet")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_allow_list() {
        for ok in ["a", "auth-tokens", "0day", "a-", &"a".repeat(63)] {
            assert_eq!(validate_slug(ok), Ok(()), "{ok} should be accepted");
        }
        let cases: &[(&str, IdError)] = &[
            ("", IdError::Empty),
            ("../x", IdError::BadStart(Shown('.'))),
            ("a..b", IdError::BadChar { ch: Shown('.'), pos: 1 }),
            ("UPPER", IdError::BadStart(Shown('U'))),
            ("lower-UP", IdError::BadChar { ch: Shown('U'), pos: 6 }),
            ("-lead", IdError::BadStart(Shown('-'))),
            ("a\u{7}b", IdError::BadChar { ch: Shown('\u{7}'), pos: 1 }),
            ("a/b", IdError::BadChar { ch: Shown('/'), pos: 1 }),
            ("con", IdError::Reserved("con".into())),
            ("lpt9", IdError::Reserved("lpt9".into())),
        ];
        for (id, want) in cases {
            assert_eq!(validate_slug(id).as_ref(), Err(want), "{id:?}");
        }
        assert_eq!(validate_slug(&"a".repeat(64)), Err(IdError::TooLong { len: 64 }));
    }

    #[test]
    fn control_characters_are_visible_in_the_message() {
        let msg = validate_slug("ab\u{1b}").unwrap_err().to_string();
        assert!(msg.contains("'\\u{1b}'"), "{msg}");
    }

    #[test]
    fn record_ids_sort_by_time_and_are_seeded() {
        let mut a = IdGen::with_seed(7);
        let mut b = IdGen::with_seed(7);
        let (x, y) = (a.next(1_000), a.next(2_000));
        assert!(x < y, "{x} < {y}");
        assert_eq!(x, b.next(1_000));
        assert_ne!(a.next(2_000), y, "same millisecond still gives a new id");
        validate_record_id(&x).expect("a generated id is a valid record id");
        assert!(validate_record_id("short").is_err());
        assert!(validate_record_id(&"I".repeat(26)).is_err());
    }
}
