//! `git -c key=value` overrides, which git hands to `git maestro` in `GIT_CONFIG_PARAMETERS`.
//!
//! gix 0.90 reads `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_<n>`/`GIT_CONFIG_VALUE_<n>` itself (its
//! `File::from_env`), but not `GIT_CONFIG_PARAMETERS`. This module parses that variable with
//! git's own rules (`config.c` `parse_config_env_list`, `quote.c` `sq_dequote_step`) into the
//! `key=value` strings that `gix::open::Options::cli_overrides` takes. gix applies those after
//! the files and after `GIT_CONFIG_COUNT`, the order git uses. It owns parsing only: it never
//! prints and never decides what a key means.

use std::borrow::Cow;

/// The environment variable git fills from `git -c` and `git --config-env`.
pub const PARAMETERS_ENV: &str = "GIT_CONFIG_PARAMETERS";

/// One `git -c` override: `value` is `None` for a key given without `=` (git's implicit true).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub key: String,
    pub value: Option<String>,
}

impl Override {
    /// The `key=value` (or bare `key`) form gix's `cli_overrides` parses.
    ///
    /// gix splits at the first `=` and trims both sides, so a subsection holding `=` and
    /// leading or trailing blanks in a value are not carried exactly; maestro's own keys and
    /// `user.*` have neither.
    pub fn to_gix(&self) -> String {
        match &self.value {
            Some(value) => format!("{}={value}", self.key),
            None => self.key.clone(),
        }
    }
}

/// Why `GIT_CONFIG_PARAMETERS` could not be read; git itself refuses such a value too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bogus format in {PARAMETERS_ENV}: {0}")]
pub struct ParseError(pub String);

/// The overrides in the environment's `GIT_CONFIG_PARAMETERS`, none when it is unset.
pub fn from_env() -> Result<Vec<Override>, ParseError> {
    match std::env::var_os(PARAMETERS_ENV) {
        Some(raw) => parse(&raw.to_string_lossy()),
        None => Ok(Vec::new()),
    }
}

/// Parse the value of `GIT_CONFIG_PARAMETERS`: blank-separated items, each either the old
/// `'key=value'` or the newer `'key'='value'` / `'key'` form, quoted by git's `sq_quote`
/// (a `'` inside is `'\''`, a `!` is `'\!'`).
pub fn parse(raw: &str) -> Result<Vec<Override>, ParseError> {
    let mut out = Vec::new();
    let mut rest = raw.trim_start_matches(is_space);
    while !rest.is_empty() {
        let (key, after) =
            dequote_step(rest).ok_or_else(|| ParseError(format!("expected a quoted key at {rest:?}")))?;
        rest = after;
        if rest.is_empty() || rest.starts_with(is_space) {
            // Old style: 'key=value', split at the first '='.
            out.push(match key.split_once('=') {
                Some((k, v)) => Override { key: k.to_owned(), value: Some(v.to_owned()) },
                None => Override { key: key.into_owned(), value: None },
            });
        } else if let Some(after_eq) = rest.strip_prefix('=') {
            // New style: 'key'='value', or 'key'= for an implicit true.
            if after_eq.starts_with('\'') {
                let (value, after) = dequote_step(after_eq)
                    .filter(|(_, after)| after.is_empty() || after.starts_with(is_space))
                    .ok_or_else(|| ParseError(format!("badly quoted value for '{key}'")))?;
                out.push(Override { key: key.into_owned(), value: Some(value.into_owned()) });
                rest = after;
            } else if after_eq.is_empty() || after_eq.starts_with(is_space) {
                out.push(Override { key: key.into_owned(), value: None });
                rest = after_eq;
            } else {
                return Err(ParseError(format!("unquoted value for '{key}'")));
            }
        } else {
            return Err(ParseError(format!("unexpected text after '{key}'")));
        }
        rest = rest.trim_start_matches(is_space);
    }
    Ok(out)
}

fn is_space(c: char) -> bool {
    c.is_ascii_whitespace()
}

/// git's `sq_dequote_step`: one single-quoted word at the start of `s`, where `'\''` and
/// `'\!'` continue the word with a literal `'` or `!`. Returns the word and what follows it.
fn dequote_step(s: &str) -> Option<(Cow<'_, str>, &str)> {
    let mut rest = s.strip_prefix('\'')?;
    let mut word = String::new();
    loop {
        let end = rest.find('\'')?;
        word.push_str(&rest[..end]);
        rest = &rest[end + 1..];
        let mut chars = rest.chars();
        match (chars.next(), chars.next(), chars.next()) {
            (Some('\\'), Some(c @ ('\'' | '!')), Some('\'')) => {
                word.push(c);
                rest = &rest[3..];
            }
            _ => return Some((Cow::Owned(word), rest)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: Option<&str>) -> Override {
        Override { key: key.into(), value: value.map(Into::into) }
    }

    #[test]
    fn new_style_items_with_spaces_quotes_bangs_and_equals_in_values() {
        let raw = r"'maestro.worktreeroot'='/tmp/a b'\''c' 'user.name'='Jane O'\''Brien' 'x.y'='wow'\!'' 'x.z'='a=b=c'";
        assert_eq!(
            parse(raw).expect("valid parameters"),
            vec![
                kv("maestro.worktreeroot", Some("/tmp/a b'c")),
                kv("user.name", Some("Jane O'Brien")),
                kv("x.y", Some("wow!")),
                kv("x.z", Some("a=b=c")),
            ]
        );
    }

    #[test]
    fn an_empty_value_is_kept_apart_from_a_key_without_equals() {
        assert_eq!(
            parse("'a.empty'='' 'a.bare' 'a.eq'=").expect("valid parameters"),
            vec![kv("a.empty", Some("")), kv("a.bare", None), kv("a.eq", None)]
        );
    }

    #[test]
    fn old_style_items_split_at_the_first_equals() {
        assert_eq!(
            parse(r"'user.name=Jane O'\''Brien'  'core.x=a=b' 'flag.on'").expect("valid parameters"),
            vec![kv("user.name", Some("Jane O'Brien")), kv("core.x", Some("a=b")), kv("flag.on", None)]
        );
    }

    #[test]
    fn blank_and_unset_parameters_are_no_overrides() {
        assert_eq!(parse("").expect("valid parameters"), vec![]);
        assert_eq!(parse("   ").expect("valid parameters"), vec![]);
    }

    #[test]
    fn what_git_would_refuse_is_refused() {
        for bad in ["user.name=x", "'user.name'=x", "'unterminated", "'a.b'='v'x", "'a.b'x"] {
            assert!(parse(bad).is_err(), "{bad:?} is not git's format");
        }
    }

    #[test]
    fn overrides_are_handed_to_gix_as_key_equals_value() {
        assert_eq!(kv("user.name", Some("Jane O'Brien")).to_gix(), "user.name=Jane O'Brien");
        assert_eq!(kv("a.empty", Some("")).to_gix(), "a.empty=");
        assert_eq!(kv("a.bare", None).to_gix(), "a.bare");
    }
}
