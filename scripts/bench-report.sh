#!/usr/bin/env bash
# Human report vs JSON report on inputs with many findings and long lines (docs/performance.md,
# issue 11 item 3: the whole human run must stay within 2x the JSON run).
#
#   scripts/bench-report.sh              # builds the release binary, 3 runs per case
#   BENCH_RUNS=5 CHANNELGUARD=target/debug/channelguard scripts/bench-report.sh
#
# Generates under $BENCH_DIR (default /tmp/channelguard-bench-report), each within the data
# limits (10 MiB files, 1 MiB scalars, 250,000 nodes):
#   many   50,000 duplicate keys in one 0.5 MB file (50,000 Y002 findings)
#   big    2,000 duplicate keys after 9 MB of comments (2,000 findings near the end)
#   line   one 9.2 MB line: ten 900 KB scalars, then 20,000 duplicate keys past column 9,000,000
# and times `channelguard check DIR --format json` and `--format human` (stdout to a file;
# --no-builtin-policies) with GNU time: median wall seconds of $BENCH_RUNS runs, and the ratio.
set -euo pipefail

BENCH_DIR=${BENCH_DIR:-/tmp/channelguard-bench-report}
BENCH_RUNS=${BENCH_RUNS:-3}
if [[ -z ${CHANNELGUARD:-} ]]; then
    cargo build --release --quiet
    CHANNELGUARD=${CARGO_TARGET_DIR:-target}/release/channelguard
fi
mkdir -p "$BENCH_DIR"/{many,big,line}
python3 - "$BENCH_DIR" <<'PY'
import sys
d = sys.argv[1]
def dup(comment_bytes, n):
    line = "# " + "c" * 97 + "\n"
    head = line * (comment_bytes // len(line))
    return head + "kind: Partner\nid: many\n" + "".join(f"k{i % 2}: {i}\n" for i in range(n))
open(f"{d}/many/many.yaml", "w").write(dup(0, 50_002))
open(f"{d}/big/big.yaml", "w").write(dup(9_000_000, 2_002))
pads = ", ".join(f'p{j}: "' + "x" * 900_000 + '"' for j in range(10))
keys = ", ".join(f"k{i % 2}: {i}" for i in range(20_002))
open(f"{d}/line/line.yaml", "w").write("{kind: Partner, id: line, " + pads + ", " + keys + "}\n")
PY

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '| input | findings | json s | human s | human/json | load |\n|---|---:|---:|---:|---:|---:|\n'
for case in many big line; do
    dir=$BENCH_DIR/$case
    declare -A times=()
    for format in json human; do
        runs=()
        for _ in $(seq "$BENCH_RUNS"); do
            /usr/bin/time -f '%e' -o "$BENCH_DIR/time" "$CHANNELGUARD" check "$dir" --root "$dir" \
                --as-of 2024-06-30 --color never --no-builtin-policies --format "$format" \
                >"$BENCH_DIR/$case.$format" 2>/dev/null || true
            t=$(tail -1 "$BENCH_DIR/time")
            runs+=("$t")
        done
        times[$format]=$(printf '%s\n' "${runs[@]}" | median)
    done
    findings=$(grep -c '"code": "Y002"' "$BENCH_DIR/$case.json" || true)
    load=$(cut -d' ' -f1 /proc/loadavg)
    ratio=$(awk -v h="${times[human]}" -v j="${times[json]}" 'BEGIN {printf "%.2f", (j > 0 ? h / j : 0)}')
    printf '| %s | %s | %s | %s | %s | %s |\n' "$case" "$findings" "${times[json]}" "${times[human]}" "$ratio" "$load"
done
