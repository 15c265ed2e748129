//! Maestro's MCP server, which performers call during a run.
//!
//! It is served by the unconfined git-maestro process that owns the run (DESIGN §13), never by
//! the process the agent starts:
//! - [`owner`]: before the performer starts, the run binds a per-run Unix socket and makes a
//!   random token; both go into the agent's environment ([`SOCKET_VAR`], [`TOKEN_VAR`]) and into
//!   the MCP server entry the adapters write. It serves [`MaestroMcp`] on every connection that
//!   presents the token and names the run, and removes the socket when the performer exits.
//! - [`relay`]: `git maestro mcp`, which the agent CLI starts, only forwards JSON-RPC lines to
//!   that socket. Without a live owner it refuses; it never writes the repository.
//! - [`tools`]: the tools, scoped to the run's task; writes are refused once the run no longer
//!   holds its task. Every argument is bounded ([`limits`]).
//!
//! The owner must not trust anything but the token: Score, task and run come from the run it
//! serves, never from the agent's arguments.

pub mod limits;
pub mod owner;
pub mod relay;
mod tools;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::store::Store;
pub use tools::{AgentKind, MaestroMcp, TOOLS_HELP};

/// The variable that holds the path of the owner's socket.
pub const SOCKET_VAR: &str = "MAESTRO_MCP_SOCKET";
/// The variable that holds the run's token. Gemini CLI drops inherited variables whose names
/// look like secrets (`*TOKEN*`) from MCP servers, so adapters pass it in the server entry's
/// explicit `env`, which Gemini keeps.
pub const TOKEN_VAR: &str = "MAESTRO_MCP_TOKEN";

/// Which run a server serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    pub score: String,
    pub task: String,
    pub run: String,
    pub performer: String,
}

/// Opens the store for one tool call (a fresh handle sees other writers' commits).
pub type OpenStore = Arc<dyn Fn() -> Result<Store, String> + Send + Sync>;

/// The first line a relay sends: the token, and the run it was started for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    pub token: String,
    pub score: String,
    pub task: String,
    pub run: String,
}

/// The owner's answer to a [`Hello`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Welcome {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_lists_every_tool() {
        let names = MaestroMcp::tool_names();
        assert_eq!(names.len(), 10, "{names:?}");
        for name in names {
            assert!(TOOLS_HELP.contains(&format!("  {name} ")), "{name} is missing from the help");
        }
    }
}
