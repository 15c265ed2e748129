//! The Landlock sandbox (DESIGN §13, issue 14 items 2 and 3): a confined performer can write
//! its worktree and nothing else of the machine's that matters, can connect only to its
//! endpoint's port, cannot get its code run by redirecting its worktree's git link, and a write
//! outside the worktree fails the attempt. `required` without Landlock refuses and changes
//! nothing.
//!
//! Each hostile performer records, at the moment it tries each forbidden action, whether it
//! worked; the tests read those records from the committed result.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use crate::common::TestEnv;
use crate::test_cli::GitRun;

/// A repo with Score `s` (task `t0`, no checks, chain `human`) whose plan is approved, and
/// `config` as its trusted config.
fn repo(env: &TestEnv, config: &str) -> PathBuf {
    let dir = env.repo("r");
    env.write("s.toml", "format = 1\nid = \"s\"\ntarget = \"main\"\napproval = [\"human\"]\n[[tasks]]\nid = \"t0\"\n");
    env.run(&dir, &["plan", "--from", "../s.toml"]).success();
    env.run(&dir, &["approve", "s"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    dir
}

fn performer(env: &TestEnv, script: &str, extra: &str) -> String {
    let path = env.path("performer.sh");
    std::fs::write(&path, script).unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    format!("[performers.p]\nadapter = \"command\"\ncommand = \"{}\"\n{extra}", path.display())
}

fn task(env: &TestEnv, dir: &Path) -> serde_json::Value {
    env.run(dir, &["task", "show", "s/t0", "--json"]).success().json()
}

/// A shell line that tries `action` (shell text) and records `name ok` or `name denied`.
fn attempt(name: &str, action: &str) -> String {
    format!(
        "if ( {action} ) 2>/dev/null; then echo '{name} ok' >> tried.txt; else echo '{name} denied' >> tried.txt; fi\n"
    )
}

#[test]
fn a_confined_performer_writes_its_worktree_and_every_forbidden_action_fails_when_tried() {
    let env = TestEnv::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = repo(&env, "");
    let object =
        walk_files(&dir.join(".git/objects")).into_iter().find(|p| !p.starts_with(dir.join(".git/objects/pack")));
    let object = object.expect("the repository has a loose object");
    let tmp_target = env.path("outside-tmp");
    let script = [
        "#!/bin/sh\ncd \"$MAESTRO_WORKTREE\"\n".to_owned(),
        attempt("worktree", "echo work > result.txt"),
        attempt("home", "echo evil >> \"$HOME/.bashrc\""),
        attempt("hook", &format!("echo evil > '{}'", dir.join(".git/hooks/pre-commit").display())),
        attempt("checkout", &format!("echo evil > '{}'", dir.join("evil.txt").display())),
        attempt("outside", &format!("echo evil > '{}'", tmp_target.display())),
        attempt("object", &format!("echo evil > '{}'", object.display())),
        attempt("private-tmp", "echo ok > \"$TMPDIR/scratch\""),
        attempt("git-add", "git add result.txt"),
        attempt(
            "connect",
            &format!("python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5)\""),
        ),
    ]
    .concat();
    let config = performer(&env, &script, "sandbox = \"required\"\n");
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    let run = env.run(&dir, &["task", "run", "s/t0", "--performer", "p"]);
    let task = task(&env, &dir);
    assert_eq!(task["status"], "submitted", "{}\n{task:#}", run.render());
    let commit = task["attempts"][0]["commit"].as_str().expect("a commit").to_owned();
    assert!(run.stderr.contains("Confined by Landlock (ABI "), "the run says it was confined: {}", run.render());
    let tried = env.git(&dir, &["show", &format!("{commit}:tried.txt")]).success_git();
    for line in [
        "worktree ok",
        "home denied",
        "hook denied",
        "checkout denied",
        "outside denied",
        "object denied",
        "private-tmp ok",
        "git-add ok",
        "connect denied",
    ] {
        assert!(tried.lines().any(|l| l == line), "missing {line:?} in:\n{tried}");
    }
    assert!(!env.path("home/.bashrc").exists());
    assert!(!dir.join(".git/hooks/pre-commit").exists());
    assert!(!tmp_target.exists());
    // Unconfined, the same connection works: the refusal above was the sandbox's.
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("the listener accepts");
    env.git(&dir, &["fsck", "--no-dangling"]).success_git();
}

#[test]
fn a_performer_that_redirects_its_worktree_git_link_fails_and_no_hook_of_its_making_runs() {
    let env = TestEnv::new();
    let dir = repo(&env, "");
    let marker = env.path("hook-ran");
    let script = format!(
        "#!/bin/sh\ncd \"$MAESTRO_WORKTREE\"\necho work > result.txt\n\
         git init -q --bare \"$TMPDIR/fake.git\" 2>/dev/null || mkdir -p \"$TMPDIR/fake.git/hooks\"\n\
         for h in post-checkout post-commit pre-commit reference-transaction post-index-change; do\n\
           printf '#!/bin/sh\\necho ran > {marker}\\n' > \"$TMPDIR/fake.git/hooks/$h\"; chmod +x \"$TMPDIR/fake.git/hooks/$h\"\n\
         done\n\
         echo \"gitdir: $TMPDIR/fake.git\" > .git\n",
        marker = marker.display()
    );
    std::fs::write(dir.join(".maestro/config.toml"), performer(&env, &script, "sandbox = \"required\"\n")).unwrap();
    let run = env.run(&dir, &["task", "run", "s/t0", "--performer", "p"]);
    let task = task(&env, &dir);
    let attempt = &task["attempts"][0];
    assert_ne!(task["status"], "submitted", "{}\n{task:#}", run.render());
    assert!(attempt["reason"].as_str().unwrap_or_default().contains("outside write"), "{task:#}");
    assert!(!marker.exists(), "a hook of the agent's fake git dir ran");
    let link = std::fs::read_to_string(worktree(&env).join(".git")).unwrap();
    assert!(link.contains(".git/worktrees/"), "the link is put back: {link}");
}

#[test]
fn a_write_to_the_main_checkout_fails_the_attempt_unless_config_says_warn() {
    for (extra, status) in
        [("sandbox = \"off\"\n", "failed"), ("sandbox = \"off\"\noutside_writes = \"warn\"\n", "submitted")]
    {
        let env = TestEnv::new();
        let dir = repo(&env, "");
        let script = format!(
            "#!/bin/sh\ncd \"$MAESTRO_WORKTREE\"\necho work > result.txt\necho evil > '{}'\n",
            dir.join("evil.txt").display()
        );
        std::fs::write(dir.join(".maestro/config.toml"), performer(&env, &script, extra)).unwrap();
        let run = env.run(&dir, &["task", "run", "s/t0", "--performer", "p"]);
        let task = task(&env, &dir);
        let attempt = &task["attempts"][0];
        assert_eq!(attempt["outside_writes"], serde_json::json!(["evil.txt"]), "{}\n{task:#}", run.render());
        if status == "failed" {
            assert_ne!(task["status"], "submitted", "{task:#}");
            assert!(attempt["reason"].as_str().unwrap_or_default().starts_with("outside write"), "{task:#}");
        } else {
            assert_eq!(task["status"], "submitted", "{task:#}");
        }
    }
}

/// A person edits the main checkout while a performer runs: a confined run, which the kernel
/// keeps out of that checkout, is not blamed for it (and its status is not taken before and
/// after); an unconfined run is, as nothing else tells the two writers apart.
#[test]
fn a_persons_edit_of_the_main_checkout_during_a_confined_run_is_not_the_runs() {
    for (extra, blamed) in [("sandbox = \"required\"\n", false), ("sandbox = \"off\"\n", true)] {
        let env = TestEnv::new();
        let dir = repo(&env, "");
        let go = env.path("go");
        // It waits (at most 60 s) until the person has written, so the edit falls in its run.
        let script = format!(
            "#!/bin/sh\ncd \"$MAESTRO_WORKTREE\"\necho work > result.txt\n\
             i=0; while [ ! -f '{}' ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\n",
            go.display()
        );
        std::fs::write(dir.join(".maestro/config.toml"), performer(&env, &script, extra)).unwrap();
        let mut run = env.command(&dir);
        let child = run.args(["task", "run", "s/t0", "--performer", "p", "--json"]).spawn().unwrap();
        let started = std::time::Instant::now();
        while !made_worktree(&env).is_some_and(|w| w.join("result.txt").exists()) {
            assert!(started.elapsed().as_secs() < 60, "the performer never started");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::fs::write(dir.join("person.txt"), "a person's edit\n").unwrap();
        std::fs::write(&go, "").unwrap();
        let out: crate::common::Run = child.wait_with_output().unwrap().into();
        let task = task(&env, &dir);
        let attempt = &task["attempts"][0];
        if blamed {
            assert_eq!(attempt["outside_writes"], serde_json::json!(["person.txt"]), "{}\n{task:#}", out.render());
        } else {
            assert!(attempt.get("outside_writes").is_none(), "{}\n{task:#}", out.render());
            assert_eq!(task["status"], "submitted", "{task:#}");
        }
    }
}

#[test]
fn required_without_landlock_refuses_and_changes_nothing() {
    let env = TestEnv::new();
    let dir = repo(&env, "");
    let marker = env.path("ran");
    let script = format!("#!/bin/sh\necho ran > '{}'\n", marker.display());
    std::fs::write(dir.join(".maestro/config.toml"), performer(&env, &script, "sandbox = \"required\"\n")).unwrap();
    let before = env.state_tip(&dir);
    let mut run = env.command(&dir);
    run.args(["task", "run", "s/t0", "--performer", "p"]).env("MAESTRO_TEST_NO_LANDLOCK", "1");
    let out: crate::common::Run = run.output().unwrap().into();
    assert_eq!(out.code, 1, "{}", out.render());
    assert!(out.stderr.contains("no Landlock") && out.stderr.contains("Hint:"), "{}", out.render());
    assert_eq!(env.state_tip(&dir), before, "nothing was written");
    assert!(!marker.exists(), "the performer never ran");
}

fn worktree(env: &TestEnv) -> PathBuf {
    made_worktree(env).expect("a worktree was made")
}

/// The task's worktree path, once the repository's directory under the worktree root is made
/// (the root comes first: a poll can see it empty).
fn made_worktree(env: &TestEnv) -> Option<PathBuf> {
    let repo_dir = std::fs::read_dir(env.path("worktrees")).ok()?.next()?.ok()?.path();
    Some(repo_dir.join("s/t0"))
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk_files(&path)) } else { out.push(path) }
    }
    out
}

