#!/usr/bin/python3
"""torch_train.py — `hilum-cli train`'s recipe run with PyTorch (Debian's torch), the check that
Hilum's trainer is sound and the baseline its speed is compared with (README "Training").

Same data: the notebook-layout CSVs (train, valid, optionally test) and the image folder.
Same preprocessing as the Hilum model metadata hilum-cli writes: 8-bit gray / 255, resized with
PyTorch's antialiased bilinear interpolate (align_corners=False) to the input side, per-image
normalisation (x - mean) / (std + 1e-7), one input channel.
Same working planes: every image is decoded once and kept at the working side
(round (input * 8 / 7), 256 for 224), augmentation runs there, then preprocessing resizes to the
input.
Validation and test images go from the decoded plane straight to the input, as inference does.
Same augmentation as src/engine/hl-augment.c: rotation +-7 degrees, shift +-6 %, zoom +-10 %
about the centre (bilinear, black outside), brightness +-0.1, contrast 1 +- 0.15 about the plane's
mean, clamp to [0, 1], gamma exp (+-0.2); with --crop-scale S a random resized crop (area fraction
uniform in [S, 1], aspect log-uniform in [3/4, 4/3], sides clamped to the image) composed into the
same affine map; with --erase P / --erase-edge Q random erasing of a rectangle anywhere / touching
an edge (area 2-20 %, aspect 0.3..3.3, SplitMix64 noise or the mean, even odds). (The random
streams differ from the C trainer's; one drawn augmentation gives the same plane.)
Same loss: the notebook's class-balanced weighted loss: per label positive weight = fraction of
negatives and negative weight = fraction of positives in the training set; the loss sums the
per-label means over the batch.
Same optimiser and schedule: Adam (betas 0.9, 0.999, eps 1e-8) with L2 weight decay added to the
gradient (torch.optim.Adam's weight_decay), learning rate on a cosine schedule from --lr to 0 over
all steps, or SGD with momentum 0.9.
Model: torchvision DenseNet-121 (or the tiny one hilum-cli offers), random initialisation, one
input channel, 14 outputs. BatchNorm in training mode with momentum 0.1.

Prints one line per epoch: loss, training images/s (the whole mini-batch loop: augmentation,
preprocessing, forward, backward, optimiser step; not validation, as hilum-cli train counts it),
validation AUROC per label and mean; keeps the best epoch by validation mean AUROC and reports its
test AUROC per label and mean.

Usage:
  tools/torch_train.py --train T.csv --valid V.csv [--test X.csv] --images DIR
      [--arch densenet121|tiny] [--input-size 224] [--epochs N] [--batch 16] [--lr 1e-4]
      [--optimizer adam|sgd] [--weight-decay 0] [--seed 1] [--threads N] [--limit N] [--no-augment]
      [--crop-scale S] [--erase P] [--erase-edge Q]
      [--select best|last] [--tta] [--test-preds OUT.csv] [--device cpu|cuda]

--select last keeps the last epoch instead of the best by validation (for a run whose validation
images are also in its training CSV). --tta also reports the test AUROC of predictions averaged over
the TTA_VIEWS fixed augmentations. --test-preds writes the kept epoch's test probabilities (Image +
one column per label, the layout `hilum-cli eval --predictions` reads). --device cuda runs the
model, the augmentation and the preprocessing on the GPU (not deterministic run to run).
"""

import argparse
import csv
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from PIL import Image
from sklearn.metrics import roc_auc_score

LABELS = [
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Emphysema", "Fibrosis",
    "Hernia", "Infiltration", "Mass", "Nodule", "Pleural_Thickening", "Pneumonia", "Pneumothorax",
]

ARCHS = {
    "densenet121": dict(growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64,
                        bn_size=4),
    "tiny": dict(growth_rate=4, block_config=(2, 2), num_init_features=8, bn_size=2),
}


def read_csv(path, limit):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if limit:
        rows = rows[:limit]
    names = [r["Image"] for r in rows]
    y = np.array([[int(r.get(lab, 0)) for lab in LABELS] for r in rows], dtype=np.float32)
    return names, y


def decode(folder, name):
    img = Image.open(os.path.join(folder, name))
    if img.mode in ("I;16", "I;16B", "I"):
        arr = np.asarray(img).astype(np.float32) / 65535.0
    else:
        arr = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(arr))


def resize(plane, side):
    return F.interpolate(plane[None, None], size=(side, side), mode="bilinear",
                         align_corners=False, antialias=True)[0, 0]


