//! What a performer's configuration needs before its CLI can work, checked before anything
//! runs or changes: settings that each CLI silently ignores or fails on late (see
//! `AGENT-CLIS.md`), so a run is refused with the fix instead of ending as a bare exit code.
//!
//! It reads the performer, the process environment and whether this process is root; it runs
//! nothing and writes nothing.

use crate::config::{Adapter, Performer};

/// A requirement the performer's configuration does not meet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("performer {performer}: {problem}")]
pub struct Unmet {
    pub performer: String,
    pub problem: String,
    /// The change that meets it.
    pub hint: String,
}

/// What the checks read from the machine.
pub struct Host<'a> {
    /// A variable of this process's environment.
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub is_root: bool,
}

impl Host<'_> {
    /// The environment and user of this process.
    pub fn current() -> Host<'static> {
        Host { var: &|name| std::env::var(name).ok(), is_root: rustix::process::geteuid().is_root() }
    }
}

/// The first unmet requirement of `p` on `host`, if any.
pub fn check(p: &Performer, host: &Host<'_>) -> Result<(), Unmet> {
    let unmet = |problem: String, hint: String| Err(Unmet { performer: p.name.clone(), problem, hint });
    let name = &p.name;
    if let Some(var) = &p.api_key_env
        && (host.var)(var).is_none_or(|v| v.is_empty())
    {
        return unmet(
            format!("api_key_env names {var}, which is not set in this environment"),
            format!("export {var}=<key> before running, or remove api_key_env from [performers.{name}]"),
        );
    }
    match p.adapter {
        Adapter::Gemini => gemini(p, &unmet),
        Adapter::Claude => claude(p, host, &unmet),
        Adapter::Codex => codex(p, &unmet),
        Adapter::Command => Ok(()),
    }
}

type Refuse<'a> = dyn Fn(String, String) -> Result<(), Unmet> + 'a;

/// Gemini reads `GOOGLE_GEMINI_BASE_URL` only with API-key auth selected in its settings file
/// (else it exits 41, "Invalid auth method"), which maestro writes only into an isolated home;
/// and API-key auth needs `GEMINI_API_KEY`.
fn gemini(p: &Performer, unmet: &Refuse<'_>) -> Result<(), Unmet> {
    let name = &p.name;
    if p.base_url.is_none() {
        return Ok(());
    }
    if !p.isolate_home {
        return unmet(
            "Gemini with base_url needs isolate_home = true: only in its own home can maestro select \
             API-key auth, without which Gemini refuses the endpoint (exit 41, \"Invalid auth method\")"
                .into(),
            format!("add `isolate_home = true` to [performers.{name}] in .maestro/config.toml"),
        );
    }
    if p.api_key_env.is_none() && !p.env.contains_key("GEMINI_API_KEY") {
        return unmet(
            "Gemini with base_url needs an API key (GEMINI_API_KEY), and none is configured".into(),
            format!("add `api_key_env = \"<VARIABLE HOLDING THE KEY>\"` to [performers.{name}]"),
        );
    }
    Ok(())
}

/// Claude Code refuses bypass mode as root unless `IS_SANDBOX=1`.
fn claude(p: &Performer, host: &Host<'_>, unmet: &Refuse<'_>) -> Result<(), Unmet> {
    let bypass = p.extra_args.iter().any(|a| a == "--dangerously-skip-permissions")
        || p.extra_args.windows(2).any(|w| w[0] == "--permission-mode" && w[1] == "bypassPermissions")
        || p.extra_args.iter().any(|a| a == "--permission-mode=bypassPermissions");
    if bypass && host.is_root && p.env.get("IS_SANDBOX").map(String::as_str) != Some("1") {
        return unmet(
            "Claude Code refuses to bypass permissions as root unless IS_SANDBOX=1".into(),
            format!(
                "add `env = {{ IS_SANDBOX = \"1\" }}` to [performers.{}] if this machine is a sandbox, \
                 or drop the bypass from extra_args",
                p.name
            ),
        );
    }
    Ok(())
}

