#!/usr/bin/env bash
# Side-by-side throughput on the same files, in one run:
#   the machine's sealing ceiling (AES-256-GCM + BLAKE3 subtree, no I/O),
#   b3sum, age (or rage), openssl, otaseal seal at 1 thread and all threads,
#   and durable output (otaseal --sync batch vs dd conv=fdatasync).
#
#   scripts/compare.sh [--preset large|mixed|many-small|many-small-16k]
#                      [--scale F] [--runs N] [--data DIR] [--out DIR] [--disk DIR]
#                      [--baseline REV] [--no-peers]
#
# Defaults: --preset large --scale 0.25 (3 images, 2 GiB total) --runs 3,
# data in /var/tmp/otaseal-compare/<preset> (kept, page-cached before timing),
# CPU outputs on /dev/shm (tmpfs), durable outputs in --disk (default /var/tmp).
# Each tool runs --runs times (median and best shown); ceilings are best of 3.
# Ratios (best against best) are against figures measured in the same run,
# all threads: the crypto kernel alone; the "I/O floor" (kernel + reading the
# mapped inputs + pwriting the sealed chunks to the output dir); and the
# file-output bound 1/(1/kernel + 1/write), where `write` is pwrite of the
# same bytes into the output dir, one file per thread, no crypto: what any
# tool that seals and writes its output can reach.
#
# For --preset large and many-small-16k it ends with the sealing target
# (docs/PERFORMANCE.md) and whether this run met it.
#
# --baseline REV also builds the otaseal binary of git revision REV (from a
# `git archive` copy of that tree, with its own target dir, both kept under
# /var/tmp for reuse) and times its seal rows in the same run, each run of
# the two binaries back to back in alternating order, then prints this
# tree's time over REV's: the "no regression" check of a change, immune to
# the machine's drift between runs. --no-peers skips the other tools' rows
# (b3sum, age, openssl, dd, cp), for a quick before/after.
#
# Installs what it needs and says so: b3sum and age from apt when missing
# (falling back to `cargo install b3sum rage`), openssl from apt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

preset=large
scale=0.25
runs=3
data=""
out=/dev/shm/otaseal-compare
disk=/var/tmp/otaseal-compare-disk
baseline=""
peers=1
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --disk) disk=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    --no-peers) peers=0; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$data" ] || data=/var/tmp/otaseal-compare/$preset-$scale
[ -d /dev/shm ] || out=${out/#\/dev\/shm/\/tmp}

say() { echo "compare.sh: $*" >&2; }

# --- tools -------------------------------------------------------------------
install_apt() {
  if [ "$(id -u)" -ne 0 ]; then return 1; fi
  say "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1; }
}
if ! command -v b3sum >/dev/null; then
  install_apt b3sum || { say "installing b3sum with cargo install"; cargo install -q b3sum; }
fi
age_bin=""; age_keygen=""
if command -v age >/dev/null || install_apt age; then
  age_bin=age; age_keygen=age-keygen
elif command -v rage >/dev/null || { say "installing rage with cargo install"; cargo install -q rage; }; then
  age_bin=rage; age_keygen=rage-keygen
fi
command -v openssl >/dev/null || install_apt openssl || true

say "building otaseal, otaseal-datasets and the ceiling tool (release)"
cargo build -q --release -p otaseal-cli -p otaseal-datasets -p benches --bins
tdir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin=$tdir/release
threads=$(nproc)
if [ -n "$baseline" ]; then
  rev=$(git rev-parse --short "$baseline^{commit}")
  bdir=/var/tmp/otaseal-baseline-$rev
  say "building otaseal at $rev (release) in $bdir"
  if [ ! -f "$bdir/src/Cargo.toml" ]; then
    mkdir -p "$bdir/src" && git archive "$rev" | tar -x -C "$bdir/src"
  fi
  (cd "$bdir/src" && CARGO_TARGET_DIR=$bdir/target cargo build -q --release --locked -p otaseal-cli)
  base_bin=$bdir/target/release/otaseal
fi

# --- data --------------------------------------------------------------------
case "$preset" in
  many-small-16k) gen=(many-small --size 16K) ;;
  large|mixed|many-small) gen=("$preset") ;;
  *) echo "compare.sh: unknown preset $preset" >&2; exit 2 ;;
