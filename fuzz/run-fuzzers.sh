#!/bin/bash
# Builds and runs every libFuzzer target of a -Dfuzz=true build for a bounded time, each from its seed corpus
# fuzz/corpus/<format> (read-only; new inputs go to a temporary folder), and prints one line per
# target with the executions reached. Used by .ci/run.
#
#   fuzz/run-fuzzers.sh BUILD_DIR [SECONDS_PER_TARGET]   (default 60)
#
# Environment: HL_FUZZ_TARGETS="fuzz-png fuzz-dicom" limits the targets; HL_FUZZ_ARTIFACTS is the
# folder for crashing inputs (default BUILD_DIR/fuzz-artifacts). Exits non-zero when a target finds
# a crash, a leak, a timeout or runs out of memory, or when no target was built.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: fuzz/run-fuzzers.sh BUILD_DIR [SECONDS_PER_TARGET]}
seconds=${2:-60}
artifacts=${HL_FUZZ_ARTIFACTS:-$build/fuzz-artifacts}
mkdir -p "$artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

targets=${HL_FUZZ_TARGETS:-$(ninja -C "$build" -t targets all 2>/dev/null |
  sed -n 's|^fuzz/\(fuzz-[a-z0-9-]*\): .*|\1|p' | sort -u | tr '\n' ' ')}
if [ -z "${targets// /}" ]; then
  echo "run-fuzzers: no fuzz targets in $build (configure with CC=clang CXX=clang++ -Dfuzz=true)"
  exit 1
fi
ninja_targets=""
for target in $targets; do ninja_targets="$ninja_targets fuzz/$target"; done
if ! ninja -C "$build" $ninja_targets >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log"
  echo "run-fuzzers: building$ninja_targets failed"
  exit 1
fi

failed=0
for target in $targets; do
  seeds=fuzz/corpus/${target#fuzz-}
  mkdir -p "$work/$target"
  log="$work/$target.log"
  "$build/fuzz/$target" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$target-" "$work/$target" "$seeds" \
    >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  corpus=$(ls "$work/$target" | wc -l)
  if [ $rc -eq 0 ]; then
    echo "run-fuzzers: $target: ok, ${execs:-?} executions in ${seconds} s, $corpus new inputs"
  else
    failed=1
    echo "run-fuzzers: $target: FAILED (exit $rc) after ${execs:-?} executions; input in $artifacts"
    grep -E -A 30 '^==[0-9]+==ERROR|runtime error|^ALARM|out-of-memory|deadly signal' "$log" | head -n 60
  fi
done
exit $failed
