#!/usr/bin/python3
"""pointing.py — the pointing game for a Hilum model's Grad-CAM maps: how often the hottest point
of a finding's map falls inside a radiologist's box for that finding (NIH ChestX-ray14's
BBox_List_2017 layout: Image,Finding,x,y,w,h in the 1024-pixel originals), against chance.

Runs `hilum-cli predict --gradcam-dir` on the boxed images (the maps `predict` writes: the
Grad-CAM map of the chosen layer, upsampled bilinearly to the image and divided by its maximum,
8-bit gray) and for every box reads the map of its finding:
  hit     = the fraction of the map's maximal pixels that lie inside the box (1 or 0 when one
            pixel is the maximum; ties, e.g. several pixels at 255 after 8-bit rounding, share
            the credit, so that a map with no information scores chance);
  chance  = box area / image area (the box clipped to the image): the hit rate of a map whose
            maximum falls anywhere with equal odds.
Reports the mean hit rate with its Wilson 95 % interval (counting a box as a hit when its hit
fraction is >= 0.5), the mean chance and their ratio, overall and per finding; and, over every
label's map of those images, the share of the maximum that lies in the outer band of width
side / 7 (one cell of DenseNet-121's 7x7 last map at 224), where markers and burned-in text sit:
a map peaking there points at the frame, not at the lungs (uniform chance 1 - (5/7)^2 = 0.49).
A second baseline besides chance: the hit rate of a map that always peaks at the image centre
(boxes sit in the lungs, so it beats chance: a model should beat it too).

Boxes whose image is in an --exclude CSV (the training CSVs) are left out: those the model has
seen say nothing about where it looks on new images. Coordinates are scaled by the image's width
/ --original (1024; NIH's PNGs here are 512, so halved).

Usage:
  tools/pointing.py --model M.safetensors --bbox ../shared/data/nih/bbox.csv \
      --images ../shared/data/nih/images --exclude ../shared/data/nih/train.csv \
      [--cli build/src/cli/hilum-cli] [--layer features] [--threads 2] [--keep-maps DIR]
"""

import argparse
import csv
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

# BBox_List_2017's finding names where they differ from the model's labels
ALIASES = {"Infiltrate": "Infiltration"}


def wilson(k, n, z=1.96):
    """Wilson score interval of k successes in n trials."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def score_box(heat, x, y, w, h):
    """(hit fraction, chance) of one box (x, y, w, h in pixels of heat's grid, (rows, cols))."""
    rows, cols = heat.shape
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(cols), x + w), min(float(rows), y + h)
    chance = max(0.0, x1 - x0) * max(0.0, y1 - y0) / (rows * cols)
    ys, xs = np.nonzero(heat == heat.max())
    # a pixel is inside when its centre is
    inside = (xs + 0.5 >= x0) & (xs + 0.5 < x1) & (ys + 0.5 >= y0) & (ys + 0.5 < y1)
    return float(inside.mean()), chance


def edge_share(heat):
    """The fraction of heat's maximal pixels in the outer band of width side / 7."""
    rows, cols = heat.shape
    ys, xs = np.nonzero(heat == heat.max())
    by, bx = rows / 7.0, cols / 7.0
    inner = (xs + 0.5 >= bx) & (xs + 0.5 < cols - bx) & (ys + 0.5 >= by) & (ys + 0.5 < rows - by)
    return float(1.0 - inner.mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--bbox", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--exclude", action="append", default=[],
                    help="CSV whose images are left out (repeat for several)")
    ap.add_argument("--cli", default="build/src/cli/hilum-cli")
    ap.add_argument("--layer", default="features")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--original", type=float, default=1024.0,
                    help="side of the images the box coordinates refer to")
    ap.add_argument("--keep-maps", help="write the maps here instead of a temporary folder")
    args = ap.parse_args()

    excluded = set()
    for path in args.exclude:
        with open(path, newline="") as f:
            excluded |= {r["Image"] for r in csv.DictReader(f)}
    with open(args.bbox, newline="") as f:
        boxes = [r for r in csv.DictReader(f) if r["Image"] not in excluded]
    if not boxes:
        sys.exit("pointing.py: no box of %s is left after --exclude" % args.bbox)
    names = sorted({r["Image"] for r in boxes})

    with tempfile.TemporaryDirectory() as tmp:
        maps = args.keep_maps or tmp
        os.makedirs(maps, exist_ok=True)
        cmd = [args.cli, "predict", "--model", args.model, "--gradcam-dir", maps,
               "--gradcam-layer", args.layer, "--threads", str(args.threads),
               "--csv", os.path.join(tmp, "scores.csv")]
        cmd += [os.path.join(args.images, n) for n in names]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)

        results = []
        for r in boxes:
            label = ALIASES.get(r["Finding"], r["Finding"])
            stem = os.path.splitext(r["Image"])[0]
            heat = np.asarray(Image.open(os.path.join(maps, "%s_%s.png" % (stem, label))))
            side = Image.open(os.path.join(args.images, r["Image"])).size[0]
            k = side / args.original
            hit, chance = score_box(heat.astype(np.int32), float(r["x"]) * k, float(r["y"]) * k,
                                    float(r["w"]) * k, float(r["h"]) * k)
            centre = np.zeros(heat.shape, dtype=np.int32)
            centre[heat.shape[0] // 2, heat.shape[1] // 2] = 1
            centre_hit = score_box(centre, float(r["x"]) * k, float(r["y"]) * k,
                                   float(r["w"]) * k, float(r["h"]) * k)[0]
            results.append((label, r["Image"], hit, chance, centre_hit))
        stems = [os.path.splitext(n)[0] for n in names]
        edges = [edge_share(np.asarray(Image.open(os.path.join(maps, f))))
                 for f in sorted(os.listdir(maps))
                 if f.endswith(".png") and any(f.startswith(t + "_") for t in stems)]

    print("model %s, layer %s: %d boxes on %d images not in %s"
          % (args.model, args.layer, len(results), len(names),
             ", ".join(args.exclude) or "(nothing excluded)"))
    print("%-14s %5s %8s %8s %7s %8s %17s" % ("finding", "boxes", "hit", "chance", "ratio",
                                               "centre", "hits>=0.5 (95% CI)"))
    groups = sorted({r[0] for r in results}) + ["all"]
    for g in groups:
        rs = [r for r in results if g in ("all", r[0])]
        hit = sum(r[2] for r in rs) / len(rs)
        chance = sum(r[3] for r in rs) / len(rs)
        centre = sum(r[4] for r in rs) / len(rs)
        k = sum(r[2] >= 0.5 for r in rs)
        lo, hi = wilson(k, len(rs))
        print("%-14s %5d %8.3f %8.3f %7.2f %8.3f %5d/%d (%.2f-%.2f)"
              % (g, len(rs), hit, chance, hit / chance if chance > 0 else float("nan"), centre,
                 k, len(rs), lo, hi))
    print("maxima in the outer band (side / 7): %.3f of %d maps (all labels of these images)"
          % (sum(edges) / len(edges), len(edges)))
    for label, image, hit, chance, centre in results:
        print("  %s %-14s hit %.3f chance %.3f centre %.0f" % (image, label, hit, chance, centre))


if __name__ == "__main__":
    main()
