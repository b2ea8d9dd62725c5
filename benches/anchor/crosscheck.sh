#!/usr/bin/env bash
# Cross-check the anchor's findings with channelguard's (benches/anchor/README.md).
#
#   benches/anchor/crosscheck.sh [DIR...]     # default: every fixtures/scenarios/*/repo
#
# For each repository DIR: runs `channelguard check DIR --root DIR --as-of 2024-06-30 --format
# json` and the anchor in each mode (book, per-document) and parser (saphyr, serde-yaml), 2
# threads, and compares the counts per rule and severity of MC002, MC003, MC012 and dangling
# `customer` references (channelguard's R002 at `/customer`). Prints one line per repository
# and combination that differs, then a summary; exits 1 when any differs.
#
# Environment: CHANNELGUARD (default target/release/channelguard), ANCHOR (default
# benches/anchor/target/release/channelguard-anchor), AS_OF (default 2024-06-30),
# MODES, PARSERS (default "book per-document", "saphyr serde-yaml").
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CG=${CHANNELGUARD:-$REPO/target/release/channelguard}
ANCHOR=${ANCHOR:-$REPO/benches/anchor/target/release/channelguard-anchor}
AS_OF=${AS_OF:-2024-06-30}
MODES=${MODES:-"book per-document"}
PARSERS=${PARSERS:-"saphyr serde-yaml"}

if [[ $# -eq 0 ]]; then
    set -- "$REPO"/fixtures/scenarios/*/repo
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

different=0
checked=0
for dir in "$@"; do
    name=${dir#"$REPO"/}
    "$CG" check "$dir" --root "$dir" --as-of "$AS_OF" --format json --output "$tmp/cg.json" \
        -j 2 >/dev/null 2>&1 || true
    jq -r '.findings[]
        | select(.code == "MC002" or .code == "MC003" or .code == "MC012"
                 or (.code == "R002" and .pointer == "/customer"))
        | (if .code == "R002" then "dangling-customer" else .code end) + " " + .severity' \
        "$tmp/cg.json" | sort | uniq -c | awk '{print $2, $3 ": " $1}' >"$tmp/cg.txt"
    for mode in $MODES; do
        for parser in $PARSERS; do
            "$ANCHOR" "$dir" --threads 2 --as-of "$AS_OF" --mode "$mode" --parser "$parser" \
                >"$tmp/anchor.out" 2>&1 || { echo "$name: the anchor failed ($mode, $parser)"; cat "$tmp/anchor.out"; }
            sed -n 's/^findings //p' "$tmp/anchor.out" | sort >"$tmp/anchor.txt"
            checked=$((checked + 1))
            if ! cmp -s "$tmp/cg.txt" "$tmp/anchor.txt"; then
                different=$((different + 1))
                echo "$name ($mode, $parser): channelguard [$(paste -sd, "$tmp/cg.txt")] anchor [$(paste -sd, "$tmp/anchor.txt")]"
            fi
        done
    done
done
echo "crosscheck: $checked comparisons ($# repositories), $different different"
[[ $different -eq 0 ]]
