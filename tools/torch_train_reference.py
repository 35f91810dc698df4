#!/usr/bin/python3
"""torch_train_reference.py — PyTorch autograd and torch.optim references for the training engine
(tests/test-train.c).

Builds the tiny torchvision DenseNet of tools/torch_reference.py (same builder, randomised
BatchNorm statistics and affine parameters, model file written by the same writer), puts it in
training mode and dumps, for one fixed batch of preprocessed inputs and 0/1 targets:

  input (n, 3, 32, 32), targets (n, L), train_labels (m, L), w_pos, w_neg (L)
      the batch, a synthetic training label matrix and the notebook's class weights derived
      from it (w_pos = fraction of negatives, w_neg = fraction of positives)
  logits (n, L)                     training-mode forward pass
  loss_bce, loss_weighted ()        F.binary_cross_entropy_with_logits (mean) and the weighted
                                    loss: sum over labels of the batch mean of
                                    -(w_pos y log p + w_neg (1 - y) log (1 - p))
  dlogits_bce, dlogits_weighted     d loss / d logits for each
  grad.<param>                      d loss_weighted / d every parameter (autograd)
  grad_input                        d loss_weighted / d input
  step1.<bn>.running_mean/_var      running statistics after that one forward pass
  adam.<tensor>, adamw.<tensor>, sgd.<tensor>
                                    every tensor of the state dict after 3 steps of
                                    torch.optim.Adam (lr 1e-2, weight_decay 1e-2),
                                    torch.optim.AdamW (lr 1e-2, weight_decay 0.1, eps 1e-3:
                                    without L2 in the gradient, a few parameters have gradients
                                    near float32 noise, ~1e-7, and eps 1e-8 would let that
                                    noise decide their step),
                                    torch.optim.SGD (lr 0.05, momentum 0.9, weight_decay 1e-3),
                                    each from the initial weights, on the same batch and loss
  gradcam.<k> (n, L, h, w)          Grad-CAM in eval mode at layer k by autograd, with a forward
                                    hook on the module's output, in forward order: k = 0
                                    features.pool0, 1 denseblock1, 2 transition1, 3 denseblock2,
                                    ..., and last the final feature map relu(features(x)) (the
                                    numbering of hl_model_gradcam_layer)
and, for every computed tensor above, <name>.f64 (F64): the same computation by the same code in
float64 (model, batch and class weights upcast exactly), the exact value the tests measure
float32 rounding against; loss_* and dlogits_* .f64 are from the float32 logits upcast (the
tests give the engine's loss those logits), loss_net.f64 the weighted loss of the float64
network.

Cases:
  train      the tiny 3-channel DenseNet above, batch 4, everything listed
  train-odd  1 input channel, 3 blocks of 2 layers, input 36, 3 labels, batch 3: odd map sides
             (conv0 18, max pool 9, transitions 9 -> 4 -> 2, so average pooling drops a row and
             a column); everything but the optimiser runs; Grad-CAM at all 7 layers
  train-freeze  the model and batch of "train" (same seed), transfer learning's frozen layers:
             input, targets, w_pos, w_neg as above and, after 3 steps of torch.optim.Adam (lr
             1e-2, weight_decay 1e-2) on the weighted loss, every tensor of the state dict:
               freeze_features.<tensor>    model.features frozen (requires_grad_(False) and
                                           eval (): BatchNorm on its running statistics, left
                                           unchanged), only the classifier trained
               freeze_denseblock1.<tensor> conv0, norm0, pool0 and denseblock1 frozen likewise;
                                           transition1, denseblock2 and norm5 in training mode in
                                           a parameter group of lr 1e-2 x 0.1 (hilum-cli train
                                           --backbone-lr-scale 0.1), the classifier at 1e-2
             each with its .f64 twin

Writes OUT/<case>.model.safetensors and OUT/<case>.expected.safetensors for both.
Usage: tools/torch_train_reference.py --out tests/fixtures/train
"""

import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402

N_TRAIN = 20


def config(case):
    if case == "train":
        cfg = dict(ref.CASES["tiny"])
        cfg.update(seed=5, n_batch=4, optimisers=True)
    else:
        cfg = dict(ref.CASES["tiny-gray-f16"])
        cfg.update(seed=6, n_batch=3, optimisers=False, dtype="F32", block_config=(2, 2, 2),
                   input_size=36)
    return cfg


