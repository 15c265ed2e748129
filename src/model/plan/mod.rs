//! The Score file a user writes, and its validation into a stored [`Score`] and [`Task`]s.
//!
//! Validation collects every problem at once, each with the field it is about, so one run of
//! `git maestro plan --from` shows everything to fix. Nothing is stored unless there are none.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::ids::validate_slug;
use super::score::{ConflictPolicy, PlanApproval, Score, ScoreStatus};
use super::task::{Task, TaskKind, TaskStatus};
use super::{FORMAT, MAX_STRING_BYTES, MAX_TASKS};

/// The format of the Score file a user writes (`plan --from`); the state's records have
/// their own ([`FORMAT`]).
pub const PLAN_FORMAT: i64 = 1;

/// One thing wrong with a Score file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `id`, `tasks[2].deps[0]`, or empty for the whole file.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.field, self.message) }
    }
}

/// The Score file as written. Loose types, so that a wrong value is a validation problem with a
/// field name rather than the first of many deserialisation errors.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreFile {
    pub format: Option<i64>,
    pub id: Option<String>,
    pub title: Option<String>,
    pub requirement: Option<String>,
    pub target: Option<String>,
    pub plan_approval: Option<String>,
    pub kb_approval: Option<String>,
    pub approval: Option<Vec<String>>,
    pub post_merge_checks: Option<Vec<String>>,
    pub conflict_policy: Option<String>,
    pub max_attempts: Option<i64>,
    /// `task`, `score`, `task_tokens`, `score_tokens`: see [`super::budget::score::ScoreBudget`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BTreeMap<String, toml::Value>>,
    #[serde(default)]
    pub tasks: Vec<TaskSpec>,
}

/// One `[[tasks]]` entry as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub id: Option<String>,
    pub title: Option<String>,
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub spec: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acceptance: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    pub performer: Option<String>,
    pub approval: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub checkpoint: bool,
}

impl ScoreFile {
    /// The Score file that plans `score` with `tasks`, for editing.
    pub fn from_plan(score: &Score, tasks: &[Task]) -> ScoreFile {
        ScoreFile {
            format: Some(PLAN_FORMAT),
            id: Some(score.id.clone()),
            title: Some(score.title.clone()),
            requirement: Some(score.requirement.clone()).filter(|r| !r.is_empty()),
            target: Some(score.target.clone()),
            plan_approval: Some(score.plan_approval.as_str().to_owned()),
            kb_approval: Some(score.kb_approval.as_str().to_owned()),
            approval: Some(score.approval.clone()),
            post_merge_checks: Some(score.post_merge_checks.clone()).filter(|c| !c.is_empty()),
            conflict_policy: Some(score.conflict_policy.as_str().to_owned()),
            max_attempts: Some(i64::from(score.max_attempts)),
            budget: score.budget.map(|b| b.to_file()),
            tasks: tasks
                .iter()
                .map(|t| TaskSpec {
                    id: Some(t.id.clone()),
                    title: Some(t.title.clone()),
                    kind: Some(t.kind.as_str().to_owned()),
                    languages: t.languages.clone(),
                    spec: t.spec.clone(),
                    acceptance: t.acceptance.clone(),
                    scope: t.scope.clone(),
                    deps: t.deps.clone(),
                    checks: t.checks.clone(),
                    performer: t.performer.clone(),
                    approval: t.approval.clone(),
                    checkpoint: t.checkpoint,
                })
                .collect(),
        }
    }
}

/// A validated plan, ready to store.
#[derive(Debug, Clone)]
pub struct ValidPlan {
    pub score: Score,
    pub tasks: Vec<Task>,
}

/// Parse Score TOML. A syntax or type error is one problem carrying toml's line and column.
pub fn parse_score_file(text: &str) -> Result<ScoreFile, Problem> {
    toml::from_str(text).map_err(|e| Problem { field: String::new(), message: e.to_string().trim_end().to_owned() })
}

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem { field: field.into(), message: message.into() });
    }

    fn slug(&mut self, field: &str, value: &str) -> bool {
        match validate_slug(value) {
            Ok(()) => true,
            Err(e) => {
                self.push(field, format!("{:?} is not a valid id: {e}", value));
                false
            }
        }
    }

    fn text(&mut self, field: &str, value: &str) {
        if value.len() > MAX_STRING_BYTES {
            self.push(field, format!("is {} bytes long; the limit is {MAX_STRING_BYTES}", value.len()));
        }
    }

    fn slugs(&mut self, field: &str, values: &[String]) {
        for (i, v) in values.iter().enumerate() {
            self.slug(&format!("{field}[{i}]"), v);
        }
    }

    fn approval(&mut self, field: &str, steps: &[String]) {
        for (i, step) in steps.iter().enumerate() {
            let ok = match step.strip_prefix("agent:") {
                Some(performer) => validate_slug(performer).is_ok(),
                None => matches!(step.as_str(), "checks" | "human" | "pr"),
            };
            if !ok {
                self.push(
                    format!("{field}[{i}]"),
                    format!("unknown approval step {step:?}; use checks, human, pr or agent:<performer>"),
                );
            }
        }
    }
}

