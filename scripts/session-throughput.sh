#!/usr/bin/env bash
# Device session throughput against its kernel, in one criterion run
# (benches/benches/session.rs, group `session-throughput`): 1 thread,
# pure-Rust backend (RustCrypto `aes-gcm`), a 64 MiB bundle, verify +
# decrypt, at 256 KiB (the default chunk size) and 64 KiB chunks.
#
#   scripts/session-throughput.sh [CRITERION ARGS...]
#
# Prints, per chunk size, the kernel's and the session's throughput
# (criterion's median point estimate; `--mean` before any criterion argument
# uses the mean; times are the bench thread's CPU time unless
# OTASEAL_BENCH_CLOCK=wall, see the bench's docs) and the ratio session / kernel, with PASS or FAIL against
# the limit 0.8 (docs/PERFORMANCE.md, "Device session"). `kernel-as-session`
# (the kernel doing the session's per-chunk steps: hash twice, copy, decrypt
# in place) is shown too, to tell where the difference goes. Exits 1 if the
# default chunk size fails. Extra arguments go to criterion; the default is
# `--warm-up-time 1 --measurement-time 5`.
set -euo pipefail
cd "$(dirname "$0")/.."

stat=median
if [ "${1:-}" = "--mean" ]; then stat=mean; shift; fi
[ $# -gt 0 ] || set -- --warm-up-time 1 --measurement-time 5
limit=0.8
bytes=$((64 << 20))

cargo bench -p benches --bench session -- session-throughput "$@" >&2
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

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
flags=$(grep -o 'avx512f\|vaes\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')
echo "CPU: $cpu; flags: $flags; $(date -u +%Y-%m-%dT%H:%MZ); $stat of criterion's samples"
status=0
for param in 256KiB 64KiB; do
  k=$(estimate kernel "$param")
  s=$(estimate session "$param")
  m=$(estimate kernel-as-session "$param")
  ratio=$(awk -v k="$k" -v s="$s" 'BEGIN { printf "%.3f", k / s }')
  model=$(awk -v k="$k" -v m="$m" 'BEGIN { printf "%.3f", k / m }')
  verdict=$(awk -v r="$ratio" -v l="$limit" 'BEGIN { print (r >= l) ? "PASS" : "FAIL" }')
  echo "$param chunks: kernel $(gibs "$k") GiB/s, session $(gibs "$s") GiB/s: session/kernel $ratio (limit $limit) $verdict; kernel-as-session $(gibs "$m") GiB/s ($model of the kernel)"
  if [ "$param" = 256KiB ] && [ "$verdict" = FAIL ]; then status=1; fi
done
exit "$status"