def weighted_loss(z, y, w_pos, w_neg):
    terms = -(w_pos * y * F.logsigmoid(z) + w_neg * (1 - y) * F.logsigmoid(-z))
    return terms.mean(0).sum()


def optimiser_run(cfg, make_opt, x, y, w_pos, w_neg):
    model = ref.build_model(cfg).to(x.dtype).train()
    opt = make_opt(model.parameters())
    for _ in range(3):
        opt.zero_grad()
        weighted_loss(model(x), y, w_pos, w_neg).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def gradcam_at(model, x, module):
    """(n, L, h, w) Grad-CAM at @module's output (None: the last feature map), eval mode."""
    store = {}
    handle = None
    if module is not None:
        handle = module.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    feats = model.features(x)
    a_last = F.relu(feats)
    logits = model.classifier(torch.flatten(F.adaptive_avg_pool2d(a_last, 1), 1))
    a = store["a"] if module is not None else a_last
    if handle is not None:
        handle.remove()
    n, n_labels = logits.shape
    maps = torch.empty(n, n_labels, a.shape[2], a.shape[3], dtype=x.dtype)
    for i in range(n):
        for lab in range(n_labels):
            (g,) = torch.autograd.grad(logits[i, lab], a, retain_graph=True)
            weights = g[i].mean(dim=(1, 2))
            maps[i, lab] = F.relu((weights[:, None, None] * a[i]).sum(0)).detach()
    return maps


def compute(cfg, x, y, train_labels, dtype, logits32=None):
    """Everything the tests compare, in @dtype: a list of (name, tensor), in the file's order.
    The loss and its gradient are taken at @logits32 (the float32 run's logits; this run's own
    when None), as the tests give the engine those."""
    model = ref.build_model(cfg).to(dtype).train()
    x, y = x.to(dtype), y.to(dtype)
    w_neg = train_labels.mean(0)
    w_pos = 1 - w_neg
    w_neg, w_pos = w_neg.to(dtype), w_pos.to(dtype)

    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    # The loss and its gradient as functions of the float32 logits, as the tests call them.
    z32 = (logits.detach() if logits32 is None else logits32).to(dtype)
    z = z32.clone().requires_grad_(True)
    loss_bce = F.binary_cross_entropy_with_logits(z, y)
    (dz_bce,) = torch.autograd.grad(loss_bce, z)
    z2 = z32.clone().requires_grad_(True)
    loss_w2 = weighted_loss(z2, y, w_pos, w_neg)
    (dz_w,) = torch.autograd.grad(loss_w2, z2)
    loss_w = weighted_loss(logits, y, w_pos, w_neg)
    loss_w.backward()

    t = [("w_pos", w_pos), ("w_neg", w_neg), ("logits", logits.detach()),
         ("loss_bce", loss_bce.detach().reshape(1)),
         ("loss_weighted", loss_w2.detach().reshape(1)),
         ("loss_net", loss_w.detach().reshape(1)),
         ("dlogits_bce", dz_bce), ("dlogits_weighted", dz_w), ("grad_input", xg.grad)]
    for name, p in model.named_parameters():
        t.append(("grad." + name, p.grad))
    for name, b in model.named_buffers():
        if name.endswith("running_mean") or name.endswith("running_var"):
            t.append(("step1." + name, b.detach().clone()))

    if cfg["optimisers"]:
        runs = {
            "adam": lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-2),
            "adamw": lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1, eps=1e-3),
            "sgd": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
        }
        for tag, make in runs.items():
            for name, v in optimiser_run(cfg, make, x, y, w_pos, w_neg).items():
                t.append(("%s.%s" % (tag, name), v))

    model.eval()
    n_blocks = len(cfg["block_config"])
    modules = [model.features.pool0]
    for b in range(n_blocks):
        modules.append(getattr(model.features, "denseblock%d" % (b + 1)))
        if b < n_blocks - 1:
            modules.append(getattr(model.features, "transition%d" % (b + 1)))
    for k, module in enumerate(modules + [None]):
        t.append(("gradcam.%d" % k, gradcam_at(model, x, module)))
    return t