/// Codex ignores `OPENAI_BASE_URL`, no longer has `--full-auto`, and rejects the chat wire API.
fn codex(p: &Performer, unmet: &Refuse<'_>) -> Result<(), Unmet> {
    let name = &p.name;
    if p.env.contains_key("OPENAI_BASE_URL") {
        return unmet(
            "Codex ignores OPENAI_BASE_URL in env; its endpoint is set only through its provider config".into(),
            format!("replace env.OPENAI_BASE_URL with `base_url = \"…\"` in [performers.{name}]"),
        );
    }
    if p.extra_args.iter().any(|a| a == "--full-auto") {
        return unmet(
            "Codex no longer has --full-auto".into(),
            format!(
                "remove it from extra_args of [performers.{name}]; maestro runs Codex with --sandbox workspace-write"
            ),
        );
    }
    if p.extra_args.iter().any(|a| a.contains("wire_api") && a.contains("chat")) {
        return unmet(
            "Codex rejects wire_api = \"chat\"; only the Responses API works".into(),
            format!(
                "remove it from extra_args of [performers.{name}]; with base_url maestro sets wire_api = \"responses\""
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn performer(adapter: &str, extra: &[(&str, &str)]) -> Performer {
        let mut git = vec![("maestro.performer.p.adapter".to_owned(), Some(adapter.to_owned()))];
        git.extend(extra.iter().map(|(k, v)| (format!("maestro.performer.p.{k}"), Some((*v).to_owned()))));
        let sources = crate::config::Sources { user_file: None, repo_file: None, git_config: &git };
        crate::config::load(&sources).expect("the test config loads").performers.remove("p").expect("configured")
    }

    fn host(is_root: bool) -> Host<'static> {
        Host { var: &|name| (name == "KEY").then(|| "k".to_owned()), is_root }
    }

    #[test]
    fn gemini_with_base_url_needs_an_isolated_home_and_a_key() {
        let url = ("baseurl", "http://127.0.0.1:1");
        let e = check(&performer("gemini", &[url]), &host(false)).unwrap_err();
        assert!(e.problem.contains("isolate_home = true") && e.hint.contains("isolate_home = true"), "{e:?}");
        let e = check(&performer("gemini", &[url, ("isolatehome", "true")]), &host(false)).unwrap_err();
        assert!(e.problem.contains("API key"), "{e:?}");
        let ok = performer("gemini", &[url, ("isolatehome", "true"), ("apikeyenv", "KEY")]);
        assert_eq!(check(&ok, &host(false)), Ok(()));
        assert_eq!(check(&performer("gemini", &[]), &host(false)), Ok(()), "the user's own login needs nothing");
    }

    #[test]
    fn an_unset_key_variable_and_cli_specific_mistakes_are_refused() {
        let e = check(&performer("claude", &[("apikeyenv", "UNSET")]), &host(false)).unwrap_err();
        assert!(e.problem.contains("UNSET, which is not set"), "{e:?}");
        let mut bypass = performer("claude", &[]);
        bypass.extra_args = vec!["--dangerously-skip-permissions".into()];
        assert!(check(&bypass, &host(true)).is_err(), "refused as root");
        assert_eq!(check(&bypass, &host(false)), Ok(()));
        bypass.env.insert("IS_SANDBOX".into(), "1".into());
        assert_eq!(check(&bypass, &host(true)), Ok(()));
        let mut codex = performer("codex", &[]);
        codex.extra_args = vec!["--full-auto".into()];
        assert!(check(&codex, &host(false)).unwrap_err().problem.contains("--full-auto"));
        codex.extra_args = vec!["-c".into(), "model_providers.x.wire_api=\"chat\"".into()];
        assert!(check(&codex, &host(false)).is_err());
        codex.extra_args.clear();
        codex.env.insert("OPENAI_BASE_URL".into(), "http://x".into());
        assert!(check(&codex, &host(false)).unwrap_err().hint.contains("base_url"));
    }
}
