//! `init` in a linked worktree (`git worktree add`): the configuration goes where it is read,
//! the main checkout's `.maestro/` (DESIGN.md §3: trusted config comes from the user's
//! checkout, never from a linked worktree, which may be an agent's), and the hook where git
//! runs it for every worktree.

use crate::common::TestEnv;
use crate::test_cli::GitRun;

#[test]
fn init_in_a_linked_worktree_writes_the_config_the_main_checkout_reads() {
    let env = TestEnv::new();
    env.fixture("repo-basic.sh", &["r"]);
    let main = env.path("r");
    env.git(&main, &["worktree", "add", "-q", "-b", "side", "../side"]).success_git();
    let side = env.path("side");

    let run = env.run(&side.join("src"), &["init"]).success();
    let config = main.join(".maestro/config.toml");
    assert!(config.is_file(), "the config is in the main checkout:\n{}", run.render());
    assert!(!side.join(".maestro").exists(), "and not in the linked worktree:\n{}", run.render());
    let shown = std::fs::canonicalize(&config).unwrap();
    assert!(
        run.stdout.contains(&format!("created  {}", shown.display()))
            || run.stdout.contains(&format!("created  {}", config.display())),
        "the output names where it went:\n{}",
        run.render()
    );
    assert!(main.join(".git/hooks/pre-push").is_file(), "git runs .git/hooks for every worktree");

    // What init wrote is what every worktree reads.
    let performer = "[performers.scripted]\nadapter = \"command\"\ncommand = \"/bin/true\"\n";
    std::fs::write(&config, performer).unwrap();
    for dir in [&side, &main] {
        let list = env.run(dir, &["performers", "--json"]).success().json();
        assert_eq!(list[0]["name"], "scripted", "read from {}: {list:#}", dir.display());
    }
    let again = env.run(&main, &["init"]).success();
    assert!(again.stdout.contains("kept     .maestro/config.toml"), "{}", again.render());
    assert_eq!(std::fs::read_to_string(&config).unwrap(), performer, "never overwritten");
    let doctor = env.run(&side, &["doctor", "--json"]).success().json();
    let hook = doctor.as_array().unwrap().iter().find(|f| f["check"] == "hook").unwrap().clone();
    assert_eq!(hook["status"], "ok", "{hook:#}");
}
