//! The one integration test binary. Each module is one area; `common` is the harness.

#![allow(clippy::unwrap_used)]

mod common;

mod test_agents;
mod test_agents_budget;
mod test_board;
mod test_budget;
mod test_checks;
mod test_cli;
mod test_conflicts;
mod test_containment;
mod test_costs;
mod test_escapes;
mod test_failpoints;
mod test_feedback;
mod test_gc;
mod test_gc_retry;
mod test_git_config;
mod test_handover;
mod test_hooks;
mod test_hooks_coexist;
mod test_hostile;
mod test_hostile_state;
mod test_init_linked;
mod test_invariants;
mod test_kb;
mod test_lifecycle;
mod test_loops;
mod test_mcp;
mod test_merge;
mod test_model;
mod test_performer_config;
mod test_performers;
mod test_planner;
mod test_pool;
mod test_pr;
mod test_pr_feedback;
mod test_prune_race;
mod test_readme;
mod test_reliability;
mod test_review;
mod test_run;
mod test_sandbox;
mod test_score_edit;
mod test_setup;
mod test_shell;
mod test_store;
mod test_stuck;
mod test_sync;
mod test_sync_branches;
mod test_task_run;
mod test_task_stop;
mod test_upgrade;
mod test_watch;
mod test_worktree;
