#!/usr/bin/env bash
# End-to-end benchmark of `channelguard check` (docs/performance.md).
#
#   scripts/bench-e2e.sh                 # sizes 100, 10000, 100000 customers, both shapes
#   BENCH_SIZES="100 10000" BENCH_SHAPES=distributor scripts/bench-e2e.sh
#
# Builds the release binary, examples/generate.rs and the regorus anchor (benches/anchor, its own
# workspace and target directory), generates (or reuses) repositories of 100, 10,000 and 100,000
# customers (seed 7) in each generator shape of $BENCH_SHAPES (default "default distributor";
# docs/generator.md) under $BENCH_DIR (default /tmp/channelguard-bench), then for each size and
# shape times
#
#   channelguard check DIR --root DIR --as-of 2024-06-30 --format json --output report.json -j T
#
# with T = 1 and 2, $BENCH_RUNS (default 3) runs each, after one untimed 2-thread warm-up run
# (page cache) with `--timings`. It prints a table of medians: wall time, user+sys CPU and peak
# RSS (GNU time), documents/s, the speed-up of 2 threads over 1 and the 1-minute load average
# before each run (the machine may be shared); then the warm-up runs' stage breakdowns, and the
# issue's targets, met or missed.
#
# The anchor (regorus with MC002, MC003, MC012 and dangling customer references, 2 threads;
# benches/anchor/README.md) runs $BENCH_RUNS times on the same repository, each run right after
# one of channelguard's 2-thread runs (alternating, so both see the same machine load), and the
# table gives channelguard's wall time and peak RSS as a ratio to the anchor's medians. It runs
# in its default form (whole-book rules, saphyr's plain loader) plus $BENCH_ANCHOR_ARGS (e.g.
# "--parser serde-yaml" or "--mode per-document"). Its finding counts for MC002, MC003, MC012
# and dangling customer references are compared with channelguard's report (R002 at /customer).
#
# The whole script stops itself after $BENCH_TIMEOUT seconds (default 1200 = 20 minutes).
# Results are also written to $BENCH_DIR/results.tsv; stopped by the limit, it prints what it
# has measured so far.
#
# Environment: BENCH_DIR, BENCH_SIZES, BENCH_SHAPES, BENCH_THREADS, BENCH_RUNS, BENCH_TIMEOUT,
# BENCH_ANCHOR_ARGS, CARGO_TARGET_DIR.
set -euo pipefail

BENCH_TIMEOUT=${BENCH_TIMEOUT:-1200}
if [[ -z ${CHANNELGUARD_BENCH_INNER:-} ]]; then
    # Re-run under a hard time limit; SIGTERM first, SIGKILL 10 s later.
    export CHANNELGUARD_BENCH_INNER=1
    status=0
    timeout --kill-after=10 "$BENCH_TIMEOUT" bash "$0" "$@" || status=$?
    if [[ $status -eq 124 || $status -eq 137 ]]; then
        echo "bench-e2e: stopped after the time limit of ${BENCH_TIMEOUT}s" >&2
    fi
    exit "$status"
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/channelguard-bench}
BENCH_SIZES=${BENCH_SIZES:-"100 10000 100000"}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_SHAPES=${BENCH_SHAPES:-"default distributor"}
# Thread counts to time; 2 is the one compared with the anchor (2 threads).
BENCH_THREADS=${BENCH_THREADS:-"1 2"}
# Extra arguments for every anchor run (word-split).
BENCH_ANCHOR_ARGS=${BENCH_ANCHOR_ARGS:-}
SEED=7
AS_OF=2024-06-30
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$TARGET_DIR/release/channelguard
GEN=$TARGET_DIR/release/examples/generate
ANCHOR_TARGET=$REPO/benches/anchor/target
ANCHOR=$ANCHOR_TARGET/release/channelguard-anchor

say() { printf '%s\n' "$*" >&2; }

if ! /usr/bin/time -f '%e' true >/dev/null 2>&1; then
    say "bench-e2e: GNU time (/usr/bin/time) is needed: apt-get install time"
    exit 2
fi

say "== build (release)"
(cd "$REPO" && cargo build --release --quiet --bin channelguard --example generate)
say "== build the regorus anchor (release; the first build takes minutes)"
cargo build --release --quiet --manifest-path "$REPO/benches/anchor/Cargo.toml" \
    --target-dir "$ANCHOR_TARGET"
