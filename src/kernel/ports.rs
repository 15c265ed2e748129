//! Port blocks: each live worktree gets its own block of TCP ports, so two agents' dev servers
//! never fight over one.
//!
//! The registry is machine-wide, beside the worktrees, never in the synced state:
//! `$XDG_DATA_HOME/git-maestro/ports.toml` (else `~/.local/share/...`), changed only under an
//! exclusive lock on `ports.lock` beside it:
//!
//! ```toml
//! format = 1
//! [[block]]
//! port = 41010                       # the block is 41010..41019
//! worktree = "/home/u/.local/share/git-maestro/worktrees/app-1234abcd/s/t"
//! origin = { clone = "", host = "box", boot = "…", pid = 4242, start = 123456 }
//! ```
//!
//! A block is held by the process that leased it ([`lease`]) until that [`PortBlock`] drops
//! (the run ends). A block whose process is gone, or whose worktree no longer exists, is
//! reclaimed by the next lease. Blocks are [`SIZE`] ports from [`FIRST`] up; each worktree
//! path tries its own block first (a hash of the path), so it keeps its ports from run to run
//! while they are free; a block whose first port something else listens on is passed over.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::origin::Origin;
use crate::store::origin;

/// The first port of the first block.
pub const FIRST: u16 = 41000;
/// Ports per block.
pub const SIZE: u16 = 10;
/// How many blocks there are (41000..=60999).
const BLOCKS: u16 = 2000;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Registry {
    format: u32,
    #[serde(default)]
    block: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    port: u16,
    worktree: String,
    origin: Origin,
}

/// A worktree's block of ports, held until dropped.
#[derive(Debug)]
pub struct PortBlock {
    /// Its first port; the block is `port .. port + SIZE`.
    pub port: u16,
    registry: PathBuf,
    worktree: String,
    /// Whether this process leased it (and so frees it), rather than sharing another's.
    owned: bool,
}

impl PortBlock {
    /// Every port of the block.
    pub fn ports(&self) -> impl Iterator<Item = u16> + use<> {
        self.port..self.port + SIZE
    }

    /// `MAESTRO_PORT` and `PORT` (the block's first port) and `MAESTRO_PORT_COUNT`.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("MAESTRO_PORT".into(), self.port.to_string()),
            ("PORT".into(), self.port.to_string()),
            ("MAESTRO_PORT_COUNT".into(), SIZE.to_string()),
        ]
    }
}

impl Drop for PortBlock {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        let me = origin::current("");
        let _ = update(&self.registry, |r| {
            r.block.retain(|e| !(e.worktree == self.worktree && e.origin.same_process(&me)));
            Ok(())
        });
    }
}

/// Where the registry lives: under `$XDG_DATA_HOME/git-maestro` (else `~/.local/share`).
pub fn registry_path() -> std::io::Result<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|base| base.join("git-maestro/ports.toml"))
        .ok_or_else(|| std::io::Error::other("cannot tell where to keep the port registry: HOME is not set"))
}

/// Lease a block of ports for `worktree`: the one a live process of this machine (this one
/// included) holds for it already (shared, not freed by this lease), else a free one.
pub fn lease(worktree: &Path) -> std::io::Result<PortBlock> {
    lease_in(registry_path()?, worktree)
}

fn lease_in(registry: PathBuf, worktree: &Path) -> std::io::Result<PortBlock> {
    let key = worktree.display().to_string();
    let me = origin::current("");
    let (port, owned) = update(&registry, |r| {
        r.block.retain(|e| origin::alive(&e.origin) && Path::new(&e.worktree).exists());
        // Held already (by this process too: the outer lease frees it): shared.
        if let Some(e) = r.block.iter().find(|e| e.worktree == key) {
            return Ok((e.port, false));
        }
        // A worktree's own block comes first, so it keeps its ports from run to run while no
        // other worktree holds them.
        let home = preferred_block(&key);
        let port = (0..BLOCKS)
            .map(|i| FIRST + (home + i) % BLOCKS * SIZE)
            .find(|p| !r.block.iter().any(|e| e.port == *p) && free(*p))
            .ok_or_else(|| std::io::Error::other("every block of ports is taken: too many live worktrees"))?;
        r.block.push(Entry { port, worktree: key.clone(), origin: me.clone() });
        Ok((port, true))
    })?;
    Ok(PortBlock { port, registry, worktree: key, owned })
}

/// The block a worktree path tries first: FNV-1a of the path, spread over the blocks.
fn preferred_block(worktree: &str) -> u16 {
    let hash =
        worktree.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (hash % u64::from(BLOCKS)) as u16
}

/// Whether nothing listens on `port` on the loopback interface.
fn free(port: u16) -> bool {
    std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Read the registry, let `change` edit it, and write it back, all under the lock.
fn update<T>(path: &Path, change: impl FnOnce(&mut Registry) -> std::io::Result<T>) -> std::io::Result<T> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let lock = std::fs::File::options().create(true).truncate(false).write(true).open(path.with_extension("lock"))?;
    lock.lock()?;
    // A registry nobody can read is rebuilt: the blocks it named are reclaimed as their runs
    // end, and a port in use is passed over anyway.
    let mut registry: Registry = match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).unwrap_or_default(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Registry::default(),
        Err(e) => return Err(e),
    };
    let value = change(&mut registry)?;
    registry.format = 1;
    let text = toml::to_string(&registry).map_err(std::io::Error::other)?;
    crate::files::replace(path, text.as_bytes())?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_distinct_per_worktree_freed_when_dropped_and_reclaimed_from_the_dead() {
        let dir = std::env::temp_dir().join(format!("maestro-ports-{}", std::process::id()));
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::create_dir_all(&a).expect("a");
        std::fs::create_dir_all(&b).expect("b");
        let registry = dir.join("ports.toml");
        let la = lease_in(registry.clone(), &a).expect("lease a");
        let lb = lease_in(registry.clone(), &b).expect("lease b");
        assert_ne!(la.port, lb.port, "two live worktrees never share a block");
        assert!(la.port >= FIRST && la.port.is_multiple_of(SIZE), "{}", la.port);
        let again = lease_in(registry.clone(), &a).expect("lease a again");
        assert_eq!(again.port, la.port, "a worktree keeps its block while it is held");
        drop(again);
        let b_port = lb.port;
        drop(lb);
        let lb = lease_in(registry.clone(), &b).expect("lease b again");
        assert_eq!(lb.port, b_port, "a worktree gets its own block again while it is free");
        drop(lb);
        let text = std::fs::read_to_string(&registry).expect("registry");
        assert!(!text.contains(&b.display().to_string()), "a dropped lease is freed:\n{text}");
        // A block held by a process that is gone is taken back by the next lease.
        let gone = Origin { pid: u32::MAX, ..origin::current("") };
        update(&registry, |r| {
            r.block.iter_mut().for_each(|e| e.origin = gone.clone());
            Ok(())
        })
        .expect("fake a dead holder");
        std::mem::forget(la);
        let lb = lease_in(registry.clone(), &b).expect("lease b after a died");
        let text = std::fs::read_to_string(&registry).expect("registry");
        assert!(!text.contains(&a.display().to_string()), "the dead holder's block is reclaimed:\n{text}");
        drop(lb);
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
