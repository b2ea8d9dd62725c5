#!/usr/bin/env bash
# Lists the `crate::` imports between the top-level modules of src/ (a module is src/X.rs or
# src/X/) and exits 1 when they form a cycle. Comment lines (`//`, `//!`, `///`) are not
# imports and are skipped; everything else, test modules included, counts.
# Usage: scripts/module-cycles.sh [-v]   (-v prints every edge)
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
edges=$(mktemp)
modules=$(mktemp)
trap 'rm -f "$edges" "$modules"' EXIT
for path in src/*.rs src/*/; do
    [[ "$path" == src/bin/ || "$path" == src/lib.rs || "$path" == src/main.rs ]] && continue
    module=$(basename "${path%/}" .rs)
    echo "$module" >>"$modules"
    if [[ -d "$path" ]]; then files=$(find "$path" -name '*.rs'); else files=$path; fi
    # shellcheck disable=SC2086
    grep -hv '^\s*//' $files | { grep -o 'crate::[a-z_][a-z0-9_]*' || true; } | sed 's/crate:://' |
        sort -u | while read -r target; do
            if [[ "$target" != "$module" ]] && { [[ -f "src/$target.rs" ]] || [[ -d "src/$target" ]]; }; then
                echo "$module $target"
            fi
        done
done | sort -u >"$edges"
[[ "${1:-}" == -v ]] && cat "$edges"
# A run that finds (almost) no modules or no imports would pass vacuously: the crate has more.
found=$(sort -u "$modules" | wc -l)
if (( found < 15 )) || [[ ! -s "$edges" ]]; then
    echo "module-cycles.sh found only $found top-level modules and $(wc -l <"$edges") imports under src/; expected at least 15 (run from the repository)" >&2
    exit 1
fi
if ! cycles=$(tsort "$edges" 2>&1 >/dev/null) || [[ -n "$cycles" ]]; then
    echo "import cycles between top-level modules of src/:" >&2
    echo "$cycles" | sed -E 's/^tsort: .*input contains a loop:$/cycle:/; s/^tsort: /  /' >&2
    exit 1
fi
echo "no import cycles between the $found top-level modules of src/ ($(wc -l <"$edges") imports)"
