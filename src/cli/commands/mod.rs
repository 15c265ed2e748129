//! One file per command; a command group is a folder.

mod approve;
mod board;
mod budget;
mod complete;
mod completions;
mod conflicts;
mod costs;
mod decide;
mod decisions;
mod demo;
mod doctor;
mod gc;
mod handover;
mod hook;
mod init;
mod install_man;
mod kb;
mod land;
mod log;
mod mcp;
mod merge;
mod performers;
mod plan;
mod pr;
mod rollback;
mod run;
mod score;
pub(crate) mod status;
mod supervise;
mod sync;
mod task;
mod worktrees;

use super::context::Context;
use super::error::CommandResult;

// The commands. No doc comment: clap would take it as the root's help, over the root's own.
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Set up git-maestro in this repository
    ///
    /// Creates the state ref refs/maestro/state, copies the configuration template into .maestro/
    /// of the main checkout (also when run in a linked worktree: config is read from there) without
    /// overwriting your files, and installs the pre-push verifier. It also writes the man pages
    /// beside the binary when they are missing (see `git maestro install-man`). Running it again
    /// changes nothing.
    ///
    /// The verifier coexists with your hooks. In .git/hooks, or a core.hooksPath outside the work
    /// tree, an existing pre-push hook is moved to pre-push.maestro-chained and still runs after the
    /// check. With husky (core.hooksPath .husky/_), or a core.hooksPath script inside the work
    /// tree, one line is added to that script (.husky/pre-push); it does nothing for a teammate
    /// without git-maestro. Under the pre-commit framework the verifier is its pre-push.legacy.
    /// `git maestro doctor` reports a verifier that was overwritten; `init --hooks` repairs it.
    Init(init::InitArgs),
    /// Run the whole pipeline on a scratch project, end to end
    ///
    /// Creates a small shell project in a new repository, then runs the real commands one after
    /// the other, as you would: init, plan a Score of five tasks, approve the plan, run it (a
    /// scripted `command` performer writes each task; one result fails its check, is rejected and
    /// reworked), check and merge, roll one task back, approve landing, land. With --agents the
    /// tasks go to the Claude Code, Codex and Gemini CLIs installed here, with your own logins.
    ///
    /// `git maestro -C <dir> demo` creates the scratch project in <dir>, as `git -C <dir> init`
    /// does; a relative --dir is taken from there.
    Demo(demo::DemoArgs),
    /// Store a draft Score from a Score file, or have a planner agent write one
    ///
    /// With --from, reads a Score file. With a requirement and --with, the planner performer gets
    /// the requirement, a summary of the repository and the Score schema, and writes the Score;
    /// an invalid answer goes back to it once with the problems. Either way everything is
    /// validated first: ids, duplicate ids, unknown dependencies, dependency cycles and scope globs,
    /// every problem reported at once with its field. Nothing is written unless the whole Score is
    /// valid. The Score starts as a draft: look at it, edit it with `git maestro score edit`, and
    /// approve it before running it.
    Plan(plan::PlanArgs),
    #[command(subcommand)]
    Score(score::ScoreCommand),
    #[command(subcommand)]
    Task(task::TaskCommand),
    /// Approve a submitted task, or a Score
    ///
    /// `approve <score>/<task>` is the human step of a task's approval chain: the task goes from
    /// submitted to approved. `approve <score>` is Score-level approval: on a draft it approves the
    /// plan so that it may run; afterwards it approves landing the Score on its target. Every
    /// verdict is recorded as a decision.
    Approve(approve::ApproveArgs),
    /// Reject a submitted task, with the reason
    ///
    /// The task goes from submitted to rejected; the reason is recorded as a decision and is what a
    /// rework is told.
    Reject(approve::RejectArgs),
    /// Run a Score: every task, concurrently, from ready to merged
    ///
    /// A task is ready when its dependencies are merged. Ready tasks go to the performer routing
    /// picks (`--explain` shows the choice and does nothing else), up to --max-parallel at once and
    /// each performer's own `max_parallel`; then through their approval chain and into the
    /// integration branch. Failures, rejections and conflicts go back with the reason in the next
    /// prompt, up to the Score's `max_attempts`; then the task is blocked. A human step waits
    /// without holding up other tasks. Ctrl-C stops cleanly; running again resumes from the state.
    Run(run::RunArgs),
    /// Show the board: every Score and its tasks
    ///
    /// For each task: status, who holds it, attempts so far, and what it waits for: the next step
    /// of a submitted result's approval chain, or a person or a retry, with the reason, for a task
    /// that is blocked, failed, rejected, in conflict, stopped on an error in its approval chain,
    /// or whose record `run` cannot use. Below each Score: conflicts `sync` settled on its tasks
    /// (resolve with `git maestro sync --resolve <score>/<task>`), and the conflicts forecast
    /// between its active branches.
    ///
    /// A Score of more than 50 tasks is shown in brief: how many tasks are in each status, and
    /// only the tasks that are not pending, ready, merged or reverted (`--all` lists them all).
    /// The brief is kept per bucket of task records in `.git/maestro/cache/`, so a status after a
    /// change reads only the records near it.
    ///
    /// With `--watch`, print a `snapshot` of the board, then one line per change of the state
    /// (a task's status, an attempt started or ended, an approval step passed, something that
    /// needs a person), until Ctrl-C or until stdout closes; JSON Lines with `--json`.
    Status(status::StatusArgs),
    /// Watch every agent live, see what needs you, and act on it
    ///
    /// The needs-you list comes first (human approvals, checkpoints, blocked tasks, budget stops,
    /// conflicts), then each Score's tasks as a dependency tree with status, performer, attempt,
    /// elapsed time and usage; below, the selected task's latest run as it happens. Keys: ↑/↓ or
    /// j/k select, a approve, r reject (type the reason, Enter), d the diff against the
    /// integration branch in your pager, t retry (`task run` in the background, its output in
    /// .git/maestro/logs/board/), s stop its running attempt (`task stop`), o a shell in its
    /// worktree, m merge it (`merge` in the background, the board still drawing while post-merge
    /// checks run; its result on the status line), q or Ctrl-C quit. NO_COLOR turns colour off.
    /// Open tasks whose scopes overlap another open task's carry a warning; records the state
    /// refuses are listed with why.
    Board(board::BoardArgs),
    #[command(subcommand)]
    Budget(budget::BudgetCommand),
    /// Push a submitted task's branch and open a pull request for it
    ///
    /// Pushes maestro/<score>/tasks/<task> with `git push` (never forced) and, when `gh` is
    /// installed, opens a PR into the Score's target with `gh pr create`; the URL is recorded on the
    /// task. Running it again after a rework pushes the new result to the same PR. The task's `pr`
    /// approval step (`git maestro task review`) then takes the PR's review decision, or without
    /// `gh`, finds the branch merged into the remote target after a fetch.
    Pr(pr::PrArgs),
    /// Merge an approved task into its Score's integration branch
    ///
    /// The merge happens in memory (no checkout) and writes a merge commit with Maestro-Score and
    /// Maestro-Task trailers on maestro/<score>/integration, created from the Score's target on first
    /// use. A conflict moves nothing: the task becomes `conflict` with the paths recorded (exit 1).
    /// A branch checked out in any worktree is never moved. A failing post-merge check reverts the
    /// merge and sends the task back for rework with the check's output (exit 1).
    Merge(merge::MergeArgs),
    /// Revert a task's merge, or every merge of a Score, on the integration branch
    ///
    /// `rollback <score>/<task>` appends a revert of that task's merge; later merges of other tasks
    /// stay. `rollback <score>` reverts all the Score's merges, newest first, and moves the branch
    /// once. History is never rewritten. A revert that conflicts is refused with the paths.
    ///
    /// Rolling back a task whose merged dependants build on it warns and names them;
    /// --with-dependants reverts them too. After the Score has landed, its target still holds the
    /// reverted changes: the Score goes back to running, and landing it again brings the revert.
    Rollback(rollback::RollbackArgs),
    /// Bring a Score's integration branch into its target branch
    ///
    /// Needs Score-level approval given after the last merge: `git maestro approve <score>`, or with
    /// --pr a pull request from the integration branch to the target. The first `land --pr` pushes
    /// the integration branch and opens the PR (with `gh` when installed); a later one lands once the
    /// PR is approved, or merged on the remote (then the target fast-forwards to the remote's).
    /// Fast-forwards when possible, otherwise writes a merge commit. A target checked out in a clean
    /// worktree is updated there; one with uncommitted changes is refused.
    Land(land::LandArgs),
    /// Forecast conflicts between a Score's tasks, before anyone merges
    ///
    /// Two parts: tasks whose declared scopes overlap (known at plan time), and pairs of active
    /// task branches, or a task branch and the integration tip, whose merge conflicts right now
    /// (merged in memory, nothing is written to any branch). Without a Score, every Score.
    Conflicts(conflicts::ConflictsArgs),
    /// Record a decision in the shared decision log
    ///
    /// Decisions are append-only. Secrets (tokens with known prefixes, private keys) in the text are
    /// redacted before anything is written. Approvals, rejections, merges, landings, rollbacks and
    /// assignments are recorded only by the commands that make them (`approve`, `reject`, `merge`,
    /// `land`, `rollback`, `run`), never by `decide`.
    Decide(decide::DecideArgs),
    /// List recorded decisions, oldest first
    ///
    /// Filters combine: by Score, task, kind, actor and time.
    Decisions(decisions::DecisionsArgs),
    /// Show what the performers' attempts used and cost
    ///
    /// Reads the state alone, so every clone shows the same figures after `git maestro sync`.
    /// Each row adds up the attempts of one Score, task, performer, model (`unknown` when none was
    /// recorded) or local day (of the attempt's start): attempts, budget stops (attempts a budget
    /// cap stopped), input, cache read, cache write and output tokens, and the cost of the attempts
    /// whose cost is known. An attempt that used tokens of a model without a price is counted as
    /// unknown, never as $0: `$1.20 + 2 unknown`. A TOTAL row ends the table.
    ///
    /// MERGED counts the merged tasks in the row of their last attempt (for `--by performer`, the
    /// performer that finished them). PER MERGED is the cost of all the attempts of those tasks
    /// (whoever ran them), divided by their number, over the merged tasks whose cost is known:
    /// every attempt that used tokens has a cost.
    Costs(costs::CostsArgs),
    #[command(subcommand)]
    Kb(kb::KbCommand),
    #[command(subcommand)]
    Handover(handover::HandoverCommand),
    /// Show the history of the shared state, newest first
    ///
    /// One line per operation: when, who, and what. The same history is plain git:
    /// `git log refs/maestro/state`.
    Log(log::LogArgs),
    /// Check this repository's git-maestro setup and state
    ///
    /// Checks the git version, the ref storage, leftover locks, the pre-push hook, the checkout's
    /// .worktreeinclude, that every file of the state parses, and the lifecycle's invariants over
    /// the state and the branches:
    ///
    /// I1: every merged task's merge commit is on its Score's integration branch and names it.
    ///
    /// I2: every reverted task's merge is reverted later on that branch.
    ///
    /// I3: no task is running without a live run (or another machine's), and no lease outlives its
    /// run.
    ///
    /// I4: every commit the state names exists and is reachable from a ref.
    ///
    /// I5: every landed Score's target holds the integration tip it landed.
    ///
    /// I6: no integration branch holds a task merge the state does not know.
    ///
    /// I7: every Score's status says what its tasks say: done once every task is merged, not done
    /// while one is not, not landed while one is still to do.
    ///
    /// Git effects that a stopped git-maestro process recorded but did not finish are reported;
    /// the next command that writes finishes them. Each finding that needs attention comes with a
    /// hint. Exits 1 when anything is broken. Reads only, unless `--fix` is given.
    Doctor(doctor::DoctorArgs),
    /// Relay maestro's MCP tools to a performer run, over stdin and stdout
    ///
    /// A performer's agent CLI starts this for you. It serves nothing itself: it forwards JSON-RPC
    /// lines to the git-maestro process that runs the performer, over the run's Unix socket
    /// (MAESTRO_MCP_SOCKET), presenting the run's token (MAESTRO_MCP_TOKEN) and its Score, task and
    /// run (MAESTRO_SCORE, MAESTRO_TASK, MAESTRO_RUN). Without that live run it answers the first
    /// request with an error and exits 1. Every tool works on the run's own task, and writes are
    /// refused once the run has ended.
    Mcp(mcp::McpArgs),
    /// List the configured performers and whether their CLIs are installed
    ///
    /// Performers come only from trusted config: ~/.config/git-maestro/config.toml, the checkout's
    /// .maestro/config.toml and `git config maestro.performer.<name>.<key>`. Each performer's
    /// `command` is resolved as a shell would, without running it: a bare name on PATH, a relative
    /// path from the main checkout, `~/` from your home directory.
    ///
    /// With --check, also checks that each performer can run as configured and exits 1 when one
    /// cannot: the command must be an executable file; the settings each agent CLI needs must be
    /// there (e.g. Gemini with `base_url` needs `isolate_home = true`); and claude, codex and
    /// gemini are asked for `--version`, which is compared with the version the test suite drives.
    /// A `command` performer is never run: only that it is executable is checked. It also says how
    /// new worktrees are prepared (what .worktreeinclude copies, each setup command and where it
    /// comes from, imported ones marked) and exits 1 when they cannot be (an escaping pattern, an
    /// imported file that cannot be read).
    ///
    /// With --stats, shows what was learned about each performer from finished tasks, by task kind
    /// and language.
    ///
    /// Endpoint and process settings of a `[performers.<name>]` table (all optional):
    ///
    ///   base_url = "http://127.0.0.1:8080"   the model endpoint instead of the vendor's: Claude gets
    ///                                        ANTHROPIC_BASE_URL, Gemini GOOGLE_GEMINI_BASE_URL
    ///                                        (needs isolate_home), Codex a Responses provider
    ///   api_key_env = "MY_GATEWAY_KEY"       the variable of your environment holding the key; it is
    ///                                        passed as ANTHROPIC_API_KEY, GEMINI_API_KEY or Codex's
    ///                                        provider key, and must be set when a task runs
    ///   isolate_home = true                  give the CLI its own home under .git/maestro/homes/
    ///                                        instead of your login and settings (default false)
    ///   env = { HTTPS_PROXY = "http://proxy:3128" }
    ///                                        extra environment; only PATH, HOME, locale and a few
    ///                                        others are inherited otherwise
    ///   extra_args = ["--max-turns", "40"]   appended to the CLI's command line (for `command`
    ///                                        performers, its only arguments)
    ///
    /// In git config the keys drop the underscores: `git config maestro.performer.gemini.baseUrl …`.
    #[command(verbatim_doc_comment)]
    Performers(performers::PerformersArgs),
    /// Share the state with a remote: fetch, merge, push
    ///
    /// Fetches the remote's refs/maestro/state, merges it with the local state record by record
    /// (statuses by lifecycle, lists as unions, counters added, other fields by last writer on
    /// hybrid clocks; of two claims made apart, the one pushed first wins), and pushes the result with `git push`,
    /// never forced, retrying up to 5 rounds when the remote moves meanwhile. A remote state that
    /// went back in time is quarantined under refs/maestro/quarantine/ and not adopted. Before
    /// pushing, it runs the pre-push hook's checks itself, so --no-verify cannot skip them.
    ///
    /// The same fetch brings the Scores' branches (refs/remotes/<remote>/maestro/...): each
    /// integration branch is fast-forwarded, or merged with the remote's when both machines merged
    /// tasks, and pushed; task branches with results are pushed for review.
    Sync(sync::SyncArgs),
    /// Clean up finished Scores, keeping every commit reachable
    ///
    /// For each Score that landed, was rolled back or failed: removes its task worktrees (not one
    /// with uncommitted changes, or held by a run; clean ones are parked in the warm worktree pool
    /// for the next tasks while it holds fewer than `[worktrees] pool`, 4 by default), its scratch
    /// worktrees, its branches maestro/<score>/tasks/* and maestro/<score>/integration (not one
    /// checked out anywhere, nor an integration branch a remote lacks commits of: sync first), and
    /// the refs/maestro/keep/* refs of its history. Every removed tip first becomes a parent of one
    /// archive commit, refs/maestro/archive/<score>, so nothing is lost. Scores still draft,
    /// approved, running or done are left alone. Running it again changes nothing.
    Gc(gc::GcArgs),
    #[command(subcommand)]
    Worktrees(worktrees::WorktreesCommand),
    /// Print a shell completion script
    ///
    /// Bash: the script also defines `_git_maestro`, which git's own completion calls, so
    /// `git maestro <TAB>` completes commands, options, Score ids and task addresses. Add
    /// `source <(git maestro completions bash)` to ~/.bashrc.
    ///
    /// Zsh: write it as `_git-maestro` into a directory on $fpath. Fish: write it to
    /// ~/.config/fish/completions/git-maestro.fish. Both shells' git completions use it for
    /// `git maestro`.
    Completions(completions::CompletionsArgs),
    /// Write the man pages where `man` finds them
    ///
    /// Writes one page per command (git-maestro.1, git-maestro-<command>.1, …), generated from
    /// the same definitions as --help. By default they go beside the binary, into
    /// <bin>/../share/man/man1, which man-db searches for every directory on PATH, so that
    /// `git maestro --help` and `man git-maestro` work without setting MANPATH. `git maestro init`
    /// does this when the pages are missing.
    InstallMan(install_man::InstallManArgs),
    #[command(subcommand, hide = true)]
    Hook(hook::HookCommand),
    /// Run a command so that nothing it starts outlives it
    ///
    /// git-maestro starts this around every performer and check it runs; it is not meant to be run
    /// by hand. It spawns the command with its own stdio, directory and environment, kills every
    /// process the command left behind when the command exits, times out, or this process receives
    /// SIGTERM, writes a report to --report, and exits with the command's status.
    #[command(hide = true)]
    Supervise(supervise::SuperviseArgs),
    /// Print completion candidates, one a line
    #[command(name = "__complete", hide = true)]
    Complete(complete::CompleteArgs),
}

