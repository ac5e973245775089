#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz.
#
#   run_fuzz.sh short BINARY TARGET FUZZ_SRC WORK [RUNS]
#       A fixed, seeded run (RUNS inputs, default 5000) over the committed corpus and the
#       regression inputs, for CTest: new inputs go to WORK/TARGET (emptied first), never into
#       the committed corpus. Fails on any crash, leak, sanitizer report or timeout.
#   run_fuzz.sh long BIN_DIR FUZZ_SRC WORK SECONDS [TARGET...]
#       Each target (all by default) for SECONDS, one after the other, growing a scratch corpus
#       WORK/corpus/TARGET (kept between runs; seeded from the committed corpus and the
#       regressions), with findings in WORK/artifacts/TARGET/ and the log in WORK/logs/.
#       Prints per target the runs, seconds, corpus size and findings, and for each finding its
#       path and the command that reproduces it. Exits 1 when anything was found.
#       FUZZ_KEEP_GOING=1 keeps fuzzing after a finding (libFuzzer's fork mode).
set -u

targets_all="safetensors csv idx spec yaml pipeline model_file train_state dataset_file"

# Longest input per target: above its largest seed, small enough for thousands of runs a second.
max_len() {
    case "$1" in
        csv | spec | yaml) echo 4096 ;;
        train_state) echo 16384 ;;
        *) echo 8192 ;;
    esac
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export OPENBLAS_NUM_THREADS=1

corpus_dirs() { # FUZZ_SRC TARGET: the committed directories that exist
    local d
    for d in "$1/corpus/$2" "$1/regressions/$2"; do
        [ -d "$d" ] && printf '%s\n' "$d"
    done
}

short() {
    local bin=$1 t=$2 src=$3 work=$4 runs=${5:-5000}
    local out="$work/$t"
    rm -rf "$out" && mkdir -p "$out" "$work/artifacts"
    mapfile -t dirs < <(corpus_dirs "$src" "$t")
    "$bin" -runs="$runs" -seed=1 -max_len="$(max_len "$t")" -timeout=60 -rss_limit_mb=2048 \
        -artifact_prefix="$work/artifacts/$t-" "$out" "${dirs[@]}"
    local rc=$?
    if [ $rc -ne 0 ]; then
        local a
        a=$(ls -t "$work/artifacts/$t-"* 2>/dev/null | head -1)
        echo "fuzz.$t failed (exit $rc) on ${a:-an input (see above)}" >&2
        [ -n "$a" ] && echo "Reproduce: $bin $a" >&2
    fi
    return $rc
}

long() {
    local bindir=$1 src=$2 work=$3 secs=$4
    shift 4
    local targets=${*:-$targets_all}
    local found=0 summary=""
    mkdir -p "$work/logs"
    for t in $targets; do
        local bin="$bindir/fuzz_$t"
        if [ ! -x "$bin" ]; then
            echo "no target $t (expected $bin); targets: $targets_all" >&2
            return 2
        fi
        local corpus="$work/corpus/$t" art="$work/artifacts/$t" log="$work/logs/$t.log"
        mkdir -p "$corpus" "$art"
        mapfile -t dirs < <(corpus_dirs "$src" "$t")
        local extra=()
        [ "${FUZZ_KEEP_GOING:-0}" = 1 ] &&
            extra=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
        echo "fuzz $t for ${secs}s (log: $log)"
        local before start end
        before=$(find "$art" -type f | sort)
        start=$(date +%s)
        "$bin" -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=25 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$art/" "${extra[@]}" "$corpus" "${dirs[@]}" \
            >"$log" 2>&1
        end=$(date +%s)
        local runs
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' |
            awk '{s += $1} END {print s + 0}')
        [ "$runs" = 0 ] && runs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
        local files bytes new_files new corp
        corp=$(grep -oE 'corp: [0-9]+(/[0-9]+[a-zA-Z]+)?' "$log" | tail -1 | cut -d' ' -f2)
        files=$(find "$corpus" -type f | wc -l)
        bytes=$(du -sk "$corpus" | cut -f1)
        new_files=$(comm -13 <(printf '%s\n' "$before" | sed '/^$/d') <(find "$art" -type f | sort))
        new=$(printf '%s\n' "$new_files" | sed '/^$/d' | wc -l)
        summary+=$(printf '%-13s %10s runs %5ss  corpus %-11s (scratch: %s files, %s KiB)  %s finding(s)' \
            "$t" "${runs:-?}" "$((end - start))" "${corp:-?}" "$files" "$bytes" "$new")$'\n'
        if [ "$new" -gt 0 ]; then
            found=1
            printf '%s\n' "$new_files" | head -20 | while read -r a; do
                echo "  finding: $a"
                echo "    $("$bin" -timeout=25 -rss_limit_mb=2048 "$a" 2>&1 | grep -m1 -E '^SUMMARY|netsmith fuzz:|ERROR: libFuzzer' |
                    cut -c1-200)"
                echo "    reproduce: $bin $a"
                echo "    keep it:   mkdir -p $src/regressions/$t && cp $a $src/regressions/$t/"
            done
        fi
    done
    echo
    printf '%s' "$summary"
    return $found
}

mode=${1:-}
if [ "$mode" = short ] && [ $# -ge 5 ]; then
    shift
    short "$@"
elif [ "$mode" = long ] && [ $# -ge 5 ]; then
    shift
    long "$@"
else
    sed -n '2,16p' "$0" >&2
    exit 2
fi
