//! The Landlock sandbox of a performer or check run (DESIGN §13, "Sandbox").
//!
//! A [`Policy`] names what a run may write and which TCP ports it may connect to; everything
//! may still be read and executed. [`confine_this_thread`] applies it to the calling thread,
//! so that a command spawned from that thread, and everything it starts, inherits it while the
//! rest of the process stays free: the supervisor confines a thread of its own and spawns the
//! command from it (no `pre_exec`, no `unsafe`).
//!
//! The access rights are pinned to a known Landlock ABI, as the crate advises, and applied best
//! effort: an older kernel enforces what it has and the [`Level`] says how much that was.
//! Device ioctls are not restricted (terminals and `/dev/null` need them), nor is connecting to
//! Unix sockets (the MCP relay's).

use std::path::{Path, PathBuf};

use landlock::{
    ABI, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus, NetPort, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus,
};

/// The ABI whose rights the policy uses: 3 for the filesystem (write, rename across
/// directories, truncate), 4 for TCP.
const FS_ABI: ABI = ABI::V3;

/// Whether a run is confined: `sandbox = "off" | "auto" | "required"` in config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Never confined.
    Off,
    /// Confined where the kernel has Landlock, else run as is.
    #[default]
    Auto,
    /// Confined, or not run at all.
    Required,
}

impl Mode {
    pub const NAMES: [&'static str; 3] = ["off", "auto", "required"];

    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "off" => Some(Mode::Off),
            "auto" => Some(Mode::Auto),
            "required" => Some(Mode::Required),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Auto => "auto",
            Mode::Required => "required",
        }
    }
}

/// What a confined run may do besides reading and executing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    pub mode: Mode,
    /// Directories (and their contents) and files it may write; missing ones are skipped.
    pub writable: Vec<PathBuf>,
    /// The only TCP ports it may connect to; `None` leaves the network alone.
    pub connect_ports: Option<Vec<u16>>,
}

/// How much of a policy the kernel enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "level", content = "abi")]
pub enum Level {
    /// The policy's mode is off.
    Off,
    /// This kernel has no Landlock: nothing is enforced.
    Unavailable,
    /// Some of it (an older kernel: e.g. no network rules before ABI 4), at this ABI.
    Partial(u8),
    /// All of it, at this ABI.
    Full(u8),
}

impl Level {
    pub fn is_confined(self) -> bool {
        matches!(self, Level::Partial(_) | Level::Full(_))
    }

    /// Whether every write right of the policy was enforced (only the network may have been
    /// left alone), so the run wrote nothing outside its writable paths.
    pub fn confines_writes(self) -> bool {
        matches!(self, Level::Partial(abi) | Level::Full(abi) if abi >= FS_ABI as u8)
    }
}

/// Whether a run under `mode` will have every write right of its policy enforced on this
/// kernel: what [`Level::confines_writes`] will say of it afterwards.
pub fn will_confine_writes(mode: Mode) -> bool {
    mode != Mode::Off && probe() >= FS_ABI as u8
}

/// Why a run could not be confined.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox is required but this kernel has no Landlock")]
    Unavailable,
    #[error("cannot set up the Landlock sandbox: {0}")]
    Landlock(landlock::RulesetError),
}

/// The Landlock ABI this kernel offers (0: none), found once per process by confining a
/// scratch thread.
pub fn probe() -> u8 {
    static ABI: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    if simulated_absent() {
        return 0;
    }
    *ABI.get_or_init(probe_kernel)
}

fn probe_kernel() -> u8 {
    let status = std::thread::spawn(|| {
        Ruleset::default()
            .handle_access(AccessFs::from_write(ABI::V1))
            .and_then(|r| r.create())
            .and_then(|r| r.restrict_self())
            .map(|s| s.landlock)
    })
    .join();
    match status {
        Ok(Ok(LandlockStatus::Available { effective_abi, .. })) => effective_abi as u8,
        _ => 0,
    }
}

/// What a kernel at `abi` leaves unenforced of a policy that confines the network, for
/// `performers --check` and the docs.
pub fn not_enforced(abi: u8) -> Vec<&'static str> {
    let mut gaps = Vec::new();
    if abi == 0 {
        gaps.push("everything (no Landlock)");
    } else if abi < 4 {
        gaps.push("TCP (Landlock ABI 4 and later)");
    }
    gaps.extend(["UDP", "raw sockets", "MPTCP", "TCP Fast Open", "reading files"]);
    gaps
}

