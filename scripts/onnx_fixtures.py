#!/usr/bin/python3
"""ONNX classifiers exported by PyTorch (Debian's python3-torch 1.13, python3-torchvision 0.14),
for the ONNX import tests and the bench.

  onnx_fixtures.py small OUTDIR             small CNNs, each with PyTorch's own output, and small
                                            models that must be refused (test/onnx/fixtures)
  onnx_fixtures.py convnext OUTDIR          a small ConvNeXt (LayerNorm over channels, GELU) at opset 17 and 11
  onnx_fixtures.py padsame OUTDIR          timm's Conv2dSame (TensorFlow's 'same' padding computed from the input's
                                            size: ConstantOfShape, a [n, 2] table reversed by Slice), at a fixed 32×32
                                            and with a free height and width
  onnx_fixtures.py splitclip OUTDIR        ReLU6, Split of channels (halves, 3 + 5) and Clips with one or two bounds, at
                                            opset 9 (attributes; Clip's min of 0 an attribute set to zero) and 13 (inputs)
  onnx_fixtures.py heads OUTDIR             fastai's head (max and average pools concatenated, BatchNorm1d, Linear…), a
                                            head after x.squeeze() without a dimension, and the classic squeeze-and-excitation
                                            block (x * y.expand_as(x)), GeM pooling, CBAM, its spatial gate alone, and
                                            activations written as formulas or with parameters (ELU 0.5, CELU, GELU tanh…),
                                            and a cosine classifier's head (F.normalize)
  onnx_fixtures.py pooledsoftmax OUTDIR     softmax over dim 1 of a pooled [N, C, 1, 1] map, squeezed one axis at a time
                                            (opset 9: between Transposes; 13: Softmax axis 1)
  onnx_fixtures.py refuselrn OUTDIR         nn.LocalResponseNorm as PyTorch exports it (an If on a shape): refused at the If
  onnx_fixtures.py fixedbatch OUTDIR        a classifier traced at a fixed batch of 4 (its view(x.size(0), -1) folded to [4, -1])
  onnx_fixtures.py attention OUTDIR        a tiny vision transformer (patches, one encoder layer, mean of tokens),
                                            and a tiny GroupNorm network (BiT's normalisation): each refused as such
  onnx_fixtures.py torchvision OUTDIR NAME [SIZE [OPSET [dynamic]]]
                                            a torchvision architecture with seeded random weights

Each model is written as OUTDIR/NAME.onnx; `small` also writes OUTDIR/NAME.json holding the input
it ran ([batch, channels, height, width] as the graph takes it, flattened) and PyTorch's output, the
oracle the tests compare Convmap's rewrite with.
"""
import json
import sys

import torch
import torch.nn as nn


class FlatHead(nn.Module):
    """NCHW valid convs, Flatten(C·H·W) → Linear → BatchNorm1d → LeakyReLU → Dropout → Linear → LogSoftmax."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, stride=2), nn.SELU())
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 3 * 3, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.1), nn.Dropout(0.5), nn.Linear(16, 5))

    def forward(self, x):
        return torch.log_softmax(self.head(self.features(x)), dim=1)


class GapArgmax(nn.Module):
    """uint8 input cast inside, padded convs, stride-2 max pool with padding, GAP → Linear, outputs the class index."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1),
                                  nn.Conv2d(8, 8, 3, padding=1, groups=2), nn.Hardswish())
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        y = self.body(x.float() / 255.0)
        return torch.argmax(self.fc(torch.mean(y, dim=(2, 3))), dim=1)


class FlatInput(nn.Module):
    """A flat float64 [N, 784] input, cast to float32 and reshaped inside to 1×28×28."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5, stride=2)
        self.fc = nn.Linear(4 * 12 * 12, 10)

    def forward(self, x):
        y = torch.relu(self.conv(x.float().view(-1, 1, 28, 28)))
        return torch.softmax(self.fc(y.reshape(y.shape[0], -1)), dim=1)


class SqueezeExcite(nn.Module):
    """Depthwise conv, a squeeze-and-excitation branch (GAP → 1×1 convs → Sigmoid → Mul), SiLU, AdaptiveAvgPool(1) → Flatten → Linear → Sigmoid."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2)
        self.dw = nn.Conv2d(8, 8, 3, groups=8)
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 4, 1), nn.ReLU(), nn.Conv2d(4, 8, 1), nn.Sigmoid())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        y = nn.functional.silu(self.dw(self.stem(x)))
        y = y * self.se(y)
        return torch.sigmoid(self.fc(torch.flatten(self.pool(y), 1)))


