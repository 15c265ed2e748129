//! A linked worktree's index, written for a tree its files already hold (after a commit of
//! the worktree, after a pool checkout): rebuilt from the tree, or patched where only some
//! paths differ from the tree it matched, keeping the stat data of every other entry so the
//! next status need not read the files. And the tree an index's entries make, which tells a
//! status whether anything is staged without reading HEAD's trees.

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use gix::ObjectId;
use gix::bstr::{BStr, ByteSlice};

use super::{GixContext, Repo, Result};

impl Repo {
    /// Bring the index of `path` to `tree` when it matches `tree` already at every path but
    /// those in `changed`: only their entries are replaced (the tree's entry, or none). Stat
    /// data comes from disk for the files just `written` and for any other changed file whose
    /// content is its entry's; every other entry keeps its own. An index git split or made
    /// sparse is rebuilt instead ([`Repo::update_index`]).
    pub(super) fn patch_index(
        &self,
        path: &Path,
        tree: ObjectId,
        changed: &[String],
        written: &[String],
    ) -> Result<()> {
        let wt = Repo::open_worktree(path)?;
        let mut index = match wt.open_index() {
            Ok(index) if index.link().is_none() && !index.is_sparse() => index,
            _ => return self.update_index(path, tree, written),
        };
        let changed: BTreeSet<&BStr> = changed.iter().map(|p| p.as_bytes().as_bstr()).collect();
        index.remove_entries(|_, rela, _| changed.contains(rela));
        let root = self.inner.find_tree(tree).ctx(|| format!("cannot read tree {tree}"))?;
        for rela in changed {
            let found = root.lookup_entry(rela.split(|b| *b == b'/')).ctx(|| format!("cannot read tree {tree}"))?;
            let Some(entry) = found.filter(|e| !e.mode().is_tree()) else { continue };
            let (id, file) = (entry.object_id(), path.join(std::ffi::OsStr::from_bytes(rela)));
            let fresh = written.iter().any(|w| w.as_bytes() == rela.as_bytes()) || self.holds(&file, id);
            let stat = fresh.then(|| disk_stat(&file)).flatten().unwrap_or_default();
            index.dangerously_push_entry(stat, id, gix::index::entry::Flags::empty(), entry.mode().into(), rela);
        }
        index.sort_entries();
        // Git's cache of the index's trees no longer holds; it is made again when needed.
        index.remove_tree();
        super::worktree::write_index(&mut index)
    }

    /// Write the index of `path` for `tree`, keeping the stat data of every entry the old
    /// index had unchanged (so the next status need not hash the files), and taking it from
    /// disk for the files just `written` and for any other file whose content is the entry's.
    /// An entry whose file differs keeps no stat data, so a status reads it and sees the change.
    pub(super) fn update_index(&self, path: &Path, tree: ObjectId, written: &[String]) -> Result<()> {
        let wt = Repo::open_worktree(path)?;
        let old = wt.index_or_empty().ctx(|| "cannot read the worktree index".into())?;
        let mut index = wt.index_from_tree(&tree).ctx(|| "cannot build the worktree index".into())?;
        for (entry, rela) in index.entries_mut_with_paths() {
            let fresh = written.iter().any(|w| w.as_bytes() == rela.as_bytes());
            let kept = old.entry_by_path(rela).filter(|o| o.id == entry.id && o.mode == entry.mode);
            let file = path.join(std::ffi::OsStr::from_bytes(rela.as_bytes()));
            match (fresh, kept) {
                (false, Some(o)) => entry.stat = o.stat,
                (false, None) if !self.holds(&file, entry.id) => {}
                _ => {
                    if let Some(stat) = disk_stat(&file) {
                        entry.stat = stat;
                    }
                }
            }
        }
        super::worktree::write_index(&mut index)
    }