/// Confine the calling thread, and every process it spawns from now on, to `policy`.
/// `required` and nothing enforced is an error; `auto` and nothing enforced is
/// [`Level::Unavailable`].
pub fn confine_this_thread(policy: &Policy) -> Result<Level, SandboxError> {
    if policy.mode == Mode::Off {
        return Ok(Level::Off);
    }
    if simulated_absent() {
        return if policy.mode == Mode::Required { Err(SandboxError::Unavailable) } else { Ok(Level::Unavailable) };
    }
    let status = ruleset(policy).map_err(SandboxError::Landlock)?.restrict_self().map_err(SandboxError::Landlock)?;
    let abi = match status.landlock {
        LandlockStatus::Available { effective_abi, .. } => effective_abi as u8,
        _ => 0,
    };
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok(Level::Full(abi)),
        RulesetStatus::PartiallyEnforced => Ok(Level::Partial(abi)),
        RulesetStatus::NotEnforced if policy.mode == Mode::Required => Err(SandboxError::Unavailable),
        RulesetStatus::NotEnforced => Ok(Level::Unavailable),
    }
}

fn ruleset(policy: &Policy) -> Result<landlock::RulesetCreated, landlock::RulesetError> {
    let write = AccessFs::from_write(FS_ABI);
    let mut ruleset = Ruleset::default().set_compatibility(CompatLevel::BestEffort).handle_access(write)?;
    if policy.connect_ports.is_some() {
        ruleset = ruleset.handle_access(AccessNet::ConnectTcp)?;
    }
    let mut created = ruleset.create()?;
    for path in &policy.writable {
        // A path that does not exist cannot be granted; nothing may then create it.
        let Ok(fd) = PathFd::new(path) else { continue };
        created = created.add_rule(PathBeneath::new(fd, rights_for(path, write)))?;
    }
    for port in policy.connect_ports.iter().flatten() {
        created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp))?;
    }
    Ok(created)
}

/// `write` for a directory; for a file, the rights a file can carry.
fn rights_for(path: &Path, write: BitFlags<AccessFs>) -> BitFlags<AccessFs> {
    if path.is_dir() { write } else { write & AccessFs::from_file(FS_ABI) }
}

/// Tests simulate a kernel without Landlock with `MAESTRO_TEST_NO_LANDLOCK=1`.
fn simulated_absent() -> bool {
    cfg!(feature = "test-support") && std::env::var_os("MAESTRO_TEST_NO_LANDLOCK").is_some_and(|v| v == "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print_alike() {
        for name in Mode::NAMES {
            assert_eq!(Mode::parse(name).map(Mode::as_str), Some(name));
        }
        assert_eq!(Mode::parse("on"), None);
    }

    #[test]
    fn a_confined_thread_writes_only_where_allowed_and_the_process_stays_free() {
        if probe() == 0 {
            // CI runs on a kernel with Landlock and says so; elsewhere, say what is not tested.
            assert!(std::env::var_os("MAESTRO_E2E_REQUIRED").is_none(), "this kernel has no Landlock");
            eprintln!("skipped: this kernel has no Landlock");
            return;
        }
        let dir = std::env::temp_dir().join(format!("maestro-sandbox-{}-{}", std::process::id(), fastrand::u32(..)));
        let (inside, outside) = (dir.join("inside"), dir.join("outside"));
        std::fs::create_dir_all(&inside).expect("create inside");
        std::fs::create_dir_all(&outside).expect("create outside");
        let policy = Policy { mode: Mode::Required, writable: vec![inside.clone()], connect_ports: None };
        let (i, o) = (inside.clone(), outside.clone());
        let (level, wrote_inside, wrote_outside) = std::thread::spawn(move || {
            let level = confine_this_thread(&policy).expect("confined");
            (level, std::fs::write(i.join("f"), "x").is_ok(), std::fs::write(o.join("f"), "x").is_ok())
        })
        .join()
        .expect("the confined thread ends");
        assert!(level.is_confined(), "{level:?}");
        assert!(wrote_inside, "the writable directory is writable");
        assert!(!wrote_outside, "the rest is not");
        std::fs::write(outside.join("g"), "x").expect("this thread is not confined");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