/// Validate a parsed Score file. `now` stamps the records.
pub fn validate(mut file: ScoreFile, now: Timestamp) -> Result<ValidPlan, Vec<Problem>> {
    let mut c = Checker { problems: Vec::new() };
    c.format(file.format);
    let specs = std::mem::take(&mut file.tasks);
    let mut score = c.score(file, specs.len(), now);
    let seen = c.task_ids(&specs);
    let tasks: Vec<Task> = specs.into_iter().enumerate().map(|(i, t)| c.task(i, t, &score.id, &seen, now)).collect();
    if let Some(cycle) = find_cycle(&tasks) {
        c.push("tasks", format!("dependency cycle: {}", cycle.join(" -> ")));
    }
    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    score.tasks = tasks.iter().map(|t| t.id.clone()).collect();
    Ok(ValidPlan { score, tasks })
}

impl Checker {
    fn format(&mut self, format: Option<i64>) {
        match format {
            Some(PLAN_FORMAT) => {}
            Some(f) if f > PLAN_FORMAT => self.push(
                "format",
                format!("format {f} is newer than this git-maestro understands ({PLAN_FORMAT}); upgrade git-maestro"),
            ),
            Some(f) => self.push("format", format!("format {f} is not supported; use format = {PLAN_FORMAT}")),
            None => self.push("format", format!("missing; add `format = {PLAN_FORMAT}`")),
        }
    }

    /// The Score's own fields (`file` without its tasks, of which there are `tasks`), as a
    /// draft record whose task list is still empty.
    fn score(&mut self, file: ScoreFile, tasks: usize, now: Timestamp) -> Score {
        let id = file.id.unwrap_or_default();
        if id.is_empty() {
            self.push("id", "missing; every Score needs an id such as \"auth-tokens\"");
        } else {
            self.slug("id", &id);
        }
        let title = file.title.unwrap_or_else(|| id.clone());
        self.text("title", &title);
        let requirement = file.requirement.unwrap_or_default();
        self.text("requirement", &requirement);
        let target = file.target.unwrap_or_default();
        if target.is_empty() {
            self.push("target", "missing; name the branch the Score lands on, e.g. target = \"main\"");
        } else if let Err(e) = validate_branch_name(&target) {
            self.push("target", e);
        }
        let plan_approval = self.who_approves("plan_approval", file.plan_approval.as_deref());
        let kb_approval = self.who_approves("kb_approval", file.kb_approval.as_deref());
        let approval = file.approval.unwrap_or_else(|| vec!["checks".into(), "human".into()]);
        self.approval("approval", &approval);
        let post_merge_checks = file.post_merge_checks.unwrap_or_default();
        self.slugs("post_merge_checks", &post_merge_checks);
        let conflict_policy = self.conflict_policy(file.conflict_policy.as_deref());
        let max_attempts = self.max_attempts(file.max_attempts);
        let budget = self.budget(file.budget.as_ref());
        if tasks == 0 {
            self.push("tasks", "a Score needs at least one [[tasks]] entry");
        }
        if tasks > MAX_TASKS {
            self.push("tasks", format!("{tasks} tasks; the limit is {MAX_TASKS} per Score"));
        }
        Score {
            format: FORMAT as u32,
            tasks: Vec::new(),
            id,
            title,
            requirement,
            target,
            plan_approval,
            kb_approval,
            approval,
            post_merge_checks,
            conflict_policy,
            max_attempts,
            budget,
            raises: Vec::new(),
            status: ScoreStatus::Draft,
            base: None,
            landing: None,
            landed: None,
            pr: None,
            created: now,
            updated: now,
            sync: None,
        }
    }

    fn who_approves(&mut self, field: &str, value: Option<&str>) -> PlanApproval {
        match value {
            None | Some("human") => PlanApproval::Human,
            Some("auto") => PlanApproval::Auto,
            Some(other) => {
                self.push(field, format!("{other:?} is not human or auto"));
                PlanApproval::Human
            }
        }
    }

