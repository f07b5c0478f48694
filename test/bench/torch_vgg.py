"""VGG16 as a fully convolutional network in PyTorch: the peer for `npm run bench` (case torch-peer).
Prints one JSON line: median milliseconds of one pass on a 384×384 input."""
import json, sys, time
import torch
import torch.nn as nn

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
torch.set_num_threads(threads)
torch.manual_seed(0)
layers, c = [], 3
for filters, n in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]:
    for _ in range(n):
        layers += [nn.Conv2d(c, filters, 3, padding=1), nn.ReLU(inplace=True)]
        c = filters
    layers.append(nn.MaxPool2d(2, 2))
layers += [nn.Conv2d(512, 4096, 7), nn.ReLU(inplace=True), nn.Conv2d(4096, 4096, 1), nn.ReLU(inplace=True), nn.Conv2d(4096, 1000, 1), nn.Softmax(dim=1)]
net = nn.Sequential(*layers).eval()
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
