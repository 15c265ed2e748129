//! Hybrid logical clocks, and the sync metadata every mutable record carries.
//!
//! A hybrid timestamp is wall-clock milliseconds plus a counter: each state commit takes
//! `max(now, parent + 1)`, so a write that saw another write is always later than it, even
//! when the machines' clocks disagree. Sync breaks ties by op id, so "last writer" is a total
//! order every clone computes alike.

use serde::{Deserialize, Serialize};

/// A hybrid timestamp: `<millis>.<counter>` in files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hlc {
    pub millis: u64,
    pub counter: u32,
}

impl Hlc {
    /// The clock of a write that has seen `seen`, at wall time `now_millis`.
    pub fn tick(seen: Hlc, now_millis: u64) -> Hlc {
        if now_millis > seen.millis {
            Hlc { millis: now_millis, counter: 0 }
        } else {
            Hlc { millis: seen.millis, counter: seen.counter.saturating_add(1) }
        }
    }

    /// Parse `<millis>.<counter>`.
    pub fn parse(text: &str) -> Option<Hlc> {
        let (millis, counter) = text.split_once('.')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(millis) || !digits(counter) {
            return None;
        }
        Some(Hlc { millis: millis.parse().ok()?, counter: counter.parse().ok()? })
    }
}

impl std::fmt::Display for Hlc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.millis, self.counter)
    }
}

impl Serialize for Hlc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hlc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Hlc::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a clock (<millis>.<counter>)")))
    }
}

/// The `[sync]` table of a mutable record. The store sets `clock` and `op` on every write;
/// sync adds the conflicts its rules settled by choosing one side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncMeta {
    /// When the record was last written.
    pub clock: Hlc,
    /// The operation that wrote it.
    pub op: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<SyncConflict>,
}

/// Two machines changed one field to different values; sync kept one and records the other
/// here until a person resolves it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConflict {
    pub field: String,
    /// The value sync kept, as TOML.
    pub kept: String,
    /// The value it set aside, as TOML.
    pub lost: String,
    /// The operation that wrote the value set aside.
    pub lost_op: String,
}

impl SyncConflict {
    /// One line for people.
    pub fn describe(&self) -> String {
        format!("{}: kept {}, set aside {} (op {})", self.field, self.kept, self.lost, self.lost_op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_after_a_write_is_later_even_when_the_clock_goes_back() {
        let a = Hlc::tick(Hlc::default(), 1000);
        assert_eq!(a, Hlc { millis: 1000, counter: 0 });
        let b = Hlc::tick(a, 999);
        assert!(b > a);
        assert_eq!(Hlc::tick(b, 1000), Hlc { millis: 1000, counter: 2 });
        assert_eq!(Hlc::tick(b, 2000), Hlc { millis: 2000, counter: 0 });
    }

    #[test]
    fn clocks_round_trip_as_text() {
        let c = Hlc { millis: 1_764_000_000_123, counter: 7 };
        assert_eq!(Hlc::parse(&c.to_string()), Some(c));
        for bad in ["", "1", "1.", ".1", "1.2.3", "-1.0", "a.b"] {
            assert_eq!(Hlc::parse(bad), None, "{bad}");
        }
    }
}
