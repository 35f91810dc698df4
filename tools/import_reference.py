#!/usr/bin/python3
"""import_reference.py — checkpoints in every layout tools/hilum-import reads, and what their
authors' pipelines compute with them, for tests/test-tools-import.c.

For each case it builds a checkpoint with seeded random weights (BatchNorm statistics and affine
parameters randomised, the classifier scaled so that logits are of order one), saved exactly as
the source saves it, runs `hilum-import` on it, and computes on a few grayscale 8-bit images
(PNG files written to OUT/images) what the source computes:

  torchvision-plain         state dict, torch.save (zip); PyTorch pipeline of the README's
                            torchvision format: F.interpolate(antialias) + ImageNet mean/std
  torchvision-wrapped       `module.densenet121.` prefixes, old `norm.1` names, Sequential(Linear,
                            Sigmoid) classifier, legacy (pre-1.6) serialisation
  chexnet-state-dict        arnoweng/CheXNet: {"state_dict": ...} with `module.densenet121.`
                            prefixes; torchvision Resize(224) + CenterCrop(224) on PIL RGB, ToTensor,
                            ImageNet Normalize
  chexnet-pickled-model     jrzech/reproduce-chexnet: {"model": the whole pickled DenseNet}
  xrv-nih                   torchxrayvision's release layout (a whole pickled 1-channel DenseNet,
                            18 outputs) named as the NIH release; its published pipeline:
                            normalize(img, 255), XRayCenterCrop, XRayResizer(224) (skimage), the
                            network, sigmoid, op_norm with the release's operating points
  keras-weights             the notebook's Keras DenseNet (save_weights layout) of a small
                            configuration, nearest resize, featurewise normalisation on 0-255;
                            the reference is a numpy implementation of Keras' layer semantics
  keras-model               the same in model.save's layout (`model_weights` group)

OUT/<case>.safetensors is the import; OUT/<case>.json holds the image files, the labels in
output order and the source's probabilities; OUT/<case>.input.f32 and .logits.f32 hold the
source's preprocessed input (n, c, s, s) and logits (n, labels), little-endian float32, for the
network-on-the-same-input check.

Usage: tools/import_reference.py OUT [--data DIR] [--importer tools/hilum-import]
"""

import argparse
import collections
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import skimage.transform
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
CHEXNET_LABELS = [
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
]
NIH_LABELS = sorted(CHEXNET_LABELS)
XRV_LABELS = ["Atelectasis", "Consolidation", "Infiltration", "Pneumothorax", "Edema", "Emphysema",
              "Fibrosis", "Effusion", "Pneumonia", "Pleural_Thickening", "Cardiomegaly", "Nodule",
              "Mass", "Hernia"]
XRV_NIH_OP = [0.039117552, 0.0034529066, 0.11396341, 0.0057298196, 0.00045666535, 0.0018880932,
              0.012037827, 0.038744126, 0.0037213727, 0.014730946, 0.016149804, 0.054241467,
              0.037198864, 0.0004403434]
NOTEBOOK_LABELS = [
    "Cardiomegaly", "Emphysema", "Effusion", "Hernia", "Infiltration", "Mass", "Nodule",
    "Atelectasis", "Pneumothorax", "Pleural_Thickening", "Pneumonia", "Fibrosis", "Edema",
    "Consolidation",
]
KERAS_EPS = 1.001e-5
KERAS_MEAN, KERAS_STD = 128.0, 64.0
KERAS_SIDE = 64


def randomise(model, seed, classifier_std):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
        lin = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][0]
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) * classifier_std)
        lin.bias.copy_(torch.randn(lin.bias.shape, generator=g) * 0.1)
    return model.eval()


def densenet(seed, n_out=14, channels=3, classifier_std=0.05, **arch):
    torch.manual_seed(seed)
    m = torchvision.models.DenseNet(num_classes=n_out, **arch)
    if channels != 3:
        m.features.conv0 = torch.nn.Conv2d(channels, m.features.conv0.out_channels, 7, 2, 3,
                                           bias=False)
    return randomise(m, seed + 1, classifier_std)


