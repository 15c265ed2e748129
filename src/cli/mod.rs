//! The command-line interface: argument parsing, dispatch, output and exit codes.
//!
//! Only this module prints. Each command lives in its own file under `commands/`.

mod args;
mod color;
mod commands;
mod context;
mod error;
mod json;
mod money;
mod ui;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

pub use context::Context;
pub use error::{CommandError, CommandResult};
pub use ui::Ui;

/// Run several AI coding agents on one git repository
///
/// git-maestro turns a requirement into a Score (a DAG of tasks), runs each task with an agent
/// in its own worktree, passes results through an approval chain and merges them. All shared
/// state is TOML on the ref refs/maestro/state, so it syncs with plain `git push` and `git fetch`.
// The root of the command line: the help above and the options every command takes. Its
// commands are added by `command` (all of them) or `command_for` (the one named).
#[derive(Debug, Parser)]
#[command(name = "git-maestro", bin_name = "git maestro", version, max_term_width = 100)]
pub struct Global {
    /// Run as if started in <DIR>
    // Its own id, so that `demo --dir` (id `dir`) is not filled from `-C`.
    #[arg(short = 'C', id = "chdir", global = true, value_name = "DIR", help_heading = GLOBAL)]
    pub dir: Option<PathBuf>,
    /// Print machine-readable JSON on stdout
    ///
    /// One vocabulary across commands: a task is `{score, id, status, …}`; anything else that
    /// names a task says `score` and `task`; times are `at`. An error, usage errors included,
    /// is `{"error": {code, message, causes, hints}}`.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// Do not print status messages on stderr
    #[arg(long, short, global = true, help_heading = GLOBAL)]
    pub quiet: bool,
    /// Show more: the details and hints that are otherwise left out
    #[arg(long, short, global = true, help_heading = GLOBAL)]
    pub verbose: bool,
    /// Colour status words: auto (when stdout is a terminal), always or never
    ///
    /// Without it, git's rules apply: NO_COLOR turns colour off, then `color.ui` (also from
    /// `git -c color.ui=…`) decides, then auto. JSON is never coloured.
    #[arg(long, global = true, value_name = "WHEN", help_heading = GLOBAL)]
    pub color: Option<color::ColorWhen>,
}

/// A parsed command line.
#[derive(Debug)]
pub struct Args {
    pub global: Global,
    pub command: commands::Command,
}

/// The whole command tree, as help, completions and man pages show it.
pub fn command() -> clap::Command {
    use clap::{CommandFactory, Subcommand};
    with_commands(commands::Command::augment_subcommands(Global::command()))
}

/// What deriving `Args` with a required subcommand would add to the root.
fn with_commands(root: clap::Command) -> clap::Command {
    root.subcommand_required(true).arg_required_else_help(true)
}

/// The help heading of the options every command takes.
const GLOBAL: &str = "Global options";

/// Parse the process arguments, run the command, and turn the outcome into an exit code.
pub fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let args = match parse(&argv) {
        Ok(args) => args,
        Err(e) => {
            if e.use_stderr() && wants_json(&argv) {
                let _ = Ui::new(true, false).json(&error::usage_json(&e));
            }
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if let Some(repeated) = on_signal(&args.command) {
        crate::git::install_interrupt_handler(repeated);
    }
    let Global { dir, json, quiet, verbose, color } = args.global;
    let color_dir = dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let ui = Ui::new(json, quiet).verbose(verbose).color(color, color_dir);
    let ctx = Context::new(ui, dir, argv);
    match commands::run(&ctx, args.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if !matches!(err.kind, error::Kind::BrokenPipe | error::Kind::Status(_)) {
                if json && !ctx.ui.wrote_data() {
                    let _ = ctx.ui.json(&err.to_json());
                }
                eprint!("{}", ui::shown(&err.render()));
            }
            ExitCode::from(err.exit_code())
        }
    }
}

/// What a second signal does to `command`, or `None` for a command that only reads and
/// prints: it takes no lock and leaves nothing half-written, so it keeps the default, and the
/// first Ctrl-C stops it at once, as it stops git's reads. It also skips the handler's setup,
/// which sizes gix's tempfile registry by the CPUs this process may use, read from cgroup
/// files (30 of the 266 system calls of a `task show`).
fn on_signal(command: &commands::Command) -> Option<crate::git::RepeatedSignal> {
    match command {
        c if c.reads_only() => None,
        commands::Command::Supervise(_) => Some(crate::git::RepeatedSignal::OnlyFlags),
        _ => Some(crate::git::RepeatedSignal::Terminates),
    }
}

/// Parse `argv` as a derived `try_parse_from` does, without dropping clap's command tree:
/// freeing its thousands of allocations costs a read command more than a tenth of its time.
fn parse(argv: &[String]) -> Result<Args, clap::Error> {
    parse_with(command_for(argv), argv)
}

fn parse_with(command: clap::Command, argv: &[String]) -> Result<Args, clap::Error> {
    use clap::FromArgMatches;
    let mut command = std::mem::ManuallyDrop::new(command);
    let mut matches = command.try_get_matches_from_mut(argv)?;
    let parsed = Global::from_arg_matches_mut(&mut matches)
        .and_then(|global| Ok(Args { global, command: commands::Command::from_arg_matches_mut(&mut matches)? }));
    parsed.map_err(|e| e.format(&mut command))
}

