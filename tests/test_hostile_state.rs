//! A hostile state, made with plain git plumbing (hash-object, literal trees, commit-tree):
//! pushed to a bare remote, `sync` refuses it, keeps it aside and changes nothing here; put
//! under the local `refs/maestro/state` (as an older version may have adopted it), `status`,
//! `run`, `doctor` and `task show` refuse it naming the path, and nothing exits 255.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use crate::common::{Run, TestEnv};
use crate::test_cli::GitRun;

/// One entry of a tree: mode, name, object id.
type Entry = (String, Vec<u8>, String);

/// Run git in `dir` with binary `stdin`; its trimmed stdout.
fn git_in(env: &TestEnv, dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    let mut child = env
        .base_command("git")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn blob(env: &TestEnv, dir: &Path, data: &[u8]) -> String {
    git_in(env, dir, &["hash-object", "-w", "--stdin"], data)
}

fn ls(env: &TestEnv, dir: &Path, tree: &str) -> Vec<Entry> {
    let out = env.base_command("git").current_dir(dir).args(["ls-tree", "-z", tree]).output().unwrap();
    out.stdout
        .split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let tab = e.iter().position(|b| *b == b'\t').unwrap();
            let head = String::from_utf8(e[..tab].to_vec()).unwrap();
            let parts: Vec<&str> = head.split(' ').collect();
            (parts[0].to_owned(), e[tab + 1..].to_vec(), parts[2].to_owned())
        })
        .collect()
}

/// Write a tree with exactly `entries`, names unchecked (as a hostile git could).
fn mktree(env: &TestEnv, dir: &Path, mut entries: Vec<Entry>) -> String {
    let key = |e: &Entry| {
        let mut k = e.1.clone();
        if e.0 == "040000" || e.0 == "40000" {
            k.push(b'/');
        }
        k
    };
    entries.sort_by_key(key);
    let mut raw = Vec::new();
    for (mode, name, id) in entries {
        raw.extend(mode.trim_start_matches('0').as_bytes());
        raw.push(b' ');
        raw.extend(&name);
        raw.push(0);
        raw.extend((0..20).map(|i| u8::from_str_radix(&id[2 * i..2 * i + 2], 16).unwrap()));
    }
    git_in(env, dir, &["hash-object", "-t", "tree", "--literally", "-w", "--stdin"], &raw)
}

/// `tree` with `(mode, id)` at `path` (`None`: removed).
fn put(env: &TestEnv, dir: &Path, tree: &str, path: &[&[u8]], entry: Option<(&str, &str)>) -> String {
    let mut entries = ls(env, dir, tree);
    let (name, rest) = (path[0], &path[1..]);
    let at = entries.iter().position(|e| e.1 == name);
    let new = if rest.is_empty() {
        entry.map(|(mode, id)| (mode.to_owned(), id.to_owned()))
    } else {
        let sub = at.map_or_else(|| mktree(env, dir, Vec::new()), |i| entries[i].2.clone());
        Some(("040000".to_owned(), put(env, dir, &sub, rest, entry)))
    };
    if let Some(i) = at {
        entries.remove(i);
    }
    if let Some((mode, id)) = new {
        entries.push((mode, name.to_vec(), id));
    }
    mktree(env, dir, entries)
}

/// A state commit on top of `tip` with `edit` applied to its tree.
fn hostile(env: &TestEnv, dir: &Path, tip: &str, edit: &dyn Fn(&str) -> String) -> String {
    let tree = edit(&format!("{tip}^{{tree}}"));
    let tree = git_in(env, dir, &["rev-parse", &tree], b"");
    git_in(env, dir, &["commit-tree", &tree, "-p", tip, "-m", "hand-written"], b"")
}

fn show(env: &TestEnv, dir: &Path, rev: &str) -> String {
    env.git(dir, &["show", rev]).success_git()
}

/// (what, path in the tree, mode, content, what the refusal names, what reaches it)
type Case<'a> = (&'a str, Vec<Vec<u8>>, &'a str, Vec<u8>, &'a str, Reach);

/// Which commands meet the hostile record: `doctor` always; `status` when it lists the
/// Scores; `run s` when it is Score `s` or its task `a`, and `task show s/a` when it is task
/// `a` (otherwise they work: the rest of the state stays usable).
#[derive(Clone, Copy)]
enum Reach {
    Doctor,
    Scores,
    Score,
    Task,
}

