#!/usr/bin/python3
"""sklearn_reference.py — reference numbers for src/analysis from scikit-learn and numpy.

Writes, in a small line format that tests/test-analysis.c reads, what scikit-learn says about
fixed score vectors (roc_curve with and without drop_intermediate, roc_auc_score,
calibration_curve, brier_score_loss) and what an independent numpy implementation of the fast
DeLong algorithm (Sun & Xu, IEEE Signal Processing Letters 2014: midranks) says about the AUROC
variance and the paired test.

  sklearn_reference.py fixtures [OUTFILE]
      the fixed vectors (ties, all-equal scores, a single positive, perfectly separated, reversed,
      collinear points, one class absent, seeded random sets, paired models); default OUTFILE is
      tests/fixtures/analysis/sklearn-fixed.txt beside this script. Run by hand; the output is
      committed.
  sklearn_reference.py nih PREDICTIONS.csv LABELS.csv
      the same numbers per label for a predictions CSV (Image + label columns) against a label CSV
      (Image, the labels as 0/1, other columns ignored), joined on Image in LABELS.csv's order,
      written to stdout. Run by the test on ../shared/data/nih/reference/chexnet-test-preds.csv
      and test.csv.

Format: blocks of lines `key v1 v2 ...` between `case NAME` and `end`. Numbers are written with
17 significant digits so that they read back exactly; `nan` and `inf` as such. Keys:
  scores, scores_b, truth             the input vectors
  fpr, tpr, thresholds                roc_curve (drop_intermediate=True)
  fpr_all, tpr_all, thresholds_all    roc_curve (drop_intermediate=False)
  auroc                               roc_auc_score; the key `undefined` instead when it raises
  delong_var                          fast DeLong variance of the AUROC (nan with < 2 of a class)
  paired                              auroc_a auroc_b var_a var_b cov z p (fast DeLong, scipy p)
  calib_bins, prob_true, prob_pred    calibration_curve(n_bins, strategy="uniform")
  brier                               brier_score_loss
roc_curve's first threshold is written as inf: scikit-learn >= 1.3 returns np.inf there, older
releases (Debian 12 ships 1.2.1) max(score) + 1; Hilum follows the newer, meaningful convention.
"""

import csv
import os
import sys
import warnings

import numpy as np
import scipy.stats
import sklearn
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve


def compute_midrank(x):
    """Midranks of x (1-based; ties get the mean of their ranks)."""
    order = np.argsort(x, kind="mergesort")
    z = x[order]
    n = len(x)
    t = np.zeros(n, dtype=np.float64)
    i = 0
    while i < n:
        j = i
        while j < n and z[j] == z[i]:
            j += 1
        t[i:j] = 0.5 * (i + j - 1)
        i = j
    out = np.empty(n, dtype=np.float64)
    out[order] = t + 1
    return out


def fast_delong(predictions_sorted_transposed, label_1_count):
    """The fast DeLong algorithm: predictions (k models, n cases) with the m positives first.
    Returns the k AUROCs and their (k, k) covariance matrix."""
    m = label_1_count
    n = predictions_sorted_transposed.shape[1] - m
    positive = predictions_sorted_transposed[:, :m]
    negative = predictions_sorted_transposed[:, m:]
    k = predictions_sorted_transposed.shape[0]
    tx = np.empty([k, m])
    ty = np.empty([k, n])
    tz = np.empty([k, m + n])
    for r in range(k):
        tx[r, :] = compute_midrank(positive[r, :])
        ty[r, :] = compute_midrank(negative[r, :])
        tz[r, :] = compute_midrank(predictions_sorted_transposed[r, :])
    aucs = tz[:, :m].sum(axis=1) / m / n - float(m + 1.0) / 2.0 / n
    v01 = (tz[:, :m] - tx[:, :]) / n
    v10 = 1.0 - (tz[:, m:] - ty[:, :]) / m
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sx = np.atleast_2d(np.cov(v01))
        sy = np.atleast_2d(np.cov(v10))
    return aucs, sx / m + sy / n


def delong(truth, *models):
    order = np.argsort(-truth, kind="mergesort")  # positives first
    m = int(truth.sum())
    preds = np.vstack([s[order] for s in models])
    return fast_delong(preds, m)


def fmt(values):
    return " ".join(repr(float(v)) if np.isfinite(v) else str(float(v)) for v in values)


def roc(truth, scores, drop):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fpr, tpr, thr = roc_curve(truth, scores, drop_intermediate=drop)
    thr = thr.astype(np.float64)
    thr[0] = np.inf
    return fpr, tpr, thr


