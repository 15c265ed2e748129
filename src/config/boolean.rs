//! git's boolean syntax, for `maestro.*` keys read from git config (`git config --type=bool`).

/// A git config boolean: `true`/`yes`/`on` and `false`/`no`/`off` in any case, an integer
/// (non-zero is true), the empty string (false) and a key with no `=` at all (`None`, true).
/// Anything else is not a boolean.
pub fn parse(value: Option<&str>) -> Option<bool> {
    let Some(value) = value else { return Some(true) };
    let value = value.trim();
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Some(true),
        "false" | "no" | "off" | "" => Some(false),
        other => other.parse::<i64>().ok().map(|n| n != 0),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn git_boolean_words_in_any_case_numbers_empty_and_bare_keys() {
        for t in ["true", "TRUE", "Yes", "on", "1", "-1", "42", " true "] {
            assert_eq!(parse(Some(t)), Some(true), "{t:?} is true for git");
        }
        for f in ["false", "False", "NO", "off", "0", ""] {
            assert_eq!(parse(Some(f)), Some(false), "{f:?} is false for git");
        }
        assert_eq!(parse(None), Some(true), "a key with no `=` is true");
        for bad in ["maybe", "tru", "1.0", "y"] {
            assert_eq!(parse(Some(bad)), None, "{bad:?} is not a git boolean");
        }
    }
}
