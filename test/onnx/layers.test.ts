import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOnnx } from '../../main/onnx/export';
import { randomizeWeights, useWasm } from '../helpers/models';
import { relativeDiffs } from './helpers';

beforeAll(useWasm);

type Sym = tf.SymbolicTensor;
const made: tf.LayersModel[] = [];
afterAll(() => made.forEach((m) => m.dispose()));

/** A free-size model [null, null, c] → body(input), random weights. */
function model(body: (x: Sym) => Sym, channels = 3, seed = 1): tf.LayersModel {
  const input = tf.input({ shape: [null, null, channels] });
  const m = tf.model({ inputs: input, outputs: body(input) });
  randomizeWeights(m, seed);
  made.push(m);
  return m;
}

const apply = (layer: tf.layers.Layer, x: Sym | Sym[]): Sym => layer.apply(x) as Sym;
const conv = (x: Sym, filters: number, k: number, extra: Record<string, unknown> = {}): Sym =>
  apply(tf.layers.conv2d({ filters, kernelSize: k, padding: 'valid', ...extra }), x);

/** Two sizes, odd and even, so that 'same' padding with stride 2 pads both ways. */
const SIZES: [number, number][] = [[23, 30], [32, 17]];

async function expectSame(m: tf.LayersModel, sizes = SIZES): Promise<void> {
  const { bytes } = exportOnnx(m, 'layers.json');
  const diffs = await relativeDiffs(m, bytes, sizes);
  for (const d of diffs) expect(d).toBeLessThanOrEqual(1e-4);
}

