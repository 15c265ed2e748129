//! Feedback from a pull request: failing checks and requested changes go back to the performer
//! as one rework packet, its next result is pushed to the same branch, and the `pr` step
//! approves once the checks pass and the review approves. Against a bare remote and a `gh`
//! stand-in on PATH.
//!
//! The stand-in mimics GitHub CLI 2.63 (the gh 2.x JSON shapes): `gh pr view --json
//! state,reviewDecision,headRefOid,latestReviews` (an object; reviews carry `commit.oid`),
//! `gh pr checks --json name,state,bucket,link,workflow` (an array; exit 1 when a check failed,
//! 8 while pending), `gh run view <id> --log-failed` (tab-separated job, step, timestamped line)
//! and `gh api repos/<o>/<r>/pulls/<n>/comments` (the REST array of review comments). Like
//! GitHub, it reports the PR's head as the branch's tip on the remote, and its CI passes once
//! the pushed tree holds `fixed.txt`.

use std::path::{Path, PathBuf};

use crate::common::model_server::{ModelServer, Scenario};
use crate::common::{Run, TestEnv, test_path};
use crate::test_cli::GitRun;

const URL: &str = "https://github.com/o/r/pull/7";
const BRANCH: &str = "maestro/p/tasks/t0";

const FAILING: &str = r#"[{"bucket":"fail","link":"https://github.com/o/r/actions/runs/4242/job/99","name":"build","state":"FAILURE","workflow":"CI"},{"bucket":"pass","link":"https://github.com/o/r/actions/runs/4242/job/98","name":"lint","state":"SUCCESS","workflow":"CI"}]"#;
const PASSING: &str = r#"[{"bucket":"pass","link":"https://github.com/o/r/actions/runs/4243/job/99","name":"build","state":"SUCCESS","workflow":"CI"}]"#;
const FAILED_LOG: &str = "build\tCheckout\t2026-01-01T00:00:00.1000000Z Fetching the repository\n\
build\tRun tests\t2026-01-01T00:00:01.1000000Z test zero::writes ... FAILED\n\
build\tRun tests\t2026-01-01T00:00:01.2000000Z token in env: ghp_abcdefghijklmnopqrstuvwxyz0123456789\n\
build\tRun tests\t2026-01-01T00:00:01.3000000Z error: expected `zero`, found `0` in t0.txt\n\
build\tRun tests\t2026-01-01T00:00:01.4000000Z ##[error]Process completed with exit code 101.\n";

/// A PR flow: repo `r` with bare remote `remote.git`, the `gh` stand-in in `gh-bin`, and
/// performers that save each prompt they get under `prompts/`.
struct Flow {
    env: TestEnv,
    dir: PathBuf,
    gh: PathBuf,
    /// More environment for git-maestro (an agent's API key).
    extra_env: Vec<(&'static str, &'static str)>,
}

/// `performers`: (name, what it does), each a `command` performer running `agent.sh`: `fix`
/// fixes the CI failure when its prompt holds the failed log, `try` writes a new try each run,
/// `same` writes the same file every time (a rework that changes nothing).
fn flow(max_attempts: u32, performers: &[(&str, &str)]) -> Flow {
    let f = repo(max_attempts);
    std::fs::create_dir_all(f.env.path("prompts")).unwrap();
    let agent = f.env.write(
        "agent.sh",
        &format!(
            "#!/bin/sh\n# Saves its prompt, writes the task's file, and fixes CI when the prompt says it failed.\n\
             n=$(ls {prompts} | wc -l)\nn=$((n + 1))\ncat > {prompts}/$n-$WHO.txt\n\
             if [ \"$MODE\" = same ]; then echo zero > t0.txt; else echo \"zero, try $n\" > t0.txt; fi\n\
             if [ \"$MODE\" = fix ] && grep -q 'Process completed with exit code' {prompts}/$n-$WHO.txt; then \
             echo fixed > fixed.txt; fi\necho \"wrote t0.txt\"\n",
            prompts = f.env.path("prompts").display()
        ),
    );
    make_executable(&agent);
    let mut config = String::new();
    for (name, mode) in performers {
        config.push_str(&format!(
            "[performers.{name}]\nadapter = \"command\"\ncommand = \"{}\"\nsandbox = \"off\"\n\
             env = {{ WHO = \"{name}\", MODE = \"{mode}\" }}\n",
            agent.display(),
        ));
    }
    std::fs::write(f.dir.join(".maestro/config.toml"), config).unwrap();
    f
}