def preprocess(plane, side):
    """The model's preprocessing: (1, side, side) from a (h, w) plane in [0, 1]."""
    x = resize(plane, side)
    return ((x - x.mean()) / (x.std(unbiased=False) + 1e-7))[None]


def draw_erase(rng, p, edge):
    """hl-augment.c's draw_erase: (x, y, w, h, noise, seed) in fractions of the plane, or None."""
    on = rng.uniform() < p
    area = rng.uniform(0.02, 0.2)
    aspect = math.exp(rng.uniform(math.log(0.3), math.log(3.3)))
    u_a, u_b = rng.uniform(), rng.uniform()
    eh, ew = math.sqrt(area * aspect), math.sqrt(area / aspect)
    if edge:
        side = min(int(u_a * 4), 3)  # top, bottom, left, right
        x = 0.0 if side == 2 else 1.0 - ew if side == 3 else u_b * (1.0 - ew)
        y = 0.0 if side == 0 else 1.0 - eh if side == 1 else u_b * (1.0 - eh)
    else:
        x, y = u_a * (1.0 - ew), u_b * (1.0 - eh)
    noise = rng.uniform() < 0.5
    seed = int(rng.integers(0, 2**64, dtype=np.uint64))
    return (x, y, ew, eh, noise, seed) if on else None


