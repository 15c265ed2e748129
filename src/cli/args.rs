//! Argument helpers shared by commands: ids and `<score>/<task>` addresses.

use super::error::{CommandError, CommandResult};
use crate::model::ids::validate_slug;

/// Validate a slug given on the command line; `what` names it in the error.
pub fn slug(what: &str, value: &str) -> CommandResult<String> {
    validate_slug(value).map_err(|e| CommandError::user("invalid-id", format!("invalid {what} {value:?}: {e}")))?;
    Ok(value.to_owned())
}

/// Split and validate `<score>/<task>`.
pub fn task_address(value: &str) -> CommandResult<(String, String)> {
    let Some((score, task)) = value.split_once('/') else {
        return Err(CommandError::user("invalid-id", format!("{value:?} is not a task address"))
            .hint("write tasks as <score>/<task>, e.g. `auth-tokens/token-types`"));
    };
    Ok((slug("score id", score)?, slug("task id", task)?))
}