class RowLstm(nn.Module):
    """Reads a 1×16×16 image row by row with an LSTM: a sequence model (refused)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(16, 8, batch_first=True)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        y, _ = self.lstm(x[:, 0])
        return self.fc(y[:, -1])


class Segmenter(nn.Module):
    """Conv → ConvTranspose back to the input's size, per-pixel classes (refused)."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(4, 2, 2, stride=2)

    def forward(self, x):
        return self.up(torch.relu(self.down(x)))


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle: Reshape to [N, groups, C/groups, H, W], Transpose, Reshape back (a permutation of channels)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y = self.conv(x)
        y = y.view(1, 2, 2, 14, 14).transpose(1, 2).reshape(1, 4, 14, 14)
        return self.fc(y.mean((2, 3)))


class FixedReshape(nn.Module):
    """A Reshape of the feature map to [N, C·H, W], fixed for the training size (refused)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(14, 2)

    def forward(self, x):
        return self.fc(self.conv(x).view(1, 4 * 14, 14).mean(1))


class Tokens(nn.Module):
    """Token ids → Embedding → Linear: not an image (refused)."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.emb(x).mean(1))


class Tiny(nn.Module):
    """Conv → global average pool → Linear(8, classes): labels tests."""

    def __init__(self, classes):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def labelled(out):
    """thousand_classes.onnx (1000 classes, no labels); metadata_labels.onnx (3 classes named in metadata_props);
    free_size.onnx (free batch, height and width)."""
    import onnx
    torch.manual_seed(1)
    x = torch.rand(1, 3, 12, 12)
    export(Tiny(1000).eval(), x, f'{out}/thousand_classes.onnx', 13)
    export(Tiny(3).eval(), x, f'{out}/metadata_labels.onnx', 13)
    export(Tiny(3).eval(), x, f'{out}/free_size.onnx', 17, dynamic_hw=True)
    m = onnx.load(f'{out}/metadata_labels.onnx')
    entry = m.metadata_props.add()
    entry.key, entry.value = 'labels', json.dumps(['cat', 'dog', 'bird'])
    onnx.save(m, f'{out}/metadata_labels.onnx')


REFUSED = {
    'refuse_lstm': (RowLstm, (1, 1, 16, 16), torch.float32),
    'refuse_segmenter': (Segmenter, (1, 3, 16, 16), torch.float32),
    'channel_shuffle': (ChannelShuffle, (1, 3, 16, 16), torch.float32),
    'refuse_fixed_reshape': (FixedReshape, (1, 3, 16, 16), torch.float32),
    'refuse_tokens': (Tokens, (1, 6), torch.int64),
}