    fn conflict_policy(&mut self, value: Option<&str>) -> ConflictPolicy {
        match value {
            None | Some("serialize") => ConflictPolicy::Serialize,
            Some("warn") => ConflictPolicy::Warn,
            Some(other) => {
                self.push("conflict_policy", format!("{other:?} is not serialize or warn"));
                ConflictPolicy::Serialize
            }
        }
    }

    fn max_attempts(&mut self, value: Option<i64>) -> u32 {
        match value {
            None => 3,
            Some(n @ 1..=20) => n as u32,
            Some(n) => {
                self.push("max_attempts", format!("{n} is out of range 1..=20"));
                3
            }
        }
    }

    fn budget(&mut self, value: Option<&BTreeMap<String, toml::Value>>) -> Option<super::budget::score::ScoreBudget> {
        match super::budget::score::ScoreBudget::from_file(value?) {
            Ok(b) => Some(b),
            Err(problems) => {
                problems.into_iter().for_each(|(field, message)| self.push(field, message));
                None
            }
        }
    }

    /// Check the tasks' ids, and map each to its index.
    fn task_ids(&mut self, specs: &[TaskSpec]) -> HashMap<String, usize> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, t) in specs.iter().enumerate() {
            let at = format!("tasks[{i}]");
            match &t.id {
                None => self.push(format!("{at}.id"), "missing"),
                Some(tid) => {
                    if self.slug(&format!("{at}.id"), tid)
                        && let Some(first) = seen.insert(tid.clone(), i)
                    {
                        self.push(format!("{at}.id"), format!("duplicate id {tid:?}, first used by tasks[{first}]"));
                    }
                }
            }
        }
        seen
    }

    /// The `i`th task of Score `score`, checked; `seen` holds every task id of the Score.
    fn task(&mut self, i: usize, t: TaskSpec, score: &str, seen: &HashMap<String, usize>, now: Timestamp) -> Task {
        let at = format!("tasks[{i}]");
        let tid = t.id.clone().unwrap_or_default();
        let kind = match t.kind.as_deref() {
            None => TaskKind::Implement,
            Some(k) => TaskKind::parse(k).unwrap_or_else(|| {
                self.push(
                    format!("{at}.kind"),
                    format!("unknown kind {k:?}; use one of {}", TaskKind::NAMES.join(", ")),
                );
                TaskKind::Implement
            }),
        };
        let title = t.title.clone().unwrap_or_else(|| tid.clone());
        self.text(&format!("{at}.title"), &title);
        self.task_fields(&at, &t, &tid, seen);
        Task {
            format: FORMAT as u32,
            status: if t.deps.is_empty() { TaskStatus::Ready } else { TaskStatus::Pending },
            id: tid,
            score: score.to_owned(),
            title,
            kind,
            languages: t.languages,
            spec: t.spec,
            acceptance: t.acceptance,
            scope: t.scope,
            deps: t.deps,
            checks: t.checks,
            performer: t.performer,
            approval: t.approval,
            checkpoint: t.checkpoint,
            claim: None,
            attempts: Vec::new(),
            conflicts: Vec::new(),
            merge_commit: None,
            rework: None,
            passed: Vec::new(),
            lease: None,
            pr: None,
            updated: now,
            sync: None,
        }
    }

    /// Check the fields of task `tid` at `at` past its id, kind and title.
    fn task_fields(&mut self, at: &str, t: &TaskSpec, tid: &str, seen: &HashMap<String, usize>) {
        self.text(&format!("{at}.spec"), &t.spec);
        for (j, a) in t.acceptance.iter().enumerate() {
            self.text(&format!("{at}.acceptance[{j}]"), a);
        }
        for (j, lang) in t.languages.iter().enumerate() {
            self.slug(&format!("{at}.languages[{j}]"), lang);
        }
        for (j, glob) in t.scope.iter().enumerate() {
            if let Err(e) = validate_glob(glob) {
                self.push(format!("{at}.scope[{j}]"), format!("{glob:?} is not a valid glob: {e}"));
            }
        }
        let mut dep_seen = HashSet::new();
        for (j, dep) in t.deps.iter().enumerate() {
            let field = format!("{at}.deps[{j}]");
            if dep == tid {
                self.push(field, format!("task {tid:?} depends on itself"));
            } else if !dep_seen.insert(dep) {
                self.push(field, format!("{dep:?} is listed twice"));
            } else if !seen.contains_key(dep) {
                self.push(field, format!("unknown dependency {dep:?}: no task in this Score has that id"));
            }
        }
        self.slugs(&format!("{at}.checks"), &t.checks);
        if let Some(p) = &t.performer {
            self.slug(&format!("{at}.performer"), p);
        }
        if let Some(steps) = &t.approval {
            self.approval(&format!("{at}.approval"), steps);
        }
    }
}

