//! Planning with an agent: a planner performer turns a requirement into a Score file.
//!
//! The planner works in a scratch detached worktree at the target's tip, so it can read the
//! code. Its prompt carries the requirement, a summary of the repository (tree outline,
//! languages, README head) and the Score schema with an example, and asks for interface-first
//! ordering. It answers by writing `score.toml` in its directory, or with the TOML in its last
//! message. The answer is validated exactly like `plan --from`; an invalid one is sent back
//! once with the problems, and a second failure is an error that shows what it wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ConductorError;
use crate::config::Performer;
use crate::git::{ObjectId, Repo};
use crate::model::plan::{self, ValidPlan};
use crate::performer::adapter::Event;
use crate::performer::invoke::{self, Launch};
use crate::store::Store;

/// What the planner needs.
pub struct PlanRequest<'a> {
    pub requirement: &'a str,
    pub performer: &'a Performer,
    pub binary: PathBuf,
    pub worktree_root: PathBuf,
    pub env: Vec<(String, String)>,
    pub maestro_exe: PathBuf,
    /// The branch the code is read from (and the Score's default target).
    pub target: String,
}

/// A plan the planner produced.
pub struct Planned {
    pub plan: ValidPlan,
    /// The Score file as the planner wrote it.
    pub text: String,
    /// 1, or 2 when the first answer was sent back.
    pub rounds: u32,
}

/// Ask `req.performer` for a Score.
pub fn plan_with_agent(
    store: &Store,
    req: &PlanRequest<'_>,
    on_event: &mut dyn FnMut(&Event),
) -> Result<Planned, ConductorError> {
    let repo = &store.repo;
    let tip = repo
        .read_ref(&format!("refs/heads/{}", req.target))?
        .ok_or_else(|| ConductorError::Other(format!("the target branch {:?} does not exist", req.target)))?;
    let summary = summarize(repo, tip)?;
    let worktree = req.worktree_root.join("planner.scratch");
    repo.detached_worktree_at(&worktree, tip)?;
    let mut feedback: Option<(String, Vec<String>)> = None;
    for round in 1..=2 {
        let run = store.session.new_id();
        let prompt = crate::performer::prompt::plan(req.requirement, &summary, &req.target, &run, feedback.as_ref());
        let transcript = repo.common_dir().join("maestro/logs/planner").join(format!("{run}.jsonl"));
        let answer_file = worktree.join("score.toml");
        let _ = std::fs::remove_file(&answer_file);
        let launch = Launch {
            performer: req.performer,
            binary: &req.binary,
            cwd: &worktree,
            prompt,
            base_env: &req.env,
            maestro_exe: &req.maestro_exe,
            store,
            score: "",
            task: "",
            run: &run,
            transcript,
            resume: None,
            stop: None,
            // Plans and reviews are not charged to a task's budget.
            meter: crate::performer::meter::Meter::default(),
        };
        let outcome = invoke::launch(launch, on_event).map_err(|e| ConductorError::Other(e.to_string()))?;
        if let Some(failure) = outcome.failure {
            return Err(ConductorError::Other(format!("the planner failed: {failure}")));
        }
        let text = match std::fs::read_to_string(&answer_file) {
            Ok(text) => text,
            Err(_) => extract_toml(outcome.last_text.as_deref().unwrap_or_default()),
        };
        let _ = std::fs::remove_file(&answer_file);
        let checked = plan::parse_score_file(&text)
            .map_err(|p| vec![p])
            .and_then(|file| plan::validate(file, store.session.now()));
        match checked {
            Ok(plan) => return Ok(Planned { plan, text, rounds: round }),
            Err(problems) => feedback = Some((text, problems.iter().map(ToString::to_string).collect())),
        }
    }
    let (text, problems) = feedback.unwrap_or_default();
    Err(ConductorError::InvalidPlan { problems, text })
}

/// The TOML in a message: its last ```toml block, else its last ``` block, else all of it.
fn extract_toml(message: &str) -> String {
    let blocks: Vec<(&str, &str)> = message
        .split("```")
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, b)| b.split_once('\n').unwrap_or((b, "")))
        .collect();
    blocks
        .iter()
        .rev()
        .find(|(lang, _)| lang.trim() == "toml")
        .or_else(|| blocks.last())
        .map_or_else(|| message.to_owned(), |(_, body)| (*body).to_owned())
}

/// Tree outline (two levels, capped), languages by file extension (four levels deep), and the
/// README's head.
fn summarize(repo: &Repo, commit: ObjectId) -> Result<String, ConductorError> {
    let tree = repo.commit_tree(commit)?;
    let mut outline = Vec::new();
    let mut languages: BTreeMap<&'static str, usize> = BTreeMap::new();
    walk(repo, tree, "", 0, &mut outline, &mut languages)?;
    let mut out = String::from("Files (two levels):\n");
    for line in outline.iter().take(80) {
        out.push_str(&format!("  {line}\n"));
    }
    if outline.len() > 80 {
        out.push_str(&format!("  … and {} more\n", outline.len() - 80));
    }
    let mut langs: Vec<(&str, usize)> = languages.into_iter().collect();
    langs.sort_by_key(|l| std::cmp::Reverse(l.1));
    let langs: Vec<String> = langs.iter().map(|(l, n)| format!("{l} ({n} files)")).collect();
    out.push_str(&format!("Languages: {}\n", if langs.is_empty() { "none found".into() } else { langs.join(", ") }));
    for name in ["README.md", "README", "readme.md"] {
        if let Some((_, data)) = repo.read_blob(tree, name, 1 << 20)? {
            let head: Vec<&str> = std::str::from_utf8(&data).unwrap_or_default().lines().take(40).collect();
            out.push_str(&format!("{name} (head):\n{}\n", head.join("\n")));
            break;
        }
    }
    Ok(out)
}

fn walk(
    repo: &Repo,
    tree: ObjectId,
    dir: &str,
    depth: usize,
    outline: &mut Vec<String>,
    languages: &mut BTreeMap<&'static str, usize>,
) -> Result<(), ConductorError> {
    for (name, is_tree, _) in repo.list_dir(tree, dir)? {
        let path = if dir.is_empty() { name.clone() } else { format!("{dir}/{name}") };
        if is_tree {
            if depth < 1 {
                outline.push(format!("{path}/"));
            }
            if depth < 3 {
                walk(repo, tree, &path, depth + 1, outline, languages)?;
            }
        } else {
            if depth < 2 {
                outline.push(path.clone());
            }
            if let Some(lang) = language(&name) {
                *languages.entry(lang).or_default() += 1;
            }
        }
    }
    Ok(())
}

fn language(name: &str) -> Option<&'static str> {
    let ext = Path::new(name).extension()?.to_str()?;
    Some(match ext {
        "rs" => "rust",
        "py" => "python",
        "ts" | "tsx" => "typescript",
        "js" | "mjs" | "cjs" => "javascript",
        "go" => "go",
        "java" => "java",
        "kt" => "kotlin",
        "rb" => "ruby",
        "c" | "h" => "c",
        "cc" | "cpp" | "hpp" => "c++",
        "sh" => "shell",
        "md" => "markdown",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_comes_from_the_last_toml_block() {
        let m = "Here:\n```toml\nid = \"a\"\n```\nor better:\n```toml\nid = \"b\"\n```\nDone.";
        assert_eq!(extract_toml(m), "id = \"b\"\n");
        assert_eq!(extract_toml("```\nid = \"c\"\n```"), "id = \"c\"\n");
        assert_eq!(extract_toml("id = \"d\""), "id = \"d\"");
    }
}
