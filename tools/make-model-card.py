#!/usr/bin/python3
"""make-model-card.py — writes the model card (markdown) of a Hilum model file.

Runs `hilum-cli eval` on the test split with the model and the reference CheXNet predictions
(../shared/data/nih: test.csv, images/, reference/chexnet-test-preds.csv unless told otherwise),
then writes beside the model (MODEL.md for MODEL.safetensors, or --output) a card with: name and
version, architecture and input, data (split sizes, the NIH ChestX-ray14 citation),
preprocessing, training settings (from the file's metadata), per-label test AUROC with its 95%
DeLong interval, the reference's AUROC on the same images and the paired DeLong p-value, mean
AUROCs, per-label operating thresholds with their test sensitivity / specificity and the
validation AUROCs, known weaknesses derived from those numbers, intended use and "Not for
diagnostic use".

Everything in the card comes from the model file, the label CSV and hilum-cli's output: nothing
depends on the date, so the same inputs give the same card.

Usage: tools/make-model-card.py MODEL.safetensors [--labels CSV] [--images DIR]
           [--reference PREDS.csv] [--cli HILUM_CLI] [--output CARD.md] [--eval-dir DIR]
           [--compare-with OTHER_MODEL]
"""

import argparse
import csv
import hashlib
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

WEAK_AUROC = 0.7          # a label below this test AUROC is listed as a weakness
FEW_POSITIVES = 15        # a label with fewer test positives has a wide interval
MAX_HEADER = 100 << 20    # the engine's own cap on a safetensors header

NIH_CITATION = (
    "Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM. ChestX-ray8: Hospital-scale Chest X-ray "
    "Database and Benchmarks on Weakly-Supervised Classification and Localization of Common "
    "Thorax Diseases. IEEE CVPR 2017, pp. 2097-2106. Data: NIH Clinical Center, "
    "https://nihcc.app.box.com/v/ChestXray-NIHCC")
CHEXNET_CITATION = (
    "Rajpurkar P, Irvin J, Zhu K, et al. CheXNet: Radiologist-Level Pneumonia Detection on Chest "
    "X-Rays with Deep Learning. arXiv:1711.05225, 2017")


def fail(message):
    sys.exit("make-model-card: " + message)


def read_header(path):
    """The safetensors header of @path: (metadata dict, tensor dict)."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            fail(f"{path}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", raw)
        if n > MAX_HEADER:
            fail(f"{path}: header of {n} bytes is larger than {MAX_HEADER}")
        header = json.loads(f.read(n))
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict) or meta.get("format") != "hilum-densenet/1":
        fail(f"{path}: not a Hilum model file (no __metadata__ format hilum-densenet/1)")
    return meta, header


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def count_params(tensors):
    """Trainable parameters: every tensor but BatchNorm running statistics."""
    total = 0
    for name, t in tensors.items():
        if name.endswith((".running_mean", ".running_var", ".num_batches_tracked")):
            continue
        total += math.prod(t["shape"])
    return total


def json_list(meta, key):
    return json.loads(meta[key]) if key in meta else None


def read_labels(path):
    """The label CSV: (rows as dicts, number of distinct patients or None)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    patients = {r["PatientId"] for r in rows if r.get("PatientId")}
    return rows, (len(patients) if patients else None)


def number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return math.nan
    return value


