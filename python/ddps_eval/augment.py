"""The students' augmentation as explicit parameters, rendered exactly as ddps renders them.

RDED's training transform is ShufflePatches -> RandomResizedCrop -> horizontal flip per image, then
CutMix on the batch. Here every step is a function of explicit parameters (docs/REPLAY.md), so a
replay written by ddps (TypeScript, operators/math/augment.ts) renders into the same pixels:
- shuffle: the column strips in `cols` order, then the row strips in `rows` order;
- crop [x, y, w, h] of the shuffled image, resized to size x size by separable antialiased bilinear
  weights (PIL's BILINEAR filter, `bilinear_matrix`), flipped left-right when `flip`;
- CutMix: image i takes the box [x1, y1, x2, y2) of image perm[i].
Without a replay (hard and static labels) the parameters are drawn here from a seeded numpy Generator,
with the same distributions.
"""
import functools
import json
import math
import sys

import numpy as np

from .errors import EvalError


@functools.lru_cache(maxsize=64)
def bilinear_matrix(in_size, out_size):
    """out_size x in_size weights of PIL's BILINEAR resize (triangle filter, support scaled when shrinking)."""
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = filter_scale
    m = np.zeros((out_size, in_size), dtype=np.float64)
    for o in range(out_size):
        center = (o + 0.5) * scale
        lo = max(0, math.trunc(center - support + 0.5))
        hi = min(in_size, math.trunc(center + support + 0.5))
        for i in range(lo, hi):
            m[o, i] = max(0.0, 1.0 - abs((i - center + 0.5) / filter_scale))
        m[o] /= m[o].sum()
    m.setflags(write=False)
    return m


def resample(img, out_w, out_h):
    """H x W x 3 (uint8 or float) -> out_h x out_w x 3 float64, rows first then columns, like ddps's resampleRgb."""
    h, w = img.shape[:2]
    rows = np.matmul(bilinear_matrix(w, out_w)[None], img.astype(np.float64))
    return (bilinear_matrix(h, out_h) @ rows.reshape(h, -1)).reshape(out_h, out_w, 3)


def strip_bounds(side, factor):
    t = side // factor
    return [(k * t, side if k == factor - 1 else (k + 1) * t) for k in range(factor)]


def _check_perm(p, what):
    if sorted(p) != list(range(len(p))):
        raise EvalError("BAD_ARGUMENT", f"ShufflePatches {what} {list(p)} is not a permutation of 0..{len(p) - 1}")


def shuffle_strips(img, cols, rows):
    _check_perm(cols, "column order")
    _check_perm(rows, "row order")
    h, w = img.shape[:2]
    cb, rb = strip_bounds(w, len(cols)), strip_bounds(h, len(rows))
    col_index = np.concatenate([np.arange(*cb[s]) for s in cols])
    row_index = np.concatenate([np.arange(*rb[s]) for s in rows])
    return img[row_index][:, col_index]


def render(img, aug, size):
    """One augmented image: size x size x 3 float32 on the 0..255 scale, not rounded."""
    if aug.get("cols") is not None and aug.get("rows") is not None:
        img = shuffle_strips(img, aug["cols"], aug["rows"])
    x, y, w, h = aug["crop"]
    H, W = img.shape[:2]
    if x < 0 or y < 0 or w < 1 or h < 1 or x + w > W or y + h > H:
        raise EvalError("BAD_ARGUMENT", f"crop {[x, y, w, h]} is outside the {W}x{H} image")
    out = resample(img[y:y + h, x:x + w], size, size)
    if aug["flip"]:
        out = out[:, ::-1]
    return np.ascontiguousarray(out, dtype=np.float32)


def cutmix(batch, perm, box):
    """n x S x S x 3 -> a new batch where image i has the box of image perm[i]."""
    x1, y1, x2, y2 = box
    out = batch.copy()
    out[:, y1:y2, x1:x2] = batch[np.asarray(perm)][:, y1:y2, x1:x2]
    return out


