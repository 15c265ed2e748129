//! Checking the merged config entries and turning them into [`Performer`]s and [`Check`]s.
//! Every problem is collected with the file and key it came from; nothing stops at the first.

use std::path::PathBuf;

use super::file::RawConfig;
use super::{
    Adapter, Check, Config, ConfigError, CostTier, Performer, TRANSCRIPT_MAX_DEFAULT, TRANSCRIPT_MAX_MIN, notify,
    parse_duration, parse_size, worktrees,
};
use super::{CheckEntry, PerformerEntry};
use crate::model::TaskKind;
use crate::model::ids::validate_slug;

pub(super) fn validate(mut raw: RawConfig, errors: &mut Vec<ConfigError>) -> Config {
    let mut config = Config::default();
    (config.prices, config.budget) = std::mem::take(&mut raw.budget).validate(errors);
    config.setup = std::mem::take(&mut raw.setup).validate(errors);
    config.notify = notify::validate(std::mem::take(&mut raw.notify), errors);
    config.worktrees = worktrees::validate(std::mem::take(&mut raw.worktrees), errors);
    for (name, entry) in raw.performers {
        if let Some(p) = performer(name.clone(), entry, errors) {
            config.performers.insert(name, p);
        }
    }
    for (name, entry) in raw.checks {
        config.checks.insert(name.clone(), check(name, entry, errors));
    }
    config
}

/// The performer `name`, or `None` when it has no adapter to speak with.
fn performer(name: String, entry: PerformerEntry, errors: &mut Vec<ConfigError>) -> Option<Performer> {
    let mut err = |key: &str, message: String| {
        errors.push(ConfigError { source_name: entry.source_of(key), key: format!("performers.{name}.{key}"), message })
    };
    if let Err(e) = validate_slug(&name) {
        err("", format!("{name:?} is not a valid performer name: {e}"));
    }
    let (adapter, command) = adapter_and_command(&entry, &mut err)?;
    let kinds = kinds(&entry, &mut err);
    let max_parallel = match entry.max_parallel {
        None => 1,
        Some(n @ 1..=64) => n as u32,
        Some(n) => {
            err("max_parallel", format!("{n} is outside 1..=64"));
            1
        }
    };
    let cost_tier = match entry.cost_tier.as_deref() {
        None | Some("medium") => CostTier::Medium,
        Some("low") => CostTier::Low,
        Some("high") => CostTier::High,
        Some(other) => {
            err("cost_tier", format!("{other:?} is not low, medium or high"));
            CostTier::Medium
        }
    };
    let timeout = timeout(entry.timeout.as_deref(), 30 * 60, &mut err);
    env_names(&entry, &mut err);
    let sandbox = sandbox_mode(entry.sandbox.as_deref(), &mut err);
    let writable = writable_paths(&entry.writable, &mut err);
    let outside_writes_warn = match entry.outside_writes.as_deref() {
        None | Some("fail") => false,
        Some("warn") => true,
        Some(other) => {
            err("outside_writes", format!("{other:?} is not fail or warn"));
            false
        }
    };
    let transcript_max = transcript_max(entry.transcript_max.as_deref(), &mut err);
    let source = entry.source_of("adapter");
    Some(Performer {
        name,
        adapter,
        command,
        model: entry.model,
        languages: entry.languages,
        kinds,
        strengths: entry.strengths,
        max_parallel,
        cost_tier,
        timeout,
        extra_args: entry.extra_args,
        isolate_home: entry.isolate_home.unwrap_or(false),
        context_file: entry.context_file.unwrap_or(false),
        base_url: entry.base_url,
        api_key_env: entry.api_key_env,
        env: entry.env,
        sandbox,
        writable,
        allow_ports: entry.allow_ports,
        outside_writes_warn,
        transcript_max,
        source,
    })
}

/// The performer's adapter, and the command it runs: the adapter's CLI unless given.
fn adapter_and_command(entry: &PerformerEntry, err: &mut impl FnMut(&str, String)) -> Option<(Adapter, String)> {
    let Some(given) = entry.adapter.as_deref() else {
        err("adapter", "missing; use claude, codex, gemini or command".into());
        return None;
    };
    let Some(adapter) = Adapter::parse(given) else {
        err("adapter", format!("{given:?} is not claude, codex, gemini or command"));
        return None;
    };
    let command = match (entry.command.clone(), adapter.default_command()) {
        (Some(c), _) if !c.trim().is_empty() => c,
        (_, Some(default)) => default.to_owned(),
        _ => {
            err("command", "missing; a command performer needs the program to run".into());
            String::new()
        }
    };
    Some((adapter, command))
}

