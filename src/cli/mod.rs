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
#[derive(Debug, Parser)]
#[command(name = "git-maestro", bin_name = "git maestro", version, max_term_width = 100)]
pub struct Args {
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
    #[command(subcommand)]
    pub command: commands::Command,
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
    crate::git::install_interrupt_handler(match args.command {
        commands::Command::Supervise(_) => crate::git::RepeatedSignal::OnlyFlags,
        _ => crate::git::RepeatedSignal::Terminates,
    });
    let json = args.json;
    let color_dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let ui = Ui::new(json, args.quiet).verbose(args.verbose).color(args.color, color_dir);
    let ctx = Context::new(ui, args.dir, argv);
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

/// Parse `argv` as `Args::try_parse_from` does, without dropping clap's command tree: freeing
/// its thousands of allocations costs a read command more than a tenth of its time.
fn parse(argv: &[String]) -> Result<Args, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let mut command = std::mem::ManuallyDrop::new(Args::command());
    let mut matches = command.try_get_matches_from_mut(argv)?;
    Args::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut command))
}

/// Whether the command line asks for `--json` (before any `--`), for errors found before the
/// arguments could be parsed.
fn wants_json(argv: &[String]) -> bool {
    argv.iter().skip(1).take_while(|a| *a != "--").any(|a| a == "--json")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Commands build their arguments only when they run (`defer`), so no single parse checks
    /// the whole tree: clap's own checks do, clashes with the global options included.
    #[test]
    fn command_tree_is_consistent() {
        super::Args::command().debug_assert();
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
        walk(&super::Args::command(), "git maestro", &mut missing);
        assert_eq!(missing, Vec::<String>::new());
    }
}