    /// Whether the file (or link) at `file` holds the blob `id`; a file is hashed as it is
    /// read, never held whole.
    fn holds(&self, file: &Path, id: ObjectId) -> bool {
        let found = match std::fs::symlink_metadata(file) {
            Ok(meta) if meta.is_symlink() => {
                std::fs::read_link(file).ok().and_then(|t| self.blob_id(t.as_os_str().as_bytes()).ok())
            }
            Ok(_) => self.file_blob_id(file).ok(),
            Err(_) => None,
        };
        found == Some(id)
    }
}

/// The id of the tree the entries of `index` make, computed in memory, the tree `git write-tree`
/// would write; it equals `HEAD^{tree}` exactly when nothing is staged. `None` when the index
/// holds what no tree does: a conflict, an intent to add, a sparse directory.
pub(super) fn tree_id(index: &gix::index::State) -> Option<ObjectId> {
    use gix::objs::tree::{Entry, EntryKind};
    // The directories from the root down to the one the last entry was in, each with its
    // entries so far; the index lists paths in the order their trees list them.
    let mut open: Vec<(&BStr, gix::objs::Tree)> = vec![(BStr::new(""), gix::objs::Tree::empty())];
    let close = |open: &mut Vec<(&BStr, gix::objs::Tree)>| -> Option<()> {
        let (dir, tree) = open.pop()?;
        let id = hash_tree(index.object_hash(), tree)?;
        let name = dir.rsplit_str("/").next().unwrap_or(dir);
        open.last_mut()?.1.entries.push(Entry { mode: EntryKind::Tree.into(), filename: name.into(), oid: id });
        Some(())
    };
    for entry in index.entries() {
        let intent = entry.flags.contains(gix::index::entry::Flags::INTENT_TO_ADD);
        let mode = entry.mode.to_tree_entry_mode().filter(|m| !m.is_tree() && entry.stage_raw() == 0 && !intent)?;
        let path = entry.path(index);
        let (dir, name) = path.rsplit_once_str("/").map_or((BStr::new(""), path), |(d, n)| (d.as_bstr(), n.as_bstr()));
        while !within(dir, open.last()?.0) {
            close(&mut open)?;
        }
        while open.last()?.0 != dir {
            let at = open.last()?.0.len();
            let start = if at == 0 { 0 } else { at + 1 };
            let end = dir[start..].find_byte(b'/').map_or(dir.len(), |i| start + i);
            open.push((dir[..end].as_bstr(), gix::objs::Tree::empty()));
        }
        open.last_mut()?.1.entries.push(Entry { mode, filename: name.into(), oid: entry.id });
    }
    while open.len() > 1 {
        close(&mut open)?;
    }
    hash_tree(index.object_hash(), open.pop()?.1)
}

/// Whether the directory `dir` is `parent` or lies under it (`""` is the root).
fn within(dir: &BStr, parent: &BStr) -> bool {
    parent.is_empty() || dir == parent || (dir.starts_with(parent) && dir.get(parent.len()) == Some(&b'/'))
}

/// The id `tree` has once its entries are in tree order; no object is written.
fn hash_tree(kind: gix::hash::Kind, mut tree: gix::objs::Tree) -> Option<ObjectId> {
    use gix::objs::WriteTo;
    tree.entries.sort();
    let mut data = Vec::new();
    tree.write_to(&mut data).ok()?;
    gix::objs::compute_hash(kind, gix::objs::Kind::Tree, &data).ok()
}