describe('exportOnnx: each layer kind equals tfjs in ONNX Runtime at two input sizes', () => {
  const cases: [string, () => tf.LayersModel][] = [
    ['Conv2D valid, stride 1, relu', () => model((x) => conv(x, 5, 3, { activation: 'relu' }))],
    ['Conv2D same 3×3 and even 4×4 kernels, stride 1', () => model((x) => conv(conv(x, 4, 3, { padding: 'same' }), 3, 4, { padding: 'same' }))],
    ['Conv2D same, stride 2 (odd and even sizes), no bias', () => model((x) => conv(x, 4, 3, { padding: 'same', strides: 2, useBias: false }))],
    ['Conv2D valid, stride [2, 3], kernel [3, 5]', () => model((x) => conv(x, 4, [3, 5] as unknown as number, { strides: [2, 3] }))],
    ['Conv2D dilated 2, same and valid', () => model((x) => conv(conv(x, 4, 3, { padding: 'same', dilationRate: 2 }), 3, 3, { dilationRate: [2, 3] }))],
    ['DepthwiseConv2D multiplier 2, same, stride 2, relu6', () => model((x) => apply(tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', strides: 2, activation: 'relu6' }), x))],
    ["DepthwiseConv2D with a dilationRate, which tfjs's layer ignores", () => model((x) => apply(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'valid', dilationRate: 2 }), x))],
    ['SeparableConv2D same, multiplier 2, elu', () => model((x) => apply(tf.layers.separableConv2d({ filters: 5, kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'elu' }), x))],
    ['Dense on the channel axis, tanh', () => model((x) => apply(tf.layers.dense({ units: 6, activation: 'tanh' }), x))],
    ['MaxPooling2D valid 3/2 and same 2 (default strides)', () => model((x) => apply(tf.layers.maxPooling2d({ poolSize: 2, padding: 'same' }), apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }), x)))],
    ['AveragePooling2D same 3/2 (padding not counted) and valid 2', () => model((x) => apply(tf.layers.averagePooling2d({ poolSize: 2 }), apply(tf.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }), x)))],
    ['AveragePooling2D same 3, stride 1 (explicit pads)', () => model((x) => apply(tf.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same' }), x))],
    // A window-sized Squeeze-and-Excitation pool: stride 1, kernels as large as the map or larger, the
    // exported model's k×1 then 1×k pools against tfjs's one k×k pool.
    ['AveragePooling2D same [20, 9] and [6, 40], stride 1 (counts only pixels inside the image)', () => model((x) =>
      apply(tf.layers.averagePooling2d({ poolSize: [6, 40], strides: 1, padding: 'same' }), apply(tf.layers.averagePooling2d({ poolSize: [20, 9], strides: 1, padding: 'same' }), conv(x, 3, 1))))],
    ['MaxPooling2D same [5, 7] and valid [4, 3], stride 1', () => model((x) =>
      apply(tf.layers.maxPooling2d({ poolSize: [4, 3], strides: 1 }), apply(tf.layers.maxPooling2d({ poolSize: [5, 7], strides: 1, padding: 'same' }), conv(x, 3, 1))))],
    ['BatchNormalization (trunk) and without center/scale', () => model((x) => apply(tf.layers.batchNormalization({ center: false, scale: false }), apply(tf.layers.batchNormalization({ epsilon: 0.01 }), conv(x, 4, 3))))],
    ['LayerNormalization over channels', () => model((x) => apply(tf.layers.layerNormalization({ epsilon: 1e-3 }), conv(x, 6, 3)))],
    ['ReLU with maxValue, LeakyReLU, ELU, ThresholdedReLU', () => model((x) => {
      let y = apply(tf.layers.reLU({ maxValue: 0.5 }), conv(x, 4, 3));
      y = apply(tf.layers.leakyReLU({ alpha: 0.2 }), conv(y, 4, 1));
      y = apply(tf.layers.elu({}), conv(y, 4, 1));
      return apply(tf.layers.thresholdedReLU({ theta: 0.1 }), conv(y, 4, 1));
    })],
    ['PReLU with a per-channel alpha', () => model((x) => apply(tf.layers.prelu({ sharedAxes: [1, 2] }), conv(x, 4, 3)))],
    ['Softmax layer over channels', () => model((x) => apply(tf.layers.softmax({ axis: -1 }), conv(x, 5, 3)))],
    ['Rescaling 1/127.5 − 1', () => model((x) => conv(apply(tf.layers.rescaling({ scale: 1 / 127.5, offset: -1 }), x), 3, 3))],
    ['Add of three, Multiply, Average, Maximum, Minimum', () => model((x) => {
      const a = conv(x, 4, 3, { padding: 'same' });
      const b = conv(x, 4, 1);
      const c = conv(x, 4, 3, { padding: 'same', activation: 'sigmoid' });
      const s = apply(tf.layers.add(), [a, b, c]);
      const m = apply(tf.layers.multiply(), [s, c, b]);
      const v = apply(tf.layers.average(), [m, a]);
      return apply(tf.layers.minimum(), [apply(tf.layers.maximum(), [v, b]), a]);
    })],
    ['Concatenate on the channel axis', () => model((x) => apply(tf.layers.concatenate(), [conv(x, 3, 3, { padding: 'same' }), conv(x, 2, 1), x]))],
    ['ZeroPadding2D asymmetric, Cropping2D asymmetric', () => model((x) => apply(tf.layers.cropping2D({ cropping: [[1, 0], [2, 3]] }), conv(apply(tf.layers.zeroPadding2d({ padding: [[1, 2], [0, 3]] }), x), 4, 3)))],
    ['squeeze-excite: GlobalAveragePooling2D → Reshape [1, 1, C] → Dense → Multiply', () => model((x) => {
      const f = conv(x, 6, 3);
      const g = apply(tf.layers.globalAveragePooling2d({}), f);
      const r = apply(tf.layers.reshape({ targetShape: [1, 1, 6] }), g);
      const e = apply(tf.layers.dense({ units: 6, activation: 'sigmoid' }), apply(tf.layers.dense({ units: 3, activation: 'relu' }), r));
      return apply(tf.layers.multiply(), [f, e]);
    })],
    ['GlobalMaxPooling2D vector → Dense, broadcast onto the map by Add', () => model((x) => {
      const f = conv(x, 4, 3);
      return apply(tf.layers.add(), [f, apply(tf.layers.reshape({ targetShape: [1, 1, 4] }), apply(tf.layers.dense({ units: 4 }), apply(tf.layers.globalMaxPooling2d({}), f)))]);
    })],
    ['Permute of height and width', () => model((x) => conv(apply(tf.layers.permute({ dims: [2, 1, 3] }), x), 3, [2, 3] as unknown as number))],
    ['Dropout (identity at inference)', () => model((x) => apply(tf.layers.dropout({ rate: 0.5 }), conv(x, 3, 3)))],
  ];
  for (const [name, build] of cases) it(name, () => expectSame(build()));

  const activations = ['relu', 'relu6', 'elu', 'selu', 'sigmoid', 'hardSigmoid', 'tanh', 'softplus', 'softsign', 'swish', 'mish', 'gelu', 'gelu_new', 'softmax', 'linear'];
  it(`every activation the loader accepts: ${activations.join(', ')}`, async () => {
    for (const activation of activations) {
      const m = model((x) => apply(tf.layers.activation({ activation: activation as 'relu' }), conv(x, 5, 3, { activation: 'linear' })));
      const { bytes } = exportOnnx(m, 'act.json');
      const [d] = await relativeDiffs(m, bytes, [[11, 13]]);
      expect({ activation, ok: d <= 1e-4 }).toEqual({ activation, ok: true });
    }
  });

  it('refuses a layer it has no mapping for, naming the layer and its class', () => {
    const m = model((x) => apply(tf.layers.conv2dTranspose({ filters: 2, kernelSize: 3, name: 'up' }), conv(x, 3, 3)));
    expect(() => exportOnnx(m, 'model.json')).toThrow('model.json: layer "up" (Conv2DTranspose): has no ONNX mapping');
  });

  it("refuses a softmax over a spatial axis (tfjs's Softmax layer defaults to axis 1), naming the layer", () => {
    const m = model((x) => apply(tf.layers.softmax({ name: 'sm_rows' }), conv(x, 3, 3)));
    expect(() => exportOnnx(m, 'model.json')).toThrow('model.json: layer "sm_rows" (Softmax): works over axis 1; only the channel axis has an ONNX mapping');
  });
});