/// The first dependency cycle in task order, as `a -> b -> a`, if any.
fn find_cycle(tasks: &[Task]) -> Option<Vec<String>> {
    let index: BTreeMap<&str, usize> = tasks.iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect();
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; tasks.len()];
    for start in 0..tasks.len() {
        if state[start] != 0 {
            continue;
        }
        // Iterative DFS: (node, next dep to look at).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let deps = &tasks[node].deps;
            if *next < deps.len() {
                let dep = &deps[*next];
                *next += 1;
                let Some(&d) = index.get(dep.as_str()) else { continue };
                match state[d] {
                    0 => {
                        state[d] = 1;
                        stack.push((d, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(n, _)| *n == d).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[from..].iter().map(|(n, _)| tasks[*n].id.clone()).collect();
                        cycle.push(tasks[d].id.clone());
                        return Some(cycle);
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
    None
}

/// Check a scope glob: relative, inside the repository, with balanced brackets and braces.
pub fn validate_glob(glob: &str) -> Result<(), String> {
    if glob.is_empty() {
        return Err("it is empty".into());
    }
    if let Some(ch) = glob.chars().find(|c| c.is_control()) {
        return Err(format!("it contains the control character {ch:?}"));
    }
    if glob.starts_with('/') || glob.contains('\\') && glob.ends_with('\\') {
        return Err("use a path relative to the repository root, with no trailing backslash".into());
    }
    if glob.split('/').any(|part| part == ".." || part == ".") {
        return Err("'.' and '..' components are not allowed".into());
    }
    let (mut brackets, mut braces) = (0i32, 0i32);
    let mut chars = glob.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => {
                chars.next();
            }
            '[' if brackets == 0 => brackets = 1,
            ']' if brackets == 1 => brackets = 0,
            '{' if brackets == 0 => braces += 1,
            '}' if brackets == 0 => {
                braces -= 1;
                if braces < 0 {
                    return Err("'}' without a matching '{'".into());
                }
            }
            _ => {}
        }
    }
    if brackets != 0 {
        return Err("'[' is never closed".into());
    }
    if braces != 0 {
        return Err("'{' is never closed".into());
    }
    Ok(())
}

/// The literal part of a glob before its first wildcard.
fn literal_prefix(glob: &str) -> &str {
    let end = glob.find(['*', '?', '[', '{']).unwrap_or(glob.len());
    &glob[..end]
}

/// Whether two scope globs may match a common path: one's literal prefix extends the other's.
pub fn globs_overlap(a: &str, b: &str) -> bool {
    let (pa, pb) = (literal_prefix(a), literal_prefix(b));
    let wild_a = pa.len() < a.len();
    let wild_b = pb.len() < b.len();
    match (wild_a, wild_b) {
        (false, false) => a == b,
        (true, false) => b.starts_with(pa),
        (false, true) => a.starts_with(pb),
        (true, true) => pa.starts_with(pb) || pb.starts_with(pa),
    }
}

/// Check a branch name with git's ref-format rules (git-check-ref-format), without `refs/heads/`.
pub fn validate_branch_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{name:?} is not a valid branch name: {why}"));
    if name.starts_with('-') {
        return bad("it starts with '-'");
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return bad("empty path component");
    }
    if name.ends_with('.') || name.ends_with(".lock") {
        return bad("it ends with '.' or '.lock'");
    }
    if name.contains("..") || name.contains("@{") || name == "@" {
        return bad("it contains '..' or '@{'");
    }
    if let Some(ch) = name.chars().find(|c| c.is_control() || " ~^:?*[\\".contains(*c)) {
        return bad(&format!("it contains {ch:?}"));
    }
    if name.split('/').any(|part| part.starts_with('.')) {
        return bad("a component starts with '.'");
    }
    Ok(())
}

/// A valid draft Score `s` with one task, for tests.
#[cfg(test)]
pub(crate) fn sample_score() -> Score {
    let text = "format = 1\nid = \"s\"\ntarget = \"main\"\n[[tasks]]\nid = \"t\"\n";
    let file = parse_score_file(text).expect("the sample parses");
    validate(file, Timestamp::UNIX_EPOCH).expect("the sample is valid").score
}

#[cfg(test)]
mod tests;
