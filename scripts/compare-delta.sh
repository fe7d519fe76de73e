#!/usr/bin/env bash
# Delta encoders side by side on the `versions` dataset (issue 12): for every
# pair <dir>/old/NAME -> <dir>/new/NAME, runs
#   zstd -19 --long=N --patch-from   (N: smallest window covering base + new)
#   zstd -3 --patch-from
#   xdelta3 -9
#   bsdiff
# and, for reference, zstd -19 --long=N without a base (the full new version,
# compressed). For each: patch bytes, ratio to the new version, build time,
# apply time and apply peak RSS (`/usr/bin/time -f %M`: resident set, so it
# includes the pages of mapped files); every applied output is compared with
# the new version. Prints a markdown table, the smallest of the three tools per
# pair, and writes the rows as TSV to <dir>/compare-delta.tsv.
#
# usage: scripts/compare-delta.sh [--dir DIR] [--scale F] [--only NAME]...
#   --dir DIR    the dataset (default /var/tmp/otaseal-versions); generated
#                with `otaseal-datasets versions` if it has no dataset.json
#   --scale F    passed to the generator when it generates (default 1)
#   --only NAME  only this pair (repeatable)
# Installs zstd, xdelta3, bsdiff and time with apt-get when missing and root.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=/var/tmp/otaseal-versions
scale=1
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --scale) scale="$2"; shift 2 ;;
    --only) only+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "compare-delta.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

need=()
command -v zstd >/dev/null 2>&1 || need+=(zstd)
command -v xdelta3 >/dev/null 2>&1 || need+=(xdelta3)
command -v bsdiff >/dev/null 2>&1 || need+=(bsdiff)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "compare-delta.sh: not root; install them yourself: apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "compare-delta.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -f "$dir/dataset.json" ]; then
  cargo run --release --locked -q -p otaseal-datasets -- versions --out "$dir" --scale "$scale"
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/compare-delta.XXXXXX")
trap 'rm -rf "$work"' EXIT
tsv="$dir/compare-delta.tsv"
printf 'pair\tnew_bytes\ttool\tpatch_bytes\tbuild_s\tapply_s\tapply_peak_rss_kib\n' > "$tsv"

size() { stat -c %s "$1"; }
# Smallest N with 2^N >= $1, at least 10.
log2ceil() { local n=10; while [ $((1 << n)) -lt "$1" ]; do n=$((n + 1)); done; echo "$n"; }
# timed OUTFILE CMD...: runs CMD, prints "seconds maxrss_kib".
timed() {
  local out=$1; shift
  /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null 2>"$out.err" || {
    echo "compare-delta.sh: failed: $*" >&2; cat "$out.err" >&2; exit 1; }
  cat "$out"
}

declare -A best_bytes best_tool
rows=()
for new in "$dir"/new/*; do
  name=$(basename "$new")
  if [ ${#only[@]} -gt 0 ] && [[ ! " ${only[*]} " == *" $name "* ]]; then continue; fi
  old="$dir/old/$name"
  [ -f "$old" ] || { echo "compare-delta.sh: no $old" >&2; exit 1; }
  nsize=$(size "$new"); osize=$(size "$old")
  n=$(log2ceil $((nsize + osize)))
  p="$work/patch"; o="$work/out"
  for tool in "zstd -19 --long" "zstd -3" "xdelta3 -9" "bsdiff" "zstd -19 --long, no base"; do
    rm -f "$p" "$o"
    case "$tool" in
      "zstd -19 --long")
        read -r bt _ < <(timed "$work/t" zstd -q -f -19 --long="$n" --patch-from="$old" "$new" -o "$p")
        read -r at am < <(timed "$work/t" zstd -q -f -d --long="$n" --patch-from="$old" "$p" -o "$o") ;;
      "zstd -3")
        read -r bt _ < <(timed "$work/t" zstd -q -f -3 --patch-from="$old" "$new" -o "$p")
        read -r at am < <(timed "$work/t" zstd -q -f -d --long="$n" --patch-from="$old" "$p" -o "$o") ;;
      "xdelta3 -9")
        read -r bt _ < <(timed "$work/t" xdelta3 -f -9 -e -s "$old" "$new" "$p")
        read -r at am < <(timed "$work/t" xdelta3 -f -d -s "$old" "$p" "$o") ;;
      "bsdiff")
        read -r bt _ < <(timed "$work/t" bsdiff "$old" "$new" "$p")
        read -r at am < <(timed "$work/t" bspatch "$old" "$o" "$p") ;;
      "zstd -19 --long, no base")
        read -r bt _ < <(timed "$work/t" zstd -q -f -19 --long="$n" "$new" -o "$p")
        read -r at am < <(timed "$work/t" zstd -q -f -d --long="$n" "$p" -o "$o") ;;
    esac
    cmp -s "$o" "$new" || { echo "compare-delta.sh: $tool on $name: output differs from new" >&2; exit 1; }
    pbytes=$(size "$p")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$nsize" "$tool" "$pbytes" "$bt" "$at" "$am" >> "$tsv"
    rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s |' "$name" \
      "$(awk -v b="$nsize" 'BEGIN { printf "%.1f MiB", b / 1048576 }')" "$tool" "$pbytes" \
      "$(awk -v a="$pbytes" -v b="$nsize" 'BEGIN { printf "%.3f%%", 100 * a / b }')" \
      "$bt" "$at" "$(awk -v k="$am" 'BEGIN { printf "%.0f", k / 1024 }')")")
    if [ "$tool" != "zstd -19 --long, no base" ]; then
      if [ -z "${best_bytes[$name]:-}" ] || [ "$pbytes" -lt "${best_bytes[$name]}" ]; then
        best_bytes[$name]=$pbytes; best_tool[$name]=$tool
      fi
    fi
  done
  echo "compare-delta.sh: $name done" >&2
done

echo "| pair | new version | tool | patch bytes | of new | build s | apply s | apply peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "| pair | smallest of zstd, xdelta3, bsdiff | bytes |"
echo "|---|---|---|"
for name in $(printf '%s\n' "${!best_bytes[@]}" | sort); do
  echo "| $name | ${best_tool[$name]} | ${best_bytes[$name]} |"
done
echo
echo "rows: $tsv" >&2