class TwoHeads(nn.Module):
    """One trunk, two heads: outputs "output" (4-way softmax) and "age" (one sigmoid), as a multi-output classifier."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, stride=2)
        self.fc = nn.Linear(6 * 7 * 7, 4)
        self.age = nn.Linear(6 * 7 * 7, 1)

    def forward(self, x):
        y = torch.flatten(torch.relu(self.conv(x)), 1)
        return torch.softmax(self.fc(y), dim=1), torch.sigmoid(self.age(y))


SMALL = {
    # name: (module, input shape, dtype, opset, dynamic batch)
    'flat_head_logsoftmax': (FlatHead, (2, 3, 16, 16), torch.float32, 11, False),
    'gap_argmax_uint8': (GapArgmax, (1, 3, 20, 20), torch.uint8, 13, True),
    'flat_input_float64': (FlatInput, (1, 784), torch.float64, 17, True),
    'squeeze_excite_sigmoid': (SqueezeExcite, (1, 3, 24, 24), torch.float32, 17, False),
    'two_heads': (TwoHeads, (1, 3, 16, 16), torch.float32, 13, False),
}


def export(model, x, path, opset, dynamic_batch=False, dynamic_hw=False, outputs=('output',)):
    axes = {}
    if dynamic_batch or dynamic_hw:
        axes = {'input': {0: 'N'} if not dynamic_hw else {0: 'N', 2: 'H', 3: 'W'}, 'output': {0: 'N'}}
    torch.onnx.export(model, x, path, opset_version=opset, input_names=['input'], output_names=list(outputs), dynamic_axes=axes or None)


def small(out):
    for name, (cls, shape, dtype, opset, dyn) in SMALL.items():
        torch.manual_seed(1)
        model = cls().eval()
        # Non-trivial batch-norm statistics, so the rewrite of BatchNormalization is tested.
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        g = torch.Generator().manual_seed(2)
        x = (torch.rand(shape, generator=g) * 255).to(torch.uint8) if dtype == torch.uint8 else torch.rand(shape, generator=g, dtype=dtype)
        with torch.no_grad():
            # The class-index model's oracle is the scores the ArgMax reads.
            y = model.fc(torch.mean(model.body(x.float() / 255.0), dim=(2, 3))) if name == 'gap_argmax_uint8' else model(x)
        second = {}
        if isinstance(y, tuple):
            # A multi-output model: the oracle of its second output ("age") is saved beside the first's.
            second = {'ageShape': list(y[1].shape), 'age': y[1].double().flatten().tolist()}
            y = y[0]
        export(model, x, f'{out}/{name}.onnx', opset, dyn, outputs=('output', 'age') if second else ('output',))
        with open(f'{out}/{name}.json', 'w') as f:
            json.dump({'inputShape': list(shape), 'input': x.flatten().tolist(), 'outputShape': list(y.shape), 'output': y.double().flatten().tolist(), **second}, f)


def refused(out):
    # channel_shuffle converts (a permutation of channels); it is made here, without a saved output, as its oracle is ONNX Runtime on crops.
    for name, (cls, shape, dtype) in REFUSED.items():
        torch.manual_seed(1)
        x = torch.randint(0, 20, shape) if dtype == torch.int64 else torch.rand(shape)
        export(cls().eval(), x, f'{out}/{name}.onnx', 13)


class LayerNorm2d(nn.LayerNorm):
    """torchvision ConvNeXt's LayerNorm2d: a LayerNorm over the channels of each cell, through two permutes."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class TinyConvNeXt(nn.Module):
    """ConvNeXt in small: a 4×4/4 stem and LayerNorm2d, one block (depthwise 7×7 with zero padding, permute, LayerNorm,
    Linear → exact GELU → Linear on the channels-last map, layer scale, permute back, residual), a LayerNorm2d → 2×2/2
    downsampling conv, and the head AdaptiveAvgPool → LayerNorm2d → Flatten → Linear."""

    def __init__(self, c=8, classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 4, stride=4), LayerNorm2d(c, eps=1e-6))
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c))
        self.scale = nn.Parameter(torch.rand(c, 1, 1) + 0.5)
        self.down = nn.Sequential(LayerNorm2d(c, eps=1e-6), nn.Conv2d(c, 2 * c, 2, stride=2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(LayerNorm2d(2 * c, eps=1e-6), nn.Flatten(1), nn.Linear(2 * c, classes))
        for m in self.modules():
            if isinstance(m, nn.LayerNorm):
                # Non-trivial scale and bias, so both are carried through.
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.5, 0.5)

    def forward(self, x):
        x = self.stem(x)
        y = self.mlp(self.norm(self.dw(x).permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        x = x + self.scale * y
        return self.head(self.pool(self.down(x)))


def convnext(out):
    """convnext_o17.onnx (LayerNormalization nodes) and convnext_o11.onnx (the same net, its layer norms as ReduceMean,
    Sub, Pow, Sqrt, Div), each with PyTorch's output."""
    for name, opset in (('convnext_o17', 17), ('convnext_o11', 11)):
        torch.manual_seed(1)
        model = TinyConvNeXt().eval()
        x = torch.rand((1, 3, 32, 32), generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            y = model(x)
        export(model, x, f'{out}/{name}.onnx', opset)
        with open(f'{out}/{name}.json', 'w') as f:
            json.dump({'inputShape': list(x.shape), 'input': x.flatten().tolist(), 'outputShape': list(y.shape), 'output': y.double().flatten().tolist()}, f)


class Conv2dSame(nn.Conv2d):
    """timm's Conv2dSame: the input padded as TensorFlow's 'same' asks, computed from its size at run time."""

    def forward(self, x):
        import math
        ih, iw = x.size()[-2:]
        pad = [max((math.ceil(i / s) - 1) * s + (k - 1) * d + 1 - i, 0) for i, k, s, d in zip((ih, iw), self.kernel_size, self.stride, self.dilation)]
        x = nn.functional.pad(x, [pad[1] // 2, pad[1] - pad[1] // 2, pad[0] // 2, pad[0] - pad[0] // 2])
        return nn.functional.conv2d(x, self.weight, self.bias, self.stride, (0, 0), self.dilation, self.groups)


class PadSame(nn.Module):
    """Two stride-2 Conv2dSame (SiLU, Hardswish), global mean, Linear, softmax: a tf_efficientnet in small."""

    def __init__(self):
        super().__init__()
        self.c1 = Conv2dSame(3, 8, 3, stride=2)
        self.c2 = Conv2dSame(8, 8, 3, stride=2)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = nn.functional.hardswish(self.c2(nn.functional.silu(self.c1(x))))
        return torch.softmax(self.fc(x.mean((2, 3))), 1)


def pad_same(out):
    torch.manual_seed(1)
    model = PadSame().eval()
    x = torch.rand(1, 3, 32, 32)
    export(model, x, f'{out}/pad_same.onnx', 13)
    export(model, x, f'{out}/pad_same_dynamic.onnx', 13, dynamic_hw=True)


class TinyViT(nn.Module):
    """4×4 patches of a 16×16 image, one transformer encoder layer over the 16 tokens, their mean, a Linear."""

    def __init__(self, d=16, classes=5):
        super().__init__()
        self.patches = nn.Conv2d(3, d, 4, stride=4)
        self.encoder = nn.TransformerEncoderLayer(d, nhead=2, dim_feedforward=32, batch_first=True)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        tokens = self.patches(x).flatten(2).transpose(1, 2)
        return self.head(self.encoder(tokens).mean(1))


def attention(out):
    torch.manual_seed(1)
    export(TinyViT().eval(), torch.rand(1, 3, 16, 16), f'{out}/refuse_attention.onnx', 13)
    torch.manual_seed(1)
    group_norm = nn.Sequential(nn.Conv2d(3, 8, 3), nn.GroupNorm(2, 8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()
    export(group_norm, torch.rand(1, 3, 16, 16), f'{out}/refuse_group_norm.onnx', 13)


class SplitClip(nn.Module):
    """Valid convolutions only (every cell equals its crop): ReLU6, a channel split into halves (ShuffleNet v2's
    chunk) and into 3 + 5, hardtanh(-1, 1), clamps with only a lower and only an upper bound, the mean over H and W."""

    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.BatchNorm2d(8), nn.ReLU6())
        self.branch = nn.Conv2d(4, 4, 1)
        self.mid = nn.Conv2d(8, 8, 3, stride=2)
        self.low = nn.Conv2d(3, 6, 1)
        self.head = nn.Linear(6 + 5, classes)

    def forward(self, x):
        x = self.stem(x)
        a, b = x.chunk(2, dim=1)
        x = torch.clamp(torch.cat([a, nn.functional.hardtanh(self.branch(b), -1.0, 1.0)], dim=1), min=-0.5)
        p, q = torch.split(torch.clamp(self.mid(x), max=0.25), [3, 5], dim=1)
        return self.head(torch.cat([self.low(p), q], dim=1).mean([2, 3]))


def split_clip(out):
    """SplitClip at opset 9 (Clip's bounds and Split's sizes are attributes; a min of 0 is an attribute set to zero) and 13 (inputs)."""
    torch.manual_seed(1)
    model = SplitClip().eval()
    model.stem[1].running_mean.uniform_(-0.5, 0.5)
    model.stem[1].running_var.uniform_(0.5, 2.0)
    x = torch.rand(1, 3, 32, 32)
    export(model, x, f'{out}/split_clip_o9.onnx', 9)
    export(model, x, f'{out}/split_clip_o13.onnx', 13)


class ViewHead(nn.Module):
    """Valid convolutions, then x.view(x.size(0), -1) into a Linear: traced at a fixed batch, the exporter folds the view to [B, -1]."""

    def __init__(self, classes=4):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 4, 3), nn.ReLU())
        self.fc = nn.Linear(4 * 13 * 13, classes)

    def forward(self, x):
        x = self.features(x)
        return self.fc(x.view(x.size(0), -1))


def fixed_batch(out):
    """ViewHead exported from a batch of 4 images without dynamic axes, as a script that traces a data loader's batch does."""
    torch.manual_seed(1)
    export(ViewHead().eval(), torch.rand(4, 3, 32, 32), f'{out}/fixed_batch4.onnx', 11)


class PooledSoftmax(nn.Module):
    """A fully convolutional head: 1×1 conv to the classes, average pool to 1×1, softmax over dim 1 of that [N, C, 1, 1]
    map, then squeeze(-1).squeeze(-1) (before opset 13 PyTorch writes the softmax as Transpose, Softmax, Transpose)."""

    def __init__(self, classes=5):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, classes, 1))

    def forward(self, x):
        return torch.softmax(nn.functional.adaptive_avg_pool2d(self.body(x), 1), dim=1).squeeze(-1).squeeze(-1)


def pooled_softmax(out):
    torch.manual_seed(1)
    model = PooledSoftmax().eval()
    x = torch.rand(1, 3, 16, 16)
    export(model, x, f'{out}/pooled_softmax_o9.onnx', 9)
    export(model, x, f'{out}/pooled_softmax_o13.onnx', 13)


class ConcatPoolHead(nn.Module):
    """fastai's vision head: AdaptiveConcatPool2d (max and average pools side by side), Flatten, BatchNorm1d, Dropout,
    Linear, ReLU, BatchNorm1d, Dropout, Linear. Its max pool to 1×1 is exported as a MaxPool over the whole map."""

    def __init__(self, classes=4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(16), nn.Dropout(0.25), nn.Linear(16, 6), nn.ReLU(), nn.BatchNorm1d(6), nn.Dropout(0.5), nn.Linear(6, classes))

    def forward(self, x):
        x = self.body(x)
        return self.head(torch.cat([nn.functional.adaptive_max_pool2d(x, 1), nn.functional.adaptive_avg_pool2d(x, 1)], 1))


class SqueezeAllHead(nn.Module):
    """x.squeeze() with no dimension after the pool, which drops the batch of one too; a Linear on that [C]."""

    def __init__(self, classes=4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        return self.fc(nn.functional.adaptive_avg_pool2d(self.body(x), 1).squeeze())


class ExpandSE(nn.Module):
    """The classic squeeze-and-excitation block (SENet's reference code): pool, view(b, c), Linear, ReLU, Linear,
    Sigmoid, view(b, c, 1, 1), then x * y.expand_as(x), in a small classifier."""

    def __init__(self, classes=4):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Sequential(nn.Linear(8, 4, bias=False), nn.ReLU(), nn.Linear(4, 8, bias=False), nn.Sigmoid())
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2)
        self.head = nn.Linear(8, classes)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        b, c, _, _ = x.size()
        y = self.fc(nn.functional.adaptive_avg_pool2d(x, 1).view(b, c)).view(b, c, 1, 1)
        x = torch.relu(self.conv2(x * y.expand_as(x)))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class GeMHead(nn.Module):
    """GeM pooling (generalised mean, a learned p): clamp, x^p, average over the whole map, the p-th root (1 / p a Reciprocal)."""

    def __init__(self, classes=4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
        self.p = nn.Parameter(torch.ones(1) * 3)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        x = self.body(x)
        x = nn.functional.avg_pool2d(x.clamp(min=1e-6).pow(self.p), (x.size(-2), x.size(-1))).pow(1.0 / self.p)
        return self.fc(x.flatten(1))


class CBAM(nn.Module):
    """CBAM as its reference code writes it: a channel gate (average and max pools over the whole map through one MLP,
    summed, a sigmoid, unsqueezed and expand_as'd) and a spatial gate (torch.max(x, 1)[0].unsqueeze(1) beside
    torch.mean(x, 1).unsqueeze(1), a 7×7 convolution, a sigmoid), in a small classifier."""

    def __init__(self, classes=4):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 8))
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)
        self.head = nn.Linear(8, classes)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        h, w = x.size(2), x.size(3)
        att = self.mlp(nn.functional.avg_pool2d(x, (h, w))) + self.mlp(nn.functional.max_pool2d(x, (h, w)))
        x = x * torch.sigmoid(att).unsqueeze(2).unsqueeze(3).expand_as(x)
        pooled = torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)), dim=1)
        x = x * torch.sigmoid(self.spatial(pooled))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class SpatialGate(nn.Module):
    """CBAM's spatial gate alone, with a valid convolution so that every cell is its crop: the max over the channels
    (keepdim False, then unsqueeze(1)) beside their mean (keepdim True), a 3×3 convolution, a sigmoid, the product."""

    def __init__(self, classes=4):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.spatial = nn.Conv2d(2, 1, 3)
        self.conv2 = nn.Conv2d(8, 8, 3)
        self.head = nn.Linear(8, classes)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        gate = torch.sigmoid(self.spatial(torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1, keepdim=True)), dim=1)))
        x = torch.relu(self.conv2(x)) * gate
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class Activations(nn.Module):
    """PyTorch activations exported as formulas or with parameters: ELU(0.5), CELU(0.7), GELU's tanh form before opset 20
    (x · x · x among its nodes), Tanhshrink (x − tanh(x)); valid convolutions between them."""

    def __init__(self, classes=4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ELU(0.5), nn.Conv2d(8, 8, 3), nn.CELU(0.7), nn.Conv2d(8, 8, 3),
                                  nn.GELU(approximate='tanh'), nn.Tanhshrink())
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.body(x), 1), 1))


