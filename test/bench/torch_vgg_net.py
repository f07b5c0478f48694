"""The VGG16 FCN both PyTorch peers run (torch_vgg.py times it, torch_vgg_onnx.py exports it):
VGG16's convolutions, then fc6/fc7/fc8 as 7×7/1×1/1×1 convolutions and a softmax over the 1000 classes."""
import torch
import torch.nn as nn


def vgg16_fcn() -> nn.Sequential:
    """Seeded (torch.manual_seed(0)) random weights, in eval mode; input [1, 3, H, W]."""
    torch.manual_seed(0)
    layers, c = [], 3
    for filters, n in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]:
        for _ in range(n):
            layers += [nn.Conv2d(c, filters, 3, padding=1), nn.ReLU(inplace=True)]
            c = filters
        layers.append(nn.MaxPool2d(2, 2))
    layers += [nn.Conv2d(512, 4096, 7), nn.ReLU(inplace=True), nn.Conv2d(4096, 4096, 1), nn.ReLU(inplace=True), nn.Conv2d(4096, 1000, 1), nn.Softmax(dim=1)]
    return nn.Sequential(*layers).eval()
