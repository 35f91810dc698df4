#!/bin/sh
# bench-train.sh — times Hilum's training against PyTorch's, the same recipe on the same values,
# one process per configuration so that each peak resident size is that configuration's own;
# prints a markdown table (bench_torch.py table) with images/s and PyTorch's time over Hilum's.
#
#   bench/bench-train.sh [--build DIR] [--arch densenet121|tiny] [--sizes "224 320"]
#                        [--batch N] [--threads "1 2"] [--runs R] [--warmup W] [--no-torch]
#                        [--epoch IMAGES [--valid-images M] [--data DIR]]
#
# Default (step): bench-train (hl_train_net_forward, hl_loss_weighted_bce, hl_train_net_backward,
# hl_optim_step) against `bench_torch.py train` (tools/torch_train.py's model, loss, Adam and
# step), DenseNet-121, one input channel, 14 labels, input 224, batch 16, 1 and 2 threads, median
# of R (5) steps after W (2) warm-up steps.
# --epoch IMAGES: one real epoch of each CLI instead, `hilum-cli train --epochs 1` and
# `tools/torch_train.py --epochs 1`, on the first IMAGES rows of DIR/nih/train.csv (validation on
# the first M = 32 rows of valid.csv), augmentation on, seed 1; each CLI's own "images/s" (the
# mini-batch loop: augmentation, preprocessing, forward, backward, step) goes in the table, and
# the whole command's wall time below it. DIR defaults to $HL_SHARED_DATA, else ../shared/data.
#
# DIR (default build-bench) is configured as bench/run-bench.sh does when it does not exist yet.
# The raw JSON lines go to DIR/bench-train-results.jsonl (DIR/bench-epoch-results.jsonl with
# --epoch). Run it on an otherwise idle machine: the numbers are only as quiet as the machine is.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build="$root/build-bench"
arch=densenet121
sizes=224
batch=16
threads="1 2"
runs=5
warmup=2
torch=yes
epoch_images=0
valid_images=32
data=${HL_SHARED_DATA:-$root/../shared/data}

while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --no-torch) torch=no; shift ;;
    --epoch) epoch_images=$2; shift 2 ;;
    --valid-images) valid_images=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "bench-train.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/bench-lib.sh
. "$here/bench-lib.sh"
if [ "$torch" = yes ] && ! bench_have_torch bench-train.sh; then
  torch=no
fi

if [ "$epoch_images" -eq 0 ]; then
  bench_build "$build" "$root" bench/bench-train
  results="$build/bench-train-results.jsonl"
  : >"$results"
  for size in $sizes; do
    for t in $threads; do
      echo "train step: $arch size $size batch $batch threads $t" >&2
      "$build/bench/bench-train" --arch "$arch" --size "$size" --batch "$batch" --threads "$t" \
        --runs "$runs" --warmup "$warmup" >>"$results"
      if [ "$torch" = yes ]; then
        /usr/bin/python3 "$here/bench_torch.py" train --arch "$arch" --size "$size" \
          --batch "$batch" --threads "$t" --runs "$runs" --warmup "$warmup" >>"$results"
      fi
    done
  done
  echo "Training step ($arch, 1 input channel, 14 labels: forward, class-balanced weighted loss," \
    "backward, Adam), batch $batch, median of $runs steps after $warmup warm-up, on" \
    "$(bench_machine)."
else
  if [ ! -f "$data/nih/train.csv" ] || [ ! -f "$data/nih/valid.csv" ]; then
    echo "bench-train.sh: no $data/nih/train.csv and valid.csv: give --data DIR" >&2
    exit 2
  fi
  bench_build "$build" "$root" src/cli/hilum-cli
  work="$build/bench-epoch"
  rm -rf "$work"
  mkdir -p "$work"
  head -n "$((epoch_images + 1))" "$data/nih/train.csv" >"$work/train.csv"
  head -n "$((valid_images + 1))" "$data/nih/valid.csv" >"$work/valid.csv"
  n_train=$(($(wc -l <"$work/train.csv") - 1))
  results="$build/bench-epoch-results.jsonl"
  : >"$results"
  for size in $sizes; do
    for t in $threads; do
      echo "epoch: $arch size $size batch $batch threads $t, $n_train training images" >&2
      /usr/bin/python3 "$here/bench_torch.py" epoch --impl hilum --size "$size" --batch "$batch" \
        --threads "$t" --train-images "$n_train" -- \
        "$build/src/cli/hilum-cli" train --train "$work/train.csv" --valid "$work/valid.csv" \
        --images "$data/nih/images" --out "$work/hilum-$size-$t.safetensors" --arch "$arch" \
        --input-size "$size" --epochs 1 --batch "$batch" --threads "$t" --seed 1 >>"$results"
      if [ "$torch" = yes ]; then
        /usr/bin/python3 "$here/bench_torch.py" epoch --impl torch-eager --size "$size" \
          --batch "$batch" --threads "$t" --train-images "$n_train" -- \
          /usr/bin/python3 "$root/tools/torch_train.py" --train "$work/train.csv" \
          --valid "$work/valid.csv" --images "$data/nih/images" --arch "$arch" \
          --input-size "$size" --epochs 1 --batch "$batch" --threads "$t" --seed 1 >>"$results"
      fi
    done
  done
  rm -rf "$work"
  echo "One epoch of hilum-cli train and tools/torch_train.py ($arch, $n_train images of" \
    "train.csv, augmentation on, batch $batch; validation on $valid_images images of" \
    "valid.csv); ms: the epoch's mini-batch loop; images/s as each CLI reports it; on" \
    "$(bench_machine)."
fi
echo
/usr/bin/python3 "$here/bench_torch.py" table "$results"