def images(out, data):
    """8-bit grayscale planes (uint8 arrays) and the PNG files holding them: two NIH X-rays when
    the shared data is there, and always one synthetic non-square plane (crops show)."""
    folder = os.path.join(out, "images")
    os.makedirs(folder, exist_ok=True)
    planes, paths = [], []
    nih = os.path.join(data, "nih", "images") if data else ""
    if nih and os.path.isdir(nih):
        for name in sorted(os.listdir(nih))[:2]:
            planes.append(np.asarray(Image.open(os.path.join(nih, name)).convert("L")))
            paths.append(os.path.abspath(os.path.join(nih, name)))
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:300, 0:260]
    v = 0.5 + 0.3 * np.sin(x / 17.0) * np.cos(y / 23.0) + 0.1 * rng.standard_normal((300, 260))
    synth = (np.clip(v, 0, 1) * 255).round().astype(np.uint8)
    path = os.path.abspath(os.path.join(folder, "synthetic-300x260.png"))
    Image.fromarray(synth, "L").save(path)
    planes.append(synth)
    paths.append(path)
    return planes, paths


# ---- the sources' pipelines ----

def torchvision_input(plane):
    x = torch.from_numpy(plane.astype(np.float32) / 255.0)[None, None]
    x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False, antialias=True)[0]
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return (x.expand(3, 224, 224) - mean) / std


def chexnet_input(plane):
    t = torchvision.transforms.Compose([
        torchvision.transforms.Resize(224), torchvision.transforms.CenterCrop(224),
        torchvision.transforms.ToTensor(),
        torchvision.transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    return t(Image.fromarray(plane, "L").convert("RGB"))


def xrv_input(plane):
    img = (2 * (plane.astype(np.float32) / 255.0) - 1.0) * 1024  # xrv.datasets.normalize
    img = img[None]
    _, h, w = img.shape  # XRayCenterCrop
    s = min(h, w)
    img = img[:, h // 2 - s // 2: h // 2 - s // 2 + s, w // 2 - s // 2: w // 2 - s // 2 + s]
    img = skimage.transform.resize(img, (1, 224, 224), mode="constant",
                                   preserve_range=True).astype(np.float32)  # XRayResizer
    return torch.from_numpy(img)


def op_norm(p, t):
    return np.where(p < t, p / (t * 2), 1 - (1 - p) / ((1 - t) * 2))


def torch_probs(model, x, with_sigmoid=None):
    """(logits, probabilities, logits in float64) of @model on the float32 input @x; the
    probabilities from @with_sigmoid (the same weights ending in a Sigmoid layer) when the source
    model is built that way; the float64 pass runs a double copy of @model on the same input."""
    import copy
    with torch.no_grad():
        logits = model(x)
        probs = torch.sigmoid(logits) if with_sigmoid is None else with_sigmoid(x)
        logits64 = copy.deepcopy(model).double()(x.double())
    return logits.numpy(), probs.numpy(), logits64.numpy()


# ---- Keras, in numpy (NHWC, float64), the semantics of keras.applications.DenseNet121 ----

def k_conv(x, kernel, stride=1, pad=0):
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    kh, kw = kernel.shape[:2]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
    win = win[:, ::stride, ::stride]  # (n, oh, ow, c_in, kh, kw)
    return np.einsum("nhwcij,ijco->nhwo", win, kernel, optimize=True)


def k_bn(x, w):
    return (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + KERAS_EPS) * w["gamma"] + w["beta"]


def k_relu(x):
    return np.maximum(x, 0)


def k_pool(x, size, stride, kind, pad=0):
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))  # ZeroPadding2D
    win = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))[:, ::stride, ::stride]
    return win.max(axis=(4, 5)) if kind == "max" else win.mean(axis=(4, 5))


def keras_forward(layers, blocks, x):
    """DenseNet121's graph (conv1 -> pool1 -> conv2..conv5 blocks with pool2..pool4 transitions
    -> bn -> relu -> GlobalAveragePooling2D -> Dense) on NHWC float64 @x; the logits."""
    x = k_relu(k_bn(k_conv(x, layers["conv1/conv"]["kernel"], stride=2, pad=3), layers["conv1/bn"]))
    x = k_pool(x, 3, 2, "max", pad=1)
    for b, n in enumerate(blocks, 2):
        for i in range(1, n + 1):
            p = "conv%d_block%d_" % (b, i)
            y = k_relu(k_bn(x, layers[p + "0_bn"]))
            y = k_relu(k_bn(k_conv(y, layers[p + "1_conv"]["kernel"]), layers[p + "1_bn"]))
            y = k_conv(y, layers[p + "2_conv"]["kernel"], pad=1)
            x = np.concatenate([x, y], axis=3)
        if b < len(blocks) + 1:
            x = k_relu(k_bn(x, layers["pool%d_bn" % b]))
            x = k_pool(k_conv(x, layers["pool%d_conv" % b]["kernel"]), 2, 2, "avg")
    x = k_relu(k_bn(x, layers["bn"])).mean(axis=(1, 2))
    return x @ layers["dense_1"]["kernel"] + layers["dense_1"]["bias"]


