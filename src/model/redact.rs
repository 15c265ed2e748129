//! Secret redaction for free text before it is written to the shared state (DESIGN.md §3).
//!
//! Recognises tokens with well-known prefixes and private-key blocks. This is a safety net for
//! text a person or agent typed, not a scanner for arbitrary high-entropy strings.

/// Prefixes of tokens that are secret by construction.
pub const TOKEN_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "sk-ant-",
    "sk-proj-",
    "sk-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxr-",
    "xoxs-",
    "AKIA",
    "AIza",
    "npm_",
    "hf_",
];

/// The shortest run after a prefix that counts as a token (so "sk-1" in prose survives).
const MIN_TOKEN_TAIL: usize = 16;

/// Whether `text` contains something that looks like a secret.
pub fn contains_secret(text: &str) -> bool {
    redact(text) != text
}

/// `text` with tokens replaced by `[REDACTED]` and private-key blocks removed.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        if let Some(begin) = rest.find("-----BEGIN ")
            && rest[begin..].lines().next().is_some_and(|l| l.contains("PRIVATE KEY"))
        {
            out.push_str(&rest[..begin]);
            out.push_str("[REDACTED PRIVATE KEY]");
            rest = match rest[begin..].find("-----END ") {
                Some(end) => {
                    let after = &rest[begin + end + 9..];
                    after.find("-----").map_or("", |i| &after[i + 5..])
                }
                None => "",
            };
            continue;
        }
        // Tokens: scan word by word.
        for (i, _) in rest.char_indices() {
            let at_boundary =
                i == 0 || !rest[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if at_boundary && let Some(prefix) = TOKEN_PREFIXES.iter().find(|p| rest[i..].starts_with(**p)) {
                let tail = rest[i + prefix.len()..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                    .unwrap_or(rest.len() - i - prefix.len());
                if tail >= MIN_TOKEN_TAIL {
                    out.push_str(&rest[..i]);
                    out.push_str("[REDACTED]");
                    rest = &rest[i + prefix.len() + tail..];
                    continue 'outer;
                }
            }
        }
        out.push_str(rest);
        break;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_keys_are_redacted_but_prose_is_not() {
        assert_eq!(redact("token ghp_abcdefghijklmnopqrstuvwxyz0123 here"), "token [REDACTED] here");
        assert_eq!(redact("use sk-1 for short names"), "use sk-1 for short names");
        assert_eq!(redact("task-sk-abcdefghijklmnopqrstu"), "task-sk-abcdefghijklmnopqrstu", "not at a word start");
        let key = "a\n-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\nb";
        assert_eq!(redact(key), "a\n[REDACTED PRIVATE KEY]\nb");
        assert!(contains_secret("AKIAABCDEFGHIJKLMNOP1234"));
        assert!(!contains_secret("plain text"));
    }
}
