#!/usr/bin/python3
"""resize_reference.py — what PIL and skimage give for the resize filters that hl-resize.c
reproduces, written as tests/fixtures/resize/resize.json for tests/test-engine-resize.c.

Cases (seeded inputs with edges, ramps and noise):
  pil-bilinear  8-bit PIL "L" images, Image.resize(size, BILINEAR): down, up, one axis only
  nearest       8-bit PIL "L" images, Image.resize(size, NEAREST), as Keras' load_img does
  skimage       float32 images, skimage.transform.resize(img, size, mode="constant",
                preserve_range=True) (order 1, anti_aliasing on when shrinking), one input in
                [-1024, 1024] as torchvision-xrv feeds it and one that excludes 0

Usage: tools/resize_reference.py [--out tests/fixtures/resize/resize.json]
"""

import argparse
import json

import numpy as np
import PIL
import skimage
from PIL import Image
from skimage.transform import resize


def pattern(h, w, seed, lo=0.0, hi=255.0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    v = 0.5 + 0.3 * np.sin(x / 3.1) * np.cos(y / 4.7) + 0.2 * (x > w // 2)
    v = np.clip(v + 0.1 * rng.standard_normal((h, w)), 0, 1)
    return lo + (hi - lo) * v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/resize/resize.json")
    args = ap.parse_args()
    cases = []
    for i, (h, w, oh, ow) in enumerate([(53, 37, 16, 11), (40, 40, 13, 13), (23, 31, 40, 50),
                                         (64, 48, 64, 20), (30, 30, 10, 30), (60, 60, 13, 13)]):
        src = pattern(h, w, 10 + i).round().astype(np.uint8)
        out = np.asarray(Image.fromarray(src, "L").resize((ow, oh), Image.BILINEAR))
        cases.append(dict(kind="pil-bilinear", h=h, w=w, out_h=oh, out_w=ow,
                          src=src.ravel().tolist(), dst=out.ravel().tolist()))
    for i, (h, w, oh, ow) in enumerate([(50, 50, 16, 16), (64, 40, 20, 25), (10, 10, 32, 32),
                                         (1024 // 16, 1024 // 16, 20, 20)]):
        src = pattern(h, w, 30 + i).round().astype(np.uint8)
        out = np.asarray(Image.fromarray(src, "L").resize((ow, oh), Image.NEAREST))
        cases.append(dict(kind="nearest", h=h, w=w, out_h=oh, out_w=ow,
                          src=src.ravel().tolist(), dst=out.ravel().tolist()))
    for i, (h, w, oh, ow, lo, hi) in enumerate([(60, 52, 13, 11, -1024, 1024),
                                                 (40, 60, 12, 12, -1024, 1024),
                                                 (24, 20, 24, 20, -1024, 1024),
                                                 (30, 20, 45, 31, -1024, 1024),
                                                 (40, 40, 9, 9, 100, 900)]):
        src = pattern(h, w, 50 + i, lo, hi).astype(np.float32)
        out = resize(src[None], (1, oh, ow), mode="constant", preserve_range=True)[0]
        out = out.astype(np.float32)
        cases.append(dict(kind="skimage", h=h, w=w, out_h=oh, out_w=ow,
                          src=[float("%.9g" % v) for v in src.ravel()],
                          dst=[float("%.9g" % v) for v in out.ravel()]))
    meta = dict(pil=PIL.__version__, skimage=skimage.__version__, numpy=np.__version__)
    with open(args.out, "w") as f:
        json.dump(dict(generator=meta, cases=cases), f, separators=(",", ":"))
    print("wrote %s: %d cases (%s)" % (args.out, len(cases), meta))


if __name__ == "__main__":
    main()
