//! `[notify]` in trusted config: the command run when something starts needing a person.
//!
//! ```toml
//! [notify]
//! command = "notify-send git-maestro \"$(jq -r .task)\""   # run with sh -c, the event as JSON on stdin
//! timeout = "10s"                                           # killed after that (default 10s)
//! ```
//!
//! Trusted only: read from the user's and the checkout's config files, never from the state.

use std::collections::BTreeMap;

use super::ConfigError;

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

/// `[notify]` as written, with the file each key came from; later layers win per key.
#[derive(Debug, Default)]
pub struct RawNotify(BTreeMap<String, (String, toml::Value)>);

impl RawNotify {
    pub fn merge(&mut self, source: &str, table: BTreeMap<String, toml::Value>) {
        for (key, value) in table {
            self.0.insert(key, (source.to_owned(), value));
        }
    }

    /// The notify command, if one is set; every problem names its key.
    pub fn validate(self, errors: &mut Vec<ConfigError>) -> Option<Notify> {
        let mut notify = Notify { command: String::new(), timeout: DEFAULT_TIMEOUT, source: String::new() };
        for (key, (source, value)) in self.0 {
            let mut err = |message: String| {
                errors.push(ConfigError { source_name: source.clone(), key: format!("notify.{key}"), message });
            };
            match (key.as_str(), value) {
                ("command", toml::Value::String(c)) if !c.trim().is_empty() => {
                    notify.command = c;
                    notify.source = source.clone();
                }
                ("command", other) => err(format!("{other} is not a command line (a non-empty string)")),
                ("timeout", toml::Value::String(t)) => match super::parse_duration(&t) {
                    Ok(secs) if secs > 0 => notify.timeout = secs,
                    Ok(_) => err("must be more than 0s".into()),
                    Err(e) => err(e),
                },
                ("timeout", other) => err(format!("{other} is not a duration such as \"10s\"")),
                (_, _) => err("unknown key; use command and timeout".into()),
            }
        }
        Some(notify).filter(|n| !n.command.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Option<Notify>, Vec<ConfigError>) {
        let table: BTreeMap<String, toml::Value> = toml::from_str(text).unwrap();
        let mut raw = RawNotify::default();
        raw.merge("config.toml", table);
        let mut errors = Vec::new();
        (raw.validate(&mut errors), errors)
    }

    #[test]
    fn a_command_and_a_timeout_are_read() {
        let (notify, errors) = parse("command = \"cat > out\"\ntimeout = \"3s\"\n");
        assert!(errors.is_empty(), "{errors:?}");
        let notify = notify.unwrap();
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
