"""torchvision's MobileNetV2 α 0.35 with a Teachable Machine head as 1×1 convolutions (average pool
7×7 stride 1, 1×1 conv 1280→100 relu, 1×1 conv 100→5 softmax over classes), exported by
torch.onnx.export: the same network, layer for layer (the same convolution shapes), as Convmap's
export of a Teachable Machine model, for the bench case mobilenetv2-graph-peer. Random weights, BN
statistics away from identity. Writes argv[1] (input `image` [1, 3, H, W], free H and W)."""
import sys
import torch
import torchvision

torch.manual_seed(0)
features = torchvision.models.mobilenet_v2(width_mult=0.35).features


class Fcn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = features
        self.pool = torch.nn.AvgPool2d(7, 1)
        self.h1 = torch.nn.Conv2d(1280, 100, 1)
        self.h2 = torch.nn.Conv2d(100, 5, 1)

    def forward(self, x):
        x = self.pool(self.features(x))
        return torch.softmax(self.h2(torch.relu(self.h1(x))), 1)


net = Fcn().eval()
for m in net.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.uniform_(-0.1, 0.1)
        m.running_var.uniform_(0.5, 1.5)
torch.onnx.export(net, torch.rand(1, 3, 224, 224), sys.argv[1], input_names=["image"], output_names=["scores"], opset_version=13,
                  dynamic_axes={"image": {2: "h", 3: "w"}, "scores": {2: "rows", 3: "cols"}})
print(sys.argv[1])
