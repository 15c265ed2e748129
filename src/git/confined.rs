//! What git-maestro needs around a confined run (DESIGN §13, "Sandbox"): the files that tie a
//! task worktree to the repository, checked and put back after the run, and the run's own
//! object directory, whose objects are verified and copied into the repository afterwards.
//!
//! A confined agent may write its worktree and that worktree's admin directory, so it could
//! point `.git` or `commondir` at a repository of its making, whose hooks or config git would
//! then run for git-maestro. [`WorktreeLinks`] is read before the run and restores them after.

use std::path::{Path, PathBuf};

use super::{Error, GixContext, Repo, Result};

/// The link files of one linked worktree and where each must point, as the repository records
/// it: `<worktree>/.git` at the admin dir, `<admin>/commondir` at the common dir, and
/// `<admin>/gitdir` back at `<worktree>/.git`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorktreeLinks {
    worktree: PathBuf,
    admin: PathBuf,
    /// (link file, the directory a relative target is resolved from, the target it must name).
    links: Vec<(PathBuf, PathBuf, PathBuf)>,
}

impl WorktreeLinks {
    /// The links of `repo`'s linked worktree at `worktree`; `None` when it is none. The admin
    /// dir is the one the repository records, never the one `.git` names.
    pub fn read(repo: &Repo, worktree: &Path) -> Option<WorktreeLinks> {
        let admin = repo.worktree_admin_dir(worktree).ok()??;
        let links = vec![
            (worktree.join(".git"), worktree.to_owned(), admin.clone()),
            (admin.join("commondir"), admin.clone(), repo.common_dir().to_owned()),
            (admin.join("gitdir"), admin.clone(), worktree.join(".git")),
        ];
        Some(WorktreeLinks { worktree: worktree.to_owned(), admin, links })
    }

    /// The worktree's admin directory (`<common>/worktrees/<id>`).
    pub fn admin_dir(&self) -> &Path {
        &self.admin
    }

    /// Point every link that names something else (or is no plain file) where it must; the
    /// paths (relative to the worktree where they are in it) of those that did.
    pub fn restore(&self) -> Result<Vec<String>> {
        let mut changed = Vec::new();
        for (path, base, target) in &self.links {
            if names(path, base, target) {
                continue;
            }
            let io = |source| Error::Io { context: format!("cannot restore {}", path.display()), source };
            if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir_all(path).map_err(io)?;
            } else if path.symlink_metadata().is_ok() {
                std::fs::remove_file(path).map_err(io)?;
            }
            let text = if path.ends_with(".git") {
                format!("gitdir: {}\n", target.display())
            } else {
                format!("{}\n", target.display())
            };
            std::fs::write(path, text).map_err(io)?;
            let shown = path.strip_prefix(&self.worktree).unwrap_or(path);
            changed.push(shown.display().to_string());
        }
        Ok(changed)
    }
}

