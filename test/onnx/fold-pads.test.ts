/**
 * The ONNX writer folds zero padding into the Conv (and, after a Relu, the MaxPool) that reads it:
 * no Pad node is left, and ONNX Runtime still equals the tfjs model at sizes other than the window.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOnnx, exportOnnxGraph } from '../../main/onnx/export';
import { randomizeWeights, useWasm } from '../helpers/models';
import { relativeDiffs } from './helpers';

beforeAll(useWasm);
const made: tf.LayersModel[] = [];
afterAll(() => made.forEach((m) => m.dispose()));

type Sym = tf.SymbolicTensor;

/** PyTorch's stem in tfjs layers: pads 3 → 7×7/2 conv → relu → pads 1 → 3×3/2 max pool → pads 1 → 3×3/2 conv (linear) → pads 1 → 3×3/2 max pool. */
function stem(): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 3] as unknown as number[] });
  let x: Sym = tf.layers.zeroPadding2d({ padding: 3 }).apply(input) as Sym;
  x = tf.layers.conv2d({ filters: 4, kernelSize: 7, strides: 2, activation: 'relu' }).apply(x) as Sym;
  x = tf.layers.zeroPadding2d({ padding: 1 }).apply(x) as Sym;
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }).apply(x) as Sym;
  x = tf.layers.zeroPadding2d({ padding: [[1, 0], [0, 1]] }).apply(x) as Sym;
  x = tf.layers.conv2d({ filters: 5, kernelSize: 3, strides: 2 }).apply(x) as Sym;
  // After a linear conv values can be negative: zeros are not ONNX's ignored pads, so this Pad stays.
  x = tf.layers.zeroPadding2d({ padding: 1 }).apply(x) as Sym;
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }).apply(x) as Sym;
  const m = tf.model({ inputs: input, outputs: x });
  randomizeWeights(m, 3);
  made.push(m);
  return m;
}

describe('zero padding in the written ONNX graph', () => {
  it('goes into the Conv and the post-Relu MaxPool that read it; a MaxPool of signed values keeps its Pad; ONNX Runtime equals tfjs', async () => {
    const m = stem();
    const { model } = exportOnnxGraph(m, 'stem');
    const ops = model.graph.node.map((n) => n.opType);
    expect(ops.filter((o) => o === 'Pad')).toHaveLength(1);
    const pads = model.graph.node.filter((n) => n.opType === 'Conv' || n.opType === 'MaxPool').map((n) => n.attribute.find((a) => a.name === 'pads')?.ints ?? []);
    expect(pads).toEqual([[3, 3, 3, 3], [1, 1, 1, 1], [1, 0, 0, 1], []]);
    const { bytes } = exportOnnx(m, 'stem');
    const diffs = await relativeDiffs(m, bytes, [[40, 40], [53, 47]]);
    for (const d of diffs) expect(d).toBeLessThanOrEqual(1e-5);
  });
});