#[track_caller]
fn refused(run: &Run, what: &str, needle: &str) {
    assert_eq!(run.code, 1, "{what}: expected exit 1 naming {needle:?}:\n{}", run.render());
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(text.contains(needle), "{what}: expected {needle:?} in:\n{}", run.render());
}

#[test]
fn a_hostile_state_is_refused_by_every_read_path_and_never_adopted() {
    let env = TestEnv::new();
    let a = env.repo("a");
    env.git(env.root.path(), &["init", "-q", "--bare", "remote.git"]).success_git();
    let remote = env.path("remote.git");
    env.git(&a, &["remote", "add", "origin", remote.to_str().unwrap()]).success_git();
    let score = "format = 1\nid = \"s\"\ntarget = \"main\"\nplan_approval = \"auto\"\n\
                 [[tasks]]\nid = \"a\"\n[[tasks]]\nid = \"b\"\ndeps = [\"a\"]\n";
    env.write("s.toml", score);
    env.run(&a, &["plan", "--from", "../s.toml"]).success();
    env.run(&a, &["sync"]).success();
    env.git(env.root.path(), &["clone", "-q", remote.to_str().unwrap(), "b"]).success_git();
    let b = env.path("b");
    env.run(&b, &["sync"]).success();
    let tip = env.state_tip(&a);
    assert_eq!(env.state_tip(&b), tip);

    let task_a = show(&env, &a, &format!("{tip}:scores/s/tasks/8/2/a.toml"));
    let score_s = show(&env, &a, &format!("{tip}:scores/s/score.toml"));
    let task_with = |from: &str, to: &str| {
        assert!(task_a.contains(from), "{from:?} in {task_a}");
        task_a.replacen(from, to, 1).into_bytes()
    };
    // A top-level field, right after `format`.
    let top = |line: &str| task_with("\n", &format!("\n{line}\n"));
    let future = format!("format = 9\n{}", task_a.split_once('\n').unwrap().1).into_bytes();
    let set = |path: &[&[u8]], mode: &'static str, data: Vec<u8>| {
        let (env, a) = (&env, &a);
        let path: Vec<Vec<u8>> = path.iter().map(|p| p.to_vec()).collect();
        move |tree: &str| {
            let id = if mode == "160000" { tree.to_owned() } else { blob(env, a, &data) };
            let id = git_in(env, a, &["rev-parse", &id], b"");
            let parts: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
            put(env, a, tree, &parts, Some((mode, &id)))
        }
    };
    let task = |name: &[u8]| -> Vec<Vec<u8>> {
        vec![b"scores".to_vec(), b"s".to_vec(), b"tasks".to_vec(), b"8".to_vec(), b"2".to_vec(), name.to_vec()]
    };
    let score = |name: &[u8]| -> Vec<Vec<u8>> { vec![b"scores".to_vec(), name.to_vec(), b"score.toml".to_vec()] };
    let deep = format!("format = 1\nx = {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
    // Task `a` sits in bucket 8/2 (`layout::bucket`).
    let a_toml = "scores/s/tasks/8/2/a.toml";
    let cases: Vec<Case> = vec![
        ("a Score named ..", score(b".."), "100644", score_s.clone().into_bytes(), "scores/..", Reach::Scores),
        ("a Score named /", score(b"/"), "100644", score_s.clone().into_bytes(), "scores/", Reach::Scores),
        (
            "a Score with ESC in its name",
            score(b"s\x1b[2J"),
            "100644",
            score_s.clone().into_bytes(),
            "scores/s",
            Reach::Scores,
        ),
        (
            "a task file named with a newline",
            task(b"a\nb.toml"),
            "100644",
            task_a.clone().into_bytes(),
            "scores/s/tasks/8/2/a",
            Reach::Doctor,
        ),
        (
            "a task id with a newline",
            task(b"a.toml"),
            "100644",
            task_with("id = \"a\"", "id = \"a\\nb\""),
            a_toml,
            Reach::Task,
        ),
        (
            "a task id with ESC",
            task(b"a.toml"),
            "100644",
            task_with("id = \"a\"", "id = \"a\\u001b[31m\""),
            a_toml,
            Reach::Task,
        ),
        (
            "a unicode look-alike id",
            task(b"a.toml"),
            "100644",
            task_with("id = \"a\"", "id = \"\u{430}\""),
            a_toml,
            Reach::Task,
        ),
        (
            "a 500 KiB string",
            task(b"a.toml"),
            "100644",
            task_with("title = \"a\"", &format!("title = \"{}\"", "x".repeat(500 * 1024))),
            a_toml,
            Reach::Task,
        ),
        (
            "a 2 MiB blob",
            task(b"a.toml"),
            "100644",
            format!("{task_a}# {}\n", "x".repeat(2 << 20)).into_bytes(),
            a_toml,
            Reach::Task,
        ),
        ("TOML nested 100000 deep", task(b"a.toml"), "100644", deep.into_bytes(), a_toml, Reach::Task),
        ("a symlink", task(b"a.toml"), "120000", b"../../../maestro.toml".to_vec(), a_toml, Reach::Task),
        ("a submodule", task(b"a.toml"), "160000", Vec::new(), a_toml, Reach::Task),
        ("a future format", task(b"a.toml"), "100644", future, a_toml, Reach::Task),
        (
            "an unknown field in the claim",
            task(b"a.toml"),
            "100644",
            top("claim = { holder = \"x\", since = 2026-01-01T00:00:00Z, op = \"o\", exec = \"sh\" }"),
            a_toml,
            Reach::Task,
        ),
        (
            "an id that disagrees with its path",
            task(b"a.toml"),
            "100644",
            task_with("id = \"a\"", "id = \"b\""),
            a_toml,
            Reach::Task,
        ),
        (
            "a merge commit that is no commit id",
            task(b"a.toml"),
            "100644",
            top("merge_commit = \"--upload-pack=sh\""),
            a_toml,
            Reach::Task,
        ),
        (
            "a target that is an option",
            score(b"s"),
            "100644",
            score_s.replacen("target = \"main\"", "target = \"--output=x\"", 1).into_bytes(),
            "scores/s/score.toml",
            Reach::Score,
        ),
    ];
    for (what, path, mode, data, needle, reach) in cases {
        let parts: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
        let edit = set(&parts, mode, data);
        let bad = hostile(&env, &a, &tip, &edit);

        // From a remote: refused, kept aside, nothing adopted.
        let push = format!("{bad}:refs/maestro/state");
        env.git(&a, &["push", "-q", "--no-verify", "-f", remote.to_str().unwrap(), &push]).success_git();
        let run = env.run(&b, &["sync"]);
        refused(&run, &format!("{what}: sync"), needle);
        assert!(run.stderr.contains("the local state is unchanged"), "{what}: {}", run.render());
        assert_eq!(env.state_tip(&b), tip, "{what}: sync adopted nothing");
        let kept = env.git(&b, &["for-each-ref", "--format=%(objectname)", "refs/maestro/quarantine/"]);
        assert!(kept.success_git().contains(&bad), "{what}: the refused state is kept aside");
        env.git(&remote, &["update-ref", "refs/maestro/state", &tip]).success_git();

        // Already here: every read path refuses it by name, and nothing writes.
        env.git(&a, &["update-ref", "refs/maestro/state", &bad]).success_git();
        for args in [&["doctor"][..], &["status"], &["run", "s"], &["task", "show", "s/a"]] {
            let run = env.run(&a, args);
            let reached = match reach {
                Reach::Doctor => args == ["doctor"],
                Reach::Scores => args == ["doctor"] || args == ["status"],
                Reach::Score => args != ["task", "show", "s/a"],
                Reach::Task => true,
            };
            if reached {
                refused(&run, &format!("{what}: {args:?}"), needle);
            } else {
                assert!(matches!(run.code, 0 | 1), "{what}: {args:?} may not exit {}:\n{}", run.code, run.render());
            }
        }
        // `run` goes on with what it can use; the hostile record itself is never rewritten.
        if matches!(reach, Reach::Task | Reach::Score) {
            let at = String::from_utf8_lossy(&path.join(&b'/')).into_owned();
            let now = env.git(&a, &["rev-parse", &format!("refs/maestro/state:{at}")]);
            let then = env.git(&a, &["rev-parse", &format!("{bad}:{at}")]);
            assert_eq!(now.stdout, then.stdout, "{what}: the hostile record was rewritten");
        }
        env.git(&a, &["update-ref", "refs/maestro/state", &tip]).success_git();
    }
}