/// The stat data of `file` (a link itself, not followed), as the index keeps it.
fn disk_stat(file: &Path) -> Option<gix::index::entry::Stat> {
    let meta = gix::index::fs::Metadata::from_path_no_follow(file).ok()?;
    gix::index::entry::Stat::from_fs(&meta).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `git` in `dir`, without the machine's config; its output, trimmed.
    fn git_in(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A new repository on `main` with `files` committed.
    fn committed(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        git_in(dir.path(), &["init", "-q", "-b", "main"]);
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        git_in(dir.path(), &["add", "."]);
        git_in(dir.path(), &["commit", "-q", "-m", "c"]);
        dir
    }

    #[test]
    fn an_index_rebuilt_for_a_tree_gives_no_stat_to_a_file_that_differs_from_it() {
        let dir = committed(&[("a.txt", "1\n"), ("b.txt", "1\n")]);
        let git = |args: &[&str]| git_in(dir.path(), args);
        let repo = Repo::discover(dir.path()).expect("discover");
        let head: ObjectId = git(&["rev-parse", "HEAD"]).parse().expect("an id");
        // No old index to keep stat data from; `a.txt` changed an hour ago, so its stat alone
        // would pass for clean.
        std::fs::remove_file(dir.path().join(".git/index")).expect("rm index");
        std::fs::write(dir.path().join("a.txt"), "2\n").expect("write");
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for name in ["a.txt", "b.txt"] {
            let file = std::fs::File::options().write(true).open(dir.path().join(name)).expect("open");
            file.set_modified(hour_ago).expect("set mtime");
        }
        repo.update_index(dir.path(), repo.commit_tree(head).expect("a tree"), &[]).expect("rebuilt");
        assert_eq!(crate::git::dirty_paths(dir.path()).expect("status"), ["a.txt"]);
        let index = gix::open(dir.path()).expect("open").index().expect("the index");
        let stat = |name: &str| index.entry_by_path(name.into()).expect("an entry").stat;
        assert_eq!(stat("a.txt"), Default::default(), "a.txt differs: no stat");
        assert_ne!(stat("b.txt"), Default::default(), "b.txt holds its blob: its stat is kept");
    }

    /// A worktree whose files went from one tree to another while its index kept the first:
    /// patched at the paths that differ, the index is the second tree's, with the stat data
    /// of the other entries kept and the changed files' taken from disk.
    #[test]
    fn a_patched_index_is_the_new_trees_and_keeps_the_stat_of_what_did_not_change() {
        let dir = tempfile::tempdir().expect("temp dir");
        let git = |args: &[&str]| git_in(dir.path(), args);
        let write = |rela: &str, text: &str| {
            let file = dir.path().join(rela);
            std::fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
            std::fs::write(file, text).expect("write");
        };
        git(&["init", "-q"]);
        for (rela, text) in [("keep.txt", "k\n"), ("mod.txt", "1\n"), ("gone.txt", "g\n"), ("sub/x.txt", "x\n")] {
            write(rela, text);
        }
        git(&["add", "."]);
        git(&["commit", "-q", "-m", "one"]);
        let one = git(&["rev-parse", "HEAD"]);
        write("mod.txt", "2\n");
        std::fs::remove_file(dir.path().join("gone.txt")).expect("rm");
        write("new/y.txt", "y\n");
        write("run.sh", "#!/bin/sh\n");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path().join("run.sh"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::os::unix::fs::symlink("keep.txt", dir.path().join("link")).expect("symlink");
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "two"]);
        let two: ObjectId = git(&["rev-parse", "HEAD"]).parse().expect("an id");
        // The index back at the first tree, its unchanged entries with their stat data.
        git(&["read-tree", &one]);
        git(&["update-index", "-q", "--refresh"]);
        let stat_of = |rela: &str| {
            let index = gix::open(dir.path()).expect("open").open_index().expect("the index");
            index.entry_by_path(rela.into()).map(|e| e.stat)
        };
        let kept = stat_of("keep.txt").expect("keep.txt is in the index");
        assert_ne!(kept, Default::default());
        let changed: Vec<String> = git(&["diff", "--name-only", &one, "HEAD"]).lines().map(str::to_owned).collect();
        assert_eq!(changed, ["gone.txt", "link", "mod.txt", "new/y.txt", "run.sh"]);

        let repo = Repo::discover(dir.path()).expect("discover");
        repo.patch_index(dir.path(), repo.commit_tree(two).expect("a tree"), &changed, &[]).expect("patched");
        assert_eq!(git(&["diff-index", "--cached", "HEAD"]), "", "the index is the second tree");
        assert_eq!(git(&["status", "--porcelain"]), "", "and matches the files");
        assert_eq!(stat_of("keep.txt"), Some(kept), "an unchanged entry keeps its stat data");
        assert_ne!(stat_of("mod.txt"), Some(Default::default()), "a changed file's comes from disk");
        assert_eq!(stat_of("gone.txt"), None);
        let modes: Vec<String> =
            git(&["ls-files", "-s", "link", "run.sh"]).lines().map(|l| l[..6].to_owned()).collect();
        assert_eq!(modes, ["120000", "100755"], "modes come from the tree");

        // Without an index to patch, it is built from the tree.
        std::fs::remove_file(dir.path().join(".git/index")).expect("rm index");
        repo.patch_index(dir.path(), repo.commit_tree(two).expect("a tree"), &changed, &[]).expect("rebuilt");
        assert_eq!(git(&["diff-index", "--cached", "HEAD"]), "", "the index is the second tree");
    }

    /// A performer's worktree with a staged change it then changed again, an untracked file
    /// and a deletion: after the commit and the reset, the index is the commit's tree and
    /// matches the files, as after `git commit -a`.
    #[test]
    fn after_a_commit_of_a_worktree_its_patched_index_is_the_commits_tree() {
        let dir = committed(&[("a.txt", "1\n"), ("b.txt", "1\n")]);
        let git = |args: &[&str]| git_in(dir.path(), args);
        std::fs::write(dir.path().join("a.txt"), "2\n").expect("write");
        git(&["add", "a.txt"]);
        std::fs::write(dir.path().join("a.txt"), "3\n").expect("write");
        std::fs::write(dir.path().join("c.txt"), "new\n").expect("write");
        std::fs::remove_file(dir.path().join("b.txt")).expect("rm");

        let repo = Repo::discover(dir.path()).expect("discover");
        let snap = repo.snapshot_worktree(dir.path(), &[], "work", ("t", "t@t"), 1_700_000_000).expect("snapshot");
        assert_eq!(snap.paths, ["a.txt", "b.txt", "c.txt"]);
        let commit = snap.commit.expect("a commit");
        git(&["update-ref", &snap.branch, &commit.to_string()]);
        repo.reset_index(dir.path(), commit, &snap.paths).expect("reset");
        assert_eq!(git(&["diff-index", "--cached", "HEAD"]), "", "the index is the commit's tree");
        assert_eq!(git(&["status", "--porcelain"]), "", "and matches the files");
        assert_eq!(git(&["show", "HEAD^:a.txt"]), "2", "the staged version is kept in a commit of its own");
    }

    fn tree_of_index(dir: &Path) -> Option<ObjectId> {
        tree_id(&gix::open(dir).expect("open").open_index().expect("the index"))
    }

    /// The tree hashed from an index is `git write-tree`'s, for names whose byte order and
    /// tree order could differ, nested directories, every mode and a submodule; a staged
    /// change is in it; a conflict and an intent to add make none.
    #[test]
    fn the_tree_of_an_index_is_the_one_git_writes_for_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let git = |args: &[&str]| git_in(dir.path(), args);
        git(&["init", "-q", "-b", "main"]);
        for rela in ["a.txt", "a/x", "a/b/c/d", "a0", "a-b/c", "b/x", "bc/y", "z/y/x/w", "top"] {
            let file = dir.path().join(rela);
            std::fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
            std::fs::write(file, rela).expect("write");
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path().join("top"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::os::unix::fs::symlink("a.txt", dir.path().join("a.link")).expect("symlink");
        git(&["add", "."]);
        let blob = git(&["hash-object", "-w", "top"]);
        git(&["update-index", "--add", "--cacheinfo", &format!("160000,{blob},a/sub")]);
        let written: ObjectId = git(&["write-tree"]).parse().expect("an id");
        assert_eq!(tree_of_index(dir.path()), Some(written));
        git(&["commit", "-q", "-m", "c"]);

        std::fs::write(dir.path().join("a/b/c/d"), "staged").expect("write");
        git(&["add", "a/b/c/d"]);
        let staged: ObjectId = git(&["write-tree"]).parse().expect("an id");
        assert_ne!(staged, written);
        assert_eq!(tree_of_index(dir.path()), Some(staged), "a staged change is in the tree");
        git(&["reset", "-q"]);

        std::fs::write(dir.path().join("new.txt"), "n").expect("write");
        git(&["add", "-N", "new.txt"]);
        assert_eq!(tree_of_index(dir.path()), None, "an intent to add makes no tree");
        git(&["reset", "-q"]);
        assert_eq!(tree_of_index(dir.path()), Some(written));

        git(&["checkout", "-q", "-b", "other"]);
        std::fs::write(dir.path().join("top"), "other").expect("write");
        git(&["commit", "-q", "-am", "other"]);
        git(&["checkout", "-q", "main"]);
        std::fs::write(dir.path().join("top"), "main").expect("write");
        git(&["commit", "-q", "-am", "main"]);
        let merge = std::process::Command::new("git")
            .current_dir(dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@t", "merge", "-q", "other"])
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git merge");
        assert!(!merge.status.success(), "the merge conflicts");
        assert_eq!(tree_of_index(dir.path()), None, "a conflict makes no tree");
    }

    /// A new worktree's files are all written before its index. Compared to the nanosecond,
    /// none of them is "racily clean", so a status reads none of them. To the second, every
    /// status read every file written in the index's second.
    #[test]
    fn a_status_of_a_new_worktree_reads_none_of_its_files() {
        let names: Vec<String> = (0..40).map(|i| format!("f{i}.txt")).collect();
        let dir = committed(&names.iter().map(|n| (n.as_str(), "text\n")).collect::<Vec<_>>());
        git_in(dir.path(), &["branch", "t"]);
        let repo = Repo::discover(dir.path()).expect("discover");
        let root = tempfile::tempdir().expect("temp dir");
        let path = root.path().join("wt");
        repo.add_worktree(&path, "t").expect("a worktree");
        // The index some clock ticks after the files: where file times are only as fine as the
        // clock tick, the files' and the index's could otherwise be the same time.
        std::thread::sleep(std::time::Duration::from_millis(30));
        let admin = repo.worktree_admin_dir(&path).expect("admin dir").expect("a linked worktree");
        let index = std::fs::File::options().write(true).open(admin.join("index")).expect("open");
        index.set_modified(std::time::SystemTime::now()).expect("touch the index");

        let wt = Repo::open_worktree(&path).expect("open");
        let mut status = wt
            .status(gix::progress::Discard)
            .expect("status")
            .untracked_files(gix::status::UntrackedFiles::None)
            .into_index_worktree_iter(Vec::new())
            .expect("iterate");
        let changed: Vec<_> = status.by_ref().collect::<Result<_, _>>().expect("a status");
        assert!(changed.is_empty(), "nothing changed");
        let outcome = status.into_outcome().expect("a complete status");
        assert_eq!(outcome.index_worktree.tracked_file_modification.worktree_files_read, 0);
    }

    /// A change that is only staged (the file on disk is the staged version) is found, both
    /// when the index makes a tree and when it holds an intent to add.
    #[test]
    fn a_change_only_staged_is_changed() {
        let dir = committed(&[("a.txt", "1")]);
        let git = |args: &[&str]| git_in(dir.path(), args);
        assert!(crate::git::dirty_paths(dir.path()).expect("status").is_empty());
        std::fs::write(dir.path().join("a.txt"), "2").expect("write");
        git(&["add", "a.txt"]);
        assert_eq!(crate::git::dirty_paths(dir.path()).expect("status"), ["a.txt"]);
        git(&["commit", "-q", "-m", "c"]);
        std::fs::write(dir.path().join("b.txt"), "").expect("write");
        git(&["add", "-N", "b.txt"]);
        assert_eq!(crate::git::dirty_paths(dir.path()).expect("status"), ["b.txt"], "an intent to add");
    }
}
