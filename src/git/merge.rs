//! Merging commits in memory (no checkout), as `git merge-tree --write-tree` does.

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::merge::tree::TreatAsUnresolved;

use super::objects::retry_transient;
use super::{GixContext, Repo, Result};

/// Conflicted paths as git counts them, or the tree (written when `write`; else a null id).
fn finish(outcome: &mut gix::merge::tree::Outcome<'_>, write: bool) -> Result<MergeResult> {
    let how = TreatAsUnresolved::git();
    if outcome.has_unresolved_conflicts(how) {
        let mut paths: Vec<String> = outcome
            .conflicts
            .iter()
            .filter(|c| c.is_unresolved(how))
            .flat_map(|c| [c.ours.location().to_string(), c.theirs.location().to_string()])
            .collect();
        paths.sort();
        paths.dedup();
        return Ok(MergeResult::Conflicts(paths));
    }
    if !write {
        return Ok(MergeResult::Clean(ObjectId::null(gix::hash::Kind::Sha1)));
    }
    let tree = outcome.tree.write().ctx(|| "cannot write the merged tree".into())?;
    Ok(MergeResult::Clean(tree.detach()))
}

/// What a merge of two commits gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeResult {
    /// The merged tree, written to the object database.
    Clean(ObjectId),
    /// The paths git would leave conflicted; nothing was written.
    Conflicts(Vec<String>),
}

impl Repo {
    /// Merge `theirs` into `ours` in memory and write the merged tree.
    pub fn merge_commits(&self, ours: ObjectId, theirs: ObjectId) -> Result<MergeResult> {
        self.merge_commits_with(ours, theirs, true)
    }

    /// The paths a merge of `theirs` into `ours` would leave conflicted (empty: it merges
    /// cleanly). Writes no tree, so a forecast over many pairs stays cheap.
    pub fn merge_conflicts(&self, ours: ObjectId, theirs: ObjectId) -> Result<Vec<String>> {
        Ok(match self.merge_commits_with(ours, theirs, false)? {
            MergeResult::Conflicts(paths) => paths,
            MergeResult::Clean(_) => Vec::new(),
        })
    }

    fn merge_commits_with(&self, ours: ObjectId, theirs: ObjectId, write: bool) -> Result<MergeResult> {
        let options = self.inner.tree_merge_options().ctx(|| "cannot read the merge configuration".into())?;
        let labels = gix::merge::blob::builtin_driver::text::Labels {
            ancestor: Some("base".as_bytes().as_bstr()),
            current: Some("integration".as_bytes().as_bstr()),
            other: Some("task".as_bytes().as_bstr()),
        };
        // A merge writes blobs and trees as it goes; it is redone whole if a write fails.
        retry_transient(|| {
            let mut outcome = self
                .inner
                .merge_commits(ours, theirs, labels, options.clone().into())
                .ctx(|| format!("cannot merge {theirs} into {ours}"))?;
            finish(&mut outcome.tree_merge, write)
        })
    }

    /// Three-way merge of trees: the changes from `base` to `theirs`, applied to `ours`. With
    /// base = a merge commit's tree, ours = the tip's tree and theirs = the merge's first
    /// parent's tree, this reverts that merge.
    pub fn merge_trees(&self, base: ObjectId, ours: ObjectId, theirs: ObjectId) -> Result<MergeResult> {
        let options = self.inner.tree_merge_options().ctx(|| "cannot read the merge configuration".into())?;
        let labels = gix::merge::blob::builtin_driver::text::Labels {
            ancestor: Some("merge".as_bytes().as_bstr()),
            current: Some("integration".as_bytes().as_bstr()),
            other: Some("before".as_bytes().as_bstr()),
        };
        retry_transient(|| {
            let mut outcome = self
                .inner
                .merge_trees(base, ours, theirs, labels, options.clone())
                .ctx(|| "cannot merge trees".into())?;
            finish(&mut outcome, true)
        })
    }

    /// The change the merge commit `merge` brought (from its first parent to it) applied again
    /// on `onto`, as a cherry-pick of the merge would: the revert of its revert. The tree, or
    /// the paths that conflict with what `onto` holds now.
    pub fn reapply_merge(&self, merge: ObjectId, onto: ObjectId) -> Result<MergeResult> {
        let info = self.commit_info(merge)?;
        let Some(before) = info.parents.first() else {
            return Err(super::Error::Ref(format!("cannot re-apply {merge}: it has no parent")));
        };
        self.merge_trees(self.commit_tree(*before)?, self.commit_tree(onto)?, info.tree)
    }

    /// A worktree at `path` with `commit` checked out detached (so no branch is held), created
    /// on first use and afterwards reset to `commit` with git, untracked files removed.
    pub fn detached_worktree_at(&self, path: &std::path::Path, commit: ObjectId) -> Result<()> {
        if !path.exists() {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| super::Error::Io {
                    context: format!("cannot create {}", parent.display()),
                    source,
                })?;
            }
            let interrupt = std::sync::atomic::AtomicBool::new(false);
            self.inner
                .add_worktree(path, gix::worktree::add::Head::Detached(commit), gix::progress::Discard, &interrupt)
                .ctx(|| format!("cannot add a worktree at {}", path.display()))?;
            return Ok(());
        }
        self.reset_checkout(path, commit)
    }

    /// Reset the worktree at `path` to `commit` with git (`reset --hard`, then `clean -fd`):
    /// its files, its index, and its checked-out branch if it has one.
    /// A linked worktree is reset with git's paths pinned (checks ran code in it).
    pub fn reset_checkout(&self, path: &std::path::Path, commit: ObjectId) -> Result<()> {
        let admin = self.worktree_admin_dir(path)?;
        for args in [&["reset", "-q", "--hard", &commit.to_string()][..], &["clean", "-fdq"]] {
            match &admin {
                Some(admin) => super::binary::run_git_pinned(self, path, admin, args)?,
                None => super::binary::run_git(path, args)?,
            };
        }
        Ok(())
    }

    /// The working tree that has `full_ref` checked out, if any.
    pub fn worktree_with_branch(&self, full_ref: &str) -> Result<Option<std::path::PathBuf>> {
        for repo in self.inner.worktrees_including_main().ctx(|| "cannot list worktrees".into())? {
            let Ok(repo) = repo else { continue };
            if let Ok(head) = repo.head()
                && head.referent_name().is_some_and(|n| n.as_bstr() == full_ref)
            {
                return Ok(repo.workdir().map(std::path::Path::to_owned));
            }
        }
        Ok(None)
    }

    /// Bring the checked-out branch of `worktree` forward to `commit` with
    /// `git merge --ff-only`, which updates its files and index (and refuses anything else).
    pub fn fast_forward_checkout(&self, worktree: &std::path::Path, commit: ObjectId) -> Result<()> {
        super::binary::run_git(worktree, &["merge", "--ff-only", "--quiet", &commit.to_string()])?;
        Ok(())
    }

    /// Branches checked out in the main checkout or any linked worktree, as full ref names.
    pub fn checked_out_refs(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for repo in self.inner.worktrees_including_main().ctx(|| "cannot list worktrees".into())? {
            let Ok(repo) = repo else { continue };
            if let Ok(head) = repo.head()
                && let Some(name) = head.referent_name()
            {
                out.push(name.as_bstr().to_string());
            }
        }
        Ok(out)
    }
}
