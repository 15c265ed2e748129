//! git's conventions for an external command (issue 15, items 1 and 2): `git maestro --help`
//! through git and man-db shows the generated man page, and git's own bash completion completes
//! `git maestro …` with commands, options, Score ids and task addresses.
//!
//! These need `man` (man-db) and git's bash completion script. When one is missing the test
//! fails if `MAESTRO_E2E_REQUIRED=1` (as in CI), and otherwise says loudly that it skipped.

use std::path::{Path, PathBuf};

use crate::common::{BIN, Run, TestEnv, fixtures_dir, required_tool, test_path, which};

/// The binary under test at `<root>/<name>/bin/git-maestro` (a hard link where the file system
/// allows, else a copy), so that its default man directory is `<root>/<name>/share/man/man1`.
fn installed_binary(env: &TestEnv, name: &str) -> PathBuf {
    let bin_dir = env.path(name).join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let bin = bin_dir.join("git-maestro");
    if std::fs::hard_link(BIN, &bin).is_err() {
        std::fs::copy(BIN, &bin).unwrap();
    }
    bin
}

/// PATH with `bin_dir` first and the system's directories after it, but not the build
/// directory of the binary under test, so man-db finds only the pages beside `bin_dir`.
fn path_with(bin_dir: &Path) -> String {
    let system = std::env::var("PATH").unwrap_or_default();
    format!("{}:{system}", bin_dir.display())
}

fn man_is_there() -> bool {
    required_tool("man (man-db)", which("man").is_some(), "install man-db (`apt-get install man-db`)")
}

#[test]
fn git_maestro_help_through_git_shows_the_man_page_installed_beside_the_binary() {
    if !man_is_there() {
        return;
    }
    let env = TestEnv::new();
    let bin = installed_binary(&env, "prefix");
    let run: Run = env.base_command(bin.to_str().unwrap()).arg("install-man").output().unwrap().into();
    let run = run.success();
    let man1 = env.path("prefix/share/man/man1");
    assert!(
        run.stdout.lines().next() == Some(man1.join("git-maestro.1").to_str().unwrap()),
        "install-man writes beside the binary by default, the root page first:\n{}",
        run.render()
    );
    for page in ["git-maestro.1", "git-maestro-init.1", "git-maestro-task-run.1", "git-maestro-completions.1"] {
        assert!(man1.join(page).is_file(), "{page} is installed:\n{}", run.render());
    }
    assert!(!man1.join("git-maestro-hook.1").exists(), "hidden commands get no page");

    // git turns `git maestro --help` into `man git-maestro`; no MANPATH is set.
    let help: Run = env
        .base_command("git")
        .env("PATH", path_with(bin.parent().unwrap()))
        .env("MANPAGER", "cat")
        .args(["maestro", "--help"])
        .output()
        .unwrap()
        .into();
    let help = help.success();
    assert!(
        help.stdout.contains("git-maestro - Run several AI coding agents on one git repository"),
        "{}",
        help.render()
    );
    assert!(help.stdout.contains("install-man"), "the page lists the commands:\n{}", help.render());

    // Each command has its own page.
    let page: Run = env
        .base_command("man")
        .env("PATH", path_with(bin.parent().unwrap()))
        .env("MANPAGER", "cat")
        .arg("git-maestro-task-run")
        .output()
        .unwrap()
        .into();
    assert!(page.success().stdout.contains("Run one task with a performer"), "the task run page has its help text");
}

#[test]
fn install_man_dir_writes_every_page_into_the_named_directory() {
    let env = TestEnv::new();
    let dir = env.path("pages/man1");
    let run = env.run(env.root.path(), &["install-man", "--dir", dir.to_str().unwrap()]).success();
    let written: Vec<&str> = run.stdout.lines().collect();
    assert!(written.len() > 40, "one page per command:\n{}", run.render());
    for line in &written {
        let text = std::fs::read_to_string(line).unwrap();
        assert!(text.contains(".TH "), "{line} is a man page");
    }
    assert!(run.stderr.contains("Wrote"), "{}", run.render());
}

