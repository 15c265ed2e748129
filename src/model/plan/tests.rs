//! Score file parsing and validation.
use super::*;

fn check(text: &str) -> Result<ValidPlan, Vec<String>> {
    let file = parse_score_file(text).map_err(|p| vec![p.to_string()])?;
    validate(file, Timestamp::UNIX_EPOCH).map_err(|ps| ps.iter().map(ToString::to_string).collect())
}

const GOOD: &str = r#"
format = 1
id = "auth"
target = "main"
[[tasks]]
id = "types"
kind = "interface"
scope = ["src/auth/*.rs"]
[[tasks]]
id = "impl"
deps = ["types"]
"#;

#[test]
fn a_good_score_validates_with_defaults() {
    let plan = check(GOOD).expect("valid");
    assert_eq!(plan.score.approval, vec!["checks", "human"]);
    assert_eq!(plan.score.max_attempts, 3);
    assert_eq!(plan.score.status, ScoreStatus::Draft);
    assert_eq!(plan.tasks[0].status, TaskStatus::Ready, "no deps: ready");
    assert_eq!(plan.tasks[1].status, TaskStatus::Pending, "deps: pending");
}

#[test]
fn every_problem_is_reported_at_once_with_its_field() {
    let text = r#"
format = 1
id = "Bad Id"
target = "main"
approval = ["checks", "vibes"]
kb_approval = "sometimes"
[[tasks]]
id = "a"
deps = ["ghost", "a"]
kind = "dance"
scope = ["src/[oops", "../escape"]
[[tasks]]
id = "a"
"#;
    let problems = check(text).unwrap_err();
    let want = [
        "id: \"Bad Id\" is not a valid id",
        "approval[1]: unknown approval step \"vibes\"",
        "kb_approval: \"sometimes\" is not human or auto",
        "tasks[1].id: duplicate id \"a\", first used by tasks[0]",
        "tasks[0].kind: unknown kind \"dance\"",
        "tasks[0].scope[0]: \"src/[oops\" is not a valid glob: '[' is never closed",
        "tasks[0].scope[1]: \"../escape\" is not a valid glob",
        "tasks[0].deps[0]: unknown dependency \"ghost\"",
        "tasks[0].deps[1]: task \"a\" depends on itself",
    ];
    for w in want {
        assert!(problems.iter().any(|p| p.starts_with(w)), "missing {w:?} in {problems:#?}");
    }
}

#[test]
fn a_cycle_is_printed_as_a_path() {
    let text = r#"
format = 1
id = "c"
target = "main"
[[tasks]]
id = "a"
deps = ["c"]
[[tasks]]
id = "b"
deps = ["a"]
[[tasks]]
id = "c"
deps = ["b"]
[[tasks]]
id = "free"
"#;
    let problems = check(text).unwrap_err();
    assert_eq!(problems, vec!["tasks: dependency cycle: a -> c -> b -> a"]);
}

#[test]
fn future_formats_and_unknown_fields_are_refused() {
    let problems = check(&GOOD.replace("format = 1", "format = 2")).unwrap_err();
    assert!(problems[0].contains("newer than this git-maestro"), "{problems:?}");
    let problems = check(&format!("{GOOD}\n[[tasks]]\nid = \"x\"\nrun = \"rm -rf /\"\n")).unwrap_err();
    assert!(problems[0].contains("unknown field `run`"), "{problems:?}");
}

#[test]
fn globs_and_branches() {
    for ok in ["src/**/*.rs", "a/{b,c}/d", "x[ab].txt", "docs/*"] {
        assert_eq!(validate_glob(ok), Ok(()), "{ok}");
    }
    for bad in ["", "/abs", "a/../b", "a{b", "a}b", "[x", "a\u{0}"] {
        assert!(validate_glob(bad).is_err(), "{bad:?} should be refused");
    }
    for ok in ["main", "release/1.0", "feature-x"] {
        assert!(validate_branch_name(ok).is_ok(), "{ok}");
    }
    for bad in ["-x", "a..b", "a b", "a/", ".hidden", "x.lock", "a@{b"] {
        assert!(validate_branch_name(bad).is_err(), "{bad:?}");
    }
}
