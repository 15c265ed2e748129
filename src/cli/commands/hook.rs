//! `git maestro hook …` (hidden): entry points for the hook shims in `hooks/`.

use std::io::Read;

use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::hooks;

/// Hook entry points, called by the shims `git maestro init` installs
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum HookCommand {
    /// Verify a push (git's pre-push protocol: refs on stdin)
    PrePush(PrePushArgs),
}

#[derive(Debug, clap::Args)]
pub struct PrePushArgs {
    /// The remote's name
    pub remote: Option<String>,
    /// The remote's URL
    pub url: Option<String>,
}

pub fn run(ctx: &Context, cmd: HookCommand) -> CommandResult {
    match cmd {
        HookCommand::PrePush(args) => cmd_pre_push(ctx, &args),
    }
}

fn cmd_pre_push(ctx: &Context, args: &PrePushArgs) -> CommandResult {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let pushed = hooks::parse_pre_push_input(&input).map_err(|e| CommandError::user("hook-input", e))?;
    if pushed.is_empty() {
        return Ok(());
    }
    let store = ctx.store()?;
    let refusals = hooks::verify_pre_push(&store, &pushed, args.remote.as_deref())?;
    let Some(first) = refusals.first() else {
        return Ok(());
    };
    let remote = args.remote.as_deref().unwrap_or("the remote");
    let lines: Vec<String> = refusals.iter().map(|r| format!("  {}: {}", r.remote_ref, r.reason)).collect();
    Err(CommandError::user("push-refused", format!("git-maestro refused the push to {remote}:\n{}", lines.join("\n")))
        .hint(first.hint.clone()))
}