def write_case(out, name, truth, scores, scores_b=None, calib_bins=None):
    truth = np.asarray(truth, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    out.write(f"case {name}\n")
    out.write(f"scores {fmt(scores)}\n")
    if scores_b is not None:
        scores_b = np.asarray(scores_b, dtype=np.float64)
        out.write(f"scores_b {fmt(scores_b)}\n")
    out.write("truth " + " ".join(str(int(t)) for t in truth) + "\n")
    try:
        auroc = roc_auc_score(truth, scores)
    except ValueError:
        auroc = None
    if auroc is None:
        out.write("undefined\n")
    else:
        for suffix, drop in (("", True), ("_all", False)):
            fpr, tpr, thr = roc(truth, scores, drop)
            out.write(f"fpr{suffix} {fmt(fpr)}\ntpr{suffix} {fmt(tpr)}\n")
            out.write(f"thresholds{suffix} {fmt(thr)}\n")
        out.write(f"auroc {fmt([auroc])}\n")
        _, cov = delong(truth, scores)
        out.write(f"delong_var {fmt([cov[0, 0]])}\n")
        if scores_b is not None:
            aucs, cov = delong(truth, scores, scores_b)
            var_diff = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
            diff = roc_auc_score(truth, scores) - roc_auc_score(truth, scores_b)
            if var_diff > 0:
                z = diff / np.sqrt(var_diff)
            else:  # Hilum's convention where the ratio is 0/0 or x/0 (hl-delong.h)
                z = 0.0 if diff == 0 else np.copysign(np.inf, diff)
            p = 2 * scipy.stats.norm.sf(abs(z))
            out.write("paired " + fmt([aucs[0], aucs[1], cov[0, 0], cov[1, 1], cov[0, 1], z, p])
                      + "\n")
    if calib_bins is not None:
        prob_true, prob_pred = calibration_curve(truth, scores, n_bins=calib_bins,
                                                 strategy="uniform")
        out.write(f"calib_bins {calib_bins}\n")
        out.write(f"prob_true {fmt(prob_true)}\nprob_pred {fmt(prob_pred)}\n")
        out.write(f"brier {fmt([brier_score_loss(truth, scores)])}\n")
    out.write("end\n")


def fixtures(path):
    rng = np.random.RandomState(20261126)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as out:
        out.write(f"# generated by tools/sklearn_reference.py fixtures (scikit-learn "
                  f"{sklearn.__version__}, numpy {np.__version__}); do not edit\n")
        write_case(out, "ties", [0, 1, 0, 1, 1, 0, 0, 1, 0, 1],
                   [0.3, 0.3, 0.5, 0.5, 0.7, 0.1, 0.3, 0.9, 0.7, 0.5], calib_bins=5)
        write_case(out, "all-equal", [0, 1, 1, 0, 1], [0.4] * 5, calib_bins=10)
        write_case(out, "single-positive", [0, 0, 1, 0, 0, 0], [0.1, 0.2, 0.35, 0.4, 0.05, 0.2],
                   calib_bins=4)
        write_case(out, "separated", [0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9], calib_bins=10)
        write_case(out, "reversed", [1, 1, 1, 0, 0], [0.1, 0.2, 0.3, 0.8, 0.9], calib_bins=10)
        write_case(out, "collinear", [1, 1, 1, 0, 0, 0, 1, 0],
                   [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
        write_case(out, "bin-edges", [0, 1, 0, 1, 1, 0, 1, 0, 1, 1],
                   [0.0, 0.1, 0.2, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], calib_bins=10)
        write_case(out, "one-class", [0, 0, 0, 0], [0.1, 0.5, 0.2, 0.9], calib_bins=2)
        truth = (rng.rand(300) < 0.2).astype(np.int64)
        scores = np.round(np.clip(0.25 * truth + rng.rand(300) * 0.75, 0, 1), 2)
        write_case(out, "random-rounded", truth, scores, calib_bins=10)
        truth = (rng.rand(200) < 0.35).astype(np.int64)
        a = 1.0 / (1.0 + np.exp(-(1.2 * truth + rng.randn(200))))
        b = 1.0 / (1.0 + np.exp(-(0.5 * truth + 0.6 * rng.randn(200) + 0.5 * np.log(a / (1 - a)))))
        write_case(out, "paired", truth, a, scores_b=b, calib_bins=10)
        write_case(out, "paired-identical", truth, a, scores_b=a)
        write_case(out, "paired-perfect-vs-constant", [0, 0, 1, 1, 0, 1],
                   [0.1, 0.2, 0.7, 0.8, 0.3, 0.9], scores_b=[0.5] * 6)


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def nih(predictions_path, labels_path):
    pred_header, pred_rows = read_csv(predictions_path)
    label_header, label_rows = read_csv(labels_path)
    names = pred_header[1:]
    preds = {row[0]: row[1:] for row in pred_rows}
    images = [row[0] for row in label_rows]
    scores = np.array([[float(v) for v in preds[image]] for image in images], dtype=np.float64)
    columns = [label_header.index(name) for name in names]
    truth = np.array([[int(row[c]) for c in columns] for row in label_rows], dtype=np.int64)
    out = sys.stdout
    out.write(f"# scikit-learn {sklearn.__version__} on {predictions_path} against {labels_path}\n")
    aurocs = []
    for j, name in enumerate(names):
        write_case(out, name, truth[:, j], scores[:, j], calib_bins=10)
        aurocs.append(roc_auc_score(truth[:, j], scores[:, j]))
    out.write(f"mean_auroc {fmt([np.mean(aurocs)])}\n")


def main(argv):
    if len(argv) >= 2 and argv[1] == "fixtures" and len(argv) <= 3:
        here = os.path.dirname(os.path.abspath(__file__))
        default = os.path.join(here, "..", "tests", "fixtures", "analysis", "sklearn-fixed.txt")
        fixtures(argv[2] if len(argv) == 3 else default)
        return 0
    if len(argv) == 4 and argv[1] == "nih":
        nih(argv[2], argv[3])
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
