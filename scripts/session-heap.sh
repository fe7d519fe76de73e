#!/usr/bin/env bash
# Peak heap of a device session verifying and decrypting a 1 GiB bundle
# read from disk, against the limit 2 x chunk size + manifest size
# (docs/PERFORMANCE.md, "Device session"): builds and runs
# benches/src/bin/session_heap.rs (a counting global allocator; what it
# counts and when is in its module docs).
#
#   scripts/session-heap.sh [--size-mib N] [--chunk-log2 N] [--dir DIR] [--backend NAME]
#
# The bundle (1 GiB by default) is written to a temporary directory under
# --dir (default /var/tmp) and removed at the end. Exits 1 on FAIL.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p benches --bin session_heap
tdir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
"$tdir/release/session_heap" "$@"
