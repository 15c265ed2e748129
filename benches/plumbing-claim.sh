#!/usr/bin/env bash
# The baseline for benchmark (a): the same state write as `git maestro task claim` (the task
# file and its assignment decision record), done with git plumbing: hash-object -w, ls-tree +
# mktree per level, commit-tree, update-ref <new> <old>.
# Usage: plumbing-claim.sh <score> <task> <holder> <decision-path> <decision-file> <task-path>
set -euo pipefail
score=$1 task=$2 holder=$3 decision_path=$4 decision_file=$5 path=$6
ref=refs/maestro/state
old=$(git rev-parse "$ref")
task_blob=$(git cat-file -p "$old:$path" | sed "s/^status = \"ready\"$/status = \"assigned\"/" |
  { cat; printf '\n[claim]\nholder = "%s"\nsince = "2026-01-01T00:00:00Z"\nop = "plumbing"\n' "$holder"; } |
  git hash-object -w --stdin)
decision_blob=$(git hash-object -w "$decision_file")
# Print the tree at "<old>:<dir>" with entry <name> set to <mode> <type> <id>.
replace() {
  local dir=$1 name=$2 mode=$3 type=$4 id=$5
  { git ls-tree "$old:$dir" 2>/dev/null || true; } | awk -v n="$name" -F'\t' '$2 != n' |
    { cat; printf '%s %s %s\t%s\n' "$mode" "$type" "$id" "$name"; } | git mktree
}
# The task's bucket: scores/<score>/tasks/<a>/<b>/<task>.toml.
IFS=/ read -r _ _ _ ta tb _ <<<"$path"
leaf_tree=$(replace "scores/$score/tasks/$ta/$tb" "$task.toml" 100644 blob "$task_blob")
bucket_tree=$(replace "scores/$score/tasks/$ta" "$tb" 040000 tree "$leaf_tree")
tasks=$(replace "scores/$score/tasks" "$ta" 040000 tree "$bucket_tree")
score_tree=$(replace "scores/$score" tasks 040000 tree "$tasks")
scores=$(replace scores "$score" 040000 tree "$score_tree")
# The decision's place: decisions/<a>/<b>/<c>/<id>.toml.
IFS=/ read -r d a b c file <<<"$decision_path"
leaf=$(replace "$d/$a/$b/$c" "$file" 100644 blob "$decision_blob")
fan_b=$(replace "$d/$a/$b" "$c" 040000 tree "$leaf")
fan_a=$(replace "$d/$a" "$b" 040000 tree "$fan_b")
decisions=$(replace "$d" "$a" 040000 tree "$fan_a")
root=$(git ls-tree "$old" | awk -F'\t' '$2 != "scores" && $2 != "decisions"' |
  { cat; printf '040000 tree %s\tscores\n040000 tree %s\tdecisions\n' "$scores" "$decisions"; } | git mktree)
commit=$(git commit-tree "$root" -p "$old" -m "claim $score/$task")
git update-ref "$ref" "$commit" "$old"