def keras_layers_from(model, blocks):
    """The Keras layers (name -> weights) holding @model's torchvision weights."""
    sd = {k: v.double().numpy() for k, v in model.state_dict().items()}
    layers = collections.OrderedDict()

    def bn(p):
        return {"gamma": sd[p + "weight"], "beta": sd[p + "bias"],
                "moving_mean": sd[p + "running_mean"], "moving_variance": sd[p + "running_var"]}

    def conv(p):
        return {"kernel": sd[p + "weight"].transpose(2, 3, 1, 0)}
    layers["conv1/conv"] = conv("features.conv0.")
    layers["conv1/bn"] = bn("features.norm0.")
    for b, n in enumerate(blocks, 1):
        for i in range(1, n + 1):
            p = "features.denseblock%d.denselayer%d." % (b, i)
            k = "conv%d_block%d_" % (b + 1, i)
            layers[k + "0_bn"] = bn(p + "norm1.")
            layers[k + "1_conv"] = conv(p + "conv1.")
            layers[k + "1_bn"] = bn(p + "norm2.")
            layers[k + "2_conv"] = conv(p + "conv2.")
        if b < len(blocks):
            layers["pool%d_bn" % (b + 1)] = bn("features.transition%d.norm." % b)
            layers["pool%d_conv" % (b + 1)] = conv("features.transition%d.conv." % b)
    layers["bn"] = bn("features.norm5.")
    layers["dense_1"] = {"kernel": sd["classifier.weight"].T, "bias": sd["classifier.bias"]}
    return layers


def write_keras(path, layers, model_save):
    """Keras' HDF5 weight layout: layer_names on the group, weight_names on each layer group,
    datasets named `<layer>/<weight>:0` (model.save puts it all under `model_weights`)."""
    order = {"gamma": 0, "beta": 1, "moving_mean": 2, "moving_variance": 3, "kernel": 0, "bias": 1}
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if model_save else f
        if model_save:
            f.attrs["model_config"] = json.dumps({"class_name": "Functional"})
        names = []
        for name, weights in layers.items():
            g = root.require_group(name)
            wn = []
            for short in sorted(weights, key=order.get):
                full = "%s/%s:0" % (name, short)
                g.create_dataset(full, data=weights[short].astype(np.float32))
                wn.append(full.encode())
            g.attrs["weight_names"] = wn
            names.append(name.encode())
        for extra in ("input_1", "zero_padding2d", "global_average_pooling2d"):
            root.create_group(extra).attrs["weight_names"] = []
            names.append(extra.encode())
        root.attrs["layer_names"] = names
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = b"2.1.6"


def keras_input(plane):
    img = np.asarray(Image.fromarray(plane, "L").convert("RGB").resize((KERAS_SIDE, KERAS_SIDE),
                                                                        Image.NEAREST),
                     dtype=np.float32)
    return (img - KERAS_MEAN) / (KERAS_STD + 1e-6)


# ---- the cases ----

def save_case(out, case, paths, labels, x, logits, probs, logits64):
    np.ascontiguousarray(x, dtype="<f4").tofile(os.path.join(out, case + ".input.f32"))
    np.ascontiguousarray(logits, dtype="<f4").tofile(os.path.join(out, case + ".logits.f32"))
    np.ascontiguousarray(logits64, dtype="<f8").tofile(os.path.join(out, case + ".logits.f64"))
    with open(os.path.join(out, case + ".json"), "w") as f:
        json.dump({"images": paths, "labels": labels, "input_shape": list(x.shape),
                   "probs": np.asarray(probs, dtype=np.float64).tolist()}, f)