def augment(plane, rng, crop_scale=0.0, erase_p=0.0, erase_edge_p=0.0):
    """hl_augment_draw + hl_augment_apply on one (h, w) plane."""
    angle = rng.uniform(-7.0, 7.0) * math.pi / 180.0
    shift_x, shift_y = rng.uniform(-0.06, 0.06), rng.uniform(-0.06, 0.06)
    zoom = 1.0 + rng.uniform(-0.10, 0.10)
    brightness = rng.uniform(-0.10, 0.10)
    contrast = 1.0 + rng.uniform(-0.15, 0.15)
    gamma = math.exp(rng.uniform(-0.2, 0.2))
    crop = (0.0, 0.0, 1.0, 1.0)
    if crop_scale > 0:
        area = rng.uniform(crop_scale, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = min(1.0, math.sqrt(area * ratio)), min(1.0, math.sqrt(area / ratio))
        crop = ((1.0 - cw) * rng.uniform(), (1.0 - ch) * rng.uniform(), cw, ch)
    erase = []
    if erase_p > 0:
        erase.append(draw_erase(rng, erase_p, False))
    if erase_edge_p > 0:
        erase.append(draw_erase(rng, erase_edge_p, True))
    return augment_apply(plane, angle, shift_x, shift_y, zoom, brightness, contrast, gamma,
                         crop, [e for e in erase if e is not None])


def splitmix_uniform(seed, n):
    """The first @n hl_rng_uniform values of an HlRng seeded with @seed (float64 numpy array)."""
    golden = np.uint64(0x9e3779b97f4a7c15)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + golden * np.arange(1, n + 1, dtype=np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def erase_span(start, size, n):
    """The pixels [lo, hi) whose centres lie in [start, start + size) of a side of n pixels."""
    lo = min(max(math.ceil(start * n - 0.5), 0), n)
    return lo, min(max(math.ceil((start + size) * n - 0.5), lo), n)


# Test-time augmentation: the unchanged image and geometric views within the training range
# (angle degrees, shift x, shift y, zoom); no intensity change, since preprocessing normalises it.
TTA_VIEWS = [(0, 0, 0, 1.0), (-5, 0, 0, 1.0), (5, 0, 0, 1.0), (0, 0, 0, 1.08), (0, 0, 0, 0.92),
             (0, 0.04, 0, 1.0), (0, -0.04, 0, 1.0), (0, 0, 0.04, 1.0), (0, 0, -0.04, 1.0)]


def augment_apply(plane, angle, shift_x, shift_y, zoom, brightness, contrast, gamma,
                  crop=(0.0, 0.0, 1.0, 1.0), erase=()):
    """hl_augment_apply: one drawn augmentation applied to a (h, w) plane; crop is (x, y, w, h)
    and erase a list of (x, y, w, h, noise, seed), in fractions of the plane."""
    h, w = plane.shape
    # Output pixel centre -> the crop -> relative to centre and shift -> inverse rotation/zoom ->
    # source pixel, expressed in grid_sample's normalised coordinates (align_corners=False).
    f64 = dict(dtype=torch.float64, device=plane.device)
    ox, oy, kx, ky = crop[0] * w, crop[1] * h, crop[2], crop[3]
    ys, xs = torch.meshgrid(oy + (torch.arange(h, **f64) + 0.5) * ky - h / 2 - shift_y * h,
                            ox + (torch.arange(w, **f64) + 0.5) * kx - w / 2 - shift_x * w,
                            indexing="ij")
    ca, sa = math.cos(angle) / zoom, math.sin(angle) / zoom
    sx = ca * xs - sa * ys + w / 2
    sy = sa * xs + ca * ys + h / 2
    grid = torch.stack([sx / w * 2 - 1, sy / h * 2 - 1], dim=-1).float()[None]
    out = F.grid_sample(plane[None, None], grid, mode="bilinear", padding_mode="zeros",
                        align_corners=False)[0, 0]
    mean = plane.mean()
    out = ((out - mean) * contrast + mean + brightness).clamp(0, 1)
    out = out.pow(gamma)
    if erase:
        out_mean = out.mean()
        out = out.clone()
        for x, y, ew, eh, noise, seed in erase:
            x0, x1 = erase_span(x, ew, w)
            y0, y1 = erase_span(y, eh, h)
            if noise:
                values = splitmix_uniform(seed, (y1 - y0) * (x1 - x0)).astype(np.float32)
                out[y0:y1, x0:x1] = torch.from_numpy(values.reshape(y1 - y0, x1 - x0)).to(out)
            else:
                out[y0:y1, x0:x1] = out_mean
    return out


def build_model(arch):
    model = torchvision.models.DenseNet(num_classes=len(LABELS), **ARCHS[arch])
    conv0 = model.features.conv0
    model.features.conv0 = nn.Conv2d(1, conv0.out_channels, kernel_size=7, stride=2, padding=3,
                                     bias=False)
    nn.init.kaiming_normal_(model.features.conv0.weight)
    return model


def weighted_loss(logits, y, w_pos, w_neg):
    """sum over labels of mean over the batch of
    -(w_pos y log p + w_neg (1 - y) log (1 - p)), from logits for stability."""
    per = w_pos * y * F.softplus(-logits) + w_neg * (1 - y) * F.softplus(logits)
    return per.mean(dim=0).sum()


def class_weights(y):
    """The notebook's loss weights from training labels y (n, labels) of 0/1: w_pos = fraction
    of negatives, w_neg = fraction of positives, per label (torch tensors)."""
    freq_pos = y.mean(axis=0)
    return torch.tensor(1.0 - freq_pos), torch.tensor(freq_pos)


def make_optimizer(model, name, lr, weight_decay):
    """hilum-cli train's optimisers: Adam (L2 weight decay) or SGD with momentum 0.9."""
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)


def train_step(model, opt, x, y, w_pos, w_neg):
    """One training step on a preprocessed batch x (n, 1, s, s) with targets y (n, labels):
    forward, the weighted loss, backward, optimiser step. Returns the loss tensor."""
    opt.zero_grad()
    loss = weighted_loss(model(x), y, w_pos, w_neg)
    loss.backward()
    opt.step()
    return loss


def aurocs(y, p):
    out = []
    for k in range(y.shape[1]):
        if 0 < y[:, k].sum() < len(y):
            out.append(roc_auc_score(y[:, k], p[:, k]))
        else:
            out.append(float("nan"))
    return np.array(out)


def predict(model, inputs, batch):
    model.eval()
    probs = []
    with torch.no_grad():
        for i in range(0, len(inputs), batch):
            probs.append(torch.sigmoid(model(inputs[i:i + batch])))
    return torch.cat(probs).cpu().numpy()


def predict_tta(model, planes, side, batch):
    """Probabilities averaged over TTA_VIEWS, each view applied to the decoded planes."""
    total = 0
    for angle, sx, sy, zoom in TTA_VIEWS:
        x = torch.stack([preprocess(augment_apply(p, angle * math.pi / 180.0, sx, sy, zoom,
                                                  0.0, 1.0, 1.0), side) for p in planes])
        total = total + predict(model, x, batch)
    return total / len(TTA_VIEWS)


def write_preds(path, names, probs):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Image"] + LABELS)
        for name, row in zip(names, probs):
            w.writerow([name] + ["%.7f" % v for v in row])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--valid", required=True)
    ap.add_argument("--test")
    ap.add_argument("--images", required=True)
    ap.add_argument("--arch", choices=sorted(ARCHS), default="densenet121")
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="0: torch's default")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N rows of each CSV")
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--crop-scale", type=float, default=0.0,
                    help="random resized crop, area fraction in [S, 1] (0: off)")
    ap.add_argument("--erase", type=float, default=0.0,
                    help="probability of erasing a random rectangle (0: off)")
    ap.add_argument("--erase-edge", type=float, default=0.0,
                    help="probability of erasing a rectangle touching an edge (0: off)")
    ap.add_argument("--select", choices=["best", "last"], default="best",
                    help="keep the best epoch by validation mean AUROC, or the last one")
    ap.add_argument("--tta", action="store_true", help="also score the test set with TTA_VIEWS")
    ap.add_argument("--test-preds", help="write the kept epoch's test probabilities to this CSV")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    dev = torch.device(args.device)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    side = args.input_size
    work = int(round(side * 8 / 7))

    t0 = time.time()
    train_names, y_train = read_csv(args.train, args.limit)
    valid_names, y_valid = read_csv(args.valid, args.limit)
    train_planes = [resize(decode(args.images, n).to(dev), work) for n in train_names]
    valid_x = torch.stack([preprocess(decode(args.images, n).to(dev), side) for n in valid_names])
    test_x = y_test = None
    if args.test:
        test_names, y_test = read_csv(args.test, args.limit)
        test_planes = [decode(args.images, n).to(dev) for n in test_names]
        test_x = torch.stack([preprocess(p, side) for p in test_planes])
    print("decoded %d train, %d valid images in %.1f s (working side %d)"
          % (len(train_names), len(valid_names), time.time() - t0, work))

    w_pos, w_neg = class_weights(y_train)
    print("loss weights (positive / negative):")
    for k, lab in enumerate(LABELS):
        print("  %-20s %.4f / %.4f" % (lab, w_pos[k], w_neg[k]))

    model = build_model(args.arch).to(dev)
    opt = make_optimizer(model, args.optimizer, args.lr, args.weight_decay)
    # as hilum-cli train: a last mini-batch of one image is dropped
    steps_per_epoch = len(train_names) // args.batch + (len(train_names) % args.batch >= 2)
    total_steps = steps_per_epoch * args.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * s / total_steps)))
    y_train_t = torch.from_numpy(y_train).to(dev)
    w_pos, w_neg = w_pos.to(dev), w_neg.to(dev)

    best = (-1.0, None, None)
    rates = []
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(train_names))
        model.train()
        loss_sum, seen = 0.0, 0
        t = time.time()
        for b in range(steps_per_epoch):
            idx = order[b * args.batch:(b + 1) * args.batch]
            planes = [train_planes[i] if args.no_augment
                      else augment(train_planes[i], rng, args.crop_scale, args.erase,
                                   args.erase_edge) for i in idx]
            x = torch.stack([preprocess(p, side) for p in planes])
            y = y_train_t[idx]
            loss = train_step(model, opt, x, y, w_pos, w_neg)
            sched.step()
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
        compute_s = time.time() - t
        rate = seen / compute_s
        rates.append(rate)
        val = aurocs(y_valid, predict(model, valid_x, args.batch))
        mean = float(np.nanmean(val))
        print("epoch %d/%d  loss %.4f  %.2f images/s  val mean AUROC %.4f" %
              (epoch, args.epochs, loss_sum / seen, rate, mean))
        print("  val AUROC " + " ".join("%s %.3f" % (lab[:6], a) for lab, a in zip(LABELS, val)))
        sys.stdout.flush()
        if mean > best[0] or args.select == "last":
            best = (mean, epoch, {k: v.clone() for k, v in model.state_dict().items()})

    print("training images/s (mean over epochs): %.2f" % (sum(rates) / len(rates)))
    print("kept epoch %d (%s), val mean AUROC %.4f" % (best[1], args.select, best[0]))
    if test_x is not None:
        model.load_state_dict(best[2])
        probs = predict(model, test_x, args.batch)
        test = aurocs(y_test, probs)
        for lab, a in zip(LABELS, test):
            print("  test %-20s %.4f" % (lab, a))
        print("test mean AUROC %.4f" % float(np.nanmean(test)))
        if args.test_preds:
            write_preds(args.test_preds, test_names, probs)
        if args.tta:
            tta = aurocs(y_test, predict_tta(model, test_planes, side, args.batch))
            print("test mean AUROC with TTA (%d views) %.4f" % (len(TTA_VIEWS), float(np.nanmean(tta))))


if __name__ == "__main__":
    main()
