#!/usr/bin/env bash
# The device crate's limits (issue "device SDK", docs/PERFORMANCE.md "Device
# SDK"): otaseal-core without default features is `#![no_std]` + `alloc` and
# builds for a bare-metal target, and its dependency tree names none of the
# publisher's or the CLI's crates. CI runs this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

forbidden='clap|indicatif|ureq|cryptoki|aws-lc-sys|aws-lc-rs|ring|argon2|rayon|memmap2|serde_json'
tree=$(cargo tree -p otaseal-core -e normal --no-default-features --prefix none --locked)
crates=$(printf '%s\n' "$tree" | sed 's/ (.*//; s/ \[.*//' | sort -u)
if bad=$(printf '%s\n' "$crates" | grep -E "^($forbidden) "); then
  echo "check-core: otaseal-core --no-default-features depends on: $bad" >&2
  exit 1
fi
echo "check-core: otaseal-core --no-default-features: $(printf '%s\n' "$crates" | wc -l) crates (itself included), none of: ${forbidden//|/, }"

# A target without `std` at all: any use of std in the crate or a dependency
# fails to link here, which a host build cannot show.
target=thumbv7em-none-eabihf
if rustup target list --installed 2>/dev/null | grep -qx "$target" ||
  rustup target add "$target"; then
  cargo build -p otaseal-core --no-default-features --target "$target" --locked
  echo "check-core: otaseal-core builds as no_std + alloc for $target"
else
  # Where the target cannot be downloaded, the host build still compiles
  # the crate itself under `#![no_std]`; say plainly that less was shown.
  echo "check-core: WARNING: could not install $target; building for the host only" >&2
  cargo build -p otaseal-core --no-default-features --locked
  echo "check-core: otaseal-core builds with --no-default-features (#![no_std] crate) for the host"
fi