#[test]
fn init_installs_missing_man_pages_and_a_failure_is_only_a_warning() {
    let env = TestEnv::new();
    env.fixture("repo-basic.sh", &["r"]);
    let repo = env.path("r");
    let bin = installed_binary(&env, "prefix");
    let run: Run = env.base_command(bin.to_str().unwrap()).current_dir(&repo).arg("init").output().unwrap().into();
    let run = run.success();
    assert!(env.path("prefix/share/man/man1/git-maestro.1").is_file(), "init installed the pages:\n{}", run.render());
    assert!(!run.stderr.contains("Warning"), "quietly:\n{}", run.render());
    // A page that is missing (a command newer than the pages) is written by the next init.
    let page = env.path("prefix/share/man/man1/git-maestro-task-run.1");
    std::fs::remove_file(&page).unwrap();
    let run: Run = env.base_command(bin.to_str().unwrap()).current_dir(&repo).arg("init").output().unwrap().into();
    run.success();
    assert!(page.is_file(), "init wrote the missing page again");

    // Where the pages cannot go, init still succeeds and says so.
    env.fixture("repo-basic.sh", &["s"]);
    let bin = installed_binary(&env, "blocked");
    std::fs::write(env.path("blocked/share"), "a file where a directory should be").unwrap();
    let run: Run =
        env.base_command(bin.to_str().unwrap()).current_dir(env.path("s")).arg("init").output().unwrap().into();
    let run = run.success();
    assert!(run.stderr.contains("Warning: could not write the man pages"), "{}", run.render());
    assert!(run.stderr.contains("Hint: run `git maestro install-man --dir"), "{}", run.render());
    assert!(run.stdout.contains("refs/maestro/state"), "init did its work:\n{}", run.render());
}

#[test]
fn complete_lists_score_ids_and_task_addresses_and_is_silent_outside_a_repository() {
    let env = TestEnv::new();
    let dir = planned_repo(&env);
    let run = env.run(&dir, &["__complete", "scores", "tasks"]).success();
    assert_eq!(
        run.stdout,
        "auth-tokens\nauth-tokens/docs\nauth-tokens/issue-tokens\nauth-tokens/token-tests\n\
         auth-tokens/token-types\nauth-tokens/verify-tokens\n",
        "{}",
        run.render()
    );
    let outside = env.run(env.root.path(), &["__complete", "tasks"]);
    assert_eq!((outside.code, outside.stdout.as_str(), outside.stderr.as_str()), (0, "", ""), "{}", outside.render());
    env.fixture("repo-basic.sh", &["uninit"]);
    let before_init = env.run(&env.path("uninit"), &["__complete", "scores"]);
    assert_eq!((before_init.code, before_init.stdout.as_str()), (0, ""), "{}", before_init.render());
}

fn planned_repo(env: &TestEnv) -> PathBuf {
    let dir = env.repo("r");
    env.run(&dir, &["plan", "--from", fixtures_dir().join("score.toml").to_str().unwrap()]).success();
    dir
}

