//! Opening a repository and checking that maestro can write it safely.

use std::path::{Path, PathBuf};

use super::{Error, GixContext, Result};

/// An open repository. Commands open it once; a walk on a thread of its own takes a clone of
/// the handle ([`Repo::merge_base_beside`]).
pub struct Repo {
    pub(crate) inner: gix::Repository,
    /// The sizes of the blobs whose header [`Repo::read_blob_by_id`] has read: a command reads
    /// the same state records again and again, and gix caches their data but not headers.
    pub(super) sizes: std::cell::RefCell<std::collections::HashMap<gix::ObjectId, u64>>,
}

/// Bytes of decompressed objects kept per open repository.
const OBJECT_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// `extensions.*` keys that do not change how refs or objects are stored on disk, or that gix
/// handles itself. Anything else (notably `refStorage = reftable`) is refused: gix 0.90 would
/// write loose refs that git cannot see (DESIGN.md §2).
const KNOWN_EXTENSIONS: &[&str] =
    &["objectformat", "worktreeconfig", "relativeworktrees", "preciousobjects", "partialclone", "noop", "noop-v1"];

/// `git -c` overrides from `GIT_CONFIG_PARAMETERS`, as gix wants them. gix reads
/// `GIT_CONFIG_COUNT` itself; see [`super::config_env`].
fn cli_overrides() -> Result<Vec<String>> {
    let overrides = super::config_env::from_env().map_err(Error::ConfigParameters)?;
    Ok(overrides.iter().map(super::config_env::Override::to_gix).collect())
}

/// `extensions.objectFormat` of the repository around `dir`, read straight from its config
/// file. gix built with SHA-1 only cannot open a SHA-256 repository at all, so this is how an
/// open failure is told apart as "unsupported object format" rather than reported raw.
fn object_format_of(dir: &Path) -> Option<String> {
    let (path, _trust) = gix::discover::upwards(dir).ok()?;
    let (git_dir, _) = path.into_repository_and_work_tree_directories();
    let common_dir = match gix::discover::path::from_plain_file(&git_dir.join("commondir")) {
        Some(Ok(common)) => git_dir.join(common),
        _ => git_dir,
    };
    let config =
        gix::config::File::from_path_no_includes(common_dir.join("config"), gix::config::Source::Local).ok()?;
    config.string("extensions.objectFormat").map(|v| v.to_string())
}

/// Configuration every repository is opened with, over gix's defaults.
///
/// - The committer gix falls back to when none is configured, as git falls back to a default
///   identity. gix writes a new worktree's HEAD reflog as the committer and refuses without
///   one, so a machine without `user.name` could not run a task. Every other ref move names
///   its own.
/// - File times compared to the nanosecond the index records them to (gix's form of git's
///   `USE_NSEC` build option, which git's Linux builds leave off). To the second, every file
///   written in the same second as the index is "racily clean", and each status reads and
///   hashes it again: the first statuses of a new task worktree read every file of the
///   repository. A time equal to the index's still counts as racy, so a file system with
///   coarser times only reads more.
const CONFIG_OVERRIDES: [&str; 3] = [
    "gitoxide.committer.nameFallback=git-maestro",
    "gitoxide.committer.emailFallback=maestro@localhost",
    "gitoxide.core.useNsec=true",
];

impl Repo {
    /// Find the repository containing `dir`, honouring `GIT_DIR` and friends as git does (hooks
    /// run with `GIT_DIR` set). Works from the main checkout and from any linked worktree.
    pub fn discover(dir: &Path) -> Result<Repo> {
        let dir = std::path::absolute(dir)
            .map_err(|source| Error::Io { context: format!("cannot resolve '{}'", dir.display()), source })?;
        let overrides = cli_overrides()?;
        let mut trust = gix::sec::trust::Mapping::<gix::open::Options>::default();
        for options in [&mut trust.full, &mut trust.reduced] {
            options.modify(|o| o.cli_overrides(overrides.iter().cloned()).config_overrides(CONFIG_OVERRIDES));
        }
        let opened =
            gix::ThreadSafeRepository::discover_with_environment_overrides_opts(&dir, Default::default(), trust);
        let inner = match opened.map(gix::Repository::from) {
            Ok(repo) => repo,
            Err(err) if err.is_not_found() => return Err(Error::NotARepository(dir)),
            Err(err) => {
                if let Some(format) = object_format_of(&dir).filter(|f| !f.eq_ignore_ascii_case("sha1")) {
                    return Err(Error::ObjectFormat(format));
                }
                return Err(Error::Gix {
                    context: format!("cannot open the repository at '{}'", dir.display()),
                    source: err,
                });
            }
        };
        let mut repo = Repo { inner, sizes: Default::default() };
        repo.check_format()?;
        // A transaction reads the trees on its paths several times (lookup, edit); caching
        // decoded objects keeps large directories from being inflated again each time.
        repo.inner.object_cache_size_if_unset(OBJECT_CACHE_BYTES);
        Ok(repo)
    }

