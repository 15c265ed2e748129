//! Memory beyond one run: retrieval of knowledge and decisions for a task (DESIGN.md §7).
//!
//! Short-term memory (a run's stack and notes) lives in `model::session` and the MCP server;
//! the decision log in `model::decision`; knowledge entries in `model::knowledge`.

pub mod handover;
pub mod kb;
pub mod retrieval;
