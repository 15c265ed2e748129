//! `git maestro performers`: trusted config only, binaries found and probed.

use crate::common::TestEnv;
use crate::test_cli::GitRun;

const CONFIG: &str = r#"
[performers.scripted]
adapter = "command"
command = "./tools/agent.sh"
kinds = ["implement"]

[performers.ghost]
adapter = "codex"
command = "no-such-codex-binary"
"#;

/// The agent script appends a line to this file whenever it is run.
const MARKER: &str = "agent-ran";

fn setup(env: &TestEnv) -> std::path::PathBuf {
    let dir = env.repo("r");
    std::fs::create_dir_all(dir.join("tools")).unwrap();
    let agent = dir.join("tools/agent.sh");
    let marker = env.path(MARKER);
    std::fs::write(
        &agent,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\necho \"scripted-agent 1.4.2\"\n", marker.display()),
    )
    .unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&agent).status().unwrap();
    let mut config = std::fs::read_to_string(dir.join(".maestro/config.toml")).unwrap();
    config.push_str(CONFIG);
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    dir
}

#[test]
fn performers_lists_config_and_check_never_runs_a_command_performer() {
    let env = TestEnv::new();
    let dir = setup(&env);
    let list = env.run(&dir, &["performers", "--json"]).success().json();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ghost", "scripted"]);
    assert_eq!(list[1]["binary"], dir.join("tools/agent.sh").display().to_string());
    assert!(list[1].get("version").is_none(), "no --check, no process run");

    let checked = env.run(&dir, &["performers", "--check", "--json"]).user_error();
    let rows = checked.json();
    assert_eq!(rows[1]["ok"], true, "an executable command performer can run: {rows:#}");
    assert!(rows[1].get("version").is_none() && rows[1].get("problem").is_none(), "{rows:#}");
    assert_eq!(rows[0]["ok"], false);
    assert_eq!(rows[0]["problem"], "no-such-codex-binary is not on PATH");
    assert_eq!(rows[0]["tested_version"], "0.169.0");
    assert!(checked.stderr.contains("Error: 1 performer cannot run: ghost"), "{}", checked.render());
    assert!(
        checked.stderr.contains("Hint: install it, or set `command` in [performers.ghost]"),
        "{}",
        checked.render()
    );
    assert!(!env.path(MARKER).exists(), "--check never runs a command performer (issue 15)");
}

#[test]
fn performers_check_passes_when_every_command_performer_is_executable() {
    let env = TestEnv::new();
    let dir = setup(&env);
    let config = std::fs::read_to_string(dir.join(".maestro/config.toml")).unwrap();
    let ghost = config.find("[performers.ghost]").unwrap();
    std::fs::write(dir.join(".maestro/config.toml"), &config[..ghost]).unwrap();
    // From a subdirectory: the relative command still starts at the main checkout.
    std::fs::create_dir_all(dir.join("src/deep")).unwrap();
    let checked = env.run(&dir.join("src/deep"), &["performers", "--check"]).success();
    assert!(checked.stdout.contains("ok (executable; not run)"), "{}", checked.render());
    assert!(checked.stdout.contains(&dir.join("tools/agent.sh").display().to_string()), "{}", checked.render());
    assert!(!env.path(MARKER).exists(), "--check never runs a command performer (issue 15)");
}

#[test]
fn performers_check_reports_a_command_that_is_not_executable_or_missing() {
    let env = TestEnv::new();
    let dir = setup(&env);
    std::fs::write(dir.join("tools/plain.sh"), "#!/bin/sh\necho ran > ran\n").unwrap();
    let config = std::fs::read_to_string(dir.join(".maestro/config.toml")).unwrap();
    let ghost = config.find("[performers.ghost]").unwrap();
    let config = format!(
        "{}[performers.plain]\nadapter = \"command\"\ncommand = \"tools/plain.sh\"\n\n\
         [performers.gone]\nadapter = \"command\"\ncommand = \"./tools/gone.sh\"\n",
        &config[..ghost]
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    let checked = env.run(&dir, &["performers", "--check"]).user_error();
    let plain = dir.join("tools/plain.sh").display().to_string();
    let gone = dir.join("tools/gone.sh").display().to_string();
    assert!(checked.stderr.contains(&format!("Warning: plain: {plain} is not executable")), "{}", checked.render());
    assert!(checked.stderr.contains(&format!("Warning: gone: {gone} does not exist")), "{}", checked.render());
    assert!(checked.stderr.contains("Error: 2 performers cannot run: gone, plain"), "{}", checked.render());
    assert!(
        checked.stdout.contains("scripted") && checked.stdout.contains("ok (executable; not run)"),
        "{}",
        checked.render()
    );
    let rows = env.run(&dir, &["performers", "--check", "--json"]).user_error().json();
    let plain_row = rows.as_array().unwrap().iter().find(|r| r["name"] == "plain").unwrap();
    assert_eq!(plain_row["hint"], format!("make it executable: `chmod +x {plain}`"), "{rows:#}");
    assert!(!env.path(MARKER).exists() && !dir.join("ran").exists(), "nothing was run");
}

#[test]
fn performers_check_reports_gemini_with_base_url_but_no_isolated_home() {
    let env = TestEnv::new();
    let dir = setup(&env);
    let config = format!(
        "[performers.gem]\nadapter = \"gemini\"\ncommand = \"{}\"\nbase_url = \"http://127.0.0.1:9\"\n",
        dir.join("tools/agent.sh").display()
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    let checked = env.run(&dir, &["performers", "--check"]).user_error();
    assert!(
        checked.stderr.contains("Warning: gem: Gemini with base_url needs isolate_home = true"),
        "{}",
        checked.render()
    );
    assert!(checked.stderr.contains("Hint: add `isolate_home = true` to [performers.gem]"), "{}", checked.render());
}

#[test]
fn config_in_a_task_worktree_is_not_trusted() {
    let env = TestEnv::new();
    let dir = setup(&env);
    env.git(&dir, &["worktree", "add", "-q", "-b", "task", "../task"]).success_git();
    let task = env.path("task");
    std::fs::create_dir_all(task.join(".maestro")).unwrap();
    std::fs::write(task.join(".maestro/config.toml"), "[performers.evil]\nadapter = \"command\"\ncommand = \"rm\"\n")
        .unwrap();
    let list = env.run(&task, &["performers", "--json"]).success().json();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ghost", "scripted"], "only the main checkout's config counts");
}

#[test]
fn a_bad_config_names_the_file_line_and_key() {
    let env = TestEnv::new();
    let dir = setup(&env);
    env.git(&dir, &["config", "maestro.performer.scripted.timeout", "ten minutes"]).success_git();
    let run = env.run(&dir, &["performers"]).user_error();
    assert!(
        run.stderr.contains("git config maestro.performer.scripted.timeout: performers.scripted.timeout: \"ten minutes\" is not a duration"),
        "{}",
        run.render()
    );
    env.git(&dir, &["config", "--unset", "maestro.performer.scripted.timeout"]).success_git();
    let mut config = std::fs::read_to_string(dir.join(".maestro/config.toml")).unwrap();
    config.push_str("\n[performers.x]\nadapter = \"command\"\ncommand = \"x\"\nshell = \"sh\"\n");
    std::fs::write(dir.join(".maestro/config.toml"), &config).unwrap();
    let run = env.run(&dir, &["performers"]).user_error();
    let line = config.lines().count();
    assert!(
        run.stderr.contains(&format!(".maestro/config.toml:{line}: performers.x: unknown field `shell`")),
        "{}",
        run.render()
    );
}
