"""The VGG16 FCN of torch_vgg_net.py exported by torch.onnx.export: the bare-ONNX-Runtime peer of the
bench case onnx-peer. Writes the .onnx file given as argv[1] (input `x` [1, 3, H, W], free H and W)."""
import sys
import torch
from torch_vgg_net import vgg16_fcn

net = vgg16_fcn()
x = torch.rand(1, 3, 384, 384)
torch.onnx.export(net, x, sys.argv[1], input_names=["x"], output_names=["y"], opset_version=13,
                  dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "rows", 3: "cols"}})
print(sys.argv[1])
