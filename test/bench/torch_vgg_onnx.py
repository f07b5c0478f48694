"""The VGG16 FCN of torch_vgg.py exported by torch.onnx.export: the bare-ONNX-Runtime peer of the
bench case onnx-peer. Writes the .onnx file given as argv[1] (input `x` [1, 3, H, W], free H and W)."""
import sys
import torch
import torch.nn as nn

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
torch.onnx.export(net, x, sys.argv[1], input_names=["x"], output_names=["y"], opset_version=13,
                  dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "rows", 3: "cols"}})
print(sys.argv[1])
