//! git-maestro: run several AI coding agents on one git repository.
//!
//! Architecture map (DESIGN.md §10):
//!
//! - [`approval`]: verdicts on results, and merging them into integration branches.
//! - [`model`]: pure data and rules: Scores, tasks and their state machines, decisions, ids.
//! - [`store`]: the only writer of `refs/maestro/*`: layout, codec, compare-and-swap transactions.
//! - [`git`]: every gix call, and the few `git` subprocesses.
//! - [`config`]: trusted configuration, the only source of anything that runs.
//! - [`hooks`]: installing the pre-push verifier beside the user's hooks and hook managers,
//!   checking it is still in place, and the verifier itself.
//! - [`supervisor`]: the per-run supervisor that keeps every command run for a task contained.
//! - [`kernel`]: the lifecycle's runtime side: lease liveness and recovery, pruning, invariants.
//! - [`cli`]: argument parsing, output and exit codes. Nothing else prints, and no core module
//!   imports it.

pub mod approval;
pub mod cli;
pub mod conductor;
pub mod config;
pub mod failpoint;
pub mod files;
pub mod git;
pub mod hooks;
pub mod kernel;
pub mod mcp;
pub mod memory;
pub mod model;
pub mod performer;
pub mod sandbox;
pub mod store;
pub mod supervisor;
