#!/usr/bin/python3
"""bench_torch.py — PyTorch's side of the engine benchmark, and the table that compares both.

  bench_torch.py run --mode eager|jit --size S --batch N --threads T [--runs R] [--warmup W]
      Times one configuration of torchvision's DenseNet-121 (14 outputs, random weights, eval mode,
      inference_mode) in this process and prints one JSON line like bench-engine's:
      {"impl": "torch-eager"|"torch-jit", "size", "batch", "threads", "runs", "median_ms", "min_ms",
       "images_per_s", "rss_base_mib", "peak_rss_mib"}.
      jit is torch.jit.optimize_for_inference(torch.jit.script(model)), always given at least 3
      warm-up runs (the profiling executor specialises the graph over the first runs). The input
      is the pattern bench-engine feeds Hilum: x[i] = ((i * 7919) mod 4001) / 1000 - 2 over the
      flat (batch, 3, size, size) buffer. rss_base_mib is the resident size after importing torch,
      before the model is built; peak_rss_mib comes from getrusage.

  bench_torch.py train --size S --batch N --threads T [--arch A] [--runs R] [--warmup W]
      Times PyTorch's training step as bench-train times Hilum's: tools/torch_train.py's model
      (build_model: torchvision DenseNet, one input channel, 14 outputs), optimiser (Adam, lr 1e-4)
      and step (train_step: forward, class-balanced weighted loss, backward, step), imported from
      there, on the input pattern above over (batch, 1, size, size) and the targets
      y[i] = 1 if (i * 7) mod 5 == 0 over the flat (batch, 14) buffer, with their class weights.
      Prints one JSON line: {"impl": "torch-eager", "step": "train", "arch", "size", "batch",
      "threads", "runs", "median_ms", "min_ms", "images_per_s", "loss", "rss_base_mib",
      "peak_rss_mib"}.

  bench_torch.py epoch --impl hilum|torch-eager --size S --batch N --threads T --train-images M
                       -- COMMAND...
      Runs COMMAND (hilum-cli train or tools/torch_train.py, one epoch), echoes its output to
      stderr, reads the training images/s from its "epoch 1/..." line and prints one JSON line
      with "step": "epoch", "median_ms" = the epoch's training loop time (the M images of the
      training CSV, less a last mini-batch of one, divided by images/s), "wall_s" = the whole
      command (decoding, the epoch, validation, writing), and "peak_rss_mib" = the command's peak
      resident size (getrusage of the children).

  bench_torch.py table RESULTS.jsonl
      Prints a markdown table of the JSON lines (from bench-engine or bench-train and this
      script), one row per configuration, one column group per implementation present, with
      PyTorch's median time divided by Hilum's (above 1: Hilum is faster).
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

N_LABELS = 14


def current_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def pattern_input(shape):
    """The benchmark input shared with bench-engine and bench-train: x[i] = ((i * 7919) mod 4001)
    / 1000 - 2 over the flat buffer of @shape."""
    import numpy as np
    import torch

    numel = int(np.prod(shape))
    flat = (np.arange(numel, dtype=np.uint64) * 7919 % 4001).astype(np.float32) / 1000.0 - 2.0
    return torch.from_numpy(flat.reshape(shape))


def time_runs(fn, warmup, runs):
    """Calls fn() warmup + runs times; returns the wall times of the last runs calls in ms."""
    times = []
    for r in range(warmup + runs):
        start = time.perf_counter()
        fn()
        if r >= warmup:
            times.append((time.perf_counter() - start) * 1000.0)
    return times


def result(impl, args, times, rss_base, **extra):
    """The JSON record of one timed configuration (the keys bench-engine and bench-train print)."""
    median = statistics.median(times)
    r = {"impl": impl}
    r.update(extra)
    r.update({"size": args.size, "batch": args.batch, "threads": args.threads_used,
              "runs": len(times), "median_ms": round(median, 3), "min_ms": round(min(times), 3),
              "images_per_s": round(args.batch * 1000.0 / median, 3)})
    if rss_base is not None:
        r["rss_base_mib"] = round(rss_base, 1)
    return r


def peak_rss_mib(who):
    return round(resource.getrusage(who).ru_maxrss / 1024.0, 1)


def run(args):
    import torch
    import torchvision

    torch.set_num_threads(args.threads)
    args.threads_used = torch.get_num_threads()
    rss_base = current_rss_mib()
    torch.manual_seed(121)
    model = torchvision.models.densenet121(num_classes=14).eval()
    x = pattern_input((args.batch, 3, args.size, args.size))
    impl = "torch-" + args.mode
    if args.mode == "jit":
        with torch.no_grad():
            model = torch.jit.optimize_for_inference(torch.jit.script(model))

    warmup = max(args.warmup, 3) if args.mode == "jit" else args.warmup
    with torch.inference_mode():
        times = time_runs(lambda: model(x), warmup, args.runs)
    r = result(impl, args, times, rss_base)
    r["peak_rss_mib"] = peak_rss_mib(resource.RUSAGE_SELF)
    print(json.dumps(r))


def train(args):
    import numpy as np
    import torch

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "tools"))
    import torch_train

    torch.set_num_threads(args.threads)
    args.threads_used = torch.get_num_threads()
    rss_base = current_rss_mib()
    torch.manual_seed(1)
    model = torch_train.build_model(args.arch).train()
    opt = torch_train.make_optimizer(model, "adam", 1e-4, 0.0)
    x = pattern_input((args.batch, 1, args.size, args.size))
    flat = (np.arange(args.batch * N_LABELS, dtype=np.uint64) * 7 % 5 == 0).astype(np.float32)
    y = flat.reshape(args.batch, N_LABELS)
    w_pos, w_neg = torch_train.class_weights(y)
    y = torch.from_numpy(y)
    losses = []
    times = time_runs(lambda: losses.append(torch_train.train_step(model, opt, x, y, w_pos, w_neg)),
                      args.warmup, args.runs)
    r = result("torch-eager", args, times, rss_base, step="train", arch=args.arch)
    r["loss"] = round(float(losses[-1]), 6)
    r["peak_rss_mib"] = peak_rss_mib(resource.RUSAGE_SELF)
    print(json.dumps(r))


def epoch(args):
    command = args.command_line[1:] if args.command_line[:1] == ["--"] else args.command_line
    start = time.perf_counter()
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - start
    sys.stderr.write(proc.stdout)
    if proc.returncode != 0:
        sys.exit("bench_torch epoch: %s exited with %d" % (command[0], proc.returncode))
    match = re.search(r"^epoch 1/\d+\s.*?([0-9.]+) images/s", proc.stdout, re.MULTILINE)
    if match is None:
        sys.exit("bench_torch epoch: no \"epoch 1/N ... images/s\" line from %s" % command[0])
    rate = float(match.group(1))
    # both trainers drop a last mini-batch of one image
    seen = args.train_images - (1 if args.train_images % args.batch == 1 else 0)
    args.threads_used = args.threads
    r = result(args.impl, args, [seen * 1000.0 / rate], None, step="epoch")
    r["images_per_s"] = rate
    r["wall_s"] = round(wall, 1)
    r["peak_rss_mib"] = peak_rss_mib(resource.RUSAGE_CHILDREN)
    print(json.dumps(r))


IMPL_NAMES = {"hilum": "Hilum", "torch-eager": "eager", "torch-jit": "jit"}


def table(args):
    rows = {}
    with open(args.results) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                rows.setdefault((r["size"], r["batch"], r["threads"]), {})[r["impl"]] = r
    impls = [i for i in IMPL_NAMES if any(i in by_impl for by_impl in rows.values())]
    others = [i for i in impls if i != "hilum"]
    names = [IMPL_NAMES[i] for i in impls]

    def cell(r, key, fmt):
        return fmt % r[key] if r is not None else "—"

    def ratio(r, base):
        if r is None or base is None:
            return "—"
        return "%.2f" % (r["median_ms"] / base["median_ms"])

    header = (["input", "batch", "threads"] + ["%s ms" % n for n in names]
              + ["%s / Hilum" % IMPL_NAMES[i] for i in others if "hilum" in impls]
              + ["%s img/s" % n for n in names] + ["%s peak MiB" % n for n in names])
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for (size, batch, threads), by_impl in sorted(rows.items()):
        got = [by_impl.get(i) for i in impls]
        cells = ["%d" % size, "%d" % batch, "%d" % threads]
        cells += [cell(r, "median_ms", "%.1f") for r in got]
        if "hilum" in impls:
            cells += [ratio(by_impl.get(i), by_impl.get("hilum")) for i in others]
        cells += [cell(r, "images_per_s", "%.1f") for r in got]
        cells += [cell(r, "peak_rss_mib", "%.0f") for r in got]
        print("| " + " | ".join(cells) + " |")
    bases, walls = [], []
    for i in impls:
        first = next((by_impl[i] for by_impl in rows.values()
                      if "rss_base_mib" in by_impl.get(i, {})), None)
        if first is not None:
            bases.append("%s %.0f MiB" % (i, first["rss_base_mib"]))
    for (size, batch, threads), by_impl in sorted(rows.items()):
        for i in impls:
            if "wall_s" in by_impl.get(i, {}):
                walls.append("%s %d/%d/%d %.1f s" % (i, size, batch, threads,
                                                     by_impl[i]["wall_s"]))
    if bases:
        print("\nResident size before the model is built (included in the peaks): "
              + ", ".join(bases) + ".")
    if walls:
        print("\nWhole command (input/batch/threads; decoding, the epoch, validation, writing): "
              + ", ".join(walls) + ".")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="time one configuration")
    r.add_argument("--mode", choices=["eager", "jit"], required=True)
    r.add_argument("--size", type=int, default=224)
    r.add_argument("--batch", type=int, default=1)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--runs", type=int, default=10)
    r.add_argument("--warmup", type=int, default=3)
    tr = sub.add_parser("train", help="time one configuration of the training step")
    tr.add_argument("--arch", choices=["densenet121", "tiny"], default="densenet121")
    tr.add_argument("--size", type=int, default=224)
    tr.add_argument("--batch", type=int, default=16)
    tr.add_argument("--threads", type=int, default=1)
    tr.add_argument("--runs", type=int, default=5)
    tr.add_argument("--warmup", type=int, default=2)
    e = sub.add_parser("epoch", help="run one training epoch of a CLI and record its throughput")
    e.add_argument("--impl", choices=["hilum", "torch-eager"], required=True)
    e.add_argument("--size", type=int, required=True)
    e.add_argument("--batch", type=int, required=True)
    e.add_argument("--threads", type=int, required=True)
    e.add_argument("--train-images", type=int, required=True)
    e.add_argument("command_line", nargs=argparse.REMAINDER)
    t = sub.add_parser("table", help="markdown table of a results file")
    t.add_argument("results")
    args = ap.parse_args()
    if args.command in ("run", "train"):
        if args.size < 32 or args.batch < (2 if args.command == "train" else 1) \
                or args.threads < 1 or args.runs < 1 or args.warmup < 0:
            sys.exit("bench_torch: need size >= 32, batch >= 1 (train: 2), threads, runs >= 1, "
                     "warmup >= 0")
        (run if args.command == "run" else train)(args)
    elif args.command == "epoch":
        if args.batch < 2 or args.train_images < 2 or not args.command_line:
            sys.exit("bench_torch epoch: need --batch >= 2, --train-images >= 2 and a command")
        epoch(args)
    else:
        table(args)


if __name__ == "__main__":
    main()
