//! `[notify]` in trusted config: the command run when something starts needing a person.
//!
//! ```toml
//! [notify]
//! command = "notify-send git-maestro \"$(jq -r .task)\""   # run with sh -c, the event as JSON on stdin
//! timeout = "10s"                                           # killed after that (default 10s)
//! ```
//!
//! Trusted only: read from the user's and the checkout's config files, never from the state.

use super::ConfigError;
use super::file::Layered;

/// The notify command, validated.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Notify {
    /// A shell command line, run with `sh -c`.
    pub command: String,
    /// Seconds before it is killed.
    pub timeout: u64,
    /// The file that set `command`.
    pub source: String,
}

/// The default time a notify command may take.
pub const DEFAULT_TIMEOUT: u64 = 10;

/// The notify command of the merged `[notify]` tables, if one is set; every problem names its
/// key.
pub fn validate(raw: Layered, errors: &mut Vec<ConfigError>) -> Option<Notify> {
    let mut notify = Notify { command: String::new(), timeout: DEFAULT_TIMEOUT, source: String::new() };
    raw.take_each("notify", errors, |key, value, source| match (key, value) {
        ("command", toml::Value::String(c)) if !c.trim().is_empty() => {
            notify.command = c;
            notify.source = source.to_owned();
            Ok(())
        }
        ("command", other) => Err(format!("{other} is not a command line (a non-empty string)")),
        ("timeout", toml::Value::String(t)) => match super::parse_duration(&t) {
            Ok(secs) if secs > 0 => {
                notify.timeout = secs;
                Ok(())
            }
            Ok(_) => Err("must be more than 0s".into()),
            Err(e) => Err(e),
        },
        ("timeout", other) => Err(format!("{other} is not a duration such as \"10s\"")),
        (_, _) => Err("unknown key; use command and timeout".into()),
    });
    Some(notify).filter(|n| !n.command.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Option<Notify>, Vec<ConfigError>) {
        let table: std::collections::BTreeMap<String, toml::Value> = toml::from_str(text).expect("valid TOML");
        let mut raw = Layered::default();
        raw.merge("config.toml", table);
        let mut errors = Vec::new();
        (validate(raw, &mut errors), errors)
    }

    #[test]
    fn a_command_and_a_timeout_are_read() {
        let (notify, errors) = parse("command = \"cat > out\"\ntimeout = \"3s\"\n");
        assert!(errors.is_empty(), "{errors:?}");
        let notify = notify.expect("a valid notify table");
        assert_eq!((notify.command.as_str(), notify.timeout), ("cat > out", 3));
    }

    #[test]
    fn bad_keys_and_values_are_named() {
        let (_, errors) = parse("command = 3\ntimeout = \"soon\"\nbell = true\n");
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["notify.bell", "notify.command", "notify.timeout"]);
    }

    #[test]
    fn no_command_no_notify() {
        assert_eq!(parse("timeout = \"3s\"\n").0, None);
    }
}
