//! `git maestro budget show` and `git maestro budget raise`

use crate::cli::args;
use crate::cli::context::Context;
use crate::cli::error::{CommandError, CommandResult};
use crate::cli::money;
use crate::cli::ui::{count, field, table};
use crate::model::budget::score::Raise;
use crate::model::budget::{Limit, Spent, dollars, ledger, parse_limit};
use crate::model::{DecisionKind, Score, Task, lifecycle};
use crate::performer::meter::spent_by;
use crate::store::{self, layout};

/// Show the budgets in force, or let a Score spend more
///
/// Caps come from trusted config (`[budget]` in .maestro/config.toml or your user config:
/// `task`, `score`, `day` in dollars, `task_tokens`, `score_tokens`, `day_tokens`) and from the
/// Score file's own `[budget]`, which can only tighten them. A task whose run reaches a cap is
/// stopped and blocked until a person raises the budget.
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum BudgetCommand {
    /// Show the caps in force, what has been spent against them, and what is left
    Show(ShowArgs),
    /// Let a Score spend more: a person's decision, recorded in the decision log
    ///
    /// The raise is added to the Score's task and Score caps (the day cap is trusted config
    /// alone). Tasks the budget had blocked become ready again, and their next run is told why it
    /// was stopped; `git maestro run` or `task run` goes on with them.
    Raise(RaiseArgs),
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The Score (default: every Score)
    pub score: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RaiseArgs {
    /// The Score id
    pub score: String,
    /// How much more: dollars (`"$5"`) or tokens (`200k`, `1M`, `50000`)
    #[arg(long, value_name = "AMOUNT")]
    pub by: String,
    /// Why, for the decision log
    #[arg(short = 'm', long = "message", value_name = "WHY", default_value = "")]
    pub message: String,
}

pub fn run(ctx: &Context, cmd: BudgetCommand) -> CommandResult {
    match cmd {
        BudgetCommand::Show(args) => show(ctx, &args),
        BudgetCommand::Raise(args) => raise(ctx, &args),
    }
}

fn raise(ctx: &Context, args: &RaiseArgs) -> CommandResult {
    let id = args::slug("score id", &args.score)?;
    let by =
        parse_limit(&args.by).filter(|l| l.usd.unwrap_or(0.0) > 0.0 || l.tokens.unwrap_or(0) > 0).ok_or_else(|| {
            CommandError::user("usage", format!("{:?} is not an amount to raise by", args.by))
                .hint("give dollars as \"$5\" or tokens as 200k; nothing was changed")
        })?;
    let message = args.message.trim();
    if message.contains('\n') || message.len() > crate::model::MAX_STRING_BYTES {
        return Err(CommandError::user("usage", "the message must be one line of reasonable length"));
    }
    let store = ctx.store()?;
    let config = ctx.config(&store.repo)?;
    let actor = store.session.actor.clone();
    let amount = shown_limit(&by);
    let outcome = store.transact(&format!("raise the budget of {id} by {amount}"), |tx| {
        let (mut score, tasks) = store::score_with_readable_tasks(tx, &id)?;
        let mut d =
            store::new_decision(tx, DecisionKind::Budget, format!("raised the budget of {id} by {amount}"), &actor)
                .about(&id, None);
        d.rationale = message.to_owned();
        score.raises.push(Raise {
            decision: d.id.clone(),
            actor: actor.clone(),
            at: tx.now,
            usd: by.usd,
            tokens: by.tokens,
        });
        score.updated = tx.now;
        tx.put(&layout::score_file(&id), &score)?;
        store::append_decision(tx, &d)?;
        let caps = ledger::caps_for(&config.budget, &score);
        let (mut ready, mut still) = (Vec::new(), Vec::new());
        for mut task in tasks.into_iter().filter(lifecycle::blocked_by_budget) {
            let spent = spent_by(tx, (&id, &task.id), !caps.day.is_none(), tx.now)?;
            if let Some(over) = caps.over(&spent) {
                still.push((task.id.clone(), over.to_string()));
                continue;
            }
            let why = format!(
                "its budget was raised by {amount} after a run was stopped at the cap; go on from where it stopped"
            );
            lifecycle::unblock_for_budget(&mut task, &why, tx.now)?;
            tx.put(&layout::task_file(&id, &task.id), &task)?;
            ready.push(task.id);
        }
        Ok::<_, CommandError>((d.id, ready, still))
    })?;
    let (decision, ready, still) = &outcome.value;
    if ctx.ui.json {
        let task = |t: &String| serde_json::json!({ "score": id, "task": t });
        ctx.ui.json(&serde_json::json!({
            "score": id, "by": by, "decision": decision,
            "ready": ready.iter().map(task).collect::<Vec<_>>(),
            "still_over": still.iter().map(|(t, why)| serde_json::json!({ "score": id, "task": t, "why": why })).collect::<Vec<_>>(),
        }))?;
    } else {
        ctx.ui.line(format!("{id}  raised by {amount}  ({})", count(ready.len(), "task") + " ready again"))?;
        for (t, why) in still {
            ctx.ui.warn(format!("{id}/{} is still over budget: {why}", field(t)));
        }
        if !ready.is_empty() {
            ctx.ui.hint(format!("go on with `git maestro run {id}`"));
        }
    }
    super::report_write(ctx, &outcome, &format!("Recorded decision {decision}."));
    Ok(())
}

fn show(ctx: &Context, args: &ShowArgs) -> CommandResult {
    let store = ctx.store()?;
    let config = ctx.config(&store.repo)?;
    let view = store.view()?;
    let scores = match &args.score {
        Some(s) => vec![store::score(&view, &args::slug("score id", s)?)?],
        None => store::scores(&view)?,
    };
    let mut all: Vec<(Score, Vec<Task>)> = Vec::new();
    for s in store::scores(&view)? {
        let tasks = store::readable_tasks(&view, &s)?.0;
        all.push((s, tasks));
    }
    let today = ledger::local_day(store.session.now());
    let every: Vec<&Task> = all.iter().flat_map(|(_, t)| t).collect();
    let mut rows = Vec::new();
    for score in &scores {
        let tasks = all.iter().find(|(s, _)| s.id == score.id).map(|(_, t)| t.as_slice()).unwrap_or_default();
        let caps = ledger::caps_for(&config.budget, score);
        let [_, spent, day] = ledger::spent("", tasks, every.iter().copied(), today, None);
        let blocked: Vec<&str> =
            tasks.iter().filter(|t| lifecycle::blocked_by_budget(t)).map(|t| t.id.as_str()).collect();
        rows.push((score.id.clone(), caps, spent, day, blocked));
    }
    if ctx.ui.json {
        let json: Vec<_> = rows
            .iter()
            .map(|(id, caps, spent, day, blocked)| {
                serde_json::json!({
                    "score": id, "caps": caps, "spent": spent, "today": day,
                    "left_usd": caps.score.usd.map(|c| (c - spent.usd).max(0.0)),
                    "blocked": blocked.iter().map(|t| serde_json::json!({ "score": id, "task": t })).collect::<Vec<_>>(),
                })
            })
            .collect();
        return Ok(ctx.ui.json(&json)?);
    }
    let mut lines = vec![vec![
        "SCORE".into(),
        "TASK CAP".into(),
        "SCORE CAP".into(),
        "SPENT".into(),
        "TODAY / DAY CAP".into(),
        "BLOCKED".into(),
    ]];
    for (id, caps, spent, day, blocked) in &rows {
        lines.push(vec![
            field(id).into_owned(),
            shown_limit(&caps.task),
            shown_limit(&caps.score),
            spent_text(spent),
            format!("{} / {}", spent_text(day), shown_limit(&caps.day)),
            blocked.iter().map(|t| field(t).into_owned()).collect::<Vec<_>>().join(", "),
        ]);
    }
    ctx.ui.line(table(&lines).trim_end())?;
    Ok(())
}

/// `$2.00`, `500.0k tokens`, both, or `none`.
fn shown_limit(l: &Limit) -> String {
    let parts: Vec<String> =
        [l.usd.map(dollars), l.tokens.map(|t| format!("{} tokens", money::tokens(t)))].into_iter().flatten().collect();
    if parts.is_empty() { "none".into() } else { parts.join(" + ") }
}

fn spent_text(s: &Spent) -> String {
    let unknown = if s.unknown > 0 { format!(" + {} unknown", s.unknown) } else { String::new() };
    format!("{}{unknown} · {} tokens", dollars(s.usd), money::tokens(s.tokens))
}
