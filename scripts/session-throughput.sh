#!/usr/bin/env bash
# Device session throughput against its kernel, in one criterion run
# (benches/benches/session.rs, group `session-throughput`): 1 thread,
# pure-Rust backend (RustCrypto `aes-gcm`), a 64 MiB bundle, verify +
# decrypt, at 256 KiB (the default chunk size) and 64 KiB chunks.
#
#   scripts/session-throughput.sh [--rounds N] [--mean] [CRITERION ARGS...]
#
# Runs the criterion group N times (default 3): each round measures the
# kernel and the session one after the other in the same run and gives
# their ratio session / kernel (throughput, i.e. kernel time / session
# time, from criterion's median point estimate, or the mean with --mean).
# Times are the bench thread's CPU time unless OTASEAL_BENCH_CLOCK=wall
# (see the bench's docs). Prints every round's figures, then per chunk size
# the median of the rounds' ratios with PASS or FAIL against the limit 0.8
# (docs/PERFORMANCE.md, "Device session"). `kernel-as-session` (the kernel
# doing the session's per-chunk steps: hash twice, copy, decrypt in place)
# is shown as a ratio to the kernel too, to tell where the difference goes.
# Then, as a cross-check that load coming and going between criterion's
# functions did not decide the figure, runs benches/src/bin/session_ratio.rs:
# the same kernel and session, passes interleaved, median of the per-pair
# ratios. Exits 1 if the default chunk size (256 KiB) fails in criterion.
# Extra arguments go to criterion; the default is
# `--warm-up-time 1 --measurement-time 4`.
set -euo pipefail
cd "$(dirname "$0")/.."

stat=median
rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --mean) stat=mean; shift ;;
    --rounds) rounds=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || set -- --warm-up-time 1 --measurement-time 4
limit=0.8
bytes=$((64 << 20))
sizes=(256KiB 64KiB)

cargo bench -q -p benches --bench session --no-run >&2
cargo build -q --release -p benches --bin session_ratio >&2
tdir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
crit=$tdir/criterion/session-throughput

# nanoseconds per iteration (one pass over the bundle)
estimate() {
  local f=$crit/$1/$2/new/estimates.json
  [ -f "$f" ] || { echo "session-throughput.sh: no $f" >&2; exit 1; }
  if command -v jq >/dev/null; then
    jq ".$stat.point_estimate" "$f"
  else
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['$stat']['point_estimate'])" "$f"
  fi
}
gibs() { awk -v b="$bytes" -v ns="$1" 'BEGIN { printf "%.2f", b / ns * 1e9 / 2^30 }'; }
median() { sort -g | awk '{a[NR]=$1} END {printf "%.3f", (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
flags=$(grep -o 'avx512f\|vaes\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')
echo "CPU: $cpu; flags: $flags; $(date -u +%Y-%m-%dT%H:%MZ); load $(cut -d' ' -f1-3 /proc/loadavg); $stat of criterion's samples, ${OTASEAL_BENCH_CLOCK:-cpu} clock"
declare -A ratios models
for round in $(seq "$rounds"); do
  cargo bench -q -p benches --bench session -- session-throughput "$@" >&2
  for p in "${sizes[@]}"; do
    k=$(estimate kernel "$p")
    s=$(estimate session "$p")
    m=$(estimate kernel-as-session "$p")
    r=$(awk -v k="$k" -v s="$s" 'BEGIN { printf "%.3f", k / s }')
    mr=$(awk -v k="$k" -v m="$m" 'BEGIN { printf "%.3f", k / m }')
    ratios[$p]+="$r "
    models[$p]+="$mr "
    echo "round $round, $p chunks: kernel $(gibs "$k") GiB/s, session $(gibs "$s") GiB/s, kernel-as-session $(gibs "$m") GiB/s: session/kernel $r, kernel-as-session/kernel $mr"
  done
done
status=0
for p in "${sizes[@]}"; do
  r=$(echo "${ratios[$p]}" | tr ' ' '\n' | grep . | median)
  mr=$(echo "${models[$p]}" | tr ' ' '\n' | grep . | median)
  verdict=$(awk -v r="$r" -v l="$limit" 'BEGIN { print (r >= l) ? "PASS" : "FAIL" }')
  echo "$p chunks: session/kernel $r (median of $rounds rounds: ${ratios[$p]% }), limit $limit: $verdict; kernel-as-session/kernel $mr"
  if [ "$p" = 256KiB ] && [ "$verdict" = FAIL ]; then status=1; fi
done
echo "cross-check, interleaved passes (session_ratio):"
"$tdir/release/session_ratio" --pairs 31
exit "$status"
