#!/usr/bin/env bash
# A device installing delta bundles end to end (issue "delta and compressed
# bundles", target for zstd-encoded deltas: >= 300 MB/s of output on one
# thread): for each pair of the `versions` dataset, the fast effort's
# zstd-patch delta (or, with --effort, what that effort keeps) sealed as a
# bundle, then installed from files with `open::open_payload_file` (verify
# every chunk, check the base's signed digest, decrypt, decode, check the
# result's length and digest, rename), by wall time and by the installing
# thread's CPU time (steadier on a shared machine). See
# benches/src/bin/delta_apply.rs.
#
#   scripts/delta-apply.sh [--runs N] [--work DIR] [--only NAME] [--effort fast|best] [DATASET_DIR]
#
# DATASET_DIR defaults to /var/tmp/otaseal-versions, generated when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
dir=/var/tmp/otaseal-versions
while [ $# -gt 0 ]; do
  case "$1" in
    --runs|--work|--only|--effort) args+=("$1" "$2"); shift 2 ;;
    *) dir=$1; shift ;;
  esac
done
if [ ! -d "$dir/new" ]; then
  cargo run --release --locked -q -p otaseal-datasets -- versions --out "$dir"
fi
cargo build --release --locked -q -p benches --bin delta_apply
exec target/release/delta_apply "${args[@]}" "$dir"
