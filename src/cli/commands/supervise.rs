//! `git maestro supervise` (hidden): the per-run supervisor of [`crate::supervisor`].

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::sandbox;
use crate::supervisor::{self, Supervision};

#[derive(Debug, clap::Args)]
pub struct SuperviseArgs {
    /// Kill the command after this many milliseconds
    #[arg(long, value_name = "MS")]
    timeout_ms: u64,
    /// Write the report (how the command ended, what was killed) to this file
    #[arg(long, value_name = "FILE")]
    report: PathBuf,
    /// Stop at once if this process is no longer the parent
    #[arg(long, value_name = "PID")]
    parent: Option<u32>,
    /// Confine the command with Landlock: off, auto (where the kernel has it) or required
    #[arg(long, value_name = "MODE", default_value = "off", value_parser = parse_mode)]
    sandbox: sandbox::Mode,
    /// A path the confined command may write (repeat for more)
    #[arg(long = "write", value_name = "PATH")]
    writable: Vec<PathBuf>,
    /// Confine TCP connections to the --connect-port ports
    #[arg(long)]
    confine_network: bool,
    /// A TCP port the confined command may connect to (repeat for more)
    #[arg(long = "connect-port", value_name = "PORT")]
    connect_ports: Vec<u16>,
    /// The command and its arguments
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub fn cmd_supervise(_ctx: &Context, args: &SuperviseArgs) -> CommandResult {
    let (program, rest) = args.command.split_first().ok_or_else(|| CommandError::user("usage", "no command given"))?;
    let what = Supervision {
        program: program.into(),
        args: rest.to_vec(),
        timeout: Duration::from_millis(args.timeout_ms),
        report: args.report.clone(),
        parent: args.parent,
        sandbox: sandbox::Policy {
            mode: args.sandbox,
            writable: args.writable.clone(),
            connect_ports: args.confine_network.then(|| args.connect_ports.clone()),
        },
    };
    let report = supervisor::supervise(&what, &crate::git::interrupted)?;
    match report.exit_code() {
        0 => Ok(()),
        code => Err(CommandError::status(code)),
    }
}

fn parse_mode(text: &str) -> Result<sandbox::Mode, String> {
    sandbox::Mode::parse(text).ok_or_else(|| format!("use one of {}", sandbox::Mode::NAMES.join(", ")))
}
