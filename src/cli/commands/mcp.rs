//! `git maestro mcp`

use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::mcp::{MaestroMcp, RunContext};

/// Serve maestro's MCP tools on stdin/stdout for a running performer
///
/// Performer runs register this server automatically; the run comes from MAESTRO_SCORE,
/// MAESTRO_TASK, MAESTRO_RUN and MAESTRO_ACTOR, which the adapter sets. Tools: task_get,
/// report, decide.
#[derive(Debug, clap::Args)]
pub struct McpArgs {}

pub fn cmd_mcp(ctx: &Context, _args: &McpArgs) -> CommandResult {
    let var = |name: &str| {
        std::env::var(name).ok().filter(|v| !v.is_empty()).ok_or_else(|| {
            CommandError::user("no-run", format!("{name} is not set: `git maestro mcp` serves a performer run"))
                .hint("performer runs start it for you; `git maestro task run <score>/<task>` is the way in")
        })
    };
    let run = RunContext {
        score: var("MAESTRO_SCORE")?,
        task: var("MAESTRO_TASK")?,
        run: var("MAESTRO_RUN")?,
        performer: var("MAESTRO_ACTOR")?,
    };
    let server = MaestroMcp::new(run, ctx.store_opener());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(crate::mcp::serve(server))?;
    Ok(())
}
