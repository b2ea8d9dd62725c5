#!/usr/bin/env bash
# Fails when an insta snapshot (`*.snap`) is referenced by no test: a renamed or deleted test
# leaves its snapshot behind, and a stale snapshot looks like a guarantee nobody checks.
#
# insta alone does the bookkeeping (no cargo-insta needed): with INSTA_SNAPSHOT_REFERENCES_FILE
# set, every snapshot assertion appends the path of its snapshot file to that file, passing or
# not. The whole suite must run for the list to be complete, so a filtered run cannot be used.
#
#   scripts/check-snapshots.sh                 runs `cargo test` itself with the variable set
#   scripts/check-snapshots.sh --references F  uses F from a full `cargo test` run that had
#                                              INSTA_SNAPSHOT_REFERENCES_FILE=F (as .ci/run does)
#
# Needs only bash, find, sort, comm and realpath (coreutils); exits 1 listing the unreferenced
# snapshots.
set -euo pipefail
cd "$(dirname "$0")/.."

references=""
if [ "${1:-}" = "--references" ]; then
  references="${2:?--references needs a file}"
else
  references="$PWD/target/snapshot-references.txt"
  mkdir -p target
  rm -f "$references"
  INSTA_SNAPSHOT_REFERENCES_FILE="$references" cargo test
fi
if [ ! -s "$references" ]; then
  echo "check-snapshots: $references is missing or empty: no snapshot assertion ran" >&2
  exit 1
fi

# Both lists as absolute, normalised paths.
referenced=$(xargs -r -d '\n' realpath -m -- < "$references" | sort -u)
present=$(find "$PWD" -name '*.snap' -not -path "$PWD/target/*" -not -path "$PWD/.git/*" \
  -not -path "$PWD/fuzz/target/*" | xargs -r -d '\n' realpath -m -- | sort -u)
unreferenced=$(comm -23 <(printf '%s\n' "$present") <(printf '%s\n' "$referenced") | sed '/^$/d')
if [ -n "$unreferenced" ]; then
  echo "unreferenced insta snapshots (no test asserts them; delete them or restore the test):"
  printf '%s\n' "$unreferenced" | sed "s|^$PWD/|  |"
  exit 1
fi
echo "ok: $(printf '%s\n' "$present" | sed '/^$/d' | wc -l) snapshots, all referenced"
