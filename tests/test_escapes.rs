//! Terminal escapes in everything that is printed: ESC sequences, OSC 8 hyperlinks, OSC 52
//! clipboard writes, CR overwrites and BEL, in titles, specs, acceptance criteria, notes, actor
//! names, performer output and file names. No text command prints a raw control byte (the
//! bytes of stdout and stderr are scanned); `--json` keeps the exact strings.

use crate::common::{Run, TestEnv};
use crate::test_cli::{GitRun, write_state_file};

const FAKE: &str = env!("CARGO_BIN_EXE_fake-performer");

/// Every kind of hostile sequence, as TOML escapes.
const NASTY: &str = "\\u001b[2J\\u001b]8;;https://evil.example\\u0007link\\u001b]8;;\\u0007\
                     \\u001b]52;c;ZXZpbA==\\u0007ok\\rEVIL\\u0007\\u009b31m";
/// The same, as it decodes.
const NASTY_TEXT: &str =
    "\u{1b}[2J\u{1b}]8;;https://evil.example\u{7}link\u{1b}]8;;\u{7}\u{1b}]52;c;ZXZpbA==\u{7}ok\rEVIL\u{7}\u{9b}31m";

#[track_caller]
fn no_control_bytes(what: &str, run: &Run) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\n') {
            panic!("{what}: {stream} holds the control character {c:?}:\n{}", run.render());
        }
    }
}

#[test]
fn no_text_command_prints_a_raw_control_character() {
    let env = TestEnv::new();
    let dir = env.repo("r");
    env.git(&dir, &["config", "user.name", "Mallory\u{1b}[31m\u{7}"]).success_git();
    let score = format!(
        "format = 1\nid = \"s\"\ntitle = \"{NASTY}\"\nrequirement = \"{NASTY}\"\ntarget = \"main\"\n\
         plan_approval = \"auto\"\napproval = [\"human\"]\n\
         [[tasks]]\nid = \"a\"\ntitle = \"{NASTY}\"\nspec = \"{NASTY}\"\nacceptance = [\"{NASTY}\"]\n"
    );
    env.write("s.toml", &score);
    env.run(&dir, &["plan", "--from", "../s.toml"]).success();
    let config = format!(
        "[performers.fake]\nadapter = \"command\"\ncommand = \"{FAKE}\"\n\
         env = {{ FAKE_WRITE = \"e\\u001b[1m\\u0007.txt=x\", FAKE_SAY = \"{NASTY}\" }}\n"
    );
    std::fs::write(dir.join(".maestro/config.toml"), config).unwrap();
    env.git(&dir, &["config", "maestro.worktreeRoot", env.path("worktrees").to_str().unwrap()]).success_git();
    let run = env.run(&dir, &["run", "s"]);
    no_control_bytes("run", &run);

    // A note an agent left, with escapes, in the run's session record.
    let task = env.run(&dir, &["task", "show", "s/a", "--json"]).success().json();
    assert_eq!(task["title"], NASTY_TEXT, "--json keeps the exact string");
    let run_id = task["attempts"][0]["run"].as_str().unwrap().to_owned();
    let tip = env.state_tip(&dir);
    let session = format!(
        "format = 1\nrun = \"{run_id}\"\nscore = \"s\"\ntask = \"a\"\nperformer = \"fake\"\n\
         [status]\nat = 2026-01-01T00:00:00Z\ntext = \"{NASTY}\"\n\
         [[notes]]\nat = 2026-01-01T00:00:00Z\ntext = \"{NASTY}\"\n"
    );
    let with_note = write_state_file(&env, &dir, &tip, &format!("sessions/s/8/2/a/{run_id}.toml"), &session);
    env.git(&dir, &["update-ref", "refs/maestro/state", &with_note, &tip]).success_git();

    let commands: &[&[&str]] = &[
        &["status"],
        &["score", "list"],
        &["score", "show", "s"],
        &["task", "list", "s"],
        &["task", "show", "s/a"],
        &["task", "notes", "s/a"],
        &["task", "stack", "s/a"],
        &["decisions"],
        &["log", "s/a"],
        &["worktrees", "list"],
        &["doctor"],
        &["approve", "s/a", "-m", "fine\u{1b}[1A"],
        &["status"],
        &["decisions"],
    ];
    for args in commands {
        let run = env.run(&dir, args);
        assert!(run.code != 255, "{args:?} crashed:\n{}", run.render());
        no_control_bytes(&format!("{args:?}"), &run);
    }
    // The strings themselves are all there, escaped.
    let show = env.run(&dir, &["task", "show", "s/a"]).success();
    assert!(show.stdout.contains("\\u{1b}]52;c;ZXZpbA=="), "{}", show.render());
    let json = env.run(&dir, &["score", "show", "s", "--json"]).success().json();
    assert_eq!(json["title"], NASTY_TEXT);
}