def frozen_run(cfg, dtype, frozen, lr_scale, x, y, w_pos, w_neg):
    """The state dict after 3 Adam steps with the modules @frozen (names under model.features)
    frozen, the other features at lr x @lr_scale."""
    model = ref.build_model(cfg).to(dtype).train()
    for name in frozen:
        module = getattr(model.features, name)
        module.eval()
        module.requires_grad_(False)
    backbone = [p for n, p in model.named_parameters()
                if p.requires_grad and not n.startswith("classifier.")]
    groups = [{"params": list(model.classifier.parameters()), "lr": 1e-2}]
    if backbone:
        groups.append({"params": backbone, "lr": 1e-2 * lr_scale})
    opt = torch.optim.Adam(groups, lr=1e-2, weight_decay=1e-2)
    for _ in range(3):
        opt.zero_grad()
        weighted_loss(model(x), y, w_pos, w_neg).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def compute_freeze(cfg, x, y, train_labels, dtype):
    x, y = x.to(dtype), y.to(dtype)
    w_neg = train_labels.mean(0).to(dtype)
    w_pos = (1 - train_labels.mean(0)).to(dtype)
    stem = ["conv0", "norm0", "relu0", "pool0"]
    runs = {"freeze_features": (stem + ["denseblock1", "transition1", "denseblock2", "norm5"],
                                1.0),
            "freeze_denseblock1": (stem + ["denseblock1"], 0.1)}
    t = [("w_pos", w_pos), ("w_neg", w_neg)]
    for tag, (frozen, scale) in runs.items():
        for name, v in frozen_run(cfg, dtype, frozen, scale, x, y, w_pos, w_neg).items():
            t.append(("%s.%s" % (tag, name), v))
    return t


def run_freeze_case(out):
    case = "train-freeze"
    cfg = config("train")
    n_labels = len(cfg["labels"])
    model = ref.build_model(cfg).train()
    model_file = case + ".model.safetensors"
    ref.write_model(os.path.join(out, model_file), case, cfg, model)

    g = torch.Generator().manual_seed(99)
    s = cfg["input_size"]
    x = torch.randn(cfg["n_batch"], cfg["input_channels"], s, s, generator=g)
    y = (torch.rand(cfg["n_batch"], n_labels, generator=g) < 0.4).float()
    train_labels = (torch.rand(N_TRAIN, n_labels, generator=g) < 0.3).float()

    t32 = compute_freeze(cfg, x, y, train_labels, torch.float32)
    t64 = compute_freeze(cfg, x, y, train_labels, torch.float64)
    t = [("input", x.numpy(), "F32"), ("targets", y.numpy(), "F32")]
    t += [(name, v.numpy(), "F32") for name, v in t32]
    t += [(name + ".f64", v.numpy(), "F64") for name, v in t64]
    meta = {"case": case, "model": model_file, "n_batch": str(cfg["n_batch"]),
            "seed": str(cfg["seed"]), "torch": torch.__version__}
    ref.write_safetensors(os.path.join(out, case + ".expected.safetensors"), t, meta)
    print("%s: %d tensors" % (case, len(t)))


def run_case(case, out):
    cfg = config(case)
    n_batch = cfg["n_batch"]
    n_labels = len(cfg["labels"])
    model = ref.build_model(cfg).train()
    model_file = case + ".model.safetensors"
    ref.write_model(os.path.join(out, model_file), case, cfg, model)

    g = torch.Generator().manual_seed(99)
    s = cfg["input_size"]
    x = torch.randn(n_batch, cfg["input_channels"], s, s, generator=g)
    y = (torch.rand(n_batch, n_labels, generator=g) < 0.4).float()
    train_labels = (torch.rand(N_TRAIN, n_labels, generator=g) < 0.3).float()

    t32 = compute(cfg, x, y, train_labels, torch.float32)
    t64 = compute(cfg, x, y, train_labels, torch.float64, dict(t32)["logits"])
    t = [("input", x.numpy(), "F32"), ("targets", y.numpy(), "F32"),
         ("train_labels", train_labels.numpy(), "F32")]
    t += [(name, v.numpy(), "F32") for name, v in t32 if name != "loss_net"]
    t += [(name + ".f64", v.numpy(), "F64") for name, v in t64]

    meta = {"case": case, "model": model_file, "n_batch": str(n_batch),
            "seed": str(cfg["seed"]), "torch": torch.__version__}
    ref.write_safetensors(os.path.join(out, case + ".expected.safetensors"), t, meta)
    loss_w = dict(t32)["loss_weighted"]
    loss_bce = dict(t32)["loss_bce"]
    print("%s: loss_weighted %.6f, loss_bce %.6f, %d tensors"
          % (case, loss_w.item(), loss_bce.item(), len(t)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder (created)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for case in ("train", "train-odd"):
        run_case(case, args.out)
    run_freeze_case(args.out)


if __name__ == "__main__":
    main()
