#!/usr/bin/env bash
# Runs a command and prints the peak anonymous resident memory (RssAnon from
# /proc/<pid>/status, sampled every 2 ms) next to the peak total RSS (VmHWM,
# which also counts file-backed pages of memory-mapped inputs).
#
#   scripts/peak-anon-rss.sh otaseal seal ... big.img
#   -> peak RssAnon 9.1 MiB, VmHWM 1030.2 MiB, 1.23 s, exit 0
#
# Sampling can miss a spike shorter than 2 ms; anonymous memory in otaseal
# is allocated once per worker and per bundle, so it is held far longer.
set -euo pipefail
if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
start=$(date +%s.%N)
"$@" >/dev/null &
pid=$!
peak=0
hwm=0
while kill -0 "$pid" 2>/dev/null; do
  if read -r anon hw < <(awk '/^RssAnon:/ {a=$2} /^VmHWM:/ {h=$2} END {print a+0, h+0}' "/proc/$pid/status" 2>/dev/null); then
    [ "$anon" -gt "$peak" ] && peak=$anon
    [ "$hw" -gt "$hwm" ] && hwm=$hw
  fi
  sleep 0.002
done
set +e
wait "$pid"
rc=$?
set -e
end=$(date +%s.%N)
awk -v p="$peak" -v h="$hwm" -v s="$start" -v e="$end" -v rc="$rc" \
  'BEGIN { printf "peak RssAnon %.1f MiB, VmHWM %.1f MiB, %.2f s, exit %d\n", p/1024, h/1024, e-s, rc }'
exit "$rc"
