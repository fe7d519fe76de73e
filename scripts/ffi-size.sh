#!/usr/bin/env bash
# The size of the C ABI's worked example, against the issue's 1 MiB limit:
# ffi/tests/c/session_test.c linked statically against the otaseal-ffi
# staticlib (release, size-optimised: opt-level z, fat LTO, one codegen
# unit, no debug info; unwinding kept, as the ABI catches panics), then
# stripped. Printed twice: linked against the staticlib with libc dynamic,
# and fully `-static` (glibc), when that links here.
#
#   scripts/ffi-size.sh          # build, link, strip, print the sizes
#   scripts/ffi-size.sh --run    # also run both binaries on the test fixture
#
# The workspace's [profile.release] is not changed: the settings are
# CARGO_PROFILE_RELEASE_* variables (override any of them from outside),
# and the build goes to its own target directory ($FFI_SIZE_TARGET_DIR,
# default target/ffi-size) so the usual release artifacts stay as they are.
set -euo pipefail
cd "$(dirname "$0")/.."

LIMIT=$((1024 * 1024))
target=${FFI_SIZE_TARGET_DIR:-target/ffi-size}
export CARGO_PROFILE_RELEASE_OPT_LEVEL=${CARGO_PROFILE_RELEASE_OPT_LEVEL:-z}
export CARGO_PROFILE_RELEASE_LTO=${CARGO_PROFILE_RELEASE_LTO:-fat}
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=${CARGO_PROFILE_RELEASE_CODEGEN_UNITS:-1}
export CARGO_PROFILE_RELEASE_DEBUG=${CARGO_PROFILE_RELEASE_DEBUG:-false}
# otaseal-ffi depends on the library without its default features (the
# aws-lc and ring kernels): AES-GCM is RustCrypto's pure-Rust code. The
# figure is a device that installs full bundles: otaseal-ffi without its
# `encoding` feature (the zstd and xz decoders of compressed and delta
# bundles, which the test program does not call).
features=(--no-default-features)
cargo build --release --locked -p otaseal-ffi "${features[@]}" --target-dir "$target"
lib="$target/release/libotaseal_ffi.a"

cc=${CC:-cc}
strip=${STRIP:-strip}
out="$target/ffi-size"
mkdir -p "$out"
cflags=(-std=c11 -Os -ffunction-sections -fdata-sections -I ffi/include)
src=ffi/tests/c/session_test.c

printf 'staticlib %s: %s bytes (an archive of every object; the linker keeps what is used)\n' \
  "$lib" "$(stat -c %s "$lib")"

report() { # name file
  local size
  size=$(stat -c %s "$2")
  local verdict="within"
  [ "$size" -le "$LIMIT" ] || verdict="OVER"
  printf '%-52s %9d bytes (%s KiB): %s the 1 MiB limit (%d bytes)\n' \
    "$1" "$size" "$(awk "BEGIN { printf \"%.1f\", $size / 1024 }")" "$verdict" "$LIMIT"
}

"$cc" "${cflags[@]}" "$src" "$lib" -Wl,--gc-sections \
  -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o "$out/session_test"
"$strip" --strip-all "$out/session_test"
report "linked against the staticlib (libc dynamic), stripped:" "$out/session_test"

static_ok=0
if "$cc" "${cflags[@]}" -static "$src" "$lib" -Wl,--gc-sections \
  -lutil -lrt -lpthread -lm -ldl -lc -o "$out/session_test-static" 2>"$out/static.log"; then
  "$strip" --strip-all "$out/session_test-static"
  report "fully -static (glibc), stripped:" "$out/session_test-static"
  static_ok=1
else
  echo "fully -static: did not link here (see $out/static.log)"
fi

# Fully static with musl, as an embedded-Linux updater is usually built: only
# where the target and musl-gcc are installed (`rustup target add
# x86_64-unknown-linux-musl`, `apt-get install musl-tools`).
musl_ok=0
musl=x86_64-unknown-linux-musl
if command -v musl-gcc >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
  cargo build --release --locked -p otaseal-ffi "${features[@]}" --target "$musl" --target-dir "$target"
  # Debian's musl-gcc wraps the host gcc, whose libgcc_eh (the unwinder
  # Rust's panic handling needs) is built against glibc: it may not link.
  if musl-gcc "${cflags[@]}" -static "$src" "$target/$musl/release/libotaseal_ffi.a" \
    -Wl,--gc-sections -o "$out/session_test-musl" 2>"$out/musl.log"; then
    "$strip" --strip-all "$out/session_test-musl"
    report "fully -static (musl), stripped:" "$out/session_test-musl"
    musl_ok=1
  else
    echo "fully -static (musl): did not link with this machine's musl-gcc (see $out/musl.log)"
  fi
else
  echo "fully -static (musl): skipped (no $musl target or no musl-gcc here)"
fi

if [ "${1:-}" = "--run" ]; then
  fixture="$PWD/$out/fixture"  # absolute: the test runs in ffi/
  rm -rf "$fixture"
  mkdir -p "$fixture"
  # The test writes its fixture (and the time it uses) here as well.
  OTASEAL_FFI_FIXTURE_OUT="$fixture" cargo test --locked -p otaseal-ffi --test tests c_program -q >/dev/null
  now=$(cat "$fixture/now")
  "$out/session_test" "$fixture" "$now" | tail -1
  if [ "$static_ok" = 1 ]; then "$out/session_test-static" "$fixture" "$now" | tail -1; fi
  if [ "$musl_ok" = 1 ]; then "$out/session_test-musl" "$fixture" "$now" | tail -1; fi
fi