def fmt(value, digits=3):
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def fmt_p(p):
    if p is None or math.isnan(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def find_cli(given):
    if given:
        return given
    if os.environ.get("HILUM_CLI"):
        return os.environ["HILUM_CLI"]
    built = os.path.join(REPO, "build", "src", "cli", "hilum-cli")
    if os.access(built, os.X_OK):
        return built
    on_path = shutil.which("hilum-cli")
    if on_path is None:
        fail("hilum-cli not found: give --cli PATH or set HILUM_CLI")
    return on_path


def run_eval(cli, model, labels, images, reference, out_dir):
    cmd = [cli, "eval", "--labels", labels, "--images", images, "--model", model,
           "--reference", reference, "--out", out_dir]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        fail("`%s` failed (exit %d):\n%s" % (" ".join(cmd), done.returncode, done.stderr))
    with open(os.path.join(out_dir, "eval.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(out_dir, "predictions.csv"), newline="") as f:
        preds = {r["Image"]: r for r in csv.DictReader(f)}
    return cmd, rows, preds


def at_threshold(preds, truth_rows, label, threshold):
    """Test sensitivity and specificity of @label at @threshold: (sens, spec)."""
    tp = fn = tn = fp = 0
    for row in truth_rows:
        p = preds.get(row["Image"])
        if p is None or row.get(label, "") not in ("0", "1"):
            continue
        positive = row[label] == "1"
        called = float(p[label]) >= threshold
        if positive:
            tp += called
            fn += not called
        else:
            fp += called
            tn += not called
    sens = tp / (tp + fn) if tp + fn else math.nan
    spec = tn / (tn + fp) if tn + fp else math.nan
    return sens, spec


def mean(values):
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


TRAINING_PATTERN = re.compile(
    r"on (?P<n_train>\d+) images \((?P<p_train>\d+) patients\) of (?P<train>\S+), validated on "
    r"(?P<n_valid>\d+) images \((?P<p_valid>\d+) patients\) of (?P<valid>[^;]+);")
LEAKAGE_PATTERN = re.compile(r"patients in both splits: (?P<n>\d+) \(allowed by --allow-leakage\)")
CHEXNET_REFERENCE = "chexnet-test-preds.csv"  # the shared data's CheXNet predictions
# hilum-cli train --init: "started from NAME VERSION (source sha256 HEX, PATH); ..., frozen: X;
# backbone lr x F; ..."
STARTED_PATTERN = re.compile(r"started from (.+?) \(source sha256 ([0-9a-f]{64}), (.+?)\); "
                             r"classifier rows kept for (\d+) of the (\d+) labels.*?; "
                             r"frozen: ([^;]+); backbone lr x ([^;]+);")
KEPT_LAST = "kept epoch: the last"  # hilum-cli train --keep-last
EPOCH_PATTERN = re.compile(r"this is epoch (?P<epoch>\d+) \(validation mean AUROC "
                           r"(?P<val_mean>[0-9.]+)\)")


COMPARED = ("auroc", "ci_low", "ci_high", "ref_auroc", "p_value")


def print_comparison(rows, other_rows, other):
    """Prints, per eval.csv column of COMPARED and for the mean AUROC, the largest absolute
    difference between @rows and @other_rows (the same labels) and where it is."""
    other_by_label = {r["label"]: r for r in other_rows}
    print(f"Largest differences from {other} (test split):")
    for column in COMPARED:
        worst, where = 0.0, "-"
        for r in rows:
            a, b = number(r[column]), number(other_by_label[r["label"]][column])
            if math.isnan(a) and math.isnan(b):
                continue
            d = abs(a - b) if not (math.isnan(a) or math.isnan(b)) else math.inf
            if d > worst:
                worst, where = d, r["label"]
        print(f"  {column:10s} {worst:.6f} ({where})")
    means = [mean([number(r["auroc"]) for r in rs]) for rs in (rows, other_rows)]
    print(f"  {'mean AUROC':10s} {abs(means[0] - means[1]):.6f}")


def shown_path(arg):
    """@arg relative to the repository when it lies in it or beside it (../shared), else as is."""
    if not os.path.isabs(arg):
        return arg
    rel = os.path.relpath(arg, REPO)
    return arg if rel.startswith(os.pardir + os.sep + os.pardir) else rel


def depth(block_config, n_blocks):
    return 1 + 2 * sum(block_config) + (n_blocks - 1) + 1


def card_markdown(args, meta, tensors, rows, preds, truth_rows, n_patients, cmd):
    labels = json_list(meta, "labels")
    thresholds = json_list(meta, "thresholds") or [0.5] * len(labels)
    val_auroc = json_list(meta, "val_auroc") or [None] * len(labels)
    by_label = {r["label"]: r for r in rows}
    blocks = [int(b) for b in meta["block_config"].split(",")]
    dtypes = sorted({t["dtype"] for t in tensors.values()})
    name = f'{meta["name"]} {meta["version"]}'
    training = meta.get("training_data", "")
    split = TRAINING_PATTERN.search(training)
    epoch = EPOCH_PATTERN.search(training)
    leakage = LEAKAGE_PATTERN.search(training)
    kept_last = KEPT_LAST in training
    started = STARTED_PATTERN.search(training)
    reference_file = os.path.basename(args.reference)
    if reference_file == CHEXNET_REFERENCE:
        ref_name = "CheXNet"
        ref_about = f"CheXNet ({CHEXNET_CITATION}; trained on ~78,000 images)"
    else:
        ref_name = os.path.splitext(reference_file)[0]
        ref_about = f"the predictions `{ref_name}`"
    out = []
    w = out.append

    w(f"# Model card: {name}\n")
    w("**Not for diagnostic use.** Hilum's scores are a second reader's suggestions for a "
      "radiologist to check, never a diagnosis. This model has not been cleared by any "
      "regulator.\n")

    w("## Model\n")
    w(f"- Name and version: `{meta['name']}` {meta['version']}")
    w(f"- File: `{os.path.basename(args.model)}`, {os.path.getsize(args.model):,} bytes, "
      f"tensors in {', '.join(dtypes)}, SHA-256 `{sha256(args.model)}`")
    w(f"- Architecture: DenseNet-{depth(blocks, len(blocks))} (dense blocks of "
      f"{', '.join(map(str, blocks))} layers, growth rate {meta['growth_rate']}, "
      f"{meta['num_init_features']} initial features, bottleneck width {meta['bn_size']}, "
      f"BatchNorm epsilon {meta['bn_eps']}), {count_params(tensors):,} parameters, "
      f"{len(labels)} sigmoid outputs (one per finding, multi-label)")
    w(f"- Input: {meta['input_size']} × {meta['input_size']} pixels, "
      f"{meta['input_channels']} channel(s) (grayscale"
      f"{' replicated' if meta['input_channels'] != '1' else ''})")
    w(f"- Outputs, in order: {', '.join(labels)}")
    if started:
        w(f"- Started from: `{started.group(1)}` (`{started.group(3)}`, SHA-256 "
          f"`{started.group(2)}`), its classifier rows kept for {started.group(4)} of the "
          f"{started.group(5)} labels; frozen: {started.group(6)}; backbone learning rate × "
          f"{started.group(7)}; outputs plain sigmoid")
    elif "from scratch" in training:
        w("- Started from: nothing (trained from scratch, torchvision's initialisation)")
    w("")

    w("## Data\n")
    w(f"NIH ChestX-ray14 ({NIH_CITATION}): frontal chest radiographs with 14 finding labels "
      "mined from the radiology reports by NLP (not read by radiologists for this purpose; the "
      "labels are noisy).\n")
    w("| split | images | patients | source |")
    w("| --- | --- | --- | --- |")
    if split:
        w(f"| train | {split['n_train']} | {split['p_train']} | `{shown_path(split['train'])}` |")
        role = "operating thresholds" if kept_last else "epoch and threshold selection"
        w(f"| validation ({role}) | {split['n_valid']} | "
          f"{split['p_valid']} | `{shown_path(split['valid'])}` |")
    else:
        w("| train, validation | see Training below | | |")
    w(f"| test (this card's numbers) | {len(truth_rows)} | "
      f"{n_patients if n_patients is not None else '—'} | "
      f"`{shown_path(os.path.normpath(args.labels))}` |\n")
    if leakage and kept_last:
        w(f"**{leakage['n']} patients are in both the training and the validation split** "
          "(allowed by `hilum-cli train --allow-leakage`): the model was also trained on the "
          "validation images (a final fit), so the validation AUROCs and the operating "
          "thresholds chosen there are in-sample and optimistic. The epoch kept is the last one, "
          "not chosen on validation.\n")
    elif leakage:
        w(f"**{leakage['n']} patients are in both the training and the validation split** "
          "(allowed by `hilum-cli train --allow-leakage`): the validation AUROCs, the epoch "
          "choice and the thresholds are optimistic.\n")
    elif split:
        w("The training and validation splits are by patient: no patient is in both "
          "(`hilum-cli train` refuses otherwise unless `--allow-leakage`, which it records).\n")
    else:
        w("The model file does not record whether its training and validation splits share "
          "patients.\n")

    w("## Preprocessing\n")
    resize = ("bilinear with antialiasing" if meta["preprocess_resize"] == "bilinear-antialias"
              else "bilinear")
    if meta["preprocess_mode"] == "image":
        norm = "each image normalised to zero mean and unit standard deviation (per image)"
    else:
        norm = (f"normalised per channel with mean {meta.get('preprocess_mean')} and standard "
                f"deviation {meta.get('preprocess_std')}")
    w(f"The decoded grayscale image (values in [0, 1]) is "
      f"resized to {meta['input_size']} × {meta['input_size']} ({resize}, PyTorch "
      f"`interpolate` with `align_corners=False`), then {norm}. The same engine function "
      "prepares training and inference inputs, and the Grad-CAM heatmaps come from the pass "
      "that produced the scores.\n")

    w("## Training\n")
    w(training + "." if training and not training.endswith(".") else training or "Not stated.")
    w("")
    if epoch and kept_last:
        w(f"The file holds epoch {epoch['epoch']}, the last of the run (`hilum-cli train "
          f"--keep-last`; validation mean AUROC {epoch['val_mean']}).\n")
    elif epoch:
        w(f"The file holds epoch {epoch['epoch']}, the one with the best validation mean AUROC "
          f"({epoch['val_mean']}).\n")
    if "thresholds" not in meta:
        w("Operating thresholds: none in the model file; 0.5 for every label.\n")
    elif split:
        w("Operating thresholds: per label, Youden's J on the validation split (0.5 where the "
          "validation split has no positive), as `hilum-cli train` chooses them.\n")
    else:
        w("Operating thresholds: from the model file's metadata; how they were chosen is not "
          "recorded there.\n")

    w(f"## Results on the test split ({len(truth_rows)} images)\n")
    w(f"AUROC with its 95% DeLong interval (logit). Reference: {ref_about} on the same images, "
      f"from `{reference_file}`; p is DeLong's paired test of the difference. The threshold is "
      "the model's own operating point (see Training); sensitivity and specificity are measured "
      "at it on the test split.\n")
    w(f"| finding | test positives | AUROC (95% CI) | {ref_name} AUROC (95% CI) | p | threshold | "
      "test sensitivity / specificity | validation AUROC |")
    w("| --- | ---: | --- | --- | ---: | ---: | --- | ---: |")
    aurocs, ref_aurocs, weak, few, worse, unvalidated = [], [], [], [], [], []
    for k, label in enumerate(labels):
        r = by_label.get(label)
        if r is None:
            continue
        a, lo, hi = number(r["auroc"]), number(r["ci_low"]), number(r["ci_high"])
        ra, rlo, rhi = number(r["ref_auroc"]), number(r["ref_ci_low"]), number(r["ref_ci_high"])
        p, diff = number(r["p_value"]), number(r["difference"])
        pos = int(r["n_positive"])
        va = val_auroc[k]
        va = math.nan if va is None else float(va)
        sens, spec = at_threshold(preds, truth_rows, label, float(thresholds[k]))
        aurocs.append(a)
        ref_aurocs.append(ra if not math.isnan(a) else math.nan)
        if not math.isnan(a) and a < WEAK_AUROC:
            weak.append(f"{label} ({fmt(a)})")
        if pos < FEW_POSITIVES:
            few.append(f"{label} ({pos})")
        if not math.isnan(p) and p < 0.05 and diff < 0:
            shown_p = fmt_p(p)
            worse.append(f"{label} ({fmt(a)} vs {fmt(ra)}, p "
                         f"{shown_p if shown_p.startswith('<') else '= ' + shown_p})")
        if math.isnan(va):
            unvalidated.append(label)
        w(f"| {label} | {pos} | {fmt(a)} ({fmt(lo)}–{fmt(hi)}) | {fmt(ra)} ({fmt(rlo)}–{fmt(rhi)}) "
          f"| {fmt_p(p)} | {fmt(float(thresholds[k]))} | {fmt(sens, 2)} / {fmt(spec, 2)} | "
          f"{fmt(va)} |")
    m, rm = mean(aurocs), mean(ref_aurocs)
    n_defined = sum(not math.isnan(a) for a in aurocs)
    w("")
    w(f"Mean test AUROC over the {n_defined} findings with positives and negatives: **{fmt(m)}** "
      f"({ref_name} on the same images and findings: {fmt(rm)}; difference {fmt(m - rm)}).\n")

    w("## Known weaknesses\n")
    if weak:
        w(f"- Test AUROC below {WEAK_AUROC}: {', '.join(weak)}. Do not rely on these findings.")
    if worse:
        w(f"- Significantly below the reference {ref_name} (paired DeLong p < 0.05): "
          f"{', '.join(worse)}.")
    if few:
        w(f"- Fewer than {FEW_POSITIVES} positives in the test split, so the interval is wide "
          f"and the AUROC uncertain: {', '.join(few)}.")
    if unvalidated:
        w(f"- No validation AUROC (no positive in the validation split), threshold 0.5 by "
          f"default: {', '.join(unvalidated)}.")
    if leakage:
        w("- The operating thresholds and validation AUROCs come from images that share patients "
          "with the training images (in-sample): on new images expect lower sensitivity or "
          "specificity at these thresholds than the validation split suggests; the test columns "
          "above show what they give on unseen patients.")
    if split:
        w(f"- Trained on {split['n_train']} images only (CheXNet: ~78,000): expect lower "
          "sensitivity for rare findings and more sensitivity to differences in acquisition.")
    w("- One source: NIH Clinical Center radiographs (frontal PA and AP); not evaluated on other "
      "hospitals, scanners, lateral views, children, or images with lines and tubes as a "
      "separate group. The labels are mined from reports (NLP) and are themselves imperfect.")
    w("- The heatmaps (Grad-CAM) show where the score came from, not where the disease is.\n")

    w("## Intended use\n")
    intended = meta.get("intended_use", "")
    if intended:
        w(intended + "\n")
    w("A research and teaching tool: a second reader that ranks the 14 ChestX-ray14 findings and "
      "shows Grad-CAM heatmaps for a radiologist to check. **Not for diagnostic use**: not for "
      "triage, screening or any clinical decision.\n")

    w("## How this card was made\n")
    w("`tools/make-model-card.py` from the model file's metadata and this evaluation "
      "(regenerate it the same way after any change to the model):\n")
    w("```")
    shown = ["hilum-cli"] + [shown_path(c) for c in cmd[1:-2]] + ["--out", "DIR"]
    w(" ".join(shown))
    w("```")
    return "\n".join(out) + "\n"


def main():
    shared = os.environ.get("HL_SHARED_DATA") or os.path.join(REPO, "..", "shared", "data")
    nih = os.path.join(shared, "nih")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the model file (.safetensors)")
    parser.add_argument("--labels", default=os.path.join(nih, "test.csv"),
                        help="test label CSV (default: ../shared/data/nih/test.csv)")
    parser.add_argument("--images", default=os.path.join(nih, "images"),
                        help="folder of its images (default: ../shared/data/nih/images)")
    parser.add_argument("--reference",
                        default=os.path.join(nih, "reference", "chexnet-test-preds.csv"),
                        help="reference predictions CSV (default: CheXNet's on the test split)")
    parser.add_argument("--cli", help="hilum-cli to run (default: $HILUM_CLI, build/, PATH)")
    parser.add_argument("--output", help="card to write (default: MODEL.md beside the model)")
    parser.add_argument("--compare-with", metavar="OTHER_MODEL",
                        help="also evaluate OTHER_MODEL (e.g. the F32 original of an F16 model) "
                        "and print the largest change of every reported test number")
    parser.add_argument("--eval-dir", help="keep hilum-cli eval's output here (default: "
                        "a temporary folder, removed)")
    args = parser.parse_args()
    for path in (args.model, args.labels, args.reference):
        if not os.path.isfile(path):
            fail(f"{path}: no such file")
    if not os.path.isdir(args.images):
        fail(f"{args.images}: no such folder")

    meta, tensors = read_header(args.model)
    truth_rows, n_patients = read_labels(args.labels)
    cli = find_cli(args.cli)
    tmp = None
    eval_dir = args.eval_dir
    if eval_dir is None:
        tmp = tempfile.mkdtemp(prefix="hilum-card-")
        eval_dir = tmp
    else:
        os.makedirs(eval_dir, exist_ok=True)
    try:
        cmd, rows, preds = run_eval(cli, os.path.abspath(args.model), args.labels, args.images,
                                    args.reference, eval_dir)
        if args.compare_with:
            other_dir = os.path.join(eval_dir, "compare-with")
            os.makedirs(other_dir, exist_ok=True)
            _, other_rows, _ = run_eval(cli, os.path.abspath(args.compare_with), args.labels,
                                        args.images, args.reference, other_dir)
            print_comparison(rows, other_rows, args.compare_with)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp)
    text = card_markdown(args, meta, tensors, rows, preds, truth_rows, n_patients, cmd)
    output = args.output
    if output is None:
        stem = args.model[:-len(".safetensors")] if args.model.endswith(".safetensors") \
            else args.model
        output = stem + ".md"
    partial = output + ".part"
    with open(partial, "w") as f:
        f.write(text)
    os.replace(partial, output)
    print(f"Wrote {output}")


if __name__ == "__main__":
    main()