esac
say "dataset $preset (scale $scale) in $data"
"$bin/otaseal-datasets" "${gen[@]}" --scale "$scale" --out "$data" >&2
mapfile -t files < <(find "$data" -type f ! -name dataset.json ! -name '.*' | sort)
bytes=$(cat "${files[@]}" | wc -c)   # also loads the page cache
count=${#files[@]}
say "$count files, $bytes bytes, $threads threads; inputs in page cache"

work=$(mktemp -d)
trap 'rm -rf "$work" "$out" "$disk"' EXIT
"$bin/otaseal" keygen signing --unencrypted --out "$work/sign" >/dev/null
"$bin/otaseal" keygen device --unencrypted --out "$work/dev" >/dev/null
seal=("$bin/otaseal" seal --signing-key "$work/sign.key" --recipient "$work/dev.pub"
  --app com.example.compare --version 1.0.0 --sequence 1 --quiet)
if [ -n "$age_bin" ]; then "$age_keygen" -o "$work/age.key" 2>/dev/null; age_rcpt=$("$age_keygen" -y "$work/age.key"); fi
printf '%s\n' "${files[@]}" > "$work/list"

# --- measuring -----------------------------------------------------------------
declare -a names secs bests
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# measure NAME SETUP_CMD -- CMD...: median wall seconds of $runs runs of CMD
measure() {
  local name=$1 setup=$2; shift 3
  local t=()
  for _ in $(seq "$runs"); do
    eval "$setup"
    local s e
    s=$(date +%s.%N)
    "$@" >/dev/null
    e=$(date +%s.%N)
    t+=("$(echo "$e - $s" | bc -l)")
  done
  local m b
  m=$(printf '%s\n' "${t[@]}" | median)
  b=$(printf '%s\n' "${t[@]}" | sort -g | head -1)
  names+=("$name"); secs+=("$m"); bests+=("$b")
  say "$(printf '%-44s %8.3f s  (runs: %s)' "$name" "$m" "${t[*]}")"
}
fresh_out() { rm -rf "$out" "$disk"; mkdir -p "$out" "$disk"; sync; }

mkdir -p "$out"
ceiling=$("$bin/ceiling" --json --write-dir "$out" "${files[@]}")
ceiling1=$("$bin/ceiling" --json --threads 1 "${files[@]}")
k_all=$(sed -n 's/.*"kernel_mb_per_s":\([0-9.e+]*\).*/\1/p' <<<"$ceiling")
kr_all=$(sed -n 's/.*"kernel_read_mb_per_s":\([0-9.e+]*\).*/\1/p' <<<"$ceiling")
krw_all=$(sed -n 's/.*"kernel_read_write_mb_per_s":\([0-9.e+]*\).*/\1/p' <<<"$ceiling")
w_all=$(sed -n 's/.*"write_mb_per_s":\([0-9.e+]*\).*/\1/p' <<<"$ceiling")
bound=$(sed -n 's/.*"file_output_bound_mb_per_s":\([0-9.e+]*\).*/\1/p' <<<"$ceiling")
k_one=$(sed -n 's/.*"kernel_mb_per_s":\([0-9.e+]*\).*/\1/p' <<<"$ceiling1")

if [ "$peers" = 1 ]; then
  measure "b3sum ($threads threads)" : -- b3sum --num-threads "$threads" "${files[@]}"
  if [ -n "$age_bin" ]; then
    printf '#!/bin/sh\nexec %s -r %s -o "%s/$(basename "$1").age" "$1"\n' "$age_bin" "$age_rcpt" "$out" > "$work/age1"
    chmod +x "$work/age1"
    measure "$age_bin -r X25519, 1 file at a time" fresh_out -- xargs -a "$work/list" -n1 "$work/age1"
    measure "$age_bin -r X25519, $threads files at a time" fresh_out -- xargs -a "$work/list" -n1 -P "$threads" "$work/age1"
  fi
  if command -v openssl >/dev/null; then
    key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'); iv=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '#!/bin/sh\nexec openssl enc -aes-256-ctr -K %s -iv %s -in "$1" -out "%s/$(basename "$1").ctr"\n' "$key" "$iv" "$out" > "$work/ssl1"
    chmod +x "$work/ssl1"
    measure "openssl enc -aes-256-ctr, $threads files at a time" fresh_out -- xargs -a "$work/list" -n1 -P "$threads" "$work/ssl1"
  fi
fi
seal_rows=(
  "--threads 1 (tmpfs)|--threads 1 --sync none -o $out"
  "--threads $threads (tmpfs)|--sync none -o $out"
  "--threads $threads --sync batch (disk)|--sync batch -o $disk"
)
for r in "${seal_rows[@]}"; do
  IFS='|' read -r label flags <<<"$r"
  read -ra flags <<<"$flags"
  measure "otaseal seal $label" fresh_out -- "${seal[@]}" "${flags[@]}" --from-list "$work/list"
done
if [ "$peers" = 1 ]; then
  printf '#!/bin/sh\ncat "$@" | dd of="%s/dd.bin" bs=1M conv=fdatasync status=none\n' "$disk" > "$work/dd1"
  chmod +x "$work/dd1"
  measure "dd conv=fdatasync of the same bytes (disk)" fresh_out -- "$work/dd1" "${files[@]}"
  # Creating files costs the file system far more than writing bytes when
  # bundles are small: `cp` of the same files + one sync is that floor
  # (otaseal creates two files per bundle, cp one).
  printf '#!/bin/sh\nxargs -a "%s" cp -t "%s" && sync -f "%s"\n' "$work/list" "$disk" "$disk" > "$work/cp1"
  chmod +x "$work/cp1"
  measure "cp of the same files + sync -f (disk)" fresh_out -- "$work/cp1"
fi

# --- report --------------------------------------------------------------------
echo
echo "preset $preset, scale $scale: $count files, $bytes bytes; $threads threads; $runs runs each; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); load before run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Ceilings are the best of 3 runs; for tools, 'median' and 'best' of $runs runs. Ratios compare best with best:"
echo "'vs kernel' = against the crypto ceiling (no I/O); 'vs I/O floor' = against the ceiling that also reads"
echo "the mapped inputs and pwrites every sealed chunk to $out (no manifests, keys or renames); 'vs bound' ="
echo "against the file-output bound 1/(1/kernel + 1/write), write = pwrite alone into $out, one file per thread."
printf '%-50s %9s %9s %9s %10s %9s %9s %9s\n' "what" "median s" "MB/s med" "MB/s best" "bundles/s" "vs kernel" "vs floor" "vs bound"
ratio() { echo "$1 / $2" | bc -l; }
row() { printf '%-50s %9s %9s %9.0f %10s %9.2f %9.2f %9.2f\n' "$1" - - "$2" - "$(ratio "$2" "$k_all")" "$(ratio "$2" "$krw_all")" "$(ratio "$2" "$bound")"; }
row "ceiling: AES-GCM + BLAKE3 ($threads threads, no I/O)" "$k_all"
row "ceiling: + read mapped inputs" "$kr_all"
row "ceiling: + read + pwrite outputs (the I/O floor)" "$krw_all"
row "pwrite alone, one file per thread (no crypto)" "$w_all"
row "file-output bound = 1/(1/kernel + 1/write)" "$bound"
row "ceiling: AES-GCM + BLAKE3, 1 thread, no I/O" "$k_one"
for i in "${!names[@]}"; do
  s=${secs[$i]}; b=${bests[$i]}
  med=$(echo "$bytes / 1000000 / $s" | bc -l)
  best=$(echo "$bytes / 1000000 / $b" | bc -l)
  printf '%-50s %9.3f %9.0f %9.0f %10.0f %9.2f %9.2f %9.2f\n' "${names[$i]}" "$s" "$med" "$best" \
    "$(echo "$count / $b" | bc -l)" "$(ratio "$best" "$k_all")" "$(ratio "$best" "$krw_all")" "$(ratio "$best" "$bound")"
done

# --- this tree against --baseline, from this run ---------------------------------
if [ -n "$baseline" ]; then
  # Each run times both binaries back to back, the order alternating, so
  # both see the same machine; the ratio is of medians and of bests.
  echo
  echo "this tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ', with changes')) against $rev, same run, $runs runs each, alternating order:"
  printf '%-50s %10s %10s %10s %10s %9s %9s\n' "otaseal seal" "this med s" "$rev med s" "this best" "$rev best" "med ratio" "best ratio"
  for r in "${seal_rows[@]}"; do
    IFS='|' read -r label flags <<<"$r"
    read -ra flags <<<"$flags"
    this=(); that=()
    for i in $(seq "$runs"); do
      for who in $( [ $((i % 2)) = 1 ] && echo "this that" || echo "that this"); do
        fresh_out
        if [ "$who" = this ]; then b=$bin/otaseal; else b=$base_bin; fi
        s=$(date +%s.%N)
        "$b" "${seal[@]:1}" "${flags[@]}" --from-list "$work/list" >/dev/null
        e=$(date +%s.%N)
        t=$(echo "$e - $s" | bc -l)
        if [ "$who" = this ]; then this+=("$t"); else that+=("$t"); fi
      done
    done
    m1=$(printf '%s\n' "${this[@]}" | median); m0=$(printf '%s\n' "${that[@]}" | median)
    b1=$(printf '%s\n' "${this[@]}" | sort -g | head -1); b0=$(printf '%s\n' "${that[@]}" | sort -g | head -1)
    printf '%-50s %10.3f %10.3f %10.3f %10.3f %9.3f %9.3f\n' "$label" "$m1" "$m0" "$b1" "$b0" \
      "$(ratio "$m1" "$m0")" "$(ratio "$b1" "$b0")"
  done
  echo "(ratio = this tree's time / $rev's: below 1 is faster, above 1 slower)"
fi

# --- the issue's targets, from this run ------------------------------------------
all_threads="otaseal seal --threads $threads (tmpfs)"
for i in "${!names[@]}"; do
  [ "${names[$i]}" = "$all_threads" ] || continue
  verdict() { if [ "$(echo "$1 >= $2" | bc -l)" = 1 ]; then echo met; else echo "NOT met"; fi; }
  echo
  case "$preset" in
    large)
      r=$(echo "$bytes / 1000000 / ${bests[$i]} / $bound" | bc -l)
      printf 'sealing target (large, end to end >= 0.85 of the file-output bound): %.2f, %s (bound %.0f MB/s = kernel %.0f with write %.0f)\n' \
        "$r" "$(verdict "$r" 0.85)" "$bound" "$k_all" "$w_all" ;;
    many-small-16k)
      n=$(echo "$count / ${secs[$i]}" | bc -l)
      printf 'bundles/s target (16 KiB bundles, one recipient, >= 5000 bundles/s): median %.0f bundles/s, %s\n' "$n" "$(verdict "$n" 5000)" ;;
  esac
done
