#!/usr/bin/env bash
# otaseal's delta encoder alone (otaseal::delta, not yet in a sealed bundle)
# on the `versions` dataset: per pair and effort, the encoded size and its
# ratio to the smallest patch of zstd, xdelta3 and bsdiff (run
# scripts/compare-delta.sh first: it writes DIR/compare-delta.tsv), the build
# rate with 2 threads and the decode rate on one thread; then the peak
# anonymous memory of decoding the largest pair's fast (zstd-patch) delta.
#
# usage: scripts/delta-measure.sh [--dir DIR] [--threads N] [--runs N] [--effort fast|best]
set -euo pipefail
cd "$(dirname "$0")/.."

dir=/var/tmp/otaseal-versions
threads=2
runs=3
effort=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --effort) effort=(--effort "$2"); shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "delta-measure.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

cargo build --release --locked -q -p otaseal-datasets -p benches --bin otaseal-datasets --bin delta_measure
if [ ! -f "$dir/dataset.json" ]; then
  target/release/otaseal-datasets versions --out "$dir"
fi
target/release/delta_measure --threads "$threads" --runs "$runs" "${effort[@]}" "$dir"

# Peak memory of one decode: the largest pair, fast effort, base mapped.
name=$(ls -S "$dir/new" | head -1)
work=$(mktemp -d "${TMPDIR:-/var/tmp}/delta-measure.XXXXXX")
trap 'rm -rf "$work"' EXIT
target/release/delta_measure --encode-one fast "$dir/old/$name" "$dir/new/$name" "$work/patch" >"$work/encoding"
max=$(stat -c %s "$dir/new/$name")
echo
echo "decode of $name ($(cat "$work/encoding"), $(stat -c %s "$work/patch") bytes -> $max):"
scripts/peak-anon-rss.sh target/release/delta_measure --decode-one "$(cat "$work/encoding")" \
  "$dir/old/$name" "$work/patch" "$max"
