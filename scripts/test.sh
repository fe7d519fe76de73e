#!/usr/bin/env bash
# The project's test command (the README's): installs the system programs the
# tests drive for real (b3sum, SoftHSM2, nginx) when they are missing, then runs
# every test in the workspace. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v b3sum >/dev/null 2>&1 || need+=(b3sum)
command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${need[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: not root; install them yourself: apt-get install ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # nginx-light's post-install tries to start a system-wide server; the tests
  # start their own on loopback, so a failed service start is not fatal.
  apt-get install -y -qq "${need[@]}" >/dev/null || apt-get install -y -qq "${need[@]}"
fi

cargo test --workspace --locked "$@"
