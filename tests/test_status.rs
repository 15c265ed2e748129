//! `status` of a big Score: shown in brief (counts, and the tasks that need a look), from
//! briefs kept by bucket tree that follow every change, whatever the cache file holds.

use std::path::{Path, PathBuf};

use crate::common::TestEnv;

/// Repo `r` with the approved 60-task Score `b` (over the 50 a full table shows).
fn big_score(env: &TestEnv) -> PathBuf {
    let dir = env.repo("r");
    env.write("b.toml", &env.fixture("score-many.sh", &["b", "60"]));
    env.run(&dir, &["plan", "--from", "../b.toml"]).success();
    env.run(&dir, &["approve", "b"]).success();
    dir
}

fn status(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    env.run(dir, &[&["status"], args].concat()).success().stdout
}

/// The task rows of a status table.
fn rows(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("  t")).collect()
}

fn cache(dir: &Path) -> PathBuf {
    dir.join(".git/maestro/cache/briefs/b.json")
}

#[test]
fn a_big_score_is_shown_in_brief_with_the_tasks_that_need_a_look() {
    let env = TestEnv::new();
    let dir = big_score(&env);
    let quiet = status(&env, &dir, &[]);
    assert!(quiet.contains("b  approved  0/60 merged"), "{quiet}");
    assert!(quiet.contains("  60 tasks: 60 ready\n"), "{quiet}");
    assert!(quiet.contains("60 quiet tasks not listed: `git maestro status --all` lists every task"), "{quiet}");
    assert!(rows(&quiet).is_empty(), "no task row, not even a header:\n{quiet}");
    assert!(!quiet.contains("TASK"), "{quiet}");

    env.run(&dir, &["task", "claim", "--as", "tester", "b/t7"]).success();
    let one = status(&env, &dir, &[]);
    assert!(one.contains("  60 tasks: 59 ready, 1 assigned\n"), "{one}");
    let listed = rows(&one);
    assert_eq!(listed.len(), 1, "{one}");
    assert!(listed[0].contains("t7") && listed[0].contains("assigned") && listed[0].contains("tester"), "{one}");
    assert!(one.contains("59 quiet tasks not listed"), "{one}");

    let all = status(&env, &dir, &["--all"]);
    assert_eq!(rows(&all).len(), 60, "{all}");
    assert!(!all.contains("quiet tasks not listed"), "{all}");
    let json = env.run(&dir, &["--json", "status"]).success().json();
    assert_eq!(json[0]["tasks"].as_array().unwrap().len(), 60, "--json lists every task");
}

#[test]
fn the_brief_follows_every_change_and_a_broken_cache_costs_only_speed() {
    let env = TestEnv::new();
    let dir = big_score(&env);
    status(&env, &dir, &[]);
    assert!(cache(&dir).is_file(), "the first status keeps the briefs of the buckets");

    // A change in one bucket shows at once; releasing it shows it quiet again.
    env.run(&dir, &["task", "claim", "--as", "tester", "b/t3"]).success();
    assert!(status(&env, &dir, &[]).contains("59 ready, 1 assigned"));
    env.run(&dir, &["task", "release", "b/t3"]).success();
    assert!(status(&env, &dir, &[]).contains("  60 tasks: 60 ready\n"));

    // The Score's record is kept with the briefs, by blob: an edit shows at once.
    let path = "scores/b/score.toml";
    let text = env.git(&dir, &["cat-file", "blob", &format!("refs/maestro/state:{path}")]).stdout;
    let title = text.lines().find(|l| l.starts_with("title = ")).expect("a title line").to_owned();
    env.rewrite_state(&dir, &[(path, text.replace(&title, "title = \"Renamed by hand\""))], &[]);
    assert!(status(&env, &dir, &[]).contains("0/60 merged  Renamed by hand"));

    // A cache file that is garbage is replaced.
    std::fs::write(cache(&dir), b"\x00 not json").unwrap();
    assert!(status(&env, &dir, &[]).contains("  60 tasks: 60 ready\n"));
    let rewritten = std::fs::read_to_string(cache(&dir)).unwrap();
    assert!(rewritten.starts_with('{'), "the garbage was replaced: {rewritten}");

    // A cache that cannot be written is no error.
    std::fs::remove_file(cache(&dir)).unwrap();
    std::fs::create_dir(cache(&dir)).unwrap();
    assert!(status(&env, &dir, &[]).contains("  60 tasks: 60 ready\n"));
}

#[test]
fn a_task_record_gone_from_a_big_score_is_reported_as_by_the_full_read() {
    let env = TestEnv::new();
    let dir = big_score(&env);
    status(&env, &dir, &[]);
    let bucket = env.git(&dir, &["ls-tree", "--name-only", "refs/maestro/state:scores/b/tasks"]).stdout;
    let first = bucket.lines().next().unwrap();
    let files = env.git(&dir, &["ls-tree", "--name-only", &format!("refs/maestro/state:scores/b/tasks/{first}")]);
    let gone = format!("scores/b/tasks/{first}/{}", files.stdout.lines().next().unwrap());
    env.rewrite_state(&dir, &[], &[&gone]);
    let run = env.run(&dir, &["status"]);
    let all = env.run(&dir, &["status", "--all"]);
    assert_eq!((run.code, &run.stderr), (all.code, &all.stderr), "{}\n{}", run.render(), all.render());
    assert_eq!(run.code, 1, "{}", run.render());
}
