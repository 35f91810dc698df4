#!/usr/bin/python3
"""torch_reference.py — PyTorch reference dumps that the C engine is checked against.

For a named configuration it builds torchvision's DenseNet with deterministic pseudo-random weights
(and randomised BatchNorm statistics and affine parameters, so that no BatchNorm is the identity),
writes it as a Hilum model file (safetensors, README "Model file format"), preprocesses grayscale
planes in torch exactly as the file's metadata says, runs the network in eval mode and computes
Grad-CAM by autograd, the definition: A = relu(features(x)), d logit_l / d A, averaged over the map,
weights the channels of A. Everything is written to an "expected" safetensors file.

Cases (each writes OUT/<case>.model.safetensors and OUT/<case>.expected.safetensors):
  tiny          growth 4, blocks 2,2, 8 initial features, 3 input channels (gray replicated),
                5 labels, input 32, bilinear-antialias, channel normalisation, F32 weights;
                two synthetic non-square planes.  Also writes the case tiny-gray-f16:
                1 input channel, plain bilinear, per-image normalisation, F16 weights.
  densenet121   torchvision's DenseNet-121 shape, 14 NIH labels, input 224, ImageNet mean/std,
                3 channels; the first N real X-rays of $HL_SHARED_DATA/nih/images.

Expected file tensors (all F32):
  gray.<i>        (h_i, w_i)          the grayscale plane, values in [0, 1]
  input           (n, c, s, s)        the preprocessed batch
  logits, probs   (n, n_labels)
  features        (n, c_feat, h_feat, w_feat)  relu (model.features (input))
  gradcam         (n, n_labels, h_feat, w_feat)
  gradcam_up.<i>  (n_labels, h_i, w_i) gradcam of image i upsampled to its plane (tiny cases only)
and, in F64, the same computations by the same torch code in float64 (weights and inputs upcast
exactly), which the tests use as the exact value to measure float32 rounding against:
  input.f64       preprocessing of the gray planes in float64
  features.f64    relu (model.features (input)) in float64 on the float32 input above
  logits.f64      the classifier on features.f64
  logits_e2e.f64  float64 preprocessing, then the float64 network
  gradcam_up.f64.<i>  the float32 gradcam of image i upsampled in float64 (tiny cases only)
and __metadata__: case, model (file name), n_images, images (JSON list), seed, torch.

Usage:
  tools/torch_reference.py tiny --out tests/fixtures/tiny
  tools/torch_reference.py densenet121 --images 3 --out build/parity [--data DIR]
"""

import argparse
import copy
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

NIH_LABELS = [
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Emphysema", "Fibrosis",
    "Hernia", "Infiltration", "Mass", "Nodule", "Pleural_Thickening", "Pneumonia", "Pneumothorax",
]

CASES = {
    "tiny": dict(
        growth_rate=4, block_config=(2, 2), num_init_features=8, bn_size=2,
        input_size=32, input_channels=3,
        labels=["Alpha", "Beta", "Gamma", "Delta", "Epsilon"],
        resize="bilinear-antialias", mode="channel",
        mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225],
        thresholds=[0.5, 0.25, 0.75, 0.1, 0.9], val_auroc=[0.5, None, 0.75, 1.0, 0.0],
        dtype="F32", keep_num_batches=True, seed=1, upsample=True, classifier_std=0.5),
    "tiny-gray-f16": dict(
        growth_rate=4, block_config=(2, 2), num_init_features=8, bn_size=2,
        input_size=32, input_channels=1,
        labels=["Alpha", "Beta", "Gamma"],
        resize="bilinear", mode="image", mean=None, std=None,
        thresholds=None, val_auroc=None,
        dtype="F16", keep_num_batches=False, seed=2, upsample=True, classifier_std=0.5),
    "densenet121": dict(
        growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, bn_size=4,
        input_size=224, input_channels=3, labels=NIH_LABELS,
        resize="bilinear-antialias", mode="channel",
        mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225],
        thresholds=None, val_auroc=None,
        dtype="F32", keep_num_batches=True, seed=121, upsample=False, classifier_std=None),
}

BN_EPS = 1e-5