/// The kinds of task the performer takes; its languages and strengths are checked too.
fn kinds(entry: &PerformerEntry, err: &mut impl FnMut(&str, String)) -> Vec<TaskKind> {
    let mut kinds = Vec::new();
    for k in &entry.kinds {
        match TaskKind::parse(k) {
            Some(kind) => kinds.push(kind),
            None => err("kinds", format!("unknown kind {k:?}; use {}", TaskKind::NAMES.join(", "))),
        }
    }
    for lang in &entry.languages {
        if validate_slug(lang).is_err() {
            err("languages", format!("{lang:?} is not a language name (lowercase, e.g. \"rust\")"));
        }
    }
    for (kind, weight) in &entry.strengths {
        if TaskKind::parse(kind).is_none() {
            err("strengths", format!("unknown kind {kind:?}"));
        } else if !(0.0..=1.0).contains(weight) {
            err("strengths", format!("{kind} = {weight} is outside 0.0..=1.0"));
        }
    }
    kinds
}

/// The names `env` sets and `api_key_env` reads must be environment variable names.
fn env_names(entry: &PerformerEntry, err: &mut impl FnMut(&str, String)) {
    for key in entry.env.keys() {
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            err("env", format!("{key:?} is not an environment variable name"));
        }
    }
    if let Some(var) = &entry.api_key_env
        && !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        err("api_key_env", format!("{var:?} is not an environment variable name"));
    }
}

fn check(name: String, entry: CheckEntry, errors: &mut Vec<ConfigError>) -> Check {
    let mut err = |key: &str, message: String| {
        errors.push(ConfigError { source_name: entry.source_of(key), key: format!("checks.{name}.{key}"), message })
    };
    if let Err(e) = validate_slug(&name) {
        err("", format!("{name:?} is not a valid check name: {e}"));
    }
    let run = entry.run.clone().unwrap_or_default();
    if run.trim().is_empty() {
        err("run", "missing; give the command to run, e.g. run = \"cargo test\"".into());
    }
    let timeout = timeout(entry.timeout.as_deref(), 10 * 60, &mut err);
    let sandbox = sandbox_mode(entry.sandbox.as_deref(), &mut err);
    let writable = writable_paths(&entry.writable, &mut err);
    let source = entry.source_of("run");
    Check { name, run, timeout, sandbox, writable, source }
}

/// A timeout in seconds, `default` when not given.
fn timeout(given: Option<&str>, default: u64, err: &mut impl FnMut(&str, String)) -> u64 {
    match given.map(parse_duration) {
        None => default,
        Some(Ok(secs)) => secs,
        Some(Err(e)) => {
            err("timeout", e);
            0
        }
    }
}

/// The cap of a performer's transcripts: a size of at least 4 KiB, 64 MiB when not given.
fn transcript_max(given: Option<&str>, err: &mut impl FnMut(&str, String)) -> u64 {
    match given.map(parse_size) {
        None => TRANSCRIPT_MAX_DEFAULT,
        Some(Ok(bytes)) if bytes >= TRANSCRIPT_MAX_MIN => bytes,
        Some(Ok(bytes)) => {
            err("transcript_max", format!("{bytes} bytes is too small; give at least \"4KiB\""));
            TRANSCRIPT_MAX_DEFAULT
        }
        Some(Err(e)) => {
            err("transcript_max", e);
            TRANSCRIPT_MAX_DEFAULT
        }
    }
}

pub(super) fn sandbox_mode(given: Option<&str>, err: &mut impl FnMut(&str, String)) -> crate::sandbox::Mode {
    let Some(text) = given else { return crate::sandbox::Mode::default() };
    crate::sandbox::Mode::parse(text).unwrap_or_else(|| {
        err("sandbox", format!("{text:?} is not {}", crate::sandbox::Mode::NAMES.join(", ")));
        crate::sandbox::Mode::default()
    })
}

/// `writable` entries as absolute paths: `~/x` is under the home directory.
pub(super) fn writable_paths(given: &[String], err: &mut impl FnMut(&str, String)) -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut paths = Vec::new();
    for text in given {
        let path = match (text.strip_prefix("~/"), &home) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(text),
        };
        if path.is_absolute() {
            paths.push(path);
        } else {
            err("writable", format!("{text:?} is not an absolute path (or one under ~/)"));
        }
    }
    paths
}
