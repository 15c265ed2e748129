//! A pull request git-maestro opened: for a task branch (the `pr` approval step) or for a
//! Score's integration branch (landing with `--pr`).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    /// The git remote the branch was pushed to.
    pub remote: String,
    /// The branch pushed, without `refs/heads/`.
    pub branch: String,
    /// The branch it asks to merge into.
    pub base: String,
    /// The commit pushed last.
    pub head: String,
    /// The PR's address when `gh` opened one; without it, approval is the branch found merged
    /// into the remote's base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub opened: Timestamp,
}
