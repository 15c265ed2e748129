//! `git maestro completions <shell>`: completion scripts generated from the clap definitions.
//!
//! clap_complete writes the script for the `git-maestro` binary. For bash we add what git's own
//! completion needs: git completes `git <cmd> …` by calling a function `_git_<cmd>` when one
//! exists, so the script defines `_git_maestro`, which hands the words after `maestro` to the
//! generated function. Where an argument is a Score id or a task address (`<score>/<task>`),
//! the candidates come from the state through the hidden `git maestro __complete`. zsh's and
//! fish's git completions call `_git-maestro` and the `git-maestro` completions by themselves.

use std::fmt::Write as _;

use crate::cli::context::Context;
use crate::cli::error::CommandResult;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The binary name the scripts complete; git runs `git maestro` as `git-maestro`.
const BIN: &str = "git-maestro";

pub fn cmd_completions(ctx: &Context, args: &CompletionsArgs) -> CommandResult {
    let script = script(args.shell);
    ctx.ui.line(script.trim_end())?;
    Ok(())
}

/// The whole script for `shell`.
pub fn script(shell: Shell) -> String {
    let generator = match shell {
        Shell::Bash => return bash_script(),
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut cmd = crate::cli::command();
    let mut out = Vec::new();
    clap_complete::generate(generator, &mut cmd, BIN, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The name clap's bash function is generated under. clap_complete 4.6 spells the states of
/// a hyphenated binary two ways, so nothing after a subcommand completes (clap-rs/clap#6421);
/// a name without a hyphen avoids that, and our functions below call it.
const BASH_INNER: &str = "git_maestro_clap";

/// clap's function, without its `complete` line, then ours.
fn bash_script() -> String {
    let mut cmd = crate::cli::command();
    let mut out = Vec::new();
    clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, BASH_INNER, &mut out);
    let mut script = String::from_utf8_lossy(&out).into_owned();
    // The registration at the end names BASH_INNER as a command; ours registers git-maestro.
    if let Some(at) = script.rfind("\nif [[ \"${BASH_VERSINFO[0]}\" -eq 4") {
        script.truncate(at + 1);
    }
    cmd.build();
    script.push_str(&bash_glue(&cmd));
    script
}

/// What kind of value an argument takes, for the dynamic candidates.
fn value_kind(arg: &clap::Arg) -> Option<&'static str> {
    match arg.get_id().as_str() {
        "score" => Some("scores"),
        "task" => Some("tasks"),
        // The positional of `approve` and `rollback`: a task address or a Score id (`plan
        // --target` is a branch).
        "target" if arg.is_positional() => Some("scores tasks"),
        _ => None,
    }
}

/// The bash functions after clap's: the command tree as `case` tables, and `_git_maestro`.
fn bash_glue(root: &clap::Command) -> String {
    let mut subcommands = Vec::new();
    let mut hidden = Vec::new();
    let mut valued = Vec::new();
    let mut kinds = String::new();
    walk(root, "", &mut |path, cmd| {
        for sub in cmd.get_subcommands() {
            let key = format!("'{path}/{}'", sub.get_name());
            if sub.is_hide_set() { hidden.push(key) } else { subcommands.push(key) }
        }
        for (index, arg) in cmd.get_positionals().enumerate() {
            if let Some(kind) = value_kind(arg) {
                let _ = write!(kinds, "\n    '{path}#{index}') echo '{kind}' ;;");
            }
        }
        for arg in cmd.get_opts() {
            let longs =
                arg.get_long_and_visible_aliases().unwrap_or_default().into_iter().map(|l| format!("'{path}--{l}'"));
            let shorts =
                arg.get_short_and_visible_aliases().unwrap_or_default().into_iter().map(|s| format!("'{path}-{s}'"));
            let names: Vec<String> = longs.chain(shorts).collect();
            if names.is_empty() {
                continue;
            }
            if let Some(kind) = value_kind(arg) {
                let _ = write!(kinds, "\n    {}) echo '{kind}' ;;", names.join("|"));
            }
            valued.extend(names);
        }
    });
    let alternatives = |keys: &[String]| if keys.is_empty() { "''".to_owned() } else { keys.join(" | ") };
    BASH_GLUE
        .replace("@SUBCOMMANDS@", &alternatives(&subcommands))
        .replace("@HIDDEN@", &alternatives(&hidden))
        .replace("@VALUED@", &alternatives(&valued))
        .replace("@KINDS@", &kinds)
        .replace("@INNER@", BASH_INNER)
}

/// Visit `cmd` and its visible subcommands, each with its path (`/task/run`).
fn walk(cmd: &clap::Command, path: &str, visit: &mut dyn FnMut(&str, &clap::Command)) {
    visit(path, cmd);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        walk(sub, &format!("{path}/{}", sub.get_name()), visit);
    }
}

