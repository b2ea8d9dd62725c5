#!/usr/bin/env bash
# Incremental cache (issue 16): cold vs warm vs one subscription file changed, 3x alternated.
# B=binary REPO=generated book CACHE=cache folder (removed before each cold run); docs/performance.md.
B=${B:-target/release/channelguard}
REPO=${REPO:-/tmp/cache-10k}
CACHE=${CACHE:-/tmp/cg10k-bench}
SUB=$REPO/subscriptions/c007046/c007046-sub-02.yaml
run() { /usr/bin/time -f "wall %e s, cpu %U+%S s" "$B" check "$REPO" --as-of 2024-06-30 --format json --cache-dir "$CACHE" --timings > /tmp/bench-out.json 2> /tmp/bench-err.txt; tail -1 /tmp/bench-err.txt; grep -E "reused|policies|parse and validate, or decode" /tmp/bench-err.txt | sed "s/^ *//; s/reused from the cache/reused/"; }
for round in 1 2 3; do
  rm -rf "$CACHE"
  printf 'round %s cold: ' $round; run | tr '\n' ' '; echo
  printf 'round %s warm: ' $round; run | tr '\n' ' '; echo
  sed -i "s/^quantity: .*/quantity: $((100 + round))/" "$SUB"
  printf 'round %s one subscription changed: ' $round; run | tr '\n' ' '; echo
done
sed -i "s/^quantity: .*/quantity: 18/" "$SUB"
