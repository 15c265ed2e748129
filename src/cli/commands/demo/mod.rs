//! `git maestro demo`

mod project;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::git::Repo;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where to create the scratch project (default: the -C directory, else a new directory
    /// under the temp dir)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Use the agent CLIs installed on PATH instead of the scripted performer
    #[arg(long)]
    pub agents: bool,
}

pub fn cmd_demo(ctx: &Context, args: &DemoArgs) -> CommandResult {
    let root = match (&args.dir, ctx.dir_given()) {
        (Some(d), Some(base)) => base.join(d),
        (Some(d), None) => d.clone(),
        (None, Some(base)) => base.to_path_buf(),
        (None, None) => {
            let millis = jiff::Timestamp::now().as_millisecond().unsigned_abs();
            let id = crate::model::ids::IdGen::from_entropy().next(millis);
            std::env::temp_dir().join(format!("git-maestro-demo-{}", &id[id.len() - 8..]))
        }
    };
    // The steps run with `-C <project>` and the Score file's path: both absolute.
    let root = std::path::absolute(&root)?;
    if root.exists() && std::fs::read_dir(&root)?.next().is_some() {
        return Err(CommandError::user("not-empty", format!("{} exists and is not empty", root.display()))
            .hint("pass --dir (or -C) with a new or empty directory"));
    }
    let project = root.join("calc");
    std::fs::create_dir_all(&project)?;
    ctx.ui.status(format!("Creating a scratch project in {}", project.display()));
    create_project(&project)?;
    let score = root.join("calc-score.toml");
    std::fs::write(&score, project::SCORE)?;
    let config = if args.agents {
        let found: Vec<&str> = ["claude", "codex", "gemini"]
            .into_iter()
            .filter(|a| crate::performer::locate(a, &project).is_some())
            .collect();
        if found.is_empty() {
            return Err(CommandError::user("no-agents", "none of claude, codex or gemini is on PATH")
                .hint("install one, or run the demo without --agents"));
        }
        project::agents_config(&found)
    } else {
        let performer = root.join("demo-performer.sh");
        std::fs::write(&performer, project::PERFORMER)?;
        make_executable(&performer)?;
        project::config(&performer.display().to_string())
    };

    let steps: Vec<(Vec<String>, &str)> = vec![
        (vec!["init".into()], "state ref, config and pre-push hook"),
        (vec!["plan".into(), "--from".into(), score.display().to_string()], "a draft Score of five tasks"),
        (vec!["score".into(), "show".into(), "calc".into()], "the plan"),
        (vec!["approve".into(), "calc".into(), "-m".into(), "plan reviewed".into()], "plan approval"),
        (vec!["run".into(), "calc".into(), "--explain".into()], "who would take what, and why"),
        (vec!["run".into(), "calc".into()], "run, check, review and merge every task"),
        (vec!["status".into()], "the board"),
        (vec!["rollback".into(), "calc/docs".into()], "revert one task's merge; the others stay"),
        (vec!["approve".into(), "calc".into(), "-m".into(), "ship it".into()], "landing approval"),
        (vec!["land".into(), "calc".into()], "bring the integration branch into main"),
        (vec!["decisions".into(), "--score".into(), "calc".into()], "every decision, with who and why"),
    ];
    let exe = std::env::current_exe()?;
    let data = root.join("data");
    for (i, (args, what)) in steps.iter().enumerate() {
        if i == 1 {
            // After init: the demo's trusted config replaces the template.
            std::fs::write(project.join(".maestro/config.toml"), &config)?;
        }
        let shown: Vec<String> =
            args.iter().map(|a| if a.contains(' ') { format!("\"{a}\"") } else { a.clone() }).collect();
        ctx.ui.line(format!("\n$ git maestro {}    # {what}", shown.join(" ")))?;
        let mut step = Command::new(&exe);
        step.arg("-C").arg(&project).args(args).env("XDG_DATA_HOME", &data).stdin(Stdio::null());
        // Under a test seed and clock, each step gets its own seed and a later time, as
        // separate commands would.
        if let Some(seed) = std::env::var("MAESTRO_SEED").ok().and_then(|s| s.parse::<u64>().ok()) {
            step.env("MAESTRO_SEED", seed.wrapping_add(1000 * (i as u64 + 1)).to_string());
        }
        let fixed = std::env::var("MAESTRO_TIMESTAMP").ok().and_then(|t| t.parse::<jiff::Timestamp>().ok());
        if let Some(later) = fixed.and_then(|t| t.checked_add(jiff::SignedDuration::from_secs(i as i64 + 1)).ok()) {
            step.env("MAESTRO_TIMESTAMP", later.to_string());
        }
        let status = step.status()?;
        if !status.success() {
            return Err(CommandError::user("demo-step-failed", format!("`git maestro {}` failed", args.join(" ")))
                .hint(format!("the scratch project is kept in {}", project.display())));
        }
    }
    ctx.ui.line(format!("\nDone. Look around: cd {} && git log --graph --oneline --all", project.display()))?;
    Ok(())
}

/// A repository with the project's files in its first commit on `main`.
fn create_project(dir: &Path) -> CommandResult {
    for (path, content) in project::FILES {
        std::fs::write(dir.join(path), content)?;
    }
    let repo = Repo::init(dir)?;
    let identity = ("git-maestro demo", "demo@git-maestro.invalid");
    repo.commit_first(dir, "Start the calc project", identity, jiff::Timestamp::now().as_second())?;
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