/// The repository, its remote, the Score and the `gh` stand-in, without performers.
fn repo(max_attempts: u32) -> Flow {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.git(&env.path(""), &["init", "-q", "--bare", "-b", "main", "remote.git"]).success_git();
    env.git(&dir, &["remote", "add", "origin", "../remote.git"]).success_git();
    env.git(&dir, &["push", "-q", "origin", "main"]).success_git();
    let score = format!(
        "format = 1\nid = \"p\"\ntitle = \"PR flow\"\ntarget = \"main\"\napproval = [\"pr\"]\n\
         max_attempts = {max_attempts}\n[[tasks]]\nid = \"t0\"\ntitle = \"Write zero\"\nspec = \"Write zero.\"\n"
    );
    env.write("p.toml", &score);
    env.run(&dir, &["plan", "--from", "../p.toml"]).success();
    env.run(&dir, &["approve", "p"]).success();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let gh = fake_gh(&env);
    env.write("checks.json", FAILING);
    env.write("checks-fixed.json", PASSING);
    env.write("run-4242.log", FAILED_LOG);
    env.write("comments.json", "[]");
    env.write("view.json", r#"{"headRefOid":"@HEAD@","latestReviews":[],"reviewDecision":"APPROVED","state":"OPEN"}"#);
    Flow { env, dir, gh, extra_env: Vec::new() }
}

fn make_executable(path: &Path) {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// The `gh` stand-in (see the module doc). `gh-logged-out` makes it answer as a gh that
/// needs `gh auth login` (exit 4).
fn fake_gh(env: &TestEnv) -> PathBuf {
    let bin = env.path("gh-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        "#!/bin/sh\nroot={root}\necho \"$@\" >> $root/gh.log\n\
         if [ -f $root/gh-logged-out ]; then echo 'To get started with GitHub CLI, please run:  gh auth login' >&2; exit 4; fi\n\
         head=$(git --git-dir=$root/remote.git rev-parse --verify -q refs/heads/{BRANCH})\n\
         case \"$1 $2\" in\n\
         'pr create') echo 'Creating pull request for {BRANCH} into main'; echo '{URL}' ;;\n\
         'pr view') sed \"s/@HEAD@/$head/g\" $root/view.json ;;\n\
         'pr checks')\n  checks=$root/checks.json\n\
           if git --git-dir=$root/remote.git cat-file -e \"$head:fixed.txt\" 2>/dev/null; then checks=$root/checks-fixed.json; fi\n\
           cat $checks\n  if grep -q '\"fail\"' $checks; then exit 1; fi\n  if grep -q '\"pending\"' $checks; then exit 8; fi ;;\n\
         'run view') cat $root/run-$3.log ;;\n\
         'api --hostname') sed \"s/@HEAD@/$head/g\" $root/comments.json ;;\n\
         *) echo \"unknown command: $*\" >&2; exit 1 ;;\nesac\n",
        root = env.path("").display()
    );
    let gh = bin.join("gh");
    std::fs::write(&gh, script).unwrap();
    make_executable(&gh);
    bin
}

impl Flow {
    fn with_gh(&self, args: &[&str]) -> Run {
        let path = format!("{}:{}", self.gh.display(), test_path());
        let mut cmd = self.env.command(&self.dir);
        cmd.env("PATH", path).envs(self.extra_env.iter().copied()).args(args);
        cmd.output().unwrap().into()
    }

    fn task(&self) -> serde_json::Value {
        self.env.run(&self.dir, &["task", "show", "p/t0", "--json"]).success().json()
    }

    fn tip(&self, git_dir: &Path) -> String {
        self.env.git(git_dir, &["rev-parse", BRANCH]).success_git().trim().to_owned()
    }

    fn remote(&self) -> PathBuf {
        self.env.path("remote.git")
    }

    /// The prompt saved by the `n`th run (by `who`).
    fn prompt(&self, n: usize, who: &str) -> String {
        let path = self.env.path(&format!("prompts/{n}-{who}.txt"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Run the Score until the result waits at its PR, then open the PR.
    fn opened(&self) -> String {
        let first = self.with_gh(&["run", "p"]).success();
        assert!(first.stderr.contains("open it with `git maestro pr p/t0`"), "{}", first.render());
        let opened = self.with_gh(&["pr", "p/t0"]).success();
        assert!(opened.stdout.contains(URL), "{}", opened.render());
        let head = self.tip(&self.dir);
        assert_eq!(self.tip(&self.remote()), head, "the result is on the remote");
        head
    }

    fn rejections(&self) -> Vec<serde_json::Value> {
        let d = self.env.run(&self.dir, &["decisions", "--kind", "rejection", "--task", "p/t0", "--json"]);
        d.success().json().as_array().unwrap().clone()
    }
}

#[test]
fn a_failing_check_goes_back_with_its_log_and_the_fix_is_pushed_to_the_same_pr_which_then_approves() {
    let f = flow(3, &[("alpha", "fix")]);
    let first = f.opened();

    // The next run reads the failed check, sends the result back, reruns and pushes the fix.
    let run = f.with_gh(&["run", "p"]).success();
    assert!(run.stderr.contains("t0  rejected: failing checks: build"), "{}", run.render());
    assert!(run.stdout.contains("p/t0 waits for the checks and reviews of"), "{}", run.render());
    let prompt = f.prompt(2, "alpha");
    assert!(prompt.contains("A previous attempt at this task was not accepted"), "{prompt}");
    assert!(prompt.contains(&format!("The pull request {URL} sent this result ({})", &first[..12])), "{prompt}");
    assert!(prompt.contains("- build (CI): FAILURE https://github.com/o/r/actions/runs/4242/job/99"), "{prompt}");
    assert!(!prompt.contains("- lint"), "a passing check is not in the packet: {prompt}");
    assert!(prompt.contains("[Run tests] error: expected `zero`, found `0` in t0.txt"), "the log tail: {prompt}");
    assert!(prompt.contains("[Run tests] ##[error]Process completed with exit code 101."), "{prompt}");
    assert!(!prompt.contains("ghp_abcdefghijklmnopqrstuvwxyz"), "secrets are redacted: {prompt}");
    let log = std::fs::read_to_string(f.env.path("gh.log")).unwrap();
    assert!(log.contains(&format!("pr checks {URL} --json name,state,bucket,link,workflow")), "{log}");
    assert!(log.contains("run view 4242 --log-failed"), "{log}");
    assert!(log.contains("api --hostname github.com repos/o/r/pulls/7/comments?per_page=100"), "{log}");

    // The fix went to the same branch, which the PR follows.
    let second = f.tip(&f.dir);
    assert_ne!(second, first);
    assert_eq!(f.tip(&f.remote()), second, "the fix is pushed to the PR's branch");
    let task = f.task();
    assert_eq!(task["status"], "submitted", "{task:#}");
    assert_eq!(task["pr"]["url"], URL);
    assert_eq!(task["pr"]["head"], second.as_str());
    let sent = f.rejections();
    assert_eq!(sent.len(), 1, "one reaction: {sent:#?}");
    assert_eq!(sent[0]["actor"], "pr");
    assert_eq!(sent[0]["commit"], first.as_str(), "the head it reacted to");
    assert_eq!(sent[0]["review"]["author"], "alpha");
    assert_eq!(sent[0]["evidence"][0]["check"], "pr:build");

    // CI passes on the fix and the review approved: the step approves and the task merges.
    let done = f.with_gh(&["run", "p"]).success();
    assert_eq!(f.task()["status"], "merged", "{}", done.render());
    let approval = f.env.run(&f.dir, &["decisions", "--kind", "approval", "--task", "p/t0", "--json"]);
    let approval = approval.success().json();
    assert_eq!(approval[0]["rationale"], format!("{URL} was approved and its checks passed"));
    assert_eq!(f.rejections().len(), 1, "nothing was sent back twice");
}

#[test]
fn run_with_watch_prs_follows_the_pr_from_its_failing_check_to_the_merge_in_one_go() {
    let f = flow(3, &[("alpha", "fix")]);
    let first = f.opened();
    // One run: sent back, reworked, pushed, looked at again, approved and merged.
    let run = f.with_gh(&["run", "p", "--watch-prs", "1s"]).success();
    assert_eq!(f.task()["status"], "merged", "{}", run.render());
    assert!(run.stderr.contains("t0  rejected: failing checks: build"), "{}", run.render());
    assert_ne!(f.tip(&f.remote()), first, "the fix was pushed");
    assert_eq!(f.tip(&f.remote()), f.tip(&f.dir));
    let bad = f.env.run(&f.dir, &["run", "p", "--watch-prs", "soon"]);
    assert_eq!(bad.code, 2, "a bad interval is a usage error: {}", bad.render());
}

#[test]
fn requested_changes_with_two_inline_comments_make_one_packet_and_the_step_waits_for_a_new_review() {
    let f = flow(3, &[("alpha", "try")]);
    f.env.write("checks.json", PASSING);
    let first = f.opened();
    f.env.write(
        "view.json",
        &format!(
            r#"{{"headRefOid":"@HEAD@","latestReviews":[{{"author":{{"login":"rev"}},"authorAssociation":"MEMBER","body":"Two things, see inline.","submittedAt":"2026-01-01T00:10:00Z","includesCreatedEdit":false,"reactionGroups":[],"state":"CHANGES_REQUESTED","commit":{{"oid":"{first}"}}}}],"reviewDecision":"CHANGES_REQUESTED","state":"OPEN"}}"#
        ),
    );
    let comment = |id: u32, path: &str, line: u32, body: &str, commit: &str| {
        format!(
            r#"{{"id":{id},"pull_request_review_id":55,"path":"{path}","line":{line},"original_line":{line},"commit_id":"{commit}","original_commit_id":"{commit}","body":"{body}","user":{{"login":"rev"}},"in_reply_to_id":null,"html_url":"{URL}#discussion_r{id}"}}"#
        )
    };
    let old = "0123456789012345678901234567890123456789";
    f.env.write(
        "comments.json",
        &format!(
            "[{},{},{}]",
            comment(1, "t0.txt", 1, "Spell it out: zero.", &first),
            comment(2, "src/lib.rs", 12, "This needs a test.", &first),
            comment(3, "old.rs", 3, "An outdated remark.", old)
        ),
    );

    let review = f.with_gh(&["task", "review", "p/t0"]).user_error();
    assert!(review.stderr.contains("changes requested by rev (2 comments)"), "{}", review.render());
    let task = f.task();
    assert_eq!(task["status"], "ready", "sent back for rework: {task:#}");
    let rework = task["rework"].as_str().unwrap();
    assert!(rework.contains("Changes requested by rev:\nTwo things, see inline."), "{rework}");
    assert!(rework.contains("- t0.txt:1 (rev): Spell it out: zero."), "{rework}");
    assert!(rework.contains("- src/lib.rs:12 (rev): This needs a test."), "{rework}");
    assert!(!rework.contains("outdated"), "a comment on an older push is not in it: {rework}");
    let packets = f.env.run(&f.dir, &["handover", "list", "--json"]).success().json();
    let packets: Vec<_> = packets.as_array().unwrap().iter().filter(|h| h["from"] == "pr").collect();
    assert_eq!(packets.len(), 1, "one packet: {packets:#?}");

    // The rework run sees both comments in its prompt; its result goes to the same branch.
    let run = f.with_gh(&["run", "p"]).success();
    let prompt = f.prompt(2, "alpha");
    assert!(prompt.contains("t0.txt:1 (rev): Spell it out: zero.") && prompt.contains("src/lib.rs:12"), "{prompt}");
    let second = f.tip(&f.dir);
    assert_eq!(f.tip(&f.remote()), second, "pushed to the same branch: {}", run.render());
    // The old review still says "changes requested", about the earlier push: it waits.
    let waiting = f.with_gh(&["task", "review", "p/t0"]).success();
    assert!(waiting.stderr.contains("changes were requested on an earlier result"), "{}", waiting.render());
    assert_eq!(f.task()["status"], "submitted");

    f.env.write(
        "view.json",
        r#"{"headRefOid":"@HEAD@","latestReviews":[{"author":{"login":"rev"},"body":"Good now.","state":"APPROVED","commit":{"oid":"@HEAD@"}}],"reviewDecision":"APPROVED","state":"OPEN"}"#,
    );
    let approved = f.with_gh(&["task", "review", "p/t0"]).success();
    assert_eq!(approved.stdout, "p/t0  approved\n", "{}", approved.render());
}

#[test]
fn after_max_attempts_the_task_goes_to_another_performer_with_the_packet_and_then_to_a_person() {
    let f = flow(1, &[("alpha", "try"), ("beta", "try")]);
    let first = f.opened();
    assert!(f.env.path("prompts/1-alpha.txt").exists(), "alpha ran first");

    let run = f.with_gh(&["run", "p"]).success();
    let prompt = f.prompt(2, "beta");
    assert!(prompt.contains("This task comes to you because alpha spent their tries"), "{prompt}");
    assert!(prompt.contains("error: expected `zero`"), "{prompt}");
    assert_eq!(f.tip(&f.remote()), f.tip(&f.dir), "beta's result is on the PR: {}", run.render());

    let last = f.with_gh(&["run", "p"]).user_error();
    assert!(last.stderr.contains("p cannot finish: t0 blocked"), "{}", last.render());
    let task = f.task();
    assert_eq!(task["status"], "blocked", "{}", last.render());
    let rework = task["rework"].as_str().unwrap();
    assert!(rework.contains("blocked for a person: the pull request sent the result back alpha 1, beta 1"), "{rework}");
    let performers: Vec<&str> =
        task["attempts"].as_array().unwrap().iter().map(|a| a["performer"].as_str().unwrap()).collect();
    assert_eq!(performers, ["alpha", "beta"]);
    let sent = f.rejections();
    let heads: Vec<&str> = sent.iter().filter_map(|d| d["commit"].as_str()).collect();
    assert!(heads.contains(&first.as_str()) && heads.len() == 2, "{sent:#?}");
    assert!(!f.env.path("prompts/3-alpha.txt").exists() && !f.env.path("prompts/3-beta.txt").exists());
}

#[test]
fn the_same_head_is_never_sent_back_twice_even_by_a_later_command() {
    let f = flow(3, &[("alpha", "same")]);
    let head = f.opened();
    // The failing check sends the result back once; a later look at the same head does not.
    f.with_gh(&["task", "review", "p/t0"]).user_error();
    assert_eq!(f.task()["status"], "ready");
    let again = f.with_gh(&["task", "review", "p/t0"]);
    assert_ne!(again.code, 255, "{}", again.render());
    assert_eq!(f.rejections().len(), 1, "one reaction for one head");
    // A rework that changes nothing is refused (issue 18: no empty rework), and nothing new is
    // pushed to the PR, so there is no new head to react to either.
    let run = f.with_gh(&["run", "p"]);
    assert!(run.stderr.contains("the rework changed nothing"), "{}", run.render());
    assert!(f.env.path("prompts/2-alpha.txt").exists(), "the rework ran");
    assert_eq!(f.tip(&f.remote()), head, "nothing new was pushed");
    let by_pr = f.rejections().into_iter().filter(|d| d["actor"] == "pr").count();
    assert_eq!(by_pr, 1, "still one reaction of the PR step for one head: {:#?}", f.rejections());
}

#[test]
fn a_pr_closed_by_someone_else_blocks_the_task_with_the_reason_and_keeps_the_result() {
    let f = flow(3, &[("alpha", "try")]);
    let head = f.opened();
    f.env.write("view.json", r#"{"headRefOid":"@HEAD@","latestReviews":[],"reviewDecision":"","state":"CLOSED"}"#);
    let review = f.with_gh(&["task", "review", "p/t0"]).user_error();
    assert!(review.stderr.contains(&format!("{URL} was closed without merging")), "{}", review.render());
    let task = f.task();
    assert_eq!(task["status"], "blocked");
    assert!(task["rework"].as_str().unwrap().contains("reopen the pull request"), "{task:#}");
    assert_eq!(f.tip(&f.dir), head, "the result is still on the task branch");
    assert_eq!(f.tip(&f.remote()), head);
}

#[test]
fn a_pr_branch_pushed_by_someone_else_blocks_the_task_and_nothing_is_overwritten() {
    let f = flow(3, &[("alpha", "try")]);
    let head = f.opened();
    // Someone pushes their own commit on the PR's branch.
    f.env.git(&f.env.path(""), &["clone", "-q", "remote.git", "other"]).success_git();
    let other = f.env.path("other");
    f.env.git(&other, &["checkout", "-q", BRANCH]).success_git();
    std::fs::write(other.join("theirs.txt"), "theirs\n").unwrap();
    f.env.git(&other, &["add", "theirs.txt"]).success_git();
    f.env.git(&other, &["commit", "-q", "-m", "Theirs"]).success_git();
    f.env.git(&other, &["push", "-q", "origin", BRANCH]).success_git();
    let theirs = f.tip(&f.remote());

    let review = f.with_gh(&["task", "review", "p/t0"]).user_error();
    assert!(review.stderr.contains(&format!("someone else pushed {}", &theirs[..12])), "{}", review.render());
    assert_eq!(f.task()["status"], "blocked");
    assert_eq!(f.tip(&f.dir), head, "our result is kept");
    assert_eq!(f.tip(&f.remote()), theirs, "theirs is not overwritten");
}

#[test]
fn without_gh_or_its_login_the_pr_step_waits_with_a_hint_and_the_task_stays_submitted() {
    let f = flow(3, &[("alpha", "try")]);
    f.opened();
    let state = f.env.state_tip(&f.dir);
    let missing = f.env.run(&f.dir, &["task", "review", "p/t0"]).success();
    assert_eq!(missing.stdout, "p/t0  waiting for pr\n", "{}", missing.render());
    assert!(missing.stderr.contains("`gh` (GitHub CLI) is not on PATH"), "{}", missing.render());
    assert!(missing.stderr.contains("install GitHub CLI 2.x"), "{}", missing.render());

    f.env.write("gh-logged-out", "");
    let out = f.with_gh(&["task", "review", "p/t0"]).success();
    assert!(out.stderr.contains("`gh` is not logged in"), "{}", out.render());
    assert!(out.stderr.contains("run `gh auth login`"), "{}", out.render());
    assert_eq!(f.task()["status"], "submitted");
    assert_eq!(f.env.state_tip(&f.dir), state, "waiting writes nothing");
}

#[test]
fn claude_gets_the_failed_ci_log_in_its_prompt_and_its_fix_lands_on_the_same_pr() {
    let Some(bin) = crate::test_agents::agent("claude") else { return };
    let mut f = repo(3);
    f.extra_env.push(("MAESTRO_TEST_KEY", crate::test_agents::KEY));
    let server = ModelServer::start(Scenario::load("pr-feedback"), &f.env.path("requests.jsonl"));
    let config = format!(
        "[performers.claude]\nadapter = \"claude\"\ncommand = \"{}\"\nmodel = \"scripted-model\"\nbase_url = \"{}\"\n\
         api_key_env = \"MAESTRO_TEST_KEY\"\nisolate_home = true\nsandbox = \"required\"\ntimeout = \"3m\"\n\
         env = {{ CLAUDE_CODE_MAX_RETRIES = \"0\" }}\n",
        bin.display(),
        server.base_url()
    );
    std::fs::write(f.dir.join(".maestro/config.toml"), config).unwrap();
    let first = f.opened();
    let log_line = "error: expected `zero`, found `0` in t0.txt";
    let before = server.requests();
    assert!(!before.iter().any(|r| r["body"].to_string().contains(log_line)), "not before CI failed");

    let run = f.with_gh(&["run", "p"]).success();
    let requests = server.requests();
    let told = requests.iter().find(|r| r["body"].to_string().contains(log_line));
    let told = told.unwrap_or_else(|| panic!("the failed log reached the model: {}", run.render()));
    let body = told["body"].to_string();
    assert!(body.contains("build (CI): FAILURE"), "{body}");
    assert!(!body.contains("ghp_abcdefghijklmnopqrstuvwxyz"), "secrets are redacted: {body}");
    let second = f.tip(&f.dir);
    assert_ne!(second, first, "a new result: {}\n{:#}", run.render(), f.task());
    assert_eq!(f.tip(&f.remote()), second, "the fix is on the PR's branch: {}", run.render());

    let done = f.with_gh(&["run", "p"]).success();
    assert_eq!(f.task()["status"], "merged", "{}", done.render());
}