const BASH_GLUE: &str = r#"
# --- git integration (not generated by clap) ---

# Whether "<path>/<word>" names a subcommand ("/task", "/task/run").
__git_maestro_is_subcommand ()
{
    case "$1" in
    @SUBCOMMANDS@) return 0 ;;
    esac
    return 1
}

# Whether "<path>/<word>" names a hidden subcommand, never offered.
__git_maestro_is_hidden ()
{
    case "$1" in
    @HIDDEN@) return 0 ;;
    esac
    return 1
}

# Whether the option KEY ("<path>--<long>" or "<path>-<short>") takes a value.
__git_maestro_takes_value ()
{
    case "$1" in
    @VALUED@) return 0 ;;
    esac
    return 1
}

# The kinds of dynamic values at KEY ("<path>#<n>" for the n-th positional, or an option key).
__git_maestro_kinds ()
{
    case "$1" in@KINDS@
    esac
}

# Complete COMP_WORDS/COMP_CWORD, whose first word is the binary.
__git_maestro_complete ()
{
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="" path="" word key="" n=0 i
    [ "$COMP_CWORD" -gt 0 ] && prev="${COMP_WORDS[COMP_CWORD-1]}"
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        key=""
        case "$word" in
        --*=*) ;;
        -*)
            if __git_maestro_takes_value "$path$word" || __git_maestro_takes_value "$word"; then
                i=$((i + 1))
            fi
            ;;
        *)
            if __git_maestro_is_subcommand "$path/$word"; then
                path="$path/$word"
                n=0
            else
                n=$((n + 1))
            fi
            ;;
        esac
    done
    case "$prev" in
    -*) __git_maestro_takes_value "$path$prev" && key="$path$prev" ;;
    esac
    if [ -z "$key" ] && [[ "$cur" != -* ]]; then
        key="$path#$n"
    fi
    local kinds
    kinds="$(__git_maestro_kinds "$key")"
    if [ -n "$kinds" ]; then
        local -a found=()
        local value
        while IFS= read -r value; do
            [[ "$value" == "$cur"* ]] && found+=("$value")
        done < <(__git_maestro_ids $kinds)
        COMPREPLY=("${found[@]}")
        return 0
    fi
    _@INNER@ "${COMP_WORDS[0]}" "$cur" "$prev"
    # clap lists positionals as <NAME>, hints rather than words, and hidden commands too.
    local -a kept=()
    for word in "${COMPREPLY[@]}"; do
        [[ "$word" == \<*\> ]] || __git_maestro_is_hidden "$path/$word" || kept+=("$word")
    done
    COMPREPLY=("${kept[@]}")
}

# Score ids and task addresses from the state; silent when there are none.
__git_maestro_ids ()
{
    if declare -F __git >/dev/null; then
        __git maestro __complete "$@"
    else
        git maestro __complete "$@" 2>/dev/null
    fi
}

# Called by git's completion for `git maestro …`, with words, cword and __git_cmd_idx set.
_git_maestro ()
{
    local at="${__git_cmd_idx:-1}"
    local -a COMP_WORDS=(git-maestro "${words[@]:at+1}")
    local COMP_CWORD=$((cword - at))
    __git_maestro_complete
}

__git_maestro_standalone ()
{
    __git_maestro_complete
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F __git_maestro_standalone -o nosort -o bashdefault -o default git-maestro
else
    complete -F __git_maestro_standalone -o bashdefault -o default git-maestro
fi
"#;
