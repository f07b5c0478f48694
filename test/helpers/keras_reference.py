"""Independent reference for Keras HDF5 loading tests: a numpy forward pass of a Keras Sequential
model read with h5py straight from the .h5 file (model_config + model_weights/<layer>/weight_names).

Usage: keras_reference.py MODEL.h5 < {"shape": [n, h, w, c], "data": [floats...]}
Prints {"shape": [n, classes], "data": [floats...]} on stdout.

Written against the Keras 2 HDF5 layout only, for layers a small image classifier uses:
Conv2D, MaxPooling2D, AveragePooling2D, Flatten, Dense, Dropout, Activation. Anything else is an error.
"""
import json
import sys

import h5py
import numpy as np


def text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def activation(name, x):
    if name in ("linear", None):
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise SystemExit(f"reference: activation {name} not implemented")


def pad_same(x, kh, kw, sh, sw):
    """TensorFlow's SAME padding: total = max((ceil(n/s) - 1) * s + k - n, 0), the extra row/col at the end."""
    _, h, w, _ = x.shape
    oh, ow = -(-h // sh), -(-w // sw)
    ph = max((oh - 1) * sh + kh - h, 0)
    pw = max((ow - 1) * sw + kw - w, 0)
    return np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))


def windows(x, kh, kw, sh, sw):
    """[n, oh, ow, kh, kw, c] view of all kh×kw windows at stride (sh, sw)."""
    n, h, w, c = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x, shape=(n, oh, ow, kh, kw, c), strides=(s[0], s[1] * sh, s[2] * sw, s[1], s[2], s[3]), writeable=False
    )


def conv2d(x, cfg, kernel, bias):
    kh, kw = kernel.shape[:2]
    sh, sw = cfg["strides"]
    if list(cfg.get("dilation_rate", [1, 1])) != [1, 1]:
        raise SystemExit("reference: dilated convolutions not implemented")
    if cfg["padding"] == "same":
        x = pad_same(x, kh, kw, sh, sw)
    y = np.einsum("nijklc,klco->nijo", windows(x, kh, kw, sh, sw), kernel.astype(np.float64))
    if bias is not None:
        y = y + bias
    return activation(cfg["activation"], y)


def pool(x, cfg, reduce):
    kh, kw = cfg["pool_size"]
    sh, sw = cfg["strides"] or cfg["pool_size"]
    if cfg["padding"] != "valid":
        raise SystemExit("reference: same-padded pooling not implemented")
    return reduce(windows(x, kh, kw, sh, sw), axis=(3, 4))


def main():
    model_file = sys.argv[1]
    request = json.load(sys.stdin)
    x = np.asarray(request["data"], dtype=np.float64).reshape(request["shape"])
    with h5py.File(model_file, "r") as f:
        config = json.loads(text(f.attrs["model_config"]))
        if config["class_name"] != "Sequential":
            raise SystemExit("reference: only Sequential models")
        layers = config["config"]["layers"] if isinstance(config["config"], dict) else config["config"]
        weights_root = f["model_weights"]
        for layer in layers:
            cls, cfg = layer["class_name"], layer["config"]
            group = weights_root[cfg["name"]] if cfg["name"] in weights_root else None
            names = [text(n) for n in group.attrs["weight_names"]] if group is not None else []
            values = [np.asarray(group[n], dtype=np.float64) for n in names]
            if cls == "Conv2D":
                x = conv2d(x, cfg, values[0], values[1] if cfg["use_bias"] else None)
            elif cls == "MaxPooling2D":
                x = pool(x, cfg, np.max)
            elif cls == "AveragePooling2D":
                x = pool(x, cfg, np.mean)
            elif cls == "Flatten":
                x = x.reshape(x.shape[0], -1)
            elif cls == "Dense":
                y = x @ values[0]
                if cfg["use_bias"]:
                    y = y + values[1]
                x = activation(cfg["activation"], y)
            elif cls == "Dropout":
                pass
            elif cls == "Activation":
                x = activation(cfg["activation"], x)
            else:
                raise SystemExit(f"reference: layer class {cls} not implemented")
    json.dump({"shape": list(x.shape), "data": [float(v) for v in x.ravel()]}, sys.stdout)


if __name__ == "__main__":
    main()
