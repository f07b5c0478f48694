#!/usr/bin/python3
"""Trains five MNIST classifiers the way common tutorials do (none sees a background class or a
scene), exports each to ONNX as its tutorial would, for `LOCALISE_MODELS`:
  ptexample  pytorch/examples mnist Net, Normalize((0.1307,), (0.3081,)), log_softmax output
  kerascnn   keras.io "Simple MNIST convnet" (x/255, softmax output)
  gapbn      conv-BN-ReLU x3 (same padding) + global average pool + linear (x/255, logits)
  lenet5     LeNet-5 with padding 2, ReLU, max pool (x/255, logits)
  mlp        Flatten -> 128 -> 10 (x/255, logits)
usage: /usr/bin/python3 test/bench/tutorial_digits.py DATA_DIR OUT_DIR [names...]
DATA_DIR holds the digits test/bench/dump-digits.ts writes (train_images.f32, train_labels.u8,
heldout_images.f32, heldout_labels.u8); only the training split is trained on. Then:
  LOCALISE_MODELS=OUT_DIR/tutorial_kerascnn.onnx,... npm run bench -- --case localise --runs 1 --json"""
import os, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

torch.set_num_threads(2)
data, out = sys.argv[1], sys.argv[2]
names = sys.argv[3:] or ['ptexample', 'kerascnn', 'gapbn', 'lenet5', 'mlp']
X = np.fromfile(os.path.join(data, 'train_images.f32'), dtype=np.float32).reshape(-1, 1, 28, 28)
Y = np.fromfile(os.path.join(data, 'train_labels.u8'), dtype=np.uint8).astype(np.int64)
Xh = np.fromfile(os.path.join(data, 'heldout_images.f32'), dtype=np.float32).reshape(-1, 1, 28, 28)
Yh = np.fromfile(os.path.join(data, 'heldout_labels.u8'), dtype=np.uint8).astype(np.int64)

class PtExample(nn.Module):
    def __init__(s):
        super().__init__(); s.conv1 = nn.Conv2d(1, 32, 3, 1); s.conv2 = nn.Conv2d(32, 64, 3, 1)
        s.d1 = nn.Dropout(0.25); s.d2 = nn.Dropout(0.5); s.fc1 = nn.Linear(9216, 128); s.fc2 = nn.Linear(128, 10)
    def forward(s, x):
        x = F.relu(s.conv1(x)); x = F.relu(s.conv2(x)); x = F.max_pool2d(x, 2); x = s.d1(x)
        x = torch.flatten(x, 1); x = F.relu(s.fc1(x)); x = s.d2(x); return F.log_softmax(s.fc2(x), dim=1)

class KerasCnn(nn.Module):
    def __init__(s):
        super().__init__(); s.c1 = nn.Conv2d(1, 32, 3); s.c2 = nn.Conv2d(32, 64, 3); s.d = nn.Dropout(0.5); s.fc = nn.Linear(1600, 10)
    def forward(s, x):
        x = F.max_pool2d(F.relu(s.c1(x)), 2); x = F.max_pool2d(F.relu(s.c2(x)), 2)
        return F.softmax(s.fc(s.d(torch.flatten(x, 1))), dim=1)

class GapBn(nn.Module):
    def __init__(s):
        super().__init__()
        def blk(i, o): return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU())
        s.f = nn.Sequential(blk(1, 32), nn.MaxPool2d(2), blk(32, 64), nn.MaxPool2d(2), blk(64, 128)); s.fc = nn.Linear(128, 10)
    def forward(s, x): return s.fc(torch.flatten(F.adaptive_avg_pool2d(s.f(x), 1), 1))

class LeNet5(nn.Module):
    def __init__(s):
        super().__init__(); s.c1 = nn.Conv2d(1, 6, 5, padding=2); s.c2 = nn.Conv2d(6, 16, 5)
        s.f1 = nn.Linear(400, 120); s.f2 = nn.Linear(120, 84); s.f3 = nn.Linear(84, 10)
    def forward(s, x):
        x = F.max_pool2d(F.relu(s.c1(x)), 2); x = F.max_pool2d(F.relu(s.c2(x)), 2); x = torch.flatten(x, 1)
        return s.f3(F.relu(s.f2(F.relu(s.f1(x)))))

class Mlp(nn.Module):
    def __init__(s):
        super().__init__(); s.f1 = nn.Linear(784, 128); s.f2 = nn.Linear(128, 10)
    def forward(s, x): return s.f2(F.relu(s.f1(torch.flatten(x, 1))))

NETS = {'ptexample': (PtExample, (0.1307, 0.3081), 'nll'), 'kerascnn': (KerasCnn, (0.0, 1.0), 'prob'),
        'gapbn': (GapBn, (0.0, 1.0), 'logits'), 'lenet5': (LeNet5, (0.0, 1.0), 'logits'), 'mlp': (Mlp, (0.0, 1.0), 'logits')}

for name in names:
    cls, (mean, std), kind = NETS[name]
    torch.manual_seed(0); net = cls(); opt = torch.optim.Adam(net.parameters(), 1e-3)
    xt = torch.from_numpy((X - mean) / std); yt = torch.from_numpy(Y); t0 = time.time()
    for epoch in range(4):
        net.train(); perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]; o = net(xt[idx])
            loss = F.nll_loss(o, yt[idx]) if kind == 'nll' else F.nll_loss(torch.log(o + 1e-9), yt[idx]) if kind == 'prob' else F.cross_entropy(o, yt[idx])
            opt.zero_grad(); loss.backward(); opt.step()
    net.eval()
    with torch.no_grad(): acc = (net(torch.from_numpy((Xh - mean) / std)).argmax(1).numpy() == Yh).mean()
    path = os.path.join(out, f'tutorial_{name}.onnx')
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), path, input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {0: 'batch'}, 'output': {0: 'batch'}}, opset_version=13)
    print(f'{name}: held-out accuracy {acc:.4f} ({time.time() - t0:.0f} s) -> {path}', flush=True)
