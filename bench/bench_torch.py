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

  bench_torch.py table RESULTS.jsonl
      Prints a markdown table of the JSON lines (from bench-engine and this script), one row per
      configuration, with PyTorch's median time divided by Hilum's (above 1: Hilum is faster).
"""

import argparse
import json
import resource
import statistics
import sys
import time


def current_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def run(args):
    import numpy as np
    import torch
    import torchvision

    torch.set_num_threads(args.threads)
    rss_base = current_rss_mib()
    torch.manual_seed(121)
    model = torchvision.models.densenet121(num_classes=14).eval()
    numel = args.batch * 3 * args.size * args.size
    flat = (np.arange(numel, dtype=np.uint64) * 7919 % 4001).astype(np.float32) / 1000.0 - 2.0
    x = torch.from_numpy(flat.reshape(args.batch, 3, args.size, args.size))
    impl = "torch-" + args.mode
    if args.mode == "jit":
        with torch.no_grad():
            model = torch.jit.optimize_for_inference(torch.jit.script(model))

    warmup = max(args.warmup, 3) if args.mode == "jit" else args.warmup
    times = []
    with torch.inference_mode():
        for r in range(warmup + args.runs):
            start = time.perf_counter()
            model(x)
            if r >= warmup:
                times.append((time.perf_counter() - start) * 1000.0)
    median = statistics.median(times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({
        "impl": impl, "size": args.size, "batch": args.batch,
        "threads": torch.get_num_threads(), "runs": args.runs,
        "median_ms": round(median, 3), "min_ms": round(min(times), 3),
        "images_per_s": round(args.batch * 1000.0 / median, 3),
        "rss_base_mib": round(rss_base, 1), "peak_rss_mib": round(peak, 1)}))


def table(args):
    rows = {}
    impls = ["hilum", "torch-eager", "torch-jit"]
    with open(args.results) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                rows.setdefault((r["size"], r["batch"], r["threads"]), {})[r["impl"]] = r

    def cell(r, key, fmt):
        return fmt % r[key] if r is not None else "—"

    def ratio(r, base):
        if r is None or base is None:
            return "—"
        return "%.2f" % (r["median_ms"] / base["median_ms"])

    print("| input | batch | threads | Hilum ms | eager ms | jit ms | eager / Hilum | jit / Hilum "
          "| Hilum img/s | eager img/s | jit img/s | Hilum peak MiB | eager peak MiB "
          "| jit peak MiB |")
    print("|" + " --- |" * 14)
    for (size, batch, threads), by_impl in sorted(rows.items()):
        h, e, j = (by_impl.get(i) for i in impls)
        print("| %d | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            size, batch, threads,
            cell(h, "median_ms", "%.1f"), cell(e, "median_ms", "%.1f"),
            cell(j, "median_ms", "%.1f"), ratio(e, h), ratio(j, h),
            cell(h, "images_per_s", "%.1f"), cell(e, "images_per_s", "%.1f"),
            cell(j, "images_per_s", "%.1f"),
            cell(h, "peak_rss_mib", "%.0f"), cell(e, "peak_rss_mib", "%.0f"),
            cell(j, "peak_rss_mib", "%.0f")))
    bases = []
    for i in impls:
        first = next((by_impl[i] for by_impl in rows.values() if i in by_impl), None)
        if first is not None:
            bases.append("%s %.0f MiB" % (i, first["rss_base_mib"]))
    if bases:
        print("\nResident size before the model is built (included in the peaks): "
              + ", ".join(bases) + ".")


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
    t = sub.add_parser("table", help="markdown table of a results file")
    t.add_argument("results")
    args = ap.parse_args()
    if args.command == "run":
        if args.size < 32 or args.batch < 1 or args.threads < 1 or args.runs < 1 \
                or args.warmup < 0:
            sys.exit("bench_torch: need size >= 32, batch, threads, runs >= 1, warmup >= 0")
        run(args)
    else:
        table(args)


if __name__ == "__main__":
    main()
