#!/usr/bin/env bash
# Measures the cost per sealed bundle of signing with a PKCS#11 token
# (SoftHSM2) against a file key: sets up a throwaway SoftHSM2 token in a
# temporary directory, generates an Ed25519 key inside it with
# `otaseal keys generate --pkcs11`, and runs benches/benches/signing.rs.
# Extra arguments go to criterion (e.g. `--quick`).
# Needs: softhsm2 (apt-get install -y softhsm2).
set -euo pipefail
cd "$(dirname "$0")/.."

module=""
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
         /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
  if [ -e "$m" ]; then module="$m"; break; fi
done
if [ -z "$module" ] || ! command -v softhsm2-util >/dev/null; then
  echo "bench-signing.sh: SoftHSM2 is missing: apt-get install -y softhsm2" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$work/tokens" > "$work/softhsm2.conf"
export SOFTHSM2_CONF="$work/softhsm2.conf"
softhsm2-util --init-token --free --label otaseal-bench --so-pin 1234-so --pin 4321-user >/dev/null
printf '4321-user\n' > "$work/pin"
chmod 600 "$work/pin"

uri="pkcs11:token=otaseal-bench;object=release-bench?module-path=$module&pin-source=file:$work/pin"
cargo run --quiet --release -p otaseal-cli -- \
  keys generate --kind release --pkcs11 "$uri" --out "$work/release-bench" >/dev/null
OTASEAL_BENCH_PKCS11_URI="$uri" cargo bench -p benches --bench signing -- "$@"
