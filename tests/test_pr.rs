//! The `pr` approval step and `land --pr`, against a bare remote on disk: approval found by a
//! merge made there with plain git, or from `gh` (a stand-in script on PATH).

use std::path::{Path, PathBuf};

use crate::common::{Run, TestEnv, test_path};
use crate::test_cli::GitRun;

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// Repo `r` with a bare remote `origin` (holding main) and a submitted task `p/t0` whose chain
/// is `approval`.
fn submitted(env: &TestEnv, approval: &str) -> PathBuf {
    let dir = env.repo("r");
    env.git(&env.path(""), &["init", "-q", "--bare", "-b", "main", "remote.git"]).success_git();
    env.git(&dir, &["remote", "add", "origin", "../remote.git"]).success_git();
    env.git(&dir, &["push", "-q", "origin", "main"]).success_git();
    let score = format!(
        "format = 1\nid = \"p\"\ntitle = \"PR flow\"\ntarget = \"main\"\napproval = {approval}\n\
         [[tasks]]\nid = \"t0\"\ntitle = \"Write zero\"\nspec = \"Write zero.\"\n"
    );
    env.write("p.toml", &score);
    env.run(&dir, &["plan", "--from", "../p.toml"]).success();
    env.run(&dir, &["approve", "p"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\nenv = {{ FAKE_WRITE = \"t0.txt=zero\" }}\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.run(&dir, &["task", "run", "p/t0"]).success();
    dir
}

/// Someone else merges `branch` into main on the remote, with plain git.
fn merge_on_remote(env: &TestEnv, branch: &str) {
    let other = env.path("other");
    if !other.exists() {
        env.git(&env.path(""), &["clone", "-q", "remote.git", "other"]).success_git();
    }
    env.git(&other, &["fetch", "-q", "origin"]).success_git();
    env.git(&other, &["merge", "-q", "--no-ff", "-m", "Merge on the forge", &format!("origin/{branch}")]).success_git();
    env.git(&other, &["push", "-q", "origin", "main"]).success_git();
}

fn status(env: &TestEnv, dir: &Path) -> String {
    env.run(dir, &["task", "show", "p/t0", "--json"]).success().json()["status"].as_str().unwrap().to_owned()
}

#[test]
fn a_task_branch_merged_on_the_remote_approves_the_pr_step_and_land_pr_follows_the_remote() {
    let env = TestEnv::new();
    let dir = submitted(&env, "[\"pr\"]");
    let waiting = env.run(&dir, &["task", "review", "p/t0"]).success();
    assert_eq!(waiting.stdout, "p/t0  waiting for pr\n");
    assert!(waiting.stderr.contains("open it with `git maestro pr p/t0`"), "{}", waiting.render());

    let opened = env.run(&dir, &["pr", "p/t0", "--json"]).success().json();
    let tip = env.git(&dir, &["rev-parse", "maestro/p/tasks/t0"]).success_git();
    assert_eq!(opened["pr"]["head"], tip.trim());
    assert_eq!(opened["pr"]["url"], serde_json::Value::Null, "no gh here");
    let remote = env.path("remote.git");
    assert_eq!(env.git(&remote, &["rev-parse", "maestro/p/tasks/t0"]).success_git(), tip, "pushed");
    let again = env.run(&dir, &["pr", "p/t0"]).success();
    assert!(again.stderr.contains("The remote already has this result."), "{}", again.render());

    let still = env.run(&dir, &["task", "review", "p/t0"]).success();
    assert!(still.stderr.contains("maestro/p/tasks/t0 is not merged into origin/main yet"), "{}", still.render());
    assert_eq!(status(&env, &dir), "submitted");

    merge_on_remote(&env, "maestro/p/tasks/t0");
    let approved = env.run(&dir, &["task", "review", "p/t0"]).success();
    assert_eq!(approved.stdout, "p/t0  approved\n", "{}", approved.render());
    let d = env.run(&dir, &["decisions", "--kind", "approval", "--task", "p/t0", "--json"]).success().json();
    assert_eq!(d[0]["actor"], "pr");
    assert_eq!(d[0]["rationale"], "maestro/p/tasks/t0 is merged into origin/main");
    env.run(&dir, &["merge", "p/t0"]).success();

    // Landing through a PR of the integration branch: opened, waiting, then merged remotely.
    let refused = env.run(&dir, &["land", "p"]).user_error();
    assert!(refused.stderr.contains("git maestro land p --pr"), "{}", refused.render());
    let opened = env.run(&dir, &["land", "p", "--pr"]).success();
    assert!(opened.stdout.contains("pushed maestro/p/integration to origin"), "{}", opened.render());
    let waiting = env.run(&dir, &["land", "p", "--pr"]).success();
    assert!(waiting.stdout.contains("p  waiting: maestro/p/integration is not merged into origin/main yet"));
    merge_on_remote(&env, "maestro/p/integration");
    let landed = env.run(&dir, &["land", "p", "--pr"]).success();
    assert!(landed.stdout.contains("p  landed on main at"), "{}", landed.render());
    assert!(landed.stdout.contains("(fast-forward)"), "{}", landed.render());
    let remote_main = env.git(&remote, &["rev-parse", "main"]).success_git();
    assert_eq!(env.git(&dir, &["rev-parse", "main"]).success_git(), remote_main, "local main is the remote's");
    // The landing approval names the integration tip it approved (a structured field now).
    let integration = env.git(&dir, &["rev-parse", "maestro/p/integration"]).success_git().trim().to_owned();
    let d = env.run(&dir, &["decisions", "--kind", "approval", "--json"]).success().json();
    let landing = format!("pr approved landing p at {}", &integration[..12]);
    let approval = d.as_array().unwrap().iter().find(|d| d["summary"] == landing.as_str());
    let approval = approval.unwrap_or_else(|| panic!("{landing}: {d:#}"));
    assert_eq!(approval["commit"], integration.as_str(), "{d:#}");
    let score = env.run(&dir, &["score", "show", "p", "--json"]).success().json();
    assert_eq!(score["status"], "landed", "{score:#}");
}

/// A `gh` stand-in: logs its arguments, answers `pr create` with a URL and `pr view` with the
/// JSON in `gh-view.json`.
fn fake_gh(env: &TestEnv) -> PathBuf {
    let bin = env.path("gh-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = env.path("gh.log");
    let view = env.path("gh-view.json");
    let script = format!(
        "#!/bin/sh\necho \"$@\" >> {log}\ncase \"$1 $2\" in\n\
         'pr create') echo 'Creating pull request'; echo 'https://github.example/o/r/pull/7' ;;\n\
         'pr view') cat {view} ;;\nesac\n",
        log = log.display(),
        view = view.display()
    );
    let gh = bin.join("gh");
    std::fs::write(&gh, script).unwrap();
    std::fs::set_permissions(&gh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    bin
}

fn with_gh(env: &TestEnv, dir: &Path, gh: &Path, args: &[&str]) -> Run {
    let path = format!("{}:{}", gh.display(), test_path());
    env.command(dir).env("PATH", path).args(args).output().unwrap().into()
}

#[test]
fn gh_opens_the_pr_and_its_review_decision_is_the_verdict() {
    let env = TestEnv::new();
    let dir = submitted(&env, "[\"pr\", \"human\"]");
    let gh = fake_gh(&env);
    let opened = with_gh(&env, &dir, &gh, &["pr", "p/t0"]).success();
    assert!(opened.stdout.contains("pull request https://github.example/o/r/pull/7"), "{}", opened.render());
    let log = std::fs::read_to_string(env.path("gh.log")).unwrap();
    assert!(
        log.starts_with("pr create --head maestro/p/tasks/t0 --base main --title p/t0: Write zero --body Write zero."),
        "{log}"
    );
    let task = env.run(&dir, &["task", "show", "p/t0", "--json"]).success().json();
    assert_eq!(task["pr"]["url"], "https://github.example/o/r/pull/7");

    env.write("gh-view.json", r#"{"reviewDecision":"REVIEW_REQUIRED","state":"OPEN"}"#);
    let waiting = with_gh(&env, &dir, &gh, &["task", "review", "p/t0"]).success();
    assert!(waiting.stderr.contains("https://github.example/o/r/pull/7 waits for review"), "{}", waiting.render());

    // "Changes requested" on no review of this push: it waits for a new review (pr_feedback
    // sends a result back only for a review of the pushed head).
    env.write("gh-view.json", r#"{"reviewDecision":"CHANGES_REQUESTED","state":"OPEN"}"#);
    let waiting = with_gh(&env, &dir, &gh, &["task", "review", "p/t0"]).success();
    assert!(waiting.stderr.contains("changes were requested on an earlier result"), "{}", waiting.render());
    assert_eq!(status(&env, &dir), "submitted");
    let log = std::fs::read_to_string(env.path("gh.log")).unwrap();
    assert!(
        log.contains("pr view https://github.example/o/r/pull/7 --json state,reviewDecision,headRefOid,latestReviews"),
        "{log}"
    );
}

#[test]
fn approved_on_github_the_chain_goes_on_to_its_next_step() {
    let env = TestEnv::new();
    let dir = submitted(&env, "[\"pr\", \"human\"]");
    let gh = fake_gh(&env);
    with_gh(&env, &dir, &gh, &["pr", "p/t0"]).success();
    env.write("gh-view.json", r#"{"reviewDecision":"APPROVED","state":"OPEN"}"#);
    let next = with_gh(&env, &dir, &gh, &["task", "review", "p/t0"]).success();
    assert_eq!(next.stdout, "p/t0  waiting for human\n", "{}", next.render());
    let d = env.run(&dir, &["decisions", "--kind", "approval", "--task", "p/t0", "--json"]).success().json();
    assert_eq!(d[0]["rationale"], "https://github.example/o/r/pull/7 was approved and its checks passed");
}

#[test]
fn a_pr_without_a_remote_is_refused_with_a_hint_and_changes_nothing() {
    let env = TestEnv::new();
    let dir = submitted(&env, "[\"pr\"]");
    env.git(&dir, &["remote", "remove", "origin"]).success_git();
    let state = env.state_tip(&dir);
    let run = env.run(&dir, &["pr", "p/t0"]).user_error();
    assert!(run.stderr.contains("this repository has no remote to push to"), "{}", run.render());
    assert!(run.stderr.contains("Hint: add one with `git remote add origin <url>`"), "{}", run.render());
    let run = env.run(&dir, &["pr", "p/t0", "--remote", "upstream"]).user_error();
    assert!(run.stderr.contains("no remote named \"upstream\""), "{}", run.render());
    assert_eq!(env.state_tip(&dir), state);
}

/// `land --pr` pushes the integration branch it reads before its first write: it settles
/// first, so a merge whose branch move a crash left due is in what it pushes.
#[test]
fn a_landing_pr_pushes_the_merge_whose_branch_move_a_crash_left_due() {
    let env = TestEnv::new();
    let dir = submitted(&env, "[\"human\"]");
    env.run(&dir, &["approve", "p/t0"]).success();
    let crashed =
        env.command(&dir).args(["merge", "p/t0"]).env("MAESTRO_FAILPOINTS", "tx:after-cas#1").output().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&crashed.status), Some(9));
    let task = env.run(&dir, &["task", "show", "p/t0", "--json"]).success().json();
    assert_eq!(task["status"], "merged", "recorded, with its branch move due");
    let opened = env.run(&dir, &["land", "p", "--pr", "--json"]).success().json();
    let merge = task["merge_commit"].as_str().unwrap();
    assert_eq!(opened["pr"]["head"], merge, "{opened:#}");
    let remote = env.path("remote.git");
    assert_eq!(env.git(&remote, &["rev-parse", "maestro/p/integration"]).success_git().trim(), merge);
}
