//! Where an effect or a lease comes from: the clone, the host, and the process.
//!
//! A process is named by its pid *and* its start time, so a pid the kernel reuses later never
//! passes for the process that made the record. Whether that process is still alive is a
//! question for the host it ran on (see `store::origin`); this module only holds the data.

use serde::{Deserialize, Serialize};

/// The process that made a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The clone (`<git-common-dir>/maestro/clone-id`) of the repository.
    pub clone: String,
    /// The host name, shown to people.
    pub host: String,
    /// The host's boot id: a pid means nothing after a reboot.
    pub boot: String,
    pub pid: u32,
    /// The process start time, in clock ticks since boot.
    pub start: u64,
}

impl Origin {
    /// Whether `self` was made on the same host and boot as `other`.
    pub fn same_boot(&self, other: &Origin) -> bool {
        self.host == other.host && self.boot == other.boot
    }

    /// Whether `self` and `other` name the same process.
    pub fn same_process(&self, other: &Origin) -> bool {
        self.same_boot(other) && self.pid == other.pid && self.start == other.start
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on {}", self.pid, self.host)
    }
}
