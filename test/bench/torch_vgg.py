"""VGG16 as a fully convolutional network in PyTorch: the peer for `npm run bench` (case torch-peer).
Prints one JSON line: median milliseconds of one pass on a 384×384 input."""
import json, sys, time
import torch
from torch_vgg_net import vgg16_fcn

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
torch.set_num_threads(threads)
net = vgg16_fcn()
x = torch.rand(1, 3, 384, 384)
with torch.no_grad():
    net(x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        y = net(x)
        times.append((time.perf_counter() - t0) * 1000)
times.sort()
m = len(times) // 2
med = times[m] if len(times) % 2 else (times[m - 1] + times[m]) / 2
print(json.dumps({"medianMs": med, "threads": threads, "version": torch.__version__, "cells": list(y.shape[2:])}))
