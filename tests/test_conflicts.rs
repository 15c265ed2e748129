//! The conflict forecast, checked pair by pair against `git merge-tree`.

use std::collections::BTreeSet;

use crate::common::TestEnv;
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// What each of the six tasks writes: two pairs that conflict (one edits lines 3 and 7 of a
/// ten-line file, the other lines 4-5; one pair adds the same new file), and one pair that adds
/// the same file with the same content (which git merges cleanly).
const WRITES: [(&str, &str, &str); 6] = [
    ("t0", "notes.txt=1\\\\n2\\\\nthree\\\\n4\\\\n5\\\\n6\\\\nseven\\\\n8\\\\n9\\\\n10", "notes.txt"),
    ("t1", "notes.txt=1\\\\n2\\\\n3\\\\nfour\\\\nfive\\\\n6\\\\n7\\\\n8\\\\n9\\\\n10", "notes.txt"),
    ("t2", "docs/usage.md=Usage: two", "docs/*"),
    ("t3", "docs/usage.md=Usage: three", "docs/usage.md"),
    ("t4", "src/new.rs=pub fn same() {}", "src/new.rs"),
    ("t5", "src/new.rs=pub fn same() {}", "src/other.rs"),
];

#[test]
fn the_forecast_reports_exactly_the_pairs_git_merge_tree_reports() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.write("r/notes.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n");
    env.git(&dir, &["add", "notes.txt"]).success_git();
    env.git(&dir, &["commit", "-qm", "notes"]).success_git();
    let mut score = String::from("format = 1\nid = \"f\"\ntarget = \"main\"\n");
    for (id, _, scope) in WRITES {
        score.push_str(&format!("[[tasks]]\nid = \"{id}\"\nscope = [\"{scope}\"]\n"));
    }
    env.write("f.toml", &score);
    let planned = env.run(&dir, &["plan", "--from", "../f.toml"]).success();
    assert!(
        planned.stderr.contains("Warning: tasks t0 and t1 may touch the same files (notes.txt ~ notes.txt)"),
        "{}",
        planned.render()
    );
    assert!(
        planned.stderr.contains("Warning: tasks t2 and t3 may touch the same files (docs/* ~ docs/usage.md)"),
        "{}",
        planned.render()
    );
    assert!(!planned.stderr.contains("t4 and t5"), "different files do not overlap");
    env.run(&dir, &["approve", "f"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    for (id, write, _) in WRITES {
        let config = format!(
            "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nenv = {{ FAKE_WRITE = \"{write}\" }}\n"
        );
        std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
        env.run(&dir, &["task", "run", &format!("f/{id}")]).success();
    }

    // Every pair git itself calls conflicting, among the six branches and the target.
    let mut sides: Vec<(String, String)> = vec![("integration".into(), "main".into())];
    sides.extend(WRITES.iter().map(|(id, _, _)| ((*id).to_owned(), format!("maestro/f/tasks/{id}"))));
    let mut expected = BTreeSet::new();
    for (i, (a, ra)) in sides.iter().enumerate() {
        for (b, rb) in &sides[i + 1..] {
            if env.git(&dir, &["merge-tree", "--write-tree", ra, rb]).code == 1 {
                expected.insert((a.clone(), b.clone()));
            }
        }
    }
    let report = env.run(&dir, &["conflicts", "f", "--json"]).success().json();
    let found: BTreeSet<(String, String)> = report[0]["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["a"].as_str().unwrap().to_owned(), c["b"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(found, expected, "same pairs as git merge-tree");
    assert_eq!(found, BTreeSet::from([("t0".into(), "t1".into()), ("t2".into(), "t3".into())]));
    assert_eq!(report[0]["conflicts"][0]["paths"], serde_json::json!(["notes.txt"]));
    // Line 3 touches lines 4-5 (git conflicts on adjacent changes); line 7 meets nothing. Both
    // added docs/usage.md: an empty base, so its line 1.
    assert_eq!(report[0]["conflicts"][0]["overlaps"], serde_json::json!([{ "path": "notes.txt", "lines": [[3, 5]] }]));
    assert_eq!(
        report[0]["conflicts"][1]["overlaps"],
        serde_json::json!([{ "path": "docs/usage.md", "lines": [[1, 1]] }])
    );
    let text = env.run(&dir, &["conflicts"]).success().stdout;
    assert!(text.contains("f  conflict t2 ~ t3  (docs/usage.md)"), "{text}");
    assert!(text.contains("notes.txt: lines 3-5"), "{text}");
}
