#!/usr/bin/env bash
# Checks that every repository path named in CONTRIBUTING.md and docs/design.md exists: a path
# is a word starting with one of the top-level folders (src/, tests/, docs/, …); a placeholder
# such as `<ID>` or `<format>` and a `*` match any name. Exits 1 listing the missing ones, and
# also when it finds fewer than 10 paths (it would pass by reading nothing).
# Usage: scripts/doc-paths.sh [FILE…]
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
(($# > 0)) || set -- CONTRIBUTING.md docs/design.md
missing=0
found=0
while read -r file path; do
    found=$((found + 1))
    pattern=$(sed -E 's/<[^>]*>/*/g' <<<"$path")
    # shellcheck disable=SC2206
    matches=($pattern)
    if ((${#matches[@]} == 0)) || [[ ! -e "${matches[0]}" ]]; then
        echo "$file: \`$path\` does not exist" >&2
        missing=$((missing + 1))
    fi
done < <(for file in "$@"; do
    grep -oE '(^|[^A-Za-z0-9_./-])(src|tests|docs|scripts|policies|schemas|examples|benches|fuzz|fixtures|\.ci)/[A-Za-z0-9_./<>*-]*' "$file" |
        sed -E 's/^[^a-z.]//; s/[.]+$//' | sort -u | sed "s|^|$file |"
done)
if ((found < 10)); then
    echo "doc-paths.sh found only $found paths in $*; expected at least 10" >&2
    exit 1
fi
if ((missing > 0)); then
    exit 1
fi
echo "all $found paths named in $* exist"