#[test]
fn performers_check_reports_the_sandbox_level_and_what_it_leaves_unenforced() {
    let env = TestEnv::new();
    let dir = repo(&env, "");
    std::fs::write(dir.join(".maestro/config.toml"), performer(&env, "#!/bin/sh\n", "sandbox = \"required\"\n"))
        .unwrap();
    let rows = env.run(&dir, &["performers", "--check", "--json"]).success().json();
    let row = &rows[0];
    assert_eq!(row["sandbox"], "required", "{rows:#}");
    assert!(row["sandbox_abi"].as_u64().is_some_and(|abi| abi >= 1), "{rows:#}");
    let gaps: Vec<&str> = row["not_enforced"].as_array().unwrap().iter().map(|g| g.as_str().unwrap()).collect();
    for gap in ["UDP", "raw sockets", "MPTCP", "TCP Fast Open"] {
        assert!(gaps.contains(&gap), "{gaps:?}");
    }
    let mut without = env.command(&dir);
    without.args(["performers", "--check"]).env("MAESTRO_TEST_NO_LANDLOCK", "1");
    let out: crate::common::Run = without.output().unwrap().into();
    assert_eq!(out.code, 1, "{}", out.render());
    assert!(out.stderr.contains("no Landlock"), "{}", out.render());
}