/// The tree to parse `argv` with. Building a command, clap copies every global option into
/// each of its subcommands; at the root, with some thirty commands, that was most of a short
/// command's parsing time. So when `argv` names a command, the root holds only that one.
fn command_for(argv: &[String]) -> clap::Command {
    use clap::CommandFactory;
    let all = command();
    match command_word(argv).and_then(|word| all.find_subcommand(word)) {
        Some(named) => with_commands(Global::command().subcommand(named.clone())),
        None => all,
    }
}

/// The word of `argv` that names the command, when only global options come before it
/// (`-C <dir>`, `--color <when>`, and flag clusters such as `-qC <dir>`). Anything else
/// before it (`-h`, `--`, an unknown option) gives `None`: clap then sees the whole tree.
fn command_word(argv: &[String]) -> Option<&str> {
    let mut words = argv.iter().skip(1).map(String::as_str);
    while let Some(word) = words.next() {
        match word {
            "--json" | "--quiet" | "--verbose" => {}
            "--color" => _ = words.next()?,
            w if w.starts_with("--color=") => {}
            w if w.starts_with("--") => return None,
            w if w.starts_with('-') => {
                let cluster = w[1..].trim_start_matches(['q', 'v']);
                match cluster {
                    "" if w.len() > 1 => {}
                    "C" => _ = words.next()?,
                    c if c.starts_with('C') => {}
                    _ => return None,
                }
            }
            w => return Some(w),
        }
    }
    None
}

/// Whether the command line asks for `--json` (before any `--`), for errors found before the
/// arguments could be parsed.
fn wants_json(argv: &[String]) -> bool {
    argv.iter().skip(1).take_while(|a| *a != "--").any(|a| a == "--json")
}

#[cfg(test)]
mod tests {
    /// Commands build their arguments only when they run (`defer`), so no single parse checks
    /// the whole tree: clap's own checks do, clashes with the global options included.
    #[test]
    fn command_tree_is_consistent() {
        super::command().debug_assert();
    }

    fn argv(line: &str) -> Vec<String> {
        std::iter::once("git-maestro").chain(line.split_whitespace()).map(String::from).collect()
    }

    /// The root that holds only the named command parses every command line as the whole
    /// tree does, errors included.
    #[test]
    fn a_command_line_parses_the_same_with_only_its_command() {
        let lines = [
            "task show s/t",
            "--json task show s/t",
            "-q --json -C /tmp --color never task list --json",
            "-qvC /tmp status",
            "-C/tmp -q status",
            "-Cq status",
            "--color=always -v board",
            "--color always supervise -- sh -c true",
            "-C . run --help",
            "task",
            "task shw",
            "task show",
            "status --no-such-flag",
            "satus",
            "help task",
            "task help show",
            "--json task shw",
            "-h task",
            "-V status",
            "--color status",
            "-C",
            "-- status",
            "- status",
            "-x status",
            "--jsonx status",
            "hook pre-push origin url",
            "",
        ];
        for line in lines {
            let argv = argv(line);
            let shown = |r: Result<super::Args, clap::Error>| match r {
                Ok(args) => format!("{args:?}"),
                Err(e) => format!("{:?}: {}", e.kind(), e.render()),
            };
            assert_eq!(shown(super::parse(&argv)), shown(super::parse_with(super::command(), &argv)), "{line:?}");
        }
    }

    #[test]
    fn the_command_word_comes_after_the_global_options_only() {
        let word = |line: &str| super::command_word(&argv(line)).map(str::to_owned);
        assert_eq!(word("task show s/t").as_deref(), Some("task"));
        assert_eq!(word("-qvC /tmp status").as_deref(), Some("status"));
        assert_eq!(word("-C /tmp --color never --json -q -v board").as_deref(), Some("board"));
        assert_eq!(word("-C/tmp status").as_deref(), Some("status"));
        assert_eq!(word("-h status"), None);
        assert_eq!(word("-- status"), None);
        assert_eq!(word("--color"), None);
        assert_eq!(word("--help"), None);
    }

    /// Reads keep the default action of Ctrl-C; a watch, a write or a run stops cleanly.
    #[test]
    fn only_commands_that_read_and_print_keep_the_default_signal_action() {
        use crate::git::RepeatedSignal::{OnlyFlags, Terminates};
        let on_signal = |line: &str| super::on_signal(&super::parse(&argv(line)).expect(line).command);
        let reads = ["task show s/t", "task list s", "score show s", "kb show k", "handover list", "budget show"];
        for line in reads.into_iter().chain(["worktrees list", "log", "decisions", "costs"]) {
            assert_eq!(on_signal(line), None, "{line}");
        }
        let others = ["status", "board", "task run s/t", "sync", "doctor", "kb search x", "handover pull --as p"];
        for line in others.into_iter().chain(["performers", "conflicts", "worktrees prune"]) {
            assert_eq!(on_signal(line), Some(Terminates), "{line}");
        }
        assert_eq!(on_signal("supervise --timeout-ms 1 --report r -- true"), Some(OnlyFlags));
    }

    /// A command's one-line help must sit on its enum variant, not on its arguments struct:
    /// the struct's is read only once the command is built, too late for its parent's list.
    #[test]
    fn every_listed_command_has_its_help_line_before_it_is_built() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(path.clone());
                }
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::command(), "git maestro", &mut missing);
        assert_eq!(missing, Vec::<String>::new());
    }
}