/// Whether the plain file `link` names `target` (`gitdir: ` prefix allowed, relative to `base`).
fn names(link: &Path, base: &Path, target: &Path) -> bool {
    if link.is_symlink() || !link.is_file() {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(link) else { return false };
    let named = PathBuf::from(text.trim().strip_prefix("gitdir:").unwrap_or(text.trim()).trim());
    let named = if named.is_absolute() { named } else { base.join(named) };
    let canonical = |p: &Path| std::fs::canonicalize(p).ok();
    match (canonical(&named), canonical(target)) {
        (Some(a), Some(b)) => a == b,
        // `<admin>/gitdir` names `<worktree>/.git`, which exists: both resolve or it is wrong.
        _ => false,
    }
}

impl Repo {
    /// Copy the loose objects of a run's object directory `dir` into the repository, each read,
    /// checked against its name and written anew; objects the repository has are skipped.
    /// Returns how many were added. An object whose content does not match its name is an
    /// error: the run tried to plant it.
    pub fn import_objects(&self, dir: &Path) -> Result<usize> {
        let store = gix::odb::loose::Store::at(dir, self.inner.object_hash());
        let mut added = 0;
        let mut buf = Vec::new();
        for id in store.iter() {
            let id = id.map_err(|e| Error::Io {
                context: format!("cannot list the objects in {}", dir.display()),
                source: std::io::Error::other(e),
            })?;
            if self.inner.has_object(id) {
                continue;
            }
            let Some(data) = store.try_find(&id, &mut buf).ctx(|| format!("cannot read object {id}"))? else {
                continue;
            };
            let written = gix::objs::Write::write_buf(&self.inner.objects, data.kind, data.data)
                .ctx(|| format!("cannot copy object {id} into the repository"))?;
            if written != id {
                return Err(Error::UnsupportedFormat(format!(
                    "object {id} in {} holds another object ({written})",
                    dir.display()
                )));
            }
            added += 1;
        }
        Ok(added)
    }

    /// [`Repo::import_objects`] from every run's object directory under
    /// `<common>/maestro/runs`: a run killed before it could copy its objects back leaves a
    /// worktree index that names them. Live runs' directories are read too, which is harmless:
    /// git renames a loose object into place only once it is whole.
    pub fn import_run_objects(&self) -> Result<usize> {
        let Ok(runs) = std::fs::read_dir(self.common_dir().join("maestro/runs")) else { return Ok(0) };
        let mut added = 0;
        for run in runs.flatten() {
            let objects = run.path().join("objects");
            if objects.is_dir() {
                match self.import_objects(&objects) {
                    Ok(n) => added += n,
                    // Its run ended meanwhile: it copied its objects back and removed the
                    // directory, so there is nothing left to import.
                    Err(_) if !objects.exists() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(added)
    }

    /// The repository's own object directory, the alternate of a run's object directory.
    pub fn objects_dir(&self) -> PathBuf {
        self.common_dir().join("objects")
    }
}

/// The TCP port `url` connects to (its own, or its scheme's).
pub fn url_port(url: &str) -> Option<u16> {
    let parsed = gix::url::parse(gix::bstr::BStr::new(url)).ok()?;
    parsed.port_or_default()
}

impl Repo {
    /// Where what a run must leave alone outside its worktree lives: the main checkout, and
    /// the files [`Repo::outside_fingerprint`] covers.
    pub fn guarded_paths(&self) -> Vec<PathBuf> {
        let common = self.common_dir();
        let mut paths: Vec<PathBuf> = ["config", "hooks", "refs", "packed-refs"].map(|p| common.join(p)).into();
        paths.extend(self.main_workdir());
        paths
    }

    /// What a run must leave alone outside its worktree, fingerprinted: the repository's hooks
    /// and config, and its branches and tags other than git-maestro's own (`maestro/*`).
    /// Compare two with [`outside_changes`].
    pub fn outside_fingerprint(&self) -> Result<std::collections::BTreeMap<String, String>> {
        let mut print = std::collections::BTreeMap::new();
        let common = self.common_dir();
        let mut files = vec![(".git/config".to_owned(), common.join("config"))];
        if let Ok(dir) = std::fs::read_dir(common.join("hooks")) {
            for entry in dir.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                files.push((format!(".git/hooks/{name}"), entry.path()));
            }
        }
        for (name, path) in files {
            if let Ok(bytes) = std::fs::read(&path) {
                print.insert(
                    name,
                    gix::objs::compute_hash(self.inner.object_hash(), gix::objs::Kind::Blob, &bytes)
                        .map(|id| id.to_string())
                        .unwrap_or_default(),
                );
            }
        }
        let refs = self.inner.references().ctx(|| "cannot read the refs".into())?;
        for r in refs
            .prefixed("refs/heads/")
            .ctx(|| "cannot list branches".into())?
            .chain(refs.prefixed("refs/tags/").ctx(|| "cannot list tags".into())?)
        {
            let Ok(r) = r else { continue };
            let name = r.name().as_bstr().to_string();
            if name.starts_with("refs/heads/maestro/") {
                continue;
            }
            print.insert(name, r.target().try_id().map(|id| id.to_string()).unwrap_or_default());
        }
        Ok(print)
    }
}

/// What differs between two [`Repo::outside_fingerprint`]s: added, changed or removed entries.
pub fn outside_changes(
    before: &std::collections::BTreeMap<String, String>,
    after: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let mut changed: Vec<String> =
        after.iter().filter(|(k, v)| before.get(*k) != Some(v)).map(|(k, _)| k.clone()).collect();
    changed.extend(before.keys().filter(|k| !after.contains_key(*k)).cloned());
    changed.sort();
    changed
}
