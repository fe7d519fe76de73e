#!/usr/bin/env bash
# The project's test command (the README's): installs the system programs the
# tests drive for real (b3sum, SoftHSM2, nginx; a C compiler and Python 3 for
# the C ABI's tests, ffi/tests/) when they are missing, then runs every test
# in the workspace. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v b3sum >/dev/null 2>&1 || need+=(b3sum)
command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v "${CC:-cc}" >/dev/null 2>&1 || need+=(gcc)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${need[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: not root; install them yourself: apt-get install ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The tests start their own nginx on loopback: keep the package from
  # starting a system-wide server on port 80 (and from failing where no init
  # system runs) with the standard policy-rc.d switch, for this install only.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    guard=/usr/sbin/policy-rc.d
  fi
  status=0
  apt-get install -y -qq "${need[@]}" >/dev/null || status=$?
  [ -n "$guard" ] && rm -f "$guard"
  [ "$status" -eq 0 ] || { echo "scripts/test.sh: apt-get install failed ($status)" >&2; exit "$status"; }
fi

cargo test --workspace --locked "$@"

# The batch schedule once more on a single worker thread: ordering bugs that
# parallel runs hide (chunk order, index order) show up here. Each package has
# one integration-test binary, `tests` (pipeline/tests/tests.rs for the
# library, cli/tests/tests.rs for what runs the `otaseal` binary, most batch
# tests): their batch modules are picked by name. libtest reads what follows
# `--` as filters, after any options in "$@" (a second `--` there only ends
# libtest's options).
RAYON_NUM_THREADS=1 cargo test --locked -p otaseal -p otaseal-cli --test tests "$@" -- \
  batch_backends:: batch_resume:: batch_shards:: batch_cli::