mkdir -p "$BENCH_DIR"

say "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
say "== commit: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')"

# Generates (or reuses) the repository of $1 customers in shape $2; prints its directory.
repository() {
    local customers=$1 shape=$2 dir=$BENCH_DIR/c$1
    [[ $shape == default ]] || dir=$dir-$shape
    local stamp="customers=$customers seed=$SEED"
    [[ $shape == default ]] || stamp+=" shape=$shape"
    if [[ -f $dir/.bench-generated ]] && [[ $(cat "$dir/.bench-generated") == "$stamp" ]]; then
        say "== reusing $dir"
    else
        say "== generating $customers customers into $dir"
        rm -rf "$dir"
        mkdir -p "$dir"
        "$GEN" --customers "$customers" --seed "$SEED" --shape "$shape" "$dir" >&2
        printf '%s\n' "$stamp" >"$dir/.bench-generated"
    fi
    printf '%s\n' "$dir"
}

# One timed run: prints "wall cpu rss_kb load1 exit".
timed_run() {
    local dir=$1 threads=$2 out=$3 tfile
    tfile=$(mktemp)
    local load status=0
    load=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -o "$tfile" -f '%e %U %S %M' \
        "$BIN" check "$dir" --root "$dir" --as-of "$AS_OF" --format json --output "$out" \
        -j "$threads" >/dev/null 2>"$out.stderr" || status=$?
    if [[ $status -ge 2 ]]; then
        say "   warning: exit $status (incomplete check); see $out.stderr"
    fi
    # GNU time prepends "Command exited with non-zero status N" on a non-zero exit.
    tail -n 1 "$tfile" | awk -v load="$load" -v st="$status" '{printf "%s %.2f %s %s %s\n", $1, $2 + $3, $4, load, st}'
    rm -f "$tfile"
}

# One timed anchor run (2 threads): prints "wall cpu rss_kb load exit".
anchor_run() {
    local dir=$1 out=$2 tfile
    tfile=$(mktemp)
    local load status=0
    load=$(cut -d' ' -f1 /proc/loadavg)
    # shellcheck disable=SC2086 # BENCH_ANCHOR_ARGS is a list of arguments
    /usr/bin/time -o "$tfile" -f '%e %U %S %M' \
        "$ANCHOR" "$dir" --threads 2 --as-of "$AS_OF" $BENCH_ANCHOR_ARGS >"$out" 2>&1 || status=$?
    if [[ $status -ne 0 ]]; then
        say "   warning: the anchor exited with $status; see $out"
    fi
    tail -n 1 "$tfile" | awk -v load="$load" -v st="$status" '{printf "%s %.2f %s %s %s\n", $1, $2 + $3, $4, load, st}'
    rm -f "$tfile"
}

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

results=$BENCH_DIR/results.tsv
printf 'shape\tcustomers\tdocuments\tfiles\tthreads\twall_s\tcpu_s\trss_mb\tdocs_per_s\tspeedup\tloads\tanchor_wall_s\tanchor_cpu_s\tanchor_rss_mb\twall_ratio\trss_ratio\n' >"$results"
declare -A wall_of docs_of rss_of awall_of arss_of
breakdowns=""
crosschecks=""