# The synthetic planes of the tiny cases, (h, w): one shrinks both sides to 32, the other
# shrinks one side and enlarges the other.
TINY_PLANES = [(45, 37), (23, 41)]

NP_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8"}


def write_safetensors(path, tensors, metadata):
    """Writes @tensors (list of (name, numpy array, dtype tag)) and @metadata (str -> str) in the
    safetensors layout: u64 LE header length, JSON header padded with spaces to 8 bytes, raw LE data
    in list order. Written to a temporary name and renamed, so a reader never sees half a file."""
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name, array, tag in tensors:
        data = np.ascontiguousarray(array, dtype=NP_DTYPES[tag]).tobytes()
        header[name] = {"dtype": tag, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def build_model(cfg):
    """torchvision DenseNet in eval mode with seeded weights; BN affine and running statistics drawn
    from U(0.5, 1.5) / N(0, 0.1) so that they are far from the identity; the tiny cases draw the
    classifier from N(0, classifier_std) so that their logits are of order one; F16 cases have every
    parameter rounded through float16, so the F32 reference computes with exactly the stored
    values."""
    torch.manual_seed(cfg["seed"])
    model = torchvision.models.DenseNet(
        growth_rate=cfg["growth_rate"], block_config=cfg["block_config"],
        num_init_features=cfg["num_init_features"], bn_size=cfg["bn_size"],
        num_classes=len(cfg["labels"]))
    if cfg["input_channels"] != 3:
        conv0 = nn.Conv2d(cfg["input_channels"], cfg["num_init_features"], kernel_size=7,
                          stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(conv0.weight)
        model.features.conv0 = conv0
    g = torch.Generator().manual_seed(cfg["seed"] * 7919 + 17)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                assert m.eps == BN_EPS
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
        if cfg["classifier_std"] is not None:
            w = model.classifier.weight
            w.copy_(torch.randn(w.shape, generator=g) * cfg["classifier_std"])
        model.classifier.bias.copy_(torch.randn(len(cfg["labels"]), generator=g) * 0.1)
        if cfg["dtype"] == "F16":
            for t in model.state_dict().values():
                if t.is_floating_point():
                    t.copy_(t.half().float())
    return model.eval()


def model_metadata(case, cfg):
    meta = {
        "format": "hilum-densenet/1",
        "name": "torch-reference-" + case,
        "version": "seed-%d" % cfg["seed"],
        "growth_rate": str(cfg["growth_rate"]),
        "block_config": ",".join(str(b) for b in cfg["block_config"]),
        "num_init_features": str(cfg["num_init_features"]),
        "bn_size": str(cfg["bn_size"]),
        "bn_eps": repr(BN_EPS),
        "input_size": str(cfg["input_size"]),
        "input_channels": str(cfg["input_channels"]),
        "labels": json.dumps(cfg["labels"]),
        "preprocess_resize": cfg["resize"],
        "preprocess_mode": cfg["mode"],
        "training_data": "none: pseudo-random weights written by tools/torch_reference.py",
        "intended_use": "engine parity tests and benchmarks only",
    }
    if cfg["mode"] == "channel":
        meta["preprocess_mean"] = json.dumps(cfg["mean"])
        meta["preprocess_std"] = json.dumps(cfg["std"])
    if cfg["thresholds"] is not None:
        meta["thresholds"] = json.dumps(cfg["thresholds"])
    if cfg["val_auroc"] is not None:
        meta["val_auroc"] = json.dumps(cfg["val_auroc"])
    return meta


def write_model(path, case, cfg, model):
    tensors = []
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            if cfg["keep_num_batches"]:
                tensors.append((name, t.numpy(), "I64"))
            continue
        tensors.append((name, t.numpy(), cfg["dtype"]))
    write_safetensors(path, tensors, model_metadata(case, cfg))


def preprocess(gray, cfg):
    """gray: (h, w) float tensor in [0, 1] -> (input_channels, s, s), as the README table says,
    computed in gray's dtype (float32, or float64 for the exact reference)."""
    s = cfg["input_size"]
    x = F.interpolate(gray[None, None], size=(s, s), mode="bilinear", align_corners=False,
                      antialias=(cfg["resize"] == "bilinear-antialias"))[0, 0]
    c = cfg["input_channels"]
    if cfg["mode"] == "channel":
        # The constants are rounded to float32 first, as the model file's readers store them.
        mean = torch.tensor(cfg["mean"], dtype=torch.float32).to(x.dtype)[:, None, None]
        std = torch.tensor(cfg["std"], dtype=torch.float32).to(x.dtype)[:, None, None]
        return (x[None].expand(c, s, s) - mean) / std
    x = (x - x.mean()) / (x.std(unbiased=False) + 1e-7)
    return x[None].expand(c, s, s).clone()


def tiny_plane(h, w, seed):
    """A deterministic plane in [0, 1] with edges, gradients and texture, so that resizing errors
    show: a smooth ramp, a bright disc, a checkerboard corner and a little seeded noise."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing="ij")
    p = 0.3 * xx / (w - 1) + 0.2 * yy / (h - 1)
    p += 0.4 * (((yy - 0.4 * h) ** 2 + (xx - 0.6 * w) ** 2) < (0.25 * min(h, w)) ** 2)
    p += 0.1 * ((((yy // 3) + (xx // 3)) % 2) * (yy < h / 3) * (xx < w / 3))
    p += 0.05 * torch.rand(h, w, generator=g, dtype=torch.float64)
    return p.clamp(0, 1).float()


def nih_planes(data_dir, count):
    from PIL import Image
    folder = os.path.join(data_dir, "nih", "images")
    names = sorted(n for n in os.listdir(folder) if n.endswith(".png"))[:count]
    if len(names) < count:
        sys.exit("torch_reference: only %d images in %s" % (len(names), folder))
    planes = []
    for n in names:
        img = Image.open(os.path.join(folder, n))
        arr = np.asarray(img)
        if img.mode == "L":
            arr = arr.astype(np.float32) / 255.0
        elif img.mode in ("I;16", "I;16B", "I"):
            arr = arr.astype(np.float32) / 65535.0
        else:
            arr = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
        planes.append(torch.from_numpy(np.ascontiguousarray(arr)))
    return names, planes


def gradcam_by_autograd(model, x):
    """Grad-CAM at the last feature map, by autograd: (n, n_labels, h_feat, w_feat)."""
    a = F.relu(model.features(x))
    logits = model.classifier(torch.flatten(F.adaptive_avg_pool2d(a, 1), 1))
    n, n_labels = logits.shape
    maps = torch.empty(n, n_labels, a.shape[2], a.shape[3])
    for i in range(n):
        for lab in range(n_labels):
            (grad,) = torch.autograd.grad(logits[i, lab], a, retain_graph=True)
            weights = grad[i].mean(dim=(1, 2))
            maps[i, lab] = F.relu((weights[:, None, None] * a[i]).sum(0)).detach()
    return a.detach(), logits.detach(), maps


def gamma(n):
    """Higham's gamma_n = n u / (1 - n u), u = 2^-24: the relative error bound of any float32 sum
    or dot product of n terms, whatever order (or blocking, or FMA) the kernel uses."""
    u = 2.0 ** -24
    return n * u / (1 - n * u)


def gradcam_forms_bound(w, features):
    """The largest |closed - autograd| that float32 rounding allows, per map value (n, l, h, w).

    Both forms compute S / hw with S = sum_k W[l, k] A_k(i, j) over K channels. The closed form
    rounds the K-term dot product (gamma_K * sum_k |W[l, k] A_k|) and the division by hw (u).
    Autograd rounds each gradient W[l, k] / hw once (u), their mean over hw equal values
    (gamma_hw + u), then its own K-term dot product (gamma_K). ReLU does not widen a difference.
    So |closed - autograd| <= (2 gamma_K + gamma_hw + 3 u) * sum_k |W[l, k]| A_k(i, j) / hw, to
    first order in u (the second-order terms are below 1e-9 of it), with A >= 0 after ReLU."""
    k = w.shape[1]
    hw = features.shape[2] * features.shape[3]
    u = 2.0 ** -24
    magnitude = torch.einsum("lk,nkhw->nlhw", w.abs().double(), features.double()) / hw
    return ((2 * gamma(k) + gamma(hw) + 3 * u) * magnitude).float()


def run_case(case, out_dir, names, planes):
    cfg = CASES[case]
    model = build_model(cfg)
    model_file = case + ".model.safetensors"
    write_model(os.path.join(out_dir, model_file), case, cfg, model)

    x = torch.stack([preprocess(p, cfg) for p in planes])
    with torch.no_grad():
        logits_eval = model(x)
    features, logits, maps = gradcam_by_autograd(model, x)
    # The Grad-CAM pass recomputes the network: it must agree with model.forward exactly.
    assert torch.equal(logits, logits_eval), "features+classifier differ from model.forward"
    # The closed form the engine uses must agree with autograd: d logit_l / d A_k = W[l, k] / (h w).
    w = model.classifier.weight.detach()
    hw = features.shape[2] * features.shape[3]
    closed = F.relu(torch.einsum("lk,nkhw->nlhw", w, features) / hw)
    bound = gradcam_forms_bound(w, features)
    excess = ((closed - maps).abs() - bound).max()
    assert excess <= 0, "Grad-CAM forms differ by more than their float32 error bound (%.3g over)" % excess
    probs = torch.sigmoid(logits)

    # The same passes in float64: the exact values (to ~1e-16) that both float32 implementations
    # approximate. The network runs once on the float32 input x (the forward check) and once on
    # the float64 preprocessing (the end-to-end check).
    model64 = copy.deepcopy(model).double()
    x64 = torch.stack([preprocess(p.double(), cfg) for p in planes])
    with torch.no_grad():
        features64 = F.relu(model64.features(x.double()))
        logits64 = model64.classifier(torch.flatten(F.adaptive_avg_pool2d(features64, 1), 1))
        logits_e2e64 = model64(x64)

    tensors = [("gray.%d" % i, p.numpy(), "F32") for i, p in enumerate(planes)]
    tensors += [("input.f64", x64.numpy(), "F64"), ("features.f64", features64.numpy(), "F64"),
                ("logits.f64", logits64.numpy(), "F64"),
                ("logits_e2e.f64", logits_e2e64.numpy(), "F64")]
    tensors += [("input", x.numpy(), "F32"), ("logits", logits.numpy(), "F32"),
                ("probs", probs.numpy(), "F32"), ("features", features.numpy(), "F32"),
                ("gradcam", maps.numpy(), "F32")]
    if cfg["upsample"]:
        for i, p in enumerate(planes):
            up = F.interpolate(maps[i][None], size=tuple(p.shape), mode="bilinear",
                               align_corners=False)[0]
            tensors.append(("gradcam_up.%d" % i, up.numpy(), "F32"))
            up64 = F.interpolate(maps[i][None].double(), size=tuple(p.shape), mode="bilinear",
                                 align_corners=False)[0]
            tensors.append(("gradcam_up.f64.%d" % i, up64.numpy(), "F64"))
    meta = {"case": case, "model": model_file, "n_images": str(len(planes)),
            "images": json.dumps(names), "seed": str(cfg["seed"]), "torch": torch.__version__}
    write_safetensors(os.path.join(out_dir, case + ".expected.safetensors"), tensors, meta)
    print("%s: %d images, logits in [%.3f, %.3f], max feature %.3f, max map %.4g"
          % (case, len(planes), logits.min(), logits.max(), features.max(), maps.max()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config", choices=["tiny", "densenet121"])
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--images", type=int, default=3, help="densenet121: how many NIH images")
    ap.add_argument("--data", default=os.environ.get("HL_SHARED_DATA", ""),
                    help="densenet121: the shared data folder (default $HL_SHARED_DATA)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    if args.config == "tiny":
        planes = [tiny_plane(h, w, seed=10 + i) for i, (h, w) in enumerate(TINY_PLANES)]
        names = ["synthetic-%dx%d" % hw for hw in TINY_PLANES]
        run_case("tiny", args.out, names, planes)
        run_case("tiny-gray-f16", args.out, names, planes)
    else:
        if not args.data or not os.path.isdir(os.path.join(args.data, "nih", "images")):
            sys.exit("torch_reference: no NIH images: set HL_SHARED_DATA or pass --data")
        if args.images < 1:
            sys.exit("torch_reference: --images must be at least 1")
        names, planes = nih_planes(args.data, args.images)
        run_case("densenet121", args.out, names, planes)


if __name__ == "__main__":
    main()