def run_import(importer, out, case, source, *extra):
    subprocess.run([sys.executable, importer, source, os.path.join(out, case + ".safetensors"),
                    *extra], check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--data", default=os.environ.get("HL_SHARED_DATA", ""))
    ap.add_argument("--importer", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                        "hilum-import"))
    args = ap.parse_args()
    out, imp = args.out, args.importer
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    planes, paths = images(out, args.data)

    # torchvision state dicts
    m = densenet(11)
    torch.save(m.state_dict(), os.path.join(out, "plain.pth"))
    run_import(imp, out, "torchvision-plain", os.path.join(out, "plain.pth"), "--labels", "nih")
    x = torch.stack([torchvision_input(p) for p in planes])
    save_case(out, "torchvision-plain", paths, NIH_LABELS, x.numpy(), *torch_probs(m, x))

    m = densenet(12)
    seq = torchvision.models.DenseNet(num_classes=14)
    seq.classifier = torch.nn.Sequential(torch.nn.Linear(1024, 14), torch.nn.Sigmoid())
    seq.load_state_dict({k.replace("classifier.", "classifier.0."): v
                         for k, v in m.state_dict().items()})
    seq.eval()
    old = collections.OrderedDict()
    for k, v in seq.state_dict().items():
        k = k.replace("norm1.", "norm.1.").replace("conv2.", "conv.2.")
        old["module.densenet121." + k] = v
    torch.save(old, os.path.join(out, "wrapped.pth"), _use_new_zipfile_serialization=False)
    run_import(imp, out, "torchvision-wrapped", os.path.join(out, "wrapped.pth"), "--labels", "nih")
    save_case(out, "torchvision-wrapped", paths, NIH_LABELS, x.numpy(),
              *torch_probs(m, x, with_sigmoid=seq))

    # CheXNet reproductions
    m = densenet(13)
    sd = collections.OrderedDict(("module.densenet121." + k, v) for k, v in m.state_dict().items())
    torch.save({"epoch": 7, "arch": "DenseNet-121", "state_dict": sd, "best_loss": 0.15},
               os.path.join(out, "model.pth.tar"))
    run_import(imp, out, "chexnet-state-dict", os.path.join(out, "model.pth.tar"))
    xc = torch.stack([chexnet_input(p) for p in planes])
    save_case(out, "chexnet-state-dict", paths, CHEXNET_LABELS, xc.numpy(), *torch_probs(m, xc))

    m = densenet(14)
    m2 = torchvision.models.densenet121()
    m2.classifier = torch.nn.Sequential(torch.nn.Linear(1024, 14), torch.nn.Sigmoid())
    m2.load_state_dict({k.replace("classifier.", "classifier.0."): v for k, v in m.state_dict().items()})
    m2.eval()
    torch.save({"model": m2, "best_loss": 0.16, "epoch": 5, "LR": 1e-4},
               os.path.join(out, "checkpoint"))
    run_import(imp, out, "chexnet-pickled-model", os.path.join(out, "checkpoint"))
    save_case(out, "chexnet-pickled-model", paths, CHEXNET_LABELS, xc.numpy(),
              *torch_probs(m, xc, with_sigmoid=m2))

    # torchxrayvision
    m = densenet(15, n_out=18, channels=1, classifier_std=0.02)
    name = "nih-densenet121-d121-tw-lr001-rot45-tr15-sc15-seed0-best.pt"
    torch.save(m, os.path.join(out, name))
    run_import(imp, out, "xrv-nih", os.path.join(out, name))
    xx = torch.stack([xrv_input(p) for p in planes])
    logits, probs, logits64 = torch_probs(m, xx)
    save_case(out, "xrv-nih", paths, XRV_LABELS, xx.numpy(), logits[:, :14],
              op_norm(probs[:, :14], np.array(XRV_NIH_OP)), logits64[:, :14])

    # the notebook's Keras model, a small DenseNet at 64 pixels so that numpy stays quick
    blocks = (2, 2, 2, 2)
    m = densenet(16, growth_rate=8, block_config=blocks, num_init_features=16, bn_size=2,
                 classifier_std=0.3)
    layers = keras_layers_from(m, blocks)
    xk = np.stack([keras_input(p) for p in planes]).astype(np.float32)
    # the numpy reference in float64 (the exact value to ~1e-16) and, for the rounding scale a
    # float32 implementation has, the same layers with float32 weights and activations
    logits = keras_forward(layers, blocks, xk.astype(np.float64))
    layers32 = {k: {n: a.astype(np.float32) for n, a in w.items()} for k, w in layers.items()}
    logits32 = keras_forward(layers32, blocks, xk)
    probs = 1 / (1 + np.exp(-logits))
    for case, model_save in (("keras-weights", False), ("keras-model", True)):
        path = os.path.join(out, case + ".h5")
        write_keras(path, layers, model_save)
        run_import(imp, out, case, path, "--mean", str(KERAS_MEAN), "--std", str(KERAS_STD),
                   "--input-size", str(KERAS_SIDE))
        save_case(out, case, paths, NOTEBOOK_LABELS, xk.transpose(0, 3, 1, 2), logits32, probs,
                  logits)
    print("import_reference: %d images, 7 cases in %s" % (len(planes), out))


if __name__ == "__main__":
    main()
