#!/usr/bin/env bash
# Incremental cache (issue 16), whole process: cold (no cache folder) vs warm (no change) vs one
# subscription file changed (its `quantity:`) vs one customer file changed (its `name:`; its
# documents are looked up by every relationship, admin record and subscription of that
# customer) vs one partner file changed (its `name:`; looked up by thousands of documents; no
# target, for the record), ROUNDS rounds, alternated. Each edit keeps the earlier ones until the
# round ends, as commits pile up between full runs. Ends with the median wall time of each and its ratio to
# the cold run's median, and compares the last cached report with a --no-cache report (cmp).
# docs/performance.md.
#   B=binary REPO=generated book CACHE=cache folder ROUNDS=3 THREADS=2 scripts/bench-cache.sh
# The book: target/release/examples/generate --customers 10000 /tmp/cache-10k
set -euo pipefail
B=${B:-target/release/channelguard}
REPO=${REPO:-/tmp/cache-10k}
CACHE=${CACHE:-/tmp/cg-bench-cache}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
# The first customer with a subscription folder, and its first subscription file.
SUB=$(find "$REPO/subscriptions" -name '*.yaml' | sort | sed -n 1p)
CUSTOMER=$REPO/customers/$(basename "$(dirname "$SUB")").yaml
PARTNER=$(find "$REPO/partners" -name '*.yaml' | sort | sed -n 1p)
[ -f "$SUB" ] && [ -f "$CUSTOMER" ] && [ -f "$PARTNER" ] || { echo "no subscription/customer/partner in $REPO" >&2; exit 2; }
cp "$SUB" "$OUT/sub.orig"; cp "$CUSTOMER" "$OUT/customer.orig"; cp "$PARTNER" "$OUT/partner.orig"
restore() { cp "$OUT/sub.orig" "$SUB"; cp "$OUT/customer.orig" "$CUSTOMER"; cp "$OUT/partner.orig" "$PARTNER"; }
trap 'restore; rm -rf "$OUT"' EXIT
run() {
  /usr/bin/time -f "wall %e s, cpu %U+%S s, rss %M kB" "$B" check "$REPO" --root "$REPO" \
    --as-of 2024-06-30 --format json --output "$OUT/report.json" -j "$THREADS" \
    "${CACHE_ARGS[@]}" --timings 2> "$OUT/err.txt" || [ $? -eq 1 ]
  tail -1 "$OUT/err.txt"
  tail -1 "$OUT/err.txt" | sed -E 's/^wall ([0-9.]+) s.*/\1/' >> "$OUT/wall-$SCENARIO"
  grep -E "reused from the cache|evaluations:|^ *policies:|patched|not patched" "$OUT/err.txt" | sed 's/^ *//' || true
}
CACHE_ARGS=(--cache-dir "$CACHE")
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
SCENARIOS=(cold warm subscription customer partner)
for round in $(seq 1 "$ROUNDS"); do
  rm -rf "$CACHE"
  SCENARIO=cold; printf 'round %s cold: ' "$round"; run | tr '\n' ' '; echo
  SCENARIO=warm; printf 'round %s warm, no change: ' "$round"; run | tr '\n' ' '; echo
  sed -i "s/^quantity: .*/quantity: $((round + 900))/" "$SUB"
  cmp -s "$SUB" "$OUT/sub.orig" && { echo "no quantity: line in $SUB" >&2; exit 2; }
  SCENARIO=subscription; printf 'round %s one subscription file changed: ' "$round"; run | tr '\n' ' '; echo
  sed -i "s/^name: .*/name: Renamed $round/" "$CUSTOMER"
  SCENARIO=customer; printf 'round %s one customer file changed: ' "$round"; run | tr '\n' ' '; echo
  sed -i "s/^name: .*/name: Renamed Partner $round/" "$PARTNER"
  SCENARIO=partner; printf 'round %s one partner file changed: ' "$round"; run | tr '\n' ' '; echo
  if [ "$round" = "$ROUNDS" ]; then
    # The patched result of the last round against an uncached run of the same tree.
    cp "$OUT/report.json" "$OUT/patched.json"
    CACHE_ARGS=(--no-cache); SCENARIO=final; run > /dev/null; CACHE_ARGS=(--cache-dir "$CACHE")
    cmp "$OUT/patched.json" "$OUT/report.json" && echo "patched and --no-cache reports are byte-identical"
  fi
  restore
done
SCENARIO=final; run > /dev/null; cp "$OUT/report.json" "$OUT/cached.json"
CACHE_ARGS=(--no-cache)
SCENARIO=final; run > /dev/null
median() { sort -n "$OUT/wall-$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
COLD=$(median cold)
for scenario in "${SCENARIOS[@]}"; do
  m=$(median "$scenario")
  awk -v s="$scenario" -v m="$m" -v c="$COLD" 'BEGIN {printf "median %-12s %6.2f s  %.3f x cold\n", s, m, m / c}'
done
cmp "$OUT/cached.json" "$OUT/report.json" && echo "replayed and --no-cache reports are byte-identical"
