//! The pre-push verifier (`git maestro hook pre-push`), following git's hook protocol:
//! arguments `<remote> <url>`, and one stdin line per ref:
//! `<local ref> <local oid> <remote ref> <remote oid>`, with an all-zero oid for "none".
//!
//! It guards `refs/maestro/*`: such a push must be a fast-forward, its state must parse within
//! the size limits and hold no secrets (tokens with known prefixes, private keys) in what is
//! new, and `refs/maestro/state` may not be deleted. A branch push may not carry results of
//! unapproved tasks, nor integration work that was never landed. Anything else passes.

use crate::git::ObjectId;
use crate::model::{DecisionKind, TaskStatus};
use crate::store::{self, Store};

/// One line of pre-push input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRef {
    pub local_ref: String,
    /// `None` when the push deletes the remote ref.
    pub local: Option<ObjectId>,
    pub remote_ref: String,
    /// `None` when the remote ref does not exist yet.
    pub remote: Option<ObjectId>,
}

/// A push that must not happen, with the reason and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub remote_ref: String,
    pub reason: String,
    pub hint: String,
}

/// Parse the hook's stdin. Blank lines are ignored; a malformed line is an error.
pub fn parse_pre_push_input(input: &str) -> Result<Vec<PushedRef>, String> {
    let oid = |s: &str| -> Result<Option<ObjectId>, String> {
        let id = ObjectId::from_hex(s.as_bytes()).map_err(|_| format!("{s:?} is not an object id"))?;
        Ok(if id.is_null() { None } else { Some(id) })
    };
    input
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [local_ref, local, remote_ref, remote] = parts[..] else {
                return Err(format!("malformed pre-push line {line:?}"));
            };
            Ok(PushedRef {
                local_ref: local_ref.to_owned(),
                local: oid(local)?,
                remote_ref: remote_ref.to_owned(),
                remote: oid(remote)?,
            })
        })
        .collect()
}

/// Commits of one push checked at most (a first push of a long history stops here).
const WALK_LIMIT: usize = 20_000;

/// Check every pushed ref; an empty result means the push may go ahead. `remote` names the
/// remote, whose remote-tracking refs bound the walk over a new branch.
pub fn verify_pre_push(store: &Store, refs: &[PushedRef], remote: Option<&str>) -> store::Result<Vec<Refusal>> {
    let mut refusals = branch_refusals(store, refs, remote)?;
    for pushed in refs.iter().filter(|r| r.remote_ref.starts_with(store::layout::REF_PREFIX)) {
        let refuse = |reason: String, hint: &str| Refusal {
            remote_ref: pushed.remote_ref.clone(),
            reason,
            hint: hint.to_owned(),
        };
        let Some(local) = pushed.local else {
            if pushed.remote_ref == store::layout::STATE_REF {
                refusals.push(refuse(
                    "deleting refs/maestro/state would drop every Score, task and decision".into(),
                    "the shared state is never deleted; leave it on the remote",
                ));
            }
            continue;
        };
        if let Some(remote) = pushed.remote {
            if remote == local {
                continue;
            }
            if !store.repo.has_object(remote) || !store.repo.is_ancestor(remote, local)? {
                refusals.push(refuse(
                    format!("{} is not a fast-forward of the remote's {}", pushed.local_ref, short(remote)),
                    "run `git maestro sync` to merge the remote state first; state refs are never force-pushed",
                ));
                continue;
            }
        }
        if pushed.remote_ref == store::layout::STATE_REF {
            let view = store.view_at(local)?;
            // What the push brings: the remote has the rest already.
            let there = pushed.remote.filter(|r| store.repo.has_object(*r)).map(|r| store.view_at(r)).transpose()?;
            let problems = store::check_since(&view, there.as_ref())?;
            if let Some(first) = problems.first() {
                refusals.push(refuse(
                    format!("the state at {} does not parse: {first}", short(local)),
                    "run `git maestro doctor` to see every problem",
                ));
                continue;
            }
            if let Some(path) = secret_in(&view, there.as_ref())? {
                refusals.push(refuse(
                    format!("{path} in the state at {} holds what looks like a secret", short(local)),
                    "remove it (records are redacted when written; this one came another way), then push again",
                ));
            }
        }
    }
    Ok(refusals)
}

/// The check `git maestro sync` runs before it pushes `local` over the remote's `remote`:
/// exactly what the hook would say of that push. `Err` holds the reason and hint.
pub fn verify_sync_push(store: &Store, local: ObjectId, remote: Option<ObjectId>) -> Result<(), String> {
    let pushed = PushedRef {
        local_ref: store::layout::STATE_REF.to_owned(),
        local: Some(local),
        remote_ref: store::layout::STATE_REF.to_owned(),
        remote,
    };
    match verify_pre_push(store, &[pushed], None) {
        Ok(refusals) => match refusals.into_iter().next() {
            None => Ok(()),
            Some(r) => Err(format!("{}\nHint: {}", r.reason, r.hint)),
        },
        Err(e) => Err(e.to_string()),
    }
}

