#!/usr/bin/python3
"""Small ONNX classifiers written node by node (python3-onnx, numpy; seeded random weights) in the
forms other exporters than PyTorch 1.13 write, for test/onnx/zoo-ops.test.ts:

  onnx_zoo_fixtures.py OUTDIR

  caffe2_lrn_sum.onnx   as the ONNX model zoo's Caffe2 exports (AlexNet, CaffeNet, GoogLeNet, ResNet50
                        caffe2): opset 9, input "data_0", LRN across channels (sizes 5 and 3), a residual
                        Sum of three, Mean, Max of two maps, Min with one constant per channel, Reshape to
                        [1, classes], Softmax; no padding, so every cell is exactly its crop; producer
                        "onnx-caffe2", as the zoo's files
  relu6_minmax.onnx     as tf2onnx wrote ReLU6 and clamps with Max/Min: Min(Max(x, 0), 6),
                        Max(Min(x, 6), 0), Max(x, 0.5), GlobalAveragePool, MatMul + Add, Softmax (opset 11)
  gelu_mish_o20.onnx    PyTorch 2 at opset 20: Gelu (exact and tanh) and Mish (opset 18's operator)
  tf2onnx_trunk.onnx    as tf2onnx names a Keras transfer-learning model's nodes
                        ("sequential/mobilenetv2_1.00_224/Conv1/Conv2D"), NHWC input: the trunk's name tells
                        its preprocessing ([-1, 1])
  scaled_imagenet.onnx  producer "pytorch", the input normalised in the graph: (x − mean) / std with ImageNet's
                        statistics of [0, 1] pixels, so the file wants x / 255 (not the mean/std again)
  scaled_255.onnx       the input scaled in the graph: x / 255, − 0.5, / 0.5, so the file wants 0–255
  resize_free.onnx      a free height and width resized inside to 32×32 (Resize, sizes), then a small CNN: its
                        window is 32, where the Resize is the identity
  resize_fixed.onnx     a fixed 48×48 input resized inside to 32×32: refused, it does not look pixel for pixel
  slim_1001.onnx        1001 classes and no labels, as TensorFlow-slim's ImageNet classifiers (a background
                        class 0): named background and ImageNet's classes
  refuse_max3.onnx      Max of two maps and a constant at once: refused naming the node
  split_o18.onnx        opset 18's Split with num_outputs: 10 channels into 4, 4 and 2 (the last part smaller)
  refuse_int8.onnx      quantised as onnxruntime's quantize_static writes it (QuantizeLinear →
                        DequantizeLinear around each Conv): refused, pointing at the float export

The tests' oracle is ONNX Runtime running these files on each crop, not anything saved here.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)


def weight(name, *shape, scale=0.3):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def const(name, values, dtype=np.float32):
    return numpy_helper.from_array(np.array(values, dtype=dtype), name)


def save(out, name, nodes, inits, opset, size, input_name='data', classes=5, producer='convmap-fixture', nhwc=False):
    shape = [1, size, size, 3] if nhwc else [1, 3, size, size] if size else [1, 3, 'H', 'W']
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info('prob', TensorProto.FLOAT, [1, classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)], producer_name=producer)
    model.ir_version = 4 if opset < 13 else 8
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # Debian's onnx 1.12 knows no opset 20; ONNX Runtime, the tests' oracle, does.
        if opset <= 17:
            raise
        print(f'{name}: checker skipped ({str(e).splitlines()[0][:80]})')
    onnx.save(model, f'{out}/{name}.onnx')


def caffe2_lrn_sum(out):
    n = helper.make_node
    nodes = [
        n('Conv', ['data_0', 'w1', 'b1'], ['c1'], kernel_shape=[5, 5], strides=[2, 2]),
        n('Relu', ['c1'], ['r1']),
        n('LRN', ['r1'], ['n1'], size=5, alpha=1e-2, beta=0.75, bias=1.0),
        n('MaxPool', ['n1'], ['p1'], kernel_shape=[3, 3], strides=[2, 2]),
        n('Conv', ['p1', 'w2', 'b2'], ['c2'], kernel_shape=[1, 1]),
        n('Conv', ['p1', 'w3', 'b3'], ['c3'], kernel_shape=[1, 1]),
        n('Sum', ['c2', 'c3', 'p1'], ['s']),
        n('LRN', ['s'], ['n2'], size=3, alpha=2e-2, beta=0.5, bias=2.0),
        n('Mean', ['n2', 'c2', 'c3'], ['m']),
        n('Max', ['m', 'c2'], ['mx']),
        n('Min', ['mx', 'cap'], ['mn']),
        n('Conv', ['mn', 'w4', 'b4'], ['c4'], kernel_shape=[7, 7]),
        n('Reshape', ['c4', 'shape'], ['f']),
        n('Softmax', ['f'], ['prob']),
    ]
    inits = [weight('w1', 8, 3, 5, 5), weight('b1', 8), weight('w2', 8, 8, 1, 1), weight('b2', 8), weight('w3', 8, 8, 1, 1), weight('b3', 8),
             weight('cap', 1, 8, 1, 1, scale=1.0), weight('w4', 5, 8, 7, 7), weight('b4', 5), const('shape', [1, 5], np.int64)]
    save(out, 'caffe2_lrn_sum', nodes, inits, 9, 35, input_name='data_0', producer='onnx-caffe2')


def relu6_minmax(out):
    n = helper.make_node
    nodes = [
        n('Conv', ['data', 'w1', 'b1'], ['c1'], kernel_shape=[3, 3], strides=[2, 2]),
        n('Max', ['c1', 'zero'], ['a1']),
        n('Min', ['a1', 'six'], ['r1']),
        n('Conv', ['r1', 'w2', 'b2'], ['c2'], kernel_shape=[3, 3]),
        n('Min', ['six', 'c2'], ['a2']),
        n('Max', ['a2', 'zero'], ['r2']),
        n('Conv', ['r2', 'w3', 'b3'], ['c3'], kernel_shape=[3, 3], strides=[2, 2]),
        n('Max', ['c3', 'half'], ['r3']),
        n('GlobalAveragePool', ['r3'], ['g']),
        n('Flatten', ['g'], ['f']),
        n('MatMul', ['f', 'fw'], ['mm']),
        n('Add', ['mm', 'fb'], ['logits']),
        n('Softmax', ['logits'], ['prob'], axis=1),
    ]
    inits = [weight('w1', 8, 3, 3, 3, scale=2.0), weight('b1', 8), weight('w2', 8, 8, 3, 3), weight('b2', 8), weight('w3', 8, 8, 3, 3), weight('b3', 8),
             const('zero', 0.0), const('six', 6.0), const('half', 0.5), weight('fw', 8, 5), weight('fb', 5)]
    save(out, 'relu6_minmax', nodes, inits, 11, 32)


def gelu_mish(out):
    n = helper.make_node
    nodes = [
        n('Conv', ['data', 'w1', 'b1'], ['c1'], kernel_shape=[3, 3]),
        n('Gelu', ['c1'], ['g1']),
        n('Conv', ['g1', 'w2', 'b2'], ['c2'], kernel_shape=[3, 3], strides=[2, 2]),
        n('Gelu', ['c2'], ['g2'], approximate='tanh'),
        n('Conv', ['g2', 'w3', 'b3'], ['c3'], kernel_shape=[3, 3]),
        n('Mish', ['c3'], ['m3']),
        n('GlobalAveragePool', ['m3'], ['g']),
        n('Flatten', ['g'], ['f']),
        n('Gemm', ['f', 'fw', 'fb'], ['prob'], transB=1),
    ]
    inits = [weight('w1', 8, 3, 3, 3, scale=1.0), weight('b1', 8), weight('w2', 8, 8, 3, 3), weight('b2', 8), weight('w3', 8, 8, 3, 3), weight('b3', 8),
             weight('fw', 5, 8), weight('fb', 5)]
    save(out, 'gelu_mish_o20', nodes, inits, 20, 32)


def refuse_max3(out):
    n = helper.make_node
    nodes = [
        n('Conv', ['data', 'w1', 'b1'], ['c1'], kernel_shape=[3, 3]),
        n('Conv', ['data', 'w2', 'b2'], ['c2'], kernel_shape=[3, 3]),
        n('Max', ['c1', 'c2', 'half'], ['mx']),
        n('GlobalAveragePool', ['mx'], ['g']),
        n('Flatten', ['g'], ['f']),
        n('Gemm', ['f', 'fw', 'fb'], ['prob'], transB=1),
    ]
    inits = [weight('w1', 8, 3, 3, 3), weight('b1', 8), weight('w2', 8, 3, 3, 3), weight('b2', 8), const('half', 0.5), weight('fw', 5, 8), weight('fb', 5)]
    save(out, 'refuse_max3', nodes, inits, 13, 16)


def refuse_int8(out):
    n = helper.make_node
    nodes = [
        n('QuantizeLinear', ['data', 'scale', 'zero'], ['q']),
        n('DequantizeLinear', ['q', 'scale', 'zero'], ['dq']),
        n('DequantizeLinear', ['w_int8', 'w_scale'], ['w']),
        n('Conv', ['dq', 'w', 'b'], ['c'], kernel_shape=[3, 3]),
        n('GlobalAveragePool', ['c'], ['g']),
        n('Flatten', ['g'], ['f']),
        n('Gemm', ['f', 'fw', 'fb'], ['prob'], transB=1),
    ]
    inits = [const('scale', 1 / 255), const('zero', 0, np.uint8), const('w_int8', rng.integers(-100, 100, (8, 3, 3, 3)), np.int8),
             const('w_scale', 0.01), weight('b', 8), weight('fw', 5, 8), weight('fb', 5)]
    save(out, 'refuse_int8', nodes, inits, 13, 16)


def tf2onnx_trunk(out):
    n = helper.make_node
    t = 'sequential/mobilenetv2_1.00_224'
    nodes = [
        n('Transpose', ['input_1'], ['t'], name=f'{t}/Conv1/Conv2D__6', perm=[0, 3, 1, 2]),
        n('Conv', ['t', 'w1', 'b1'], ['c1'], name=f'{t}/Conv1/Conv2D', kernel_shape=[3, 3], strides=[2, 2]),
        n('Clip', ['c1', 'lo', 'hi'], ['r1'], name=f'{t}/Conv1_relu/Relu6'),
        n('GlobalAveragePool', ['r1'], ['g'], name='sequential/global_average_pooling2d/Mean'),
        n('Flatten', ['g'], ['f'], name='sequential/global_average_pooling2d/Mean_Squeeze__10'),
        n('MatMul', ['f', 'fw'], ['mm'], name='sequential/dense/MatMul'),
        n('Add', ['mm', 'fb'], ['logits'], name='sequential/dense/BiasAdd'),
        n('Softmax', ['logits'], ['prob'], name='sequential/dense/Softmax', axis=1),
    ]
    inits = [weight('w1', 8, 3, 3, 3), weight('b1', 8), const('lo', 0.0), const('hi', 6.0), weight('fw', 8, 5), weight('fb', 5)]
    save(out, 'tf2onnx_trunk', nodes, inits, 13, 32, input_name='input_1', producer='tf2onnx', nhwc=True)


def slim_1001(out):
    n = helper.make_node
    nodes = [
        n('Conv', ['data', 'w1', 'b1'], ['c1'], kernel_shape=[3, 3], strides=[2, 2]),
        n('Relu', ['c1'], ['r1']),
        n('GlobalAveragePool', ['r1'], ['g']),
        n('Flatten', ['g'], ['f']),
        n('Gemm', ['f', 'fw', 'fb'], ['logits'], transB=1),
        n('Softmax', ['logits'], ['prob'], axis=1),
    ]
    inits = [weight('w1', 4, 3, 3, 3), weight('b1', 4), weight('fw', 1001, 4), weight('fb', 1001)]
    save(out, 'slim_1001', nodes, inits, 13, 16, classes=1001)


def scaled(out):
    n = helper.make_node
    head = [
        n('Conv', ['x', 'w1', 'b1'], ['c1'], kernel_shape=[3, 3], strides=[2, 2]),
        n('Relu', ['c1'], ['r1']),
        n('GlobalAveragePool', ['r1'], ['g']),
        n('Flatten', ['g'], ['f']),
        n('Gemm', ['f', 'fw', 'fb'], ['prob'], transB=1),
    ]
    tail = [weight('w1', 4, 3, 3, 3), weight('b1', 4), weight('fw', 5, 4), weight('fb', 5)]
    nodes = [n('Sub', ['data', 'mean'], ['centred'], name='/normalize/Sub'), n('Div', ['centred', 'std'], ['x'], name='/normalize/Div')] + head
    inits = [const('mean', [[[0.485]], [[0.456]], [[0.406]]]), const('std', [[[0.229]], [[0.224]], [[0.225]]])] + tail
    save(out, 'scaled_imagenet', nodes, inits, 13, 16, producer='pytorch')
    nodes = [n('Div', ['data', 'k255'], ['u'], name='/scale/Div'), n('Sub', ['u', 'half'], ['v'], name='/scale/Sub'),
             n('Div', ['v', 'half2'], ['x'], name='/scale/Div_1')] + head
    inits = [const('k255', 255.0), const('half', 0.5), const('half2', 0.5)] + tail
    save(out, 'scaled_255', nodes, inits, 13, 16, producer='pytorch')


def resized(out):
    n = helper.make_node
    for name, size in (('resize_free', None), ('resize_fixed', 48)):
        nodes = [
            n('Resize', ['data', '', '', 'sizes'], ['x'], name='/resize/Resize', mode='linear'),
            n('Conv', ['x', 'w1', 'b1'], ['c1'], kernel_shape=[3, 3], strides=[2, 2]),
            n('Relu', ['c1'], ['r1']),
            n('Conv', ['r1', 'w2', 'b2'], ['c2'], kernel_shape=[15, 15]),
            n('Flatten', ['c2'], ['f']),
            n('Softmax', ['f'], ['prob'], axis=1),
        ]
        inits = [const('sizes', [1, 3, 32, 32], np.int64), weight('w1', 4, 3, 3, 3), weight('b1', 4), weight('w2', 5, 4, 15, 15), weight('b2', 5)]
        save(out, name, nodes, inits, 13, size)


def split_o18(out):
    n = helper.make_node
    nodes = [
        n('Conv', ['data', 'w1', 'b1'], ['c1'], kernel_shape=[3, 3]),
        n('Split', ['c1'], ['s0', 's1', 's2'], axis=1, num_outputs=3),
        n('Relu', ['s0'], ['r0']),
        n('Sigmoid', ['s1'], ['r1']),
        n('Concat', ['s2', 'r0', 'r1'], ['cat'], axis=1),
        n('Conv', ['cat', 'w2', 'b2'], ['c2'], kernel_shape=[3, 3], strides=[2, 2]),
        n('Relu', ['c2'], ['r2']),
        n('GlobalAveragePool', ['r2'], ['g']),
        n('Flatten', ['g'], ['f']),
        n('Gemm', ['f', 'fw', 'fb'], ['prob'], transB=1),
    ]
    inits = [weight('w1', 10, 3, 3, 3, scale=1.0), weight('b1', 10), weight('w2', 8, 10, 3, 3), weight('b2', 8), weight('fw', 5, 8), weight('fb', 5)]
    save(out, 'split_o18', nodes, inits, 18, 16)


if __name__ == '__main__':
    for make in (caffe2_lrn_sum, relu6_minmax, gelu_mish, refuse_max3, refuse_int8, tf2onnx_trunk, slim_1001, scaled, resized, split_o18):
        make(sys.argv[1])