/// git's bash completion script, wherever this system keeps it.
fn git_completion_script() -> Option<PathBuf> {
    let candidates = [
        "/usr/share/bash-completion/completions/git",
        "/usr/share/git-core/contrib/completion/git-completion.bash",
        "/usr/share/git/completion/git-completion.bash",
        "/etc/bash_completion.d/git",
        "/usr/local/share/bash-completion/completions/git",
        "/opt/homebrew/etc/bash_completion.d/git-completion.bash",
    ];
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Drives bash's programmable completion the way a <TAB> does: sources git's completion and
/// ours, sets COMP_WORDS/COMP_CWORD for each line and prints COMPREPLY, one line per case.
const DRIVER: &str = r#"
source "$1"
source "$2"
complete_words () {
    COMP_WORDS=("$@")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    if [ "$1" = git-maestro ]; then
        __git_maestro_standalone
    elif declare -F __git_wrap__git_main >/dev/null; then
        __git_wrap__git_main
    else
        _git
    fi
    echo "${COMPREPLY[*]}"
}
"#;

/// What bash completes for each line of words (the last word is the one being completed).
fn complete(env: &TestEnv, dir: &Path, lines: &[&[&str]]) -> Vec<Vec<String>> {
    let ours = env.path("git-maestro.bash");
    std::fs::write(&ours, env.run(dir, &["completions", "bash"]).success().stdout).unwrap();
    let mut script = DRIVER.to_owned();
    for words in lines {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        script.push_str(&format!("complete_words {}\n", quoted.join(" ")));
    }
    let driver = env.path("driver.bash");
    std::fs::write(&driver, script).unwrap();
    let git_script = git_completion_script().unwrap();
    let run: Run = env
        .base_command("bash")
        .current_dir(dir)
        .env("PATH", test_path())
        .arg(&driver)
        .arg(&git_script)
        .arg(&ours)
        .output()
        .unwrap()
        .into();
    let run = run.success();
    assert!(run.stderr.is_empty(), "completion prints nothing on stderr:\n{}", run.render());
    let out: Vec<Vec<String>> = run.stdout.lines().map(|l| l.split_whitespace().map(str::to_owned).collect()).collect();
    assert_eq!(out.len(), lines.len(), "one answer per line:\n{}", run.render());
    out
}

#[test]
fn git_s_bash_completion_completes_git_maestro_commands_scores_and_tasks() {
    let found = git_completion_script();
    if !required_tool(
        "git's bash completion script",
        found.is_some(),
        "install git's bash completion (the git package)",
    ) {
        return;
    }
    let env = TestEnv::new();
    let dir = planned_repo(&env);
    let tasks = [
        "auth-tokens/docs",
        "auth-tokens/issue-tokens",
        "auth-tokens/token-tests",
        "auth-tokens/token-types",
        "auth-tokens/verify-tokens",
    ];
    let cases: &[&[&str]] = &[
        &["git", "maestro", "ru"],
        &["git", "maestro", ""],
        &["git", "maestro", "task", ""],
        &["git", "maestro", "task", "run", ""],
        &["git", "maestro", "task", "run", "auth-tokens/is"],
        &["git", "maestro", "approve", ""],
        &["git", "maestro", "-C", ".", "land", ""],
        &["git", "maestro", "decide", "-m", "why not", "--score", ""],
        &["git", "maestro", "task", "run", "--perf"],
        &["git-maestro", "task", "r"],
    ];
    let got = complete(&env, &dir, cases);
    let show = |i: usize| format!("{:?} completed to {:?}", cases[i], got[i]);
    assert_eq!(got[0], ["run"], "{}", show(0));
    for cmd in ["init", "plan", "task", "approve", "completions", "install-man"] {
        assert!(got[1].iter().any(|w| w == cmd), "{cmd} is offered: {}", show(1));
    }
    assert!(!got[1].iter().any(|w| w == "hook" || w == "__complete"), "hidden commands are not: {}", show(1));
    assert!(!got[1].iter().any(|w| w.starts_with('<')), "no <PLACEHOLDER> words: {}", show(1));
    for cmd in ["list", "show", "claim", "run", "review"] {
        assert!(got[2].iter().any(|w| w == cmd), "{cmd} is offered: {}", show(2));
    }
    assert_eq!(got[3], tasks, "task addresses come from the state: {}", show(3));
    assert_eq!(got[4], ["auth-tokens/issue-tokens"], "{}", show(4));
    let mut both = vec!["auth-tokens"];
    both.extend(tasks);
    assert_eq!(got[5], both, "approve takes a Score or a task: {}", show(5));
    assert_eq!(got[6], ["auth-tokens"], "options before the command are skipped: {}", show(6));
    assert_eq!(got[7], ["auth-tokens"], "an option's value: {}", show(7));
    assert_eq!(got[8], ["--performer"], "{}", show(8));
    assert!(got[9].iter().any(|w| w == "run") && got[9].iter().any(|w| w == "review"), "{}", show(9));

    // Outside a repository there are no ids to offer, and nothing goes wrong.
    let outside = complete(&env, env.root.path(), &[&["git", "maestro", "task", "run", ""]]);
    assert!(outside[0].is_empty(), "{:?}", outside[0]);
}

#[test]
fn zsh_and_fish_scripts_name_every_command_and_parse() {
    let env = TestEnv::new();
    let bash = env.run(env.root.path(), &["completions", "bash"]).success().stdout;
    assert!(bash.contains("_git_maestro ()"), "bash defines git's hook function");
    let file = env.write("c.bash", &bash);
    env.base_command("bash").arg("-n").arg(&file).output().map(Run::from).unwrap().success();
    for (shell, marker, check) in
        [("zsh", "#compdef git-maestro", &["-n"][..]), ("fish", "complete -c git-maestro", &["--no-execute"][..])]
    {
        let script = env.run(env.root.path(), &["completions", shell]).success().stdout;
        assert!(script.contains(marker), "{shell}: {marker}");
        for cmd in ["init", "task", "approve", "install-man", "completions"] {
            assert!(script.contains(cmd), "the {shell} script names {cmd}");
        }
        if which(shell).is_none() {
            eprintln!("SKIPPED: the {shell} syntax check: {shell} is not installed");
            continue;
        }
        let file = env.write(&format!("c.{shell}"), &script);
        let run: Run = env.base_command(shell).args(check).arg(&file).output().unwrap().into();
        run.success();
    }
}

#[test]
fn completions_refuse_an_unknown_shell_as_a_usage_error() {
    let env = TestEnv::new();
    let run = env.run(env.root.path(), &["completions", "tcsh"]);
    assert_eq!(run.code, 2, "{}", run.render());
}