    /// Open the linked worktree at `path` itself (its status, its index), with the same
    /// `git -c` overrides as [`Repo::discover`].
    pub(super) fn open_worktree(path: &Path) -> Result<gix::Repository> {
        let options = gix::open::Options::default().cli_overrides(cli_overrides()?).config_overrides(CONFIG_OVERRIDES);
        gix::open_opts(path, options).ctx(|| format!("cannot open the worktree at {}", path.display()))
    }

    /// Create a repository with a worktree at `dir` (HEAD on `main`, nothing committed).
    pub fn init(dir: &Path) -> Result<Repo> {
        gix::init(dir).ctx(|| format!("cannot create a repository at '{}'", dir.display()))?;
        Repo::discover(dir)
    }

    /// Refuse repository formats whose writes maestro could corrupt or hide.
    fn check_format(&self) -> Result<()> {
        let config = self.inner.config_snapshot();
        if self.inner.object_hash() != gix::hash::Kind::Sha1 {
            return Err(Error::ObjectFormat(self.inner.object_hash().to_string()));
        }
        let Some(sections) = config.plumbing().sections_by_name("extensions") else {
            return Ok(());
        };
        for section in sections {
            for name in section.value_names() {
                let key = name.to_ascii_lowercase();
                if key == "refstorage" {
                    let value = section.value(&name).map(|v| v.to_string()).unwrap_or_default();
                    if value.eq_ignore_ascii_case("files") {
                        continue;
                    }
                    return Err(Error::UnsupportedFormat(format!(
                        "extensions.refStorage = {value}: reftable repositories are not supported"
                    )));
                }
                if !KNOWN_EXTENSIONS.contains(&key.as_str()) {
                    return Err(Error::UnsupportedFormat(format!("unknown extension extensions.{name}")));
                }
            }
        }
        Ok(())
    }

    /// The directory shared by all worktrees (`.git` of the main checkout).
    pub fn common_dir(&self) -> &Path {
        self.inner.common_dir()
    }

    /// The git dir of the worktree this repo was opened from.
    pub fn git_dir(&self) -> &Path {
        self.inner.git_dir()
    }

    /// The working tree of the checkout this repo was opened from, if any.
    pub fn workdir(&self) -> Option<&Path> {
        self.inner.workdir()
    }

    /// The working tree of the main checkout, also when opened from a linked worktree. Trusted
    /// config is read from here, never from a task worktree an agent can edit.
    pub fn main_workdir(&self) -> Option<PathBuf> {
        match self.inner.main_repo() {
            Ok(main) => main.workdir().map(Path::to_owned),
            Err(_) => self.workdir().map(Path::to_owned),
        }
    }

    /// The hooks directory, honouring `core.hooksPath` relative to the working tree like git.
    pub fn hooks_dir(&self) -> PathBuf {
        let config = self.inner.config_snapshot();
        match config.trusted_path("core.hooksPath") {
            Ok(Some(path)) => {
                if path.is_absolute() {
                    path
                } else {
                    self.workdir().unwrap_or(self.common_dir()).join(path)
                }
            }
            _ => self.common_dir().join("hooks"),
        }
    }

    /// A string from git config, e.g. `maestro.actor`.
    pub fn config_string(&self, key: &str) -> Option<String> {
        self.inner.config_snapshot().string(key).map(|v| v.to_string())
    }

    /// The `section.subsection.key = value` entries of git config in `section`, with the key
    /// lowercased as git does (subsections keep their case): the last value of each key in each
    /// config section, in order of precedence (files, then `GIT_CONFIG_COUNT`, then `git -c`),
    /// so that the last entry for a key wins. The value is `None` for a key written without `=`.
    pub fn config_entries(&self, section: &str) -> Vec<(String, Option<String>)> {
        let config = self.inner.config_snapshot();
        let Some(sections) = config.plumbing().sections_by_name(section) else { return Vec::new() };
        let mut out = Vec::new();
        for s in sections {
            let sub = s.header().subsection_name().map(|n| format!(".{n}")).unwrap_or_default();
            let mut names: Vec<String> = s.value_names().collect();
            names.sort_by_key(|n| n.to_ascii_lowercase());
            names.dedup_by_key(|n| n.to_ascii_lowercase());
            for name in names {
                // Not `values()`: in gix-config 0.62 it skips a key without `=` and hands it the
                // next key's value instead.
                if let Some(value) = s.value_implicit(&name) {
                    let key = format!("{section}{sub}.{}", name.to_ascii_lowercase());
                    out.push((key, value.map(|v| v.to_string())));
                }
            }
        }
        out
    }

    /// The committer identity from git config, as `(name, email)`, if configured.
    pub fn committer_identity(&self) -> Option<(String, String)> {
        let config = self.inner.config_snapshot();
        let name = config.string("user.name")?;
        let email = config.string("user.email").unwrap_or_default();
        Some((name.to_string(), email.to_string()))
    }

    /// The storage used for refs, as reported by git config (`files` unless configured).
    pub fn ref_storage(&self) -> String {
        self.config_string("extensions.refStorage").unwrap_or_else(|| "files".into())
    }
}