/// Pushes of ordinary branches may not carry git-maestro's work before it is approved: a task's
/// result commit needs its task approved (or merged), and integration commits (merges and
/// reverts on `maestro/<score>/integration`) must have been landed by `git maestro land`.
/// Pushes of `maestro/*` branches themselves (pull requests) pass.
fn branch_refusals(store: &Store, refs: &[PushedRef], remote: Option<&str>) -> store::Result<Vec<Refusal>> {
    let branches: Vec<&PushedRef> = refs
        .iter()
        .filter(|r| {
            !r.remote_ref.starts_with(store::layout::REF_PREFIX) && !r.remote_ref.starts_with("refs/heads/maestro/")
        })
        .filter(|r| r.local.is_some())
        .collect();
    if branches.is_empty() || store.repo.read_ref(store::layout::STATE_REF)?.is_none() {
        return Ok(Vec::new());
    }
    let view = store.view()?;
    let decisions = store::decisions(&view)?;
    let landed: Vec<(String, ObjectId)> = decisions
        .iter()
        .filter(|d| d.kind == DecisionKind::Merge && d.task.is_none())
        .filter_map(|d| Some((d.score.clone()?, ObjectId::from_hex(d.commit.as_deref()?.as_bytes()).ok()?)))
        .collect();
    // A push to a URL rather than a named remote has no remote-tracking refs.
    let mut hidden = match remote.filter(|r| store.repo.remote_names().iter().any(|n| n == r)) {
        Some(r) => store.repo.ref_tips(&format!("refs/remotes/{r}/"))?,
        None => Vec::new(),
    };
    let mut out = Vec::new();
    for pushed in branches {
        let Some(local) = pushed.local else { continue };
        hidden.extend(pushed.remote.filter(|r| store.repo.has_object(*r)));
        for c in store.repo.new_commits(local, &hidden, WALK_LIMIT)? {
            let Some(score) = store::trailer(&c.message, "Maestro-Score") else { continue };
            let problem = match (store::trailer(&c.message, "Maestro-Run"), store::trailer(&c.message, "Maestro-Task"))
            {
                (Some(_), Some(task)) => match store::task(&view, score, task) {
                    Ok(t) if matches!(t.status, TaskStatus::Approved | TaskStatus::Merged | TaskStatus::Reverted) => {
                        None
                    }
                    Ok(t) => Some((format!("the result of {score}/{task}, which is {}", t.status), score, Some(task))),
                    Err(_) => Some((
                        format!("the result of {score}/{task}, which this state does not know"),
                        score,
                        Some(task),
                    )),
                },
                _ => {
                    let contained = landed.iter().filter(|(s, _)| s == score).try_fold(false, |found, (_, at)| {
                        Ok::<_, store::Error>(found || store.repo.is_ancestor(c.id, *at)?)
                    })?;
                    (!contained).then(|| (format!("integration work of {score} that was never landed"), score, None))
                }
            };
            if let Some((what, score, task)) = problem {
                let hint = match task {
                    Some(task) => format!(
                        "approve it first (`git maestro approve {score}/{task}`), or push its branch for review with `git maestro pr {score}/{task}`"
                    ),
                    None => format!(
                        "land it with `git maestro approve {score}` then `git maestro land {score}`, or open a pull request with `git maestro land {score} --pr`"
                    ),
                };
                out.push(Refusal {
                    remote_ref: pushed.remote_ref.clone(),
                    reason: format!("{} contains {what} ({})", pushed.local_ref, short(c.id)),
                    hint,
                });
                break;
            }
        }
    }
    Ok(out)
}

/// The first file of `view` that `there` (what the remote has) does not hold as it is, whose
/// text holds a token or private key.
fn secret_in(view: &store::View<'_>, there: Option<&store::View<'_>>) -> store::Result<Option<String>> {
    for (path, id) in view.files_since(there)? {
        let bytes = view.blob(&path, id)?;
        if crate::model::redact::contains_secret(&String::from_utf8_lossy(&bytes)) {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

fn short(id: ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_git_hook_input() {
        let zero = "0".repeat(40);
        let a = "a".repeat(40);
        let input = format!("refs/heads/main {a} refs/heads/main {zero}\n\n(delete) {zero} refs/maestro/state {a}\n");
        let refs = parse_pre_push_input(&input).expect("well-formed hook input parses");
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].remote, None, "zero oid means the remote ref is new");
        assert_eq!(refs[1].local, None, "zero local oid means a deletion");
        assert!(parse_pre_push_input("refs/heads/x abc").is_err());
    }
}
