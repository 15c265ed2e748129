//! Checking a whole state tree: every file is where the layout says, parses as its record type
//! and passes its record's checks ([`super::validate`]), which include sitting where its ids
//! place it.

use super::layout::MAESTRO_TOML;
use super::validate::Record;
use super::{Error, Result, Root, View};
use crate::model::handover::Handover;
use crate::model::intent::Intent;
use crate::model::stats::PerformerStats;
use crate::model::{Decision, Knowledge, RunSession, Score, Task};

/// Every problem in the state at `view`, as `path: message`. Empty means healthy.
pub fn check_all(view: &View<'_>) -> Result<Vec<String>> {
    check_since(view, None)
}

/// The problems of the records of `view` that differ from `since`, a state already checked:
/// a record that is the same blob at the same place passed then. What a sync or a push brings
/// is checked at the cost of what changed, not of the whole state.
pub fn check_since(view: &View<'_>, since: Option<&View<'_>>) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let files = match view.files_since(since) {
        Ok(files) => files,
        // A symlink or a submodule where records live: nothing below can be trusted.
        Err(Error::Git(e @ (crate::git::Error::NotABlob(_) | crate::git::Error::BadName(_)))) => {
            return Ok(vec![e.to_string()]);
        }
        Err(e) => return Err(e),
    };
    if !view.list("")?.iter().any(|(name, is_dir)| name == MAESTRO_TOML && !is_dir) {
        problems.push(format!("{MAESTRO_TOML}: missing"));
    }
    for (path, id) in files {
        let bytes = match view.blob(&path, id) {
            Ok(b) => b,
            Err(Error::Codec(e)) => {
                problems.push(e.to_string());
                continue;
            }
            Err(e) => return Err(e),
        };
        // A state of an older layout is read as the current layout places its records.
        let path = view.logical(&path)?;
        if let Err(problem) = check_file(&path, &bytes) {
            problems.push(problem);
        }
    }
    Ok(problems)
}

/// Read the file at `path` as the record its place says it holds, with every check of
/// [`super::validate`].
fn check_file(path: &str, bytes: &[u8]) -> Result<(), String> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts[..] {
        [MAESTRO_TOML] => read::<Root>(path, bytes),
        ["scores", _, "score.toml"] => read::<Score>(path, bytes),
        ["scores", _, "tasks", _, _, _] => read::<Task>(path, bytes),
        ["sessions", _, _, _, _, _] => read::<RunSession>(path, bytes),
        ["decisions", _, _, _, _] => read::<Decision>(path, bytes),
        ["intents", _] => read::<Intent>(path, bytes),
        ["stats", "performers", _] => read::<PerformerStats>(path, bytes),
        ["handovers", _, _, _] => read::<Handover>(path, bytes),
        ["knowledge", _, _, _] => read::<Knowledge>(path, bytes),
        _ => Err(format!("{}: not a file this version of git-maestro knows", path.escape_debug())),
    }
}

fn read<T: Record>(path: &str, bytes: &[u8]) -> Result<(), String> {
    super::codec::read::<T>(path, bytes).map(drop).map_err(|e| e.to_string())
}
