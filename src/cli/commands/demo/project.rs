//! The demo's scratch project: a tiny shell calculator, its checks, a Score of five tasks, and
//! a scripted performer that writes each task's part (and gets one wrong the first time, so the
//! demo shows a rejection and its rework).

/// Files of the initial commit.
pub const FILES: &[(&str, &str)] = &[
    ("README.md", "# calc\n\nA tiny calculator in POSIX shell, built by git-maestro's demo.\n"),
    (
        "check.sh",
        r#"#!/bin/sh
# The project's checks: every operation that exists gives the right answers.
if [ ! -f lib/ops.sh ]; then echo "nothing to check yet"; exit 0; fi
. ./lib/ops.sh
if command -v add >/dev/null 2>&1; then
    [ "$(add 2 3)" = 5 ] || { echo "add 2 3 gave $(add 2 3), expected 5"; exit 1; }
fi
if command -v sub >/dev/null 2>&1; then
    [ "$(sub 7 2)" = 5 ] || { echo "sub 7 2 gave $(sub 7 2), expected 5"; exit 1; }
fi
if [ -f calc ]; then
    [ "$(sh calc add 1 1)" = 2 ] || { echo "calc add 1 1 did not give 2"; exit 1; }
fi
echo "all checks passed"
"#,
    ),
];

/// The Score, planned with `plan --from`.
pub const SCORE: &str = r#"format = 1
id = "calc"
title = "A calculator with add and sub"
requirement = "A command-line calculator: calc add|sub A B prints the result."
target = "main"
plan_approval = "human"
approval = ["checks"]
post_merge_checks = ["test"]
conflict_policy = "serialize"
max_attempts = 3

[[tasks]]
id = "interface"
title = "The operations' interface"
kind = "interface"
languages = ["shell"]
spec = "lib/ops.sh loads each operation from lib/<op>.sh when present."
scope = ["lib/ops.sh"]
checks = ["test"]

[[tasks]]
id = "add"
title = "Addition"
languages = ["shell"]
spec = "add A B prints A + B, in lib/add.sh."
acceptance = ["add 2 3 prints 5"]
scope = ["lib/add.sh"]
deps = ["interface"]
checks = ["test"]

[[tasks]]
id = "sub"
title = "Subtraction"
languages = ["shell"]
spec = "sub A B prints A - B, in lib/sub.sh."
acceptance = ["sub 7 2 prints 5"]
scope = ["lib/sub.sh"]
deps = ["interface"]
checks = ["test"]

[[tasks]]
id = "cli"
title = "The calc command"
languages = ["shell"]
spec = "calc OP A B runs the operation OP from lib/ops.sh."
scope = ["calc"]
deps = ["add", "sub"]
checks = ["test"]

[[tasks]]
id = "docs"
title = "Usage docs"
kind = "docs"
spec = "docs/usage.md shows how to run calc."
scope = ["docs/*"]
deps = ["cli"]
checks = ["test"]
"#;

/// The scripted performer: a `command` performer like any other. It reads the prompt on
/// stdin, as every performer does, and writes the files of `$MAESTRO_TASK`.
pub const PERFORMER: &str = r#"#!/bin/sh
# git-maestro demo performer: writes the part of the calculator its task asks for.
prompt=$(cat)
case "$MAESTRO_TASK" in
interface)
    mkdir -p lib
    printf '%s\n' '# Load every operation that exists.' \
        'for op in add sub; do [ -f "lib/$op.sh" ] && . "./lib/$op.sh"; done' > lib/ops.sh
    echo "Wrote lib/ops.sh, which loads lib/<op>.sh for each operation." ;;
add)
    printf '%s\n' 'add() { echo $(($1 + $2)); }' > lib/add.sh
    echo "Wrote add in lib/add.sh." ;;
sub)
    case "$prompt" in
    *rework*)
        printf '%s\n' 'sub() { echo $(($1 - $2)); }' > lib/sub.sh
        echo "Fixed sub: it subtracts now." ;;
    *)
        printf '%s\n' 'sub() { echo $(($1 + $2)); }' > lib/sub.sh
        echo "Wrote sub in lib/sub.sh." ;;
    esac ;;
cli)
    printf '%s\n' '#!/bin/sh' '# calc OP A B' '. ./lib/ops.sh' '"$1" "$2" "$3"' > calc
    chmod +x calc
    echo "Wrote the calc command." ;;
docs)
    mkdir -p docs
    printf '%s\n' '# Usage' '' '    sh calc add 2 3   # 5' '    sh calc sub 7 2   # 5' > docs/usage.md
    echo "Wrote docs/usage.md." ;;
*)
    echo "no idea what $MAESTRO_TASK is" >&2; exit 1 ;;
esac
"#;

/// Trusted config for the scripted performer at `performer`.
pub fn config(performer: &str) -> String {
    format!(
        "# Written by `git maestro demo`.\n[performers.scripted]\nadapter = \"command\"\ncommand = \"{performer}\"\n\
         max_parallel = 2\ntimeout = \"1m\"\n\n[checks.test]\nrun = \"sh check.sh\"\ntimeout = \"1m\"\n"
    )
}

/// Trusted config using the installed agent CLIs `agents` (adapter names) with the user's own
/// logins.
pub fn agents_config(agents: &[&str]) -> String {
    let mut out = String::from("# Written by `git maestro demo --agents`.\n");
    for a in agents {
        out.push_str(&format!("[performers.{a}]\nadapter = \"{a}\"\ntimeout = \"10m\"\n\n"));
    }
    out.push_str("[checks.test]\nrun = \"sh check.sh\"\ntimeout = \"1m\"\n");
    out
}
