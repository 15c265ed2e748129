//! `git maestro mcp`

use std::io::IsTerminal;

use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::mcp::relay;
use crate::mcp::{Hello, SOCKET_VAR, TOKEN_VAR};

#[derive(Debug, clap::Args)]
#[command(after_help = crate::mcp::TOOLS_HELP)]
pub struct McpArgs {}

pub fn cmd_mcp(_ctx: &Context, _args: &McpArgs) -> CommandResult {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(socket), Some(token)) = (var(SOCKET_VAR), var(TOKEN_VAR)) else {
        return Err(CommandError::user(
            "no-run",
            format!("{SOCKET_VAR} and {TOKEN_VAR} are not set: `git maestro mcp` relays to a running performer's run"),
        )
        .hint("performer runs start it for you; `git maestro task run <score>/<task>` is the way in"));
    };
    let hello = Hello {
        token,
        score: var("MAESTRO_SCORE").unwrap_or_default(),
        task: var("MAESTRO_TASK").unwrap_or_default(),
        run: var("MAESTRO_RUN").unwrap_or_default(),
    };
    // An agent talks over pipes; a person who runs this by hand gets the error at once.
    let answer = !std::io::stdin().is_terminal();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let relayed = rt.block_on(relay::relay(socket.into(), &hello, tokio::io::stdin(), tokio::io::stdout(), answer));
    // Reading stdin blocks a thread that nothing can interrupt; do not wait for it.
    rt.shutdown_background();
    Ok(relayed?)
}
