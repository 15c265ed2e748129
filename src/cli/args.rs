//! Argument helpers shared by commands: ids, `<score>/<task>` addresses and times.

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

/// An RFC 3339 timestamp, or a date (midnight UTC): a clap value parser.
pub fn time(text: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let date: jiff::civil::Date =
        text.parse().map_err(|_| format!("{text:?} is neither an RFC 3339 time nor a date like 2026-11-24"))?;
    date.to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp()).map_err(|e| e.to_string())
}

/// A start of a period: a time ([`time`]), or how long ago (`7d`, `12h`, `30m`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Since {
    At(jiff::Timestamp),
    Ago(jiff::SignedDuration),
}

impl Since {
    /// The time it names, `now` being the command's time.
    pub fn at(self, now: jiff::Timestamp) -> jiff::Timestamp {
        match self {
            Since::At(t) => t,
            Since::Ago(d) => now.checked_sub(d).unwrap_or(jiff::Timestamp::MIN),
        }
    }
}

/// Parse a [`Since`]: a clap value parser.
pub fn since(text: &str) -> Result<Since, String> {
    let t = text.trim();
    let days = t.strip_suffix('d').and_then(|n| n.parse::<i64>().ok()).filter(|&n| n > 0 && n <= 100_000);
    if let Some(n) = days {
        return Ok(Since::Ago(jiff::SignedDuration::from_hours(n * 24)));
    }
    if let Ok(secs) = crate::config::parse_duration(t) {
        return Ok(Since::Ago(jiff::SignedDuration::from_secs(i64::try_from(secs).map_err(|e| e.to_string())?)));
    }
    time(t).map(Since::At).map_err(|_| {
        format!("{text:?} is neither an RFC 3339 time, a date like 2026-11-24, nor a duration like 7d or 12h")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_time_a_date_or_how_long_ago() {
        let now: jiff::Timestamp = "2026-11-30T12:00:00Z".parse().expect("a valid time");
        let at = |text: &str| since(text).map(|s| s.at(now).to_string());
        assert_eq!(at("7d"), Ok("2026-11-23T12:00:00Z".into()));
        assert_eq!(at("1h30m"), Ok("2026-11-30T10:30:00Z".into()));
        assert_eq!(at("2026-11-24"), Ok("2026-11-24T00:00:00Z".into()));
        assert_eq!(at("2026-11-24T08:00:00Z"), Ok("2026-11-24T08:00:00Z".into()));
        for bad in ["yesterday", "0d", "-3d", "7", ""] {
            assert!(since(bad).is_err_and(|e| e.contains("nor a duration like 7d")), "{bad:?} is refused");
        }
    }
}
