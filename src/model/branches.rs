//! The names of the branches git-maestro keeps for a Score: one integration branch, and one
//! branch per task. Every layer names them, so they live here, below all of them.

/// The integration branch of a Score.
pub fn integration_branch(score: &str) -> String {
    format!("maestro/{score}/integration")
}

/// The branch of a task.
pub fn task_branch(score: &str, task: &str) -> String {
    format!("maestro/{score}/tasks/{task}")
}

/// How a revert commit names the merge it reverts: `This reverts merge <id>.` on a line.
pub const REVERTS: &str = "This reverts merge ";

/// The id of the merge a revert commit's `message` reverts, as written there.
pub fn reverted_merge(message: &str) -> Option<&str> {
    message.lines().find_map(|line| Some(line.trim().strip_prefix(REVERTS)?.trim_end_matches('.')))
}