#[test]
fn what_a_confined_run_staged_before_it_was_killed_is_kept_by_the_next_run() {
    let env = TestEnv::new();
    let dir = repo(&env, "");
    // The performer marks its progress in its worktree, the only place it may write.
    let script = "#!/bin/sh\ncd \"$MAESTRO_WORKTREE\"\necho staged > s.txt\ngit add s.txt\necho on-disk > s.txt\n\
                  touch started\necho \"gitdir: $TMPDIR\" > .git\nexec sleep 600\n";
    std::fs::write(dir.join(".maestro/config.toml"), performer(&env, script, "sandbox = \"required\"\n")).unwrap();
    let mut child = env
        .command(&dir)
        .args(["task", "run", "s/t0", "--performer", "p"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let started = || made_worktree(&env).is_some_and(|w| w.join("started").exists());
    while !started() {
        assert!(std::time::Instant::now() < deadline, "the performer never staged its file");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: the run never copies its objects back nor rights the link.
    child.wait().unwrap();
    env.run(&dir, &["task", "release", "s/t0"]).success();
    std::fs::write(dir.join(".maestro/config.toml"), performer(&env, "#!/bin/sh\n", "sandbox = \"required\"\n"))
        .unwrap();
    let run = env.run(&dir, &["task", "run", "s/t0", "--performer", "p"]);
    let task = task(&env, &dir);
    assert_eq!(task["status"], "submitted", "{}\n{task:#}", run.render());
    let commit = task["attempts"][1]["commit"].as_str().expect("a commit").to_owned();
    let on_disk = env.git(&dir, &["show", &format!("{commit}:s.txt")]).success_git();
    assert_eq!(on_disk, "on-disk\n");
    // The staged version was committed first (as `git stash` keeps it): its blob is here.
    let log = env.git(&dir, &["log", "--format=%H", &commit]).success_git();
    let kept = log.lines().any(|c| env.git(&dir, &["show", &format!("{c}:s.txt")]).stdout == "staged\n");
    assert!(kept, "the staged version is in the history:\n{log}");
    let link = std::fs::read_to_string(worktree(&env).join(".git")).unwrap();
    assert!(link.contains(".git/worktrees/"), "the link is right again: {link}");
    env.git(&dir, &["fsck", "--no-dangling"]).success_git();
}

#[test]
fn a_check_that_redirects_its_worktree_git_link_fails_and_the_link_is_put_back() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.write("c.toml", "format = 1\nid = \"s\"\ntarget = \"main\"\napproval = [\"checks\"]\n[[tasks]]\nid = \"t0\"\nchecks = [\"evil\"]\n");
    env.run(&dir, &["plan", "--from", "../c.toml"]).success();
    env.run(&dir, &["approve", "s"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let config = performer(&env, "#!/bin/sh\necho work > \"$MAESTRO_WORKTREE/result.txt\"\n", "")
        + "[checks.evil]\nrun = \"echo \\\"gitdir: $TMPDIR\\\" > .git\"\nsandbox = \"required\"\n";
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.run(&dir, &["task", "run", "s/t0", "--performer", "p"]).success();
    let review = env.run(&dir, &["task", "review", "s/t0"]);
    let task = task(&env, &dir);
    assert_ne!(task["status"], "approved", "{}\n{task:#}", review.render());
    let d = env.run(&dir, &["decisions", "--task", "s/t0", "--json"]).success().json();
    let exits: Vec<String> = d
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["evidence"].as_array().cloned().unwrap_or_default())
        .map(|e| e["exit"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(exits, [".git".to_owned()].map(|p| format!("outside write: {p}")), "{d:#}");
    let link = std::fs::read_to_string(worktree(&env).join(".git")).unwrap();
    assert!(link.contains(".git/worktrees/"), "the link is put back: {link}");
}
