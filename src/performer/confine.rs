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

/// Whether a run under `mode` that may write `worktree` and `writable` (besides its own
/// directories in the repository's git dir) cannot change any of the `guarded` paths: the
/// kernel will enforce every write right, and none of those paths is in a guarded one or holds
/// it.
pub fn keeps_out_of(guarded: &[PathBuf], mode: Mode, worktree: &Path, writable: &[PathBuf]) -> bool {
    crate::sandbox::will_confine_writes(mode) && !overlaps(guarded, worktree, writable)
}

/// Whether `worktree` or a `writable` path is in a `guarded` one or holds it, links resolved.
fn overlaps(guarded: &[PathBuf], worktree: &Path, writable: &[PathBuf]) -> bool {
    let guarded: Vec<PathBuf> = guarded.iter().map(|p| resolved(p)).collect();
    std::iter::once(worktree)
        .chain(writable.iter().map(PathBuf::as_path))
        .map(resolved)
        .any(|path| guarded.iter().any(|g| path.starts_with(g) || g.starts_with(&path)))
}

/// What a performer changed outside its worktree ([`Repo::guarded_paths`]): the main
/// checkout's status and [`Repo::outside_fingerprint`] taken before the run, compared after
/// it. Neither is taken for a run the kernel keeps out of them ([`keeps_out_of`]), so a
/// person's edits meanwhile are not taken for the run's.
pub struct OutsideGuard {
    /// The main checkout and its changed paths before the run.
    main: Option<(PathBuf, Vec<String>)>,
    fingerprint: Option<std::collections::BTreeMap<String, String>>,
}

impl OutsideGuard {
    pub fn before(repo: &Repo, mode: Mode, worktree: &Path, writable: &[PathBuf]) -> git::Result<OutsideGuard> {
        if keeps_out_of(&repo.guarded_paths(), mode, worktree, writable) {
            return Ok(OutsideGuard { main: None, fingerprint: None });
        }
        let main = match repo.main_workdir() {
            Some(main) => Some((main.clone(), git::dirty_paths(&main)?)),
            None => None,
        };
        Ok(OutsideGuard { main, fingerprint: Some(repo.outside_fingerprint()?) })
    }

    /// What changed since [`OutsideGuard::before`], for a run the supervisor confined at
    /// `level`.
    pub fn after(self, repo: &Repo, level: Option<crate::sandbox::Level>) -> git::Result<Vec<String>> {
        let Some(before) = self.fingerprint else {
            // Not expected: the supervisor confines on the kernel this process probed.
            return Ok(match level {
                Some(level) if !level.confines_writes() => {
                    vec![
                        "the main checkout and the repository (not checked: the run was less confined than expected)"
                            .into(),
                    ]
                }
                _ => Vec::new(),
            });
        };
        let mut changed = match &self.main {
            Some((main, dirty)) => git::dirty_paths(main)?.into_iter().filter(|p| !dirty.contains(p)).collect(),
            None => Vec::new(),
        };
        changed.extend(git::outside_changes(&before, &repo.outside_fingerprint()?));
        Ok(changed)
    }
}

/// `path` with symbolic links resolved as far as it exists: a missing writable directory is
/// made before the run and then granted where it resolves.
fn resolved(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut at = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(at) {
            return missing.iter().rev().fold(real, |p, name| p.join(name));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_owned());
                at = parent;
            }
            _ => return path.to_owned(),
        }
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

    #[test]
    fn a_run_is_kept_out_only_when_confined_and_nothing_it_may_write_overlaps_what_is_guarded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (main, elsewhere) = (dir.path().join("main"), dir.path().join("worktrees/s/t"));
        std::fs::create_dir_all(&main).expect("mkdir");
        std::fs::create_dir_all(&elsewhere).expect("mkdir");
        std::os::unix::fs::symlink(&main, dir.path().join("link")).expect("symlink");
        let guarded = [main.clone()];
        let overlap = |writable: &[PathBuf]| overlaps(&guarded, &elsewhere, writable);
        assert!(!overlap(&[dir.path().join("cache"), dir.path().join("not-yet/made")]));
        assert!(overlap(&[main.join("build")]), "a writable path in the checkout");
        assert!(overlap(&[dir.path().to_owned()]), "a writable path that holds it");
        assert!(overlap(&[dir.path().join("link/not-yet/made")]), "a path through a link into it");
        assert!(overlaps(&guarded, &main.join(".worktrees/t"), &[]), "a worktree in the checkout");
        assert!(!keeps_out_of(&guarded, Mode::Off, &elsewhere, &[]), "an unconfined run may write anywhere");
        let full = crate::sandbox::probe() >= 3;
        assert_eq!(keeps_out_of(&guarded, Mode::Auto, &elsewhere, &[]), full, "as this kernel's Landlock allows");
    }
}
