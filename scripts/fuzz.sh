#!/usr/bin/env bash
# Bounded coverage-guided fuzzing (libFuzzer through cargo-fuzz, nightly) of
# model import + planning and of image decoding + preprocessing.
#
#   scripts/fuzz.sh [TARGET...]      default: import decode
#   FUZZ_SECONDS=60                  time per target
#
# The seeds in tests/fuzz/seeds/TARGET are read-only; what the fuzzer learns
# goes to .cache/fuzz/corpus/TARGET and crashes to .cache/fuzz/artifacts/TARGET.
# A crash fails the run: fix it, then copy the input into
# tests/fuzz/regressions/TARGET so that `cargo test` replays it forever.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
targets=("$@")
((${#targets[@]})) || targets=(import decode)

cargo +nightly fuzz build --fuzz-dir tests/fuzz -O
# One libFuzzer process per target, side by side: each runs on one core.
fuzz_target() {
    local t=$1 corpus=.cache/fuzz/corpus/$1 artifacts=.cache/fuzz/artifacts/$1 log
    mkdir -p "$corpus" "$artifacts"
    log=$(mktemp)
    # -rss_limit_mb: a model or image that makes us allocate gigabytes is a bug too.
    if ! cargo +nightly fuzz run --fuzz-dir tests/fuzz -O "$t" "$corpus" "tests/fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "fuzz: $t found a crash; input under $artifacts" >&2
        rm -f "$log"
        return 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    echo "fuzz: $t: $runs executions in ${seconds}s, $cov, corpus $(find "$corpus" -type f | wc -l) files, no crash"
    rm -f "$log"
}
pids=()
for t in "${targets[@]}"; do
    fuzz_target "$t" &
    pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
exit $failed
