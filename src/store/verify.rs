//! Checking a whole state tree: every file is where the layout says, parses as its record type,
//! respects the size limits, and names itself consistently with its path.

use serde::de::DeserializeOwned;

use super::layout::{self, MAESTRO_TOML};
use super::{Error, Result, Root, View};
use crate::model::{Decision, Knowledge, RunSession, Score, Task};

/// Every problem in the state at `view`, as `path: message`. Empty means healthy.
pub fn check_all(view: &View<'_>) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let files = view.files()?;
    if !files.iter().any(|(p, _)| p == MAESTRO_TOML) {
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
        if let Err(problem) = check_file(&path, &bytes) {
            problems.push(problem);
        }
    }
    Ok(problems)
}

fn check_file(path: &str, bytes: &[u8]) -> Result<(), String> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts[..] {
        [MAESTRO_TOML] => decode::<Root>(path, bytes).map(drop),
        ["scores", score, "score.toml"] => {
            let s: Score = decode(path, bytes)?;
            same(path, "id", &s.id, score)
        }
        ["scores", score, "tasks", file] => {
            let t: Task = decode(path, bytes)?;
            same(path, "id", &t.id, file.strip_suffix(".toml").unwrap_or(file))?;
            same(path, "score", &t.score, score)
        }
        ["sessions", score, task, file] => {
            let r: RunSession = decode(path, bytes)?;
            same(path, "run", &r.run, file.strip_suffix(".toml").unwrap_or(file))?;
            same(path, "task", &r.task, task)?;
            same(path, "score", &r.score, score)
        }
        ["decisions", _, _, file] => {
            let d: Decision = decode(path, bytes)?;
            same(path, "id", &d.id, file.strip_suffix(".toml").unwrap_or(file))?;
            same(path, "path", path, &layout::decision_file(&d.id))
        }
        ["intents", file] => {
            let i: crate::model::intent::Intent = decode(path, bytes)?;
            same(path, "id", &i.id, file.strip_suffix(".toml").unwrap_or(file))
        }
        ["stats", "performers", file] => {
            let p: crate::model::stats::PerformerStats = decode(path, bytes)?;
            same(path, "performer", &p.performer, file.strip_suffix(".toml").unwrap_or(file))
        }
        ["handovers", _, _, file] => {
            let h: crate::model::handover::Handover = decode(path, bytes)?;
            same(path, "id", &h.id, file.strip_suffix(".toml").unwrap_or(file))?;
            same(path, "path", path, &layout::handover_file(&h.id))
        }
        ["knowledge", _, _, file] => {
            let k: Knowledge = decode(path, bytes)?;
            same(path, "id", &k.id, file.strip_suffix(".toml").unwrap_or(file))?;
            same(path, "path", path, &layout::knowledge_file(&k.id))
        }
        _ => Err(format!("{path}: not a file this version of git-maestro knows")),
    }
}

fn decode<T: DeserializeOwned>(path: &str, bytes: &[u8]) -> Result<T, String> {
    super::codec::decode(path, bytes).map_err(|e| e.to_string())
}

fn same(path: &str, field: &str, found: &str, expected: &str) -> Result<(), String> {
    if found == expected {
        Ok(())
    } else {
        Err(format!("{path}: {field} is {found:?} but its place says {expected:?}"))
    }
}