class CosineHead(nn.Module):
    """A cosine classifier: the pooled features normalised (F.normalize: ReduceL2, Clip, Expand, Div), a Linear, a scale."""

    def __init__(self, classes=4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        v = nn.functional.normalize(torch.flatten(nn.functional.adaptive_avg_pool2d(self.body(x), 1), 1), dim=1)
        return self.fc(v) * 10


def heads(out):
    torch.manual_seed(1)
    model = ConcatPoolHead().eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    export(model, torch.rand(1, 3, 24, 24), f'{out}/head_concat_pool.onnx', 13)
    torch.manual_seed(1)
    export(SqueezeAllHead().eval(), torch.rand(1, 3, 16, 16), f'{out}/head_squeeze_all.onnx', 13)
    torch.manual_seed(1)
    export(ExpandSE().eval(), torch.rand(1, 3, 20, 20), f'{out}/se_expand_as.onnx', 13)
    torch.manual_seed(1)
    export(GeMHead().eval(), torch.rand(1, 3, 16, 16), f'{out}/head_gem.onnx', 13)
    torch.manual_seed(1)
    export(CBAM().eval(), torch.rand(1, 3, 20, 20), f'{out}/cbam.onnx', 13)
    torch.manual_seed(1)
    export(SpatialGate().eval(), torch.rand(1, 3, 16, 16), f'{out}/spatial_gate.onnx', 13)
    torch.manual_seed(1)
    export(Activations().eval(), torch.rand(1, 3, 16, 16), f'{out}/activations_o13.onnx', 13)
    torch.manual_seed(1)
    export(CosineHead().eval(), torch.rand(1, 3, 16, 16), f'{out}/head_cosine.onnx', 13)


def refuse_lrn(out):
    """nn.LocalResponseNorm as PyTorch exports it (3-D average pooling of x² padded along the channels, an If on a shape)."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.LocalResponseNorm(5), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()
    export(model, torch.rand(1, 3, 16, 16), f'{out}/refuse_lrn_if.onnx', 11)


def torchvision_model(out, name, size=224, opset=13, dynamic_hw=False):
    import torchvision
    torch.manual_seed(0)
    kwargs = {'aux_logits': False, 'init_weights': True} if name in ('googlenet', 'inception_v3') else {}
    model = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    x = torch.rand(1, 3, size, size)
    export(model, x, f'{out}/{name}.onnx', opset, dynamic_hw=dynamic_hw, dynamic_batch=dynamic_hw)


def small_all(out):
    small(out)
    refused(out)
    labelled(out)


# Each mode's writer, by the name the usage above gives it; any other first argument is the torchvision mode.
MODES = {
    'convnext': convnext, 'attention': attention, 'splitclip': split_clip, 'heads': heads, 'pooledsoftmax': pooled_softmax,
    'refuselrn': refuse_lrn, 'fixedbatch': fixed_batch, 'padsame': pad_same, 'small': small_all,
}

if __name__ == '__main__':
    if sys.argv[1] in MODES:
        MODES[sys.argv[1]](sys.argv[2])
    else:
        args = sys.argv[4:]
        torchvision_model(sys.argv[2], sys.argv[3], size=int(args[0]) if args else 224, opset=int(args[1]) if len(args) > 1 else 13,
                          dynamic_hw=len(args) > 2 and args[2] == 'dynamic')