def cutmix_lambda(box, size):
    """The fraction of each image that stays its own: 1 - box area / image area."""
    x1, y1, x2, y2 = box
    return 1.0 - (x2 - x1) * (y2 - y1) / float(size * size)


def rrc_box(rng, width, height, scale, ratio):
    """torchvision's RandomResizedCrop.get_params with a numpy Generator (the same algorithm as ddps's)."""
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * (scale[0] + (scale[1] - scale[0]) * rng.random())
        r = math.exp(log_lo + (log_hi - log_lo) * rng.random())
        w = round(math.sqrt(target * r))
        h = round(math.sqrt(target / r))
        top = int(rng.random() * (height - h + 1))
        left = int(rng.random() * (width - w + 1))
        if 0 < w <= width and 0 < h <= height:
            return [left, top, w, h]
    in_ratio = width / height
    w, h = width, height
    if in_ratio < ratio[0]:
        h = round(w / ratio[0])
    elif in_ratio > ratio[1]:
        w = round(h * ratio[1])
    return [(width - w) // 2, (height - h) // 2, w, h]


def sample_image_aug(rng, width, height, cfg):
    """Column order, row order (factor > 1), flip, crop: drawn in ddps's order, from `rng`."""
    f = cfg["shufflePatches"]
    aug = {}
    if f > 1:
        aug["cols"] = [int(v) for v in rng.permutation(f)]
        aug["rows"] = [int(v) for v in rng.permutation(f)]
    aug["flip"] = bool(rng.random() < cfg["flip"])
    aug["crop"] = rrc_box(rng, width, height, cfg["rrcScale"], cfg["rrcRatio"])
    return aug


def sample_cutmix(rng, n, size, beta):
    """RDED's cutmix parameters for an n-image batch: lambda ~ Beta(beta, beta), a permutation, a box."""
    lam = float(rng.beta(beta, beta))
    perm = [int(v) for v in rng.permutation(n)]
    cut = int(size * math.sqrt(1.0 - lam))
    cx, cy = int(rng.integers(size)), int(rng.integers(size))
    clip = lambda v: min(size, max(0, v))  # noqa: E731
    return {"perm": perm, "box": [clip(cx - cut // 2), clip(cy - cut // 2), clip(cx + cut // 2), clip(cy + cut // 2)], "lam": lam}


def test_image(img, resize, crop):
    """Resize(shorter side to `resize`) then CenterCrop(crop), as uint8 (torchvision on PIL images rounds too)."""
    h, w = img.shape[:2]
    if w <= h:
        nw, nh = resize, int(resize * h / w)
    else:
        nw, nh = int(resize * w / h), resize
    out = img if (nw, nh) == (w, h) else np.clip(np.rint(resample(img, nw, nh)), 0, 255).astype(np.uint8)
    top = int(round((nh - crop) / 2.0))
    left = int(round((nw - crop) / 2.0))
    return out[top:top + crop, left:left + crop]


def _main(argv):
    """`python -m ddps_eval.augment JOB OUT`: renders {"images": [{"png": path}], "items": [{"image", "aug"}],
    "size", "cutmix"?} and writes the float32 pixels to OUT (ddps's render check)."""
    from .wds import decode_rgb

    with open(argv[0]) as f:
        job = json.load(f)
    images = []
    for path in job["images"]:
        with open(path, "rb") as f:
            images.append(decode_rgb(f.read(), path))
    out = np.stack([render(images[it["image"]], it["aug"], job["size"]) for it in job["items"]])
    if job.get("cutmix"):
        out = cutmix(out, job["cutmix"]["perm"], job["cutmix"]["box"])
    out.astype("<f4").tofile(argv[1])
    print(json.dumps({"event": "rendered", "images": int(out.shape[0])}))


if __name__ == "__main__":
    from .errors import run_main

    run_main(_main, sys.argv[1:])
