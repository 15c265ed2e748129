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

fn setup(env: &TestEnv) -> std::path::PathBuf {
    let dir = env.repo("r");
    std::fs::create_dir_all(dir.join("tools")).unwrap();
    let agent = dir.join("tools/agent.sh");
    std::fs::write(&agent, "#!/bin/sh\necho \"scripted-agent 1.4.2\"\n").unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&agent).status().unwrap();
    let mut config = std::fs::read_to_string(dir.join(".maestro/config.toml")).unwrap();
    config.push_str(CONFIG);
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    dir
}

#[test]
fn performers_lists_config_and_check_probes_versions() {
    let env = TestEnv::new();
    let dir = setup(&env);
    let list = env.run(&dir, &["performers", "--json"]).success().json();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ghost", "scripted"]);
    assert_eq!(list[1]["binary"], dir.join("tools/agent.sh").display().to_string());
    assert!(list[1].get("version").is_none(), "no --check, no process run");

    let checked = env.run(&dir, &["performers", "--check", "--json"]).user_error();
    let rows = checked.json();
    assert_eq!(rows[1]["version"], "1.4.2");
    assert_eq!(rows[0]["problem"], "no-such-codex-binary not found");
    assert_eq!(rows[0]["tested_version"], "0.169.0");
    assert!(checked.stderr.contains("Error: 1 performer(s) cannot run"), "{}", checked.render());
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