impl Command {
    /// Whether the command only reads the state and prints: no lock, no write (not even a
    /// cache, as `status` and `kb search` keep), no watch loop, no child process.
    pub fn reads_only(&self) -> bool {
        use {budget::BudgetCommand as B, handover::HandoverCommand as H, kb::KbCommand as K};
        use {score::ScoreCommand as S, task::TaskCommand as T, worktrees::WorktreesCommand as W};
        matches!(
            self,
            Command::Task(T::Show(_) | T::List(_))
                | Command::Score(S::Show(_) | S::List(_))
                | Command::Kb(K::Show(_))
                | Command::Handover(H::Show(_) | H::List(_))
                | Command::Budget(B::Show(_))
                | Command::Worktrees(W::List(_))
                | Command::Log(_)
                | Command::Decisions(_)
                | Command::Costs(_)
        )
    }
}

/// Run one command.
pub fn run(ctx: &Context, command: Command) -> CommandResult {
    match command {
        Command::Init(args) => init::cmd_init(ctx, &args),
        Command::Demo(args) => demo::cmd_demo(ctx, &args),
        Command::Plan(args) => plan::cmd_plan(ctx, &args),
        Command::Score(cmd) => score::run(ctx, cmd),
        Command::Task(cmd) => task::run(ctx, cmd),
        Command::Approve(args) => approve::cmd_approve(ctx, &args),
        Command::Reject(args) => approve::cmd_reject(ctx, &args),
        Command::Run(args) => run::cmd_run(ctx, &args),
        Command::Status(args) => status::cmd_status(ctx, &args),
        Command::Board(args) => board::cmd_board(ctx, &args),
        Command::Budget(cmd) => budget::run(ctx, cmd),
        Command::Pr(args) => pr::cmd_pr(ctx, &args),
        Command::Merge(args) => merge::cmd_merge(ctx, &args),
        Command::Rollback(args) => rollback::cmd_rollback(ctx, &args),
        Command::Land(args) => land::cmd_land(ctx, &args),
        Command::Conflicts(args) => conflicts::cmd_conflicts(ctx, &args),
        Command::Decide(args) => decide::cmd_decide(ctx, &args),
        Command::Decisions(args) => decisions::cmd_decisions(ctx, &args),
        Command::Costs(args) => costs::cmd_costs(ctx, &args),
        Command::Kb(cmd) => kb::run(ctx, cmd),
        Command::Handover(cmd) => handover::run(ctx, cmd),
        Command::Log(args) => log::cmd_log(ctx, &args),
        Command::Doctor(args) => doctor::cmd_doctor(ctx, &args),
        Command::Mcp(args) => mcp::cmd_mcp(ctx, &args),
        Command::Performers(args) => performers::cmd_performers(ctx, &args),
        Command::Sync(args) => sync::cmd_sync(ctx, &args),
        Command::Gc(args) => gc::cmd_gc(ctx, &args),
        Command::Worktrees(cmd) => worktrees::run(ctx, cmd),
        Command::Completions(args) => completions::cmd_completions(ctx, &args),
        Command::InstallMan(args) => install_man::cmd_install_man(ctx, &args),
        Command::Hook(cmd) => hook::run(ctx, cmd),
        Command::Supervise(args) => supervise::cmd_supervise(ctx, &args),
        Command::Complete(args) => complete::cmd_complete(ctx, &args),
    }
}

/// Say what a write did: the usual last line of a mutating command.
fn report_write<T>(ctx: &Context, outcome: &crate::store::Outcome<T>, done: &str) {
    for notice in &outcome.notices {
        ctx.ui.warn(notice);
    }
    match outcome.commit {
        Some(_) => ctx.ui.status(done),
        None => ctx.ui.status("Nothing changed."),
    }
}
