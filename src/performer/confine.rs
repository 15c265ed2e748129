//! The sandbox of one performer or check run (DESIGN §13): its private directories, the
//! [`Policy`] the supervisor applies, the environment that goes with it, and what is checked
//! and put back once it ended.
//!
//! A confined run writes its worktree, that worktree's admin dir (index, HEAD), a private
//! TMPDIR, a private object directory (the repository's objects are its alternate, so `git add`
//! works and no existing object can be overwritten), `/dev/null`, and what its config lists.

use std::path::{Path, PathBuf};

use crate::git::{self, Repo, WorktreeLinks};
use crate::sandbox::{Mode, Policy};

/// One run's sandbox, from before the run until [`Confinement::finish`].
#[derive(Debug)]
pub struct Confinement {
    /// What the supervisor enforces.
    pub policy: Policy,
    /// Added to the run's environment.
    pub env: Vec<(String, String)>,
    /// Whether the run is confined at all (the mode allows it and the kernel has Landlock).
    pub confined: bool,
    run_dir: Option<PathBuf>,
    links: Option<WorktreeLinks>,
}

/// What a run did to what it must not change, found after it.
#[derive(Debug, Clone, Default)]
pub struct Aftermath {
    /// Link files of the worktree it redirected (put back since).
    pub relinked: Vec<String>,
}

impl Confinement {
    /// Set up the sandbox of run `run_id` in `worktree` under `mode`: `writable` besides the
    /// run's own directories, and `ports` (`None`: the network is left alone).
    pub fn prepare(
        repo: &Repo,
        mode: Mode,
        worktree: &Path,
        run_id: &str,
        writable: Vec<PathBuf>,
        ports: Option<Vec<u16>>,
    ) -> std::io::Result<Confinement> {
        let confined = mode != Mode::Off && crate::sandbox::probe() > 0;
        // A run killed earlier may have left the links redirected: right them first.
        let links = WorktreeLinks::read(repo, worktree);
        if let Some(links) = &links {
            links.restore().map_err(std::io::Error::other)?;
        }
        if !confined {
            // `required` on a kernel without Landlock is refused by the supervisor.
            let policy = Policy { mode, writable: Vec::new(), connect_ports: None };
            return Ok(Confinement { policy, env: Vec::new(), confined, run_dir: None, links });
        }
        let run_dir = repo.common_dir().join("maestro/runs").join(run_id);
        let (tmp, objects) = (run_dir.join("tmp"), run_dir.join("objects"));
        std::fs::create_dir_all(&tmp)?;
        std::fs::create_dir_all(&objects)?;
        let mut paths = vec![worktree.to_owned(), tmp.clone(), objects.clone(), PathBuf::from("/dev/null")];
        paths.extend(links.as_ref().map(|l| l.admin_dir().to_owned()));
        for path in &writable {
            // An agent home that does not exist yet could not be granted.
            if path.extension().is_none() && !path.exists() {
                let _ = std::fs::create_dir_all(path);
            }
        }
        paths.extend(writable);
        let env = vec![
            ("TMPDIR".to_owned(), tmp.display().to_string()),
            ("GIT_OBJECT_DIRECTORY".to_owned(), objects.display().to_string()),
            ("GIT_ALTERNATE_OBJECT_DIRECTORIES".to_owned(), repo.objects_dir().display().to_string()),
        ];
        let policy = Policy { mode, writable: paths, connect_ports: ports };
        Ok(Confinement { policy, env, confined, run_dir: Some(run_dir), links })
    }

    /// After the run: put back the worktree's link files, copy the objects the run wrote into
    /// the repository, and remove the run's directories.
    pub fn finish(self, repo: &Repo) -> git::Result<Aftermath> {
        let relinked = match &self.links {
            Some(links) => links.restore()?,
            None => Vec::new(),
        };
        if let Some(dir) = &self.run_dir {
            repo.import_objects(&dir.join("objects"))?;
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(Aftermath { relinked })
    }
}

/// The ports a performer with this endpoint may reach: the endpoint's own (443 without one)
/// and `extra`.
pub fn endpoint_ports(base_url: Option<&str>, extra: &[u16]) -> Vec<u16> {
    let endpoint = base_url.map_or(Some(443), git::url_port);
    let mut ports: Vec<u16> = endpoint.into_iter().chain(extra.iter().copied()).collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_port_is_its_own_or_its_schemes() {
        assert_eq!(endpoint_ports(None, &[]), [443]);
        assert_eq!(endpoint_ports(Some("http://127.0.0.1:8123/v1"), &[22]), [22, 8123]);
        assert_eq!(endpoint_ports(Some("https://api.example.com"), &[443]), [443]);
        assert_eq!(endpoint_ports(Some("http://localhost"), &[]), [80]);
    }
}
