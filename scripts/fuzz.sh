#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time and prints one
# line per target: seconds run, executions, corpus size, and the result.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60, all)
#
# cargo-fuzz needs nightly compiler flags (-Z sanitizer=address, coverage
# instrumentation). On a stable toolchain RUSTC_BOOTSTRAP=1 unlocks them;
# it is set here. Seeds are read from fuzz/corpus/<target>/ (checked in);
# inputs libFuzzer finds go to fuzz/work/<target>/ (ignored by git); a crash
# is saved under fuzz/artifacts/<target>/ and makes the script exit 1.
set -euo pipefail

secs="${1:-60}"
shift || true
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"
export RUSTC_BOOTSTRAP=1
target_dir="${FUZZ_TARGET_DIR:-$root/fuzz/target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not found; installing it (cargo install cargo-fuzz)" >&2
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi

echo "building fuzz targets (release, debug assertions, AddressSanitizer)..." >&2
cargo fuzz build --target-dir "$target_dir" >&2

mkdir -p logs
status=0
printf '%-16s %8s %8s %12s %8s  %s\n' target fuzzed_s wall_s runs corpus result
for t in "${targets[@]}"; do
    mkdir -p "work/$t" "corpus/$t"
    start=$(date +%s)
    set +e
    cargo fuzz run --target-dir "$target_dir" "$t" "work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 -max_len=262144 \
        >"logs/$t.log" 2>&1
    rc=$?
    set -e
    elapsed=$(( $(date +%s) - start ))
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo "?")
    # libFuzzer's own count of seconds spent fuzzing (wall_s adds startup).
    fuzzed=$(grep -o 'Done [0-9]* runs in [0-9]* second' "logs/$t.log" | grep -o '[0-9]* second' | grep -o '[0-9]*' || echo "?")
    corpus=$(ls "work/$t" | wc -l)
    if [ $rc -eq 0 ]; then
        result="ok (no crash)"
    else
        result="FAILED (exit $rc; see fuzz/logs/$t.log and fuzz/artifacts/$t/)"
        status=1
    fi
    printf '%-16s %8s %8s %12s %8s  %s\n' "$t" "$fuzzed" "$elapsed" "$runs" "$corpus" "$result"
done
exit $status