summary() {
    echo
    echo "channelguard check, median of $BENCH_RUNS runs (peak RSS in MiB; load = 1-minute load average before each run);"
    echo "anchor = regorus, 3 rules + dangling references, 2 threads (${BENCH_ANCHOR_ARGS:-whole-book rules, saphyr}), runs alternating with channelguard's 2-thread runs;"
    echo "ratio = channelguard / anchor (medians of the same run)"
    echo
    awk -F'\t' 'NR == 1 {
            printf "| shape | customers | documents | files | threads | wall s | CPU s | peak RSS MB | documents/s | 2-thread speed-up | load | anchor wall s | anchor CPU s | anchor RSS MB | wall ratio | RSS ratio |\n"
            printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n"; next }
        { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16 }' "$results"
    echo
    echo "Stage breakdown (check --timings; report writing is not a stage; the anchor's wall and CPU per stage):"
    printf '%s' "$breakdowns"
    echo
    echo "Cross-check, findings per rule (anchor's warm-up run vs channelguard's report):"
    printf '%s' "$crosschecks"

    # The issue's targets, on whichever sizes were run.
    echo
    echo "Targets:"
    verdict() { awk -v v="$1" -v lim="$2" 'BEGIN {if (v <= lim) printf "met (%.0f%% of the limit)", 100 * v / lim; else printf "MISSED by %.0f%%", 100 * (v / lim - 1)}'; }
    local shape
    for shape in $BENCH_SHAPES; do
        if [[ -n ${awall_of[$shape,10000]:-} ]]; then
            echo "  $shape, 10k customers: wall <= 1.0x regorus's: ${wall_of[$shape,10000,2]} s / ${awall_of[$shape,10000]} s -> $(verdict "$(awk -v a="${wall_of[$shape,10000,2]}" -v b="${awall_of[$shape,10000]}" 'BEGIN {printf "%.3f", a / b}')" 1.0)"
            echo "  $shape, 10k customers: peak RSS <= 1.0x regorus's: ${rss_of[$shape,10000,2]} / ${arss_of[$shape,10000]} MiB -> $(verdict "$(awk -v a="${rss_of[$shape,10000,2]}" -v b="${arss_of[$shape,10000]}" 'BEGIN {printf "%.3f", a / b}')" 1.0)"
        fi
    done
    # The earlier issue's absolute targets, on the default shape.
    if [[ -n ${wall_of[default,100,2]:-} ]]; then
        echo "  1k-class (100 customers, ${docs_of[default,100]} docs): whole process <= 0.100 s: ${wall_of[default,100,2]} s -> $(verdict "${wall_of[default,100,2]}" 0.100)"
        echo "  1k-class, issue 15: whole process <= 0.050 s: ${wall_of[default,100,2]} s -> $(verdict "${wall_of[default,100,2]}" 0.050)"
    fi
    if [[ -n ${wall_of[default,10000,2]:-} ]]; then
        echo "  60k-class (${docs_of[default,10000]} docs): wall <= 1.5 s: ${wall_of[default,10000,2]} s -> $(verdict "${wall_of[default,10000,2]}" 1.5)"
        echo "  60k-class: peak RSS <= 300 MB: ${rss_of[default,10000,2]} MiB -> $(verdict "$(awk -v m="${rss_of[default,10000,2]}" 'BEGIN {print m * 1.048576}')" 300)"
        if [[ -n ${wall_of[default,10000,1]:-} ]]; then
            s=$(awk -v a="${wall_of[default,10000,1]}" -v b="${wall_of[default,10000,2]}" 'BEGIN {printf "%.2f", a / b}')
            echo "  60k-class: 2 threads >= 1.7x faster than 1: ${s}x -> $(awk -v s="$s" 'BEGIN {if (s >= 1.7) print "met"; else printf "MISSED (%.0f%% short)", 100 * (1 - s / 1.7)}')"
        fi
    fi
    if [[ -n ${wall_of[default,100000,2]:-} ]]; then
        echo "  600k-class (${docs_of[default,100000]} docs): wall <= 15 s: ${wall_of[default,100000,2]} s -> $(verdict "${wall_of[default,100000,2]}" 15)"
        if [[ -n ${wall_of[default,10000,2]:-} ]]; then
            ratio=$(awk -v a="${wall_of[default,100000,2]}" -v da="${docs_of[default,100000]}" -v b="${wall_of[default,10000,2]}" -v db="${docs_of[default,10000]}" 'BEGIN {printf "%.2f", (a / da) / (b / db)}')
            echo "  600k-class: time per document <= 1.3x the 60k run's: ${ratio}x -> $(verdict "$ratio" 1.3)"
        fi
    fi
    echo
    echo "(results: $results)"
}

# On the time limit, show what was measured so far.
trap 'echo; echo "(stopped by the time limit: partial results)"; summary; exit 124' TERM

