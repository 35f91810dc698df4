#!/bin/sh
# run-bench.sh — builds bench-engine and times Hilum's DenseNet-121 forward pass against PyTorch
# (eager and TorchScript optimize_for_inference), one process per configuration so that each peak
# resident size is that configuration's own; prints a markdown table with the ratios.
#
#   bench/run-bench.sh [--build DIR] [--runs R] [--warmup W] [--sizes "224 320"]
#                      [--batches "1 8"] [--threads "1 2"] [--no-torch]
#
# DIR (default build-bench) is configured with `meson setup -Dbuildtype=release -Dgui=false` plus
# $MESON_ARGS (e.g. MESON_ARGS=-Dnative=true) when it does not exist yet. The raw JSON lines are
# kept in DIR/bench-results.jsonl. Run it on an otherwise idle machine: the numbers are only as
# quiet as the machine is.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build="$root/build-bench"
runs=10
warmup=3
sizes="224 320"
batches="1 8"
threads="1 2"
torch=yes

while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --no-torch) torch=no; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "run-bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/bench-lib.sh
. "$here/bench-lib.sh"
bench_build "$build" "$root" bench/bench-engine
if [ "$torch" = yes ] && ! bench_have_torch run-bench.sh; then
  torch=no
fi

results="$build/bench-results.jsonl"
: >"$results"
for size in $sizes; do
  for batch in $batches; do
    for t in $threads; do
      echo "size $size batch $batch threads $t" >&2
      "$build/bench/bench-engine" --size "$size" --batch "$batch" --threads "$t" \
        --runs "$runs" --warmup "$warmup" >>"$results"
      if [ "$torch" = yes ]; then
        for mode in eager jit; do
          /usr/bin/python3 "$here/bench_torch.py" run --mode "$mode" --size "$size" \
            --batch "$batch" --threads "$t" --runs "$runs" --warmup "$warmup" >>"$results"
        done
      fi
    done
  done
done

echo "DenseNet-121, 14 outputs, median of $runs runs after $warmup warm-up, on $(bench_machine)."
echo
/usr/bin/python3 "$here/bench_torch.py" table "$results"
