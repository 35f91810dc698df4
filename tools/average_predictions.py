#!/usr/bin/python3
"""average_predictions.py — averages several predictions CSVs (Image + one column per label, the
layout `hilum-cli predict --csv`, `hilum-cli eval --out` and tools/torch_train.py --test-preds
write) into one, image by image: the ensemble of the models that wrote them. Score the result with
`hilum-cli eval --labels L.csv --predictions OUT.csv` (README "The default model" uses it to
measure what snapshot ensembling and seed ensembling buy).

Usage: tools/average_predictions.py OUT.csv A.csv B.csv [...]
Every input must hold the same images and the same label columns; OUT.csv is written atomically.
"""

import csv
import os
import sys


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][0] != "Image":
        sys.exit("%s: not a predictions CSV (first column must be Image)" % path)
    header = rows[0]
    table = {}
    for r in rows[1:]:
        if len(r) != len(header):
            sys.exit("%s: row for %s has %d fields, header has %d" % (path, r[0], len(r), len(header)))
        table[r[0]] = [float(v) for v in r[1:]]
    return header, table


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__.strip().split("\n\n")[1])
    out, paths = sys.argv[1], sys.argv[2:]
    header, first = read(paths[0])
    tables = [first]
    for p in paths[1:]:
        h, t = read(p)
        if h != header or set(t) != set(first):
            sys.exit("%s: other labels or images than %s" % (p, paths[0]))
        tables.append(t)
    tmp = out + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for image in first:
            cols = zip(*(t[image] for t in tables))
            w.writerow([image] + ["%.7f" % (sum(c) / len(tables)) for c in cols])
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