for shape in $BENCH_SHAPES; do
for customers in $BENCH_SIZES; do
    dir=$(repository "$customers" "$shape")
    tag=c$customers-$shape
    out=$BENCH_DIR/report-$tag.json
    anchor_out=$BENCH_DIR/anchor-$tag.txt
    # The untimed warm-ups (page cache) are the 2-thread run whose --timings are shown and one
    # anchor run whose finding counts are cross-checked.
    say "== $shape, $customers customers: warm-up, -j 2 --timings, and the anchor"
    breakdown=$("$BIN" check "$dir" --root "$dir" --as-of "$AS_OF" --format json \
        --output "$out" -j 2 --timings 2>&1 >/dev/null | grep -E '^ *[a-z ,]+: +[0-9.]+s$' || true)
    breakdowns+="-- $shape, $customers customers, -j 2, load $(cut -d' ' -f1 /proc/loadavg):"$'\n'"$breakdown"$'\n'
    # shellcheck disable=SC2086 # BENCH_ANCHOR_ARGS is a list of arguments
    "$ANCHOR" "$dir" --threads 2 --as-of "$AS_OF" $BENCH_ANCHOR_ARGS >"$anchor_out" 2>&1 || say "   warning: the anchor failed; see $anchor_out"
    breakdowns+="   anchor: $(grep -E '^stages( cpu)?:' "$anchor_out" | paste -sd ';' -)"$'\n'
    check=""
    for rule in MC002 MC003 MC012 dangling-customer; do
        a=$(awk -v r="$rule" '$1 == "findings" && $2 == r {n += $4} END {print n + 0}' "$anchor_out")
        c=$(jq --arg r "$rule" '[.findings[] | select(.code == $r or ($r == "dangling-customer" and .code == "R002" and .pointer == "/customer"))] | length' "$out")
        check+="$rule anchor $a / channelguard $c$([[ $a == "$c" ]] || echo ' (DIFFERENT)'); "
    done
    crosschecks+="-- $shape, $customers customers: $check"$'\n'
    documents=$(jq '.summary.documents' "$out")
    files=$(jq '.summary.files' "$out")
    for threads in $BENCH_THREADS; do
        runs=()
        aruns=()
        for ((r = 1; r <= BENCH_RUNS; r++)); do
            line=$(timed_run "$dir" "$threads" "$out")
            runs+=("$line")
            say "   -j $threads run $r: wall cpu rss_kb load exit = $line"
            if [[ $threads == 2 ]]; then
                aline=$(anchor_run "$dir" "$anchor_out.run")
                aruns+=("$aline")
                say "   anchor run $r: wall cpu rss_kb load exit = $aline"
            fi
        done
        wall=$(printf '%s\n' "${runs[@]}" | awk '{print $1}' | median)
        cpu=$(printf '%s\n' "${runs[@]}" | awk '{print $2}' | median)
        rss_kb=$(printf '%s\n' "${runs[@]}" | awk '{print $3}' | median)
        loads=$(printf '%s\n' "${runs[@]}" | awk '{printf "%s%s", sep, $4; sep = "/"}')
        rss=$(awk -v k="$rss_kb" 'BEGIN {printf "%.0f", k / 1024}')
        rate=$(awk -v d="$documents" -v w="$wall" 'BEGIN {printf "%.0f", (w > 0 ? d / w : 0)}')
        speedup=-
        if [[ $threads == 2 && -n ${wall_of[$shape,$customers,1]:-} ]]; then
            speedup=$(awk -v a="${wall_of[$shape,$customers,1]}" -v b="$wall" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
        fi
        awall=- acpu=- arss=- wratio=- rratio=-
        if [[ $threads == 2 ]]; then
            awall=$(printf '%s\n' "${aruns[@]}" | awk '{print $1}' | median)
            acpu=$(printf '%s\n' "${aruns[@]}" | awk '{print $2}' | median)
            arss=$(printf '%s\n' "${aruns[@]}" | awk '{print $3}' | median | awk '{printf "%.0f", $1 / 1024}')
            wratio=$(awk -v a="$wall" -v b="$awall" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
            rratio=$(awk -v a="$rss" -v b="$arss" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
            awall_of[$shape,$customers]=$awall
            arss_of[$shape,$customers]=$arss
        fi
        wall_of[$shape,$customers,$threads]=$wall
        rss_of[$shape,$customers,$threads]=$rss
        docs_of[$shape,$customers]=$documents
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$shape" "$customers" \
            "$documents" "$files" "$threads" "$wall" "$cpu" "$rss" "$rate" "$speedup" "$loads" \
            "$awall" "$acpu" "$arss" "$wratio" "$rratio" >>"$results"
    done
done
done

summary
