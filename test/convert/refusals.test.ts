import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { checkEquivalence } from '../../main/convert/equivalence';
import { ModelError } from '../../main/model/errors';
import { randomizeWeights, useWasm } from '../helpers/models';

const FILE = '/models/bad/model.json';

beforeAll(useWasm);

const made: tf.LayersModel[] = [];
afterAll(() => made.forEach((m) => m.dispose()));

function seq(layers: tf.layers.Layer[]): tf.Sequential {
  const m = tf.sequential({ layers });
  made.push(m);
  return m;
}

function refusal(model: tf.LayersModel): ModelError {
  const before = tf.memory().numTensors;
  try {
    convertClassifier(model, FILE);
  } catch (e) {
    expect(e).toBeInstanceOf(ModelError);
    const err = e as ModelError;
    expect(err.file).toBe(FILE);
    expect(err.message.startsWith(`${FILE}: `)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    return err;
  }
  throw new Error('convertClassifier did not refuse the model');
}

describe('convertClassifier refuses what it cannot rewrite, naming file, layer and class', () => {
  it('refuses a LayerNormalization of the flattened map (between Flatten and Dense): it mixes locations', () => {
    const model = seq([
      tf.layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [8, 8, 1] }),
      tf.layers.flatten(),
      tf.layers.layerNormalization({ name: 'head_norm' }),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ]);
    const err = refusal(model);
    expect(err.layer).toEqual({ name: 'head_norm', className: 'LayerNormalization' });
    expect(err.message).toContain('layer "head_norm" (LayerNormalization): normalises a flattened map; it cannot be applied per location');
  });

  it('converts a LayerNormalization between Dense layers of the head (it normalises each location\'s vector): every cell equals its crop', async () => {
    const model = seq([
      tf.layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [8, 8, 1] }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 4 }),
      tf.layers.layerNormalization({ name: 'head_norm' }),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ]);
    randomizeWeights(model, 5);
    const c = convertClassifier(model, FILE);
    made.push(c.fcn);
    const report = await checkEquivalence(model, c, FILE, { cellsPerAxis: 3 });
    expect(report.exact).toBe(true);
  });

  it('refuses a head that ends in an unsupported layer, saying so rather than "no Flatten"', () => {
    const model = seq([
      tf.layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [8, 8, 1] }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 4 }),
      tf.layers.repeatVector({ n: 2, name: 'final_repeat' }),
    ]);
    const err = refusal(model);
    expect(err.message).toContain('layer "final_repeat" (RepeatVector)');
    expect(err.message).toContain('cannot be part of a convertible head');
  });

  it('refuses a 3×3 Conv2D after GlobalAveragePooling (via Reshape)', () => {
    const model = seq([
      tf.layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [8, 8, 1] }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.reshape({ targetShape: [1, 1, 4] }),
      tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'spatial_head' }),
      tf.layers.reshape({ targetShape: [3] }),
      tf.layers.activation({ activation: 'softmax' }),
    ]);
    const err = refusal(model);
    expect(err.message).toContain('layer "spatial_head" (Conv2D)');
    expect(err.message).toContain('only 1×1, stride-1 convolutions');
  });

  it('refuses a Reshape in the head that mixes locations', () => {
    const model = seq([
      tf.layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [8, 8, 1] }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.reshape({ targetShape: [2, 2], name: 'square' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3 }),
    ]);
    const err = refusal(model);
    expect(err.message).toContain('layer "square" (Reshape)');
  });

  it('refuses a softmax over a flattened map', () => {
    const model = seq([
      tf.layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [6, 6, 1] }),
      tf.layers.flatten(),
      tf.layers.activation({ activation: 'softmax', name: 'flat_softmax' }),
      tf.layers.dense({ units: 3 }),
    ]);
    expect(refusal(model).message).toContain('layer "flat_softmax" (Activation): applies softmax to a flattened map');
  });

  it('refuses a Dense on a [784] vector input: not an image', () => {
    const model = seq([tf.layers.dense({ units: 16, inputShape: [784] }), tf.layers.dense({ units: 10, activation: 'softmax' })]);
    const err = refusal(model);
    expect(err.message).toContain('input shape [, 784] is not an image');
  });

  it('refuses an image model with no Flatten or global pooling', () => {
    const model = seq([
      tf.layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [8, 8, 3] }),
      tf.layers.dense({ units: 2, name: 'per_pixel' }),
    ]);
    const err = refusal(model);
    expect(err.message).toContain('no Flatten, GlobalAveragePooling2D or GlobalMaxPooling2D found');
    expect(err.layer?.name).toBe('per_pixel');
  });

  it('refuses a multi-input model, naming its inputs and saying what to do', () => {
    const a = tf.input({ shape: [8, 8, 3], name: 'photo' });
    const b = tf.input({ shape: [8, 8, 3], name: 'mask' });
    const x = tf.layers.concatenate().apply([a, b]) as tf.SymbolicTensor;
    const y = tf.layers.dense({ units: 2 }).apply(tf.layers.flatten().apply(x)) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [a, b], outputs: y });
    made.push(model);
    const err = refusal(model);
    expect(err.message).toBe(`${FILE}: layer "mask" (InputLayer): has 2 inputs ("photo", "mask"); Convmap converts classifiers of one image: export a model whose only input is the image`);
  });

  it('refuses a multi-output model none of whose outputs gives class scores, listing them', () => {
    const input = tf.input({ shape: [8, 8, 3] });
    const m1 = tf.layers.conv2d({ filters: 2, kernelSize: 3, name: 'mask' }).apply(input) as tf.SymbolicTensor;
    const m2 = tf.layers.conv2d({ filters: 1, kernelSize: 1, name: 'edges' }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: [m1, m2] });
    made.push(model);
    expect(refusal(model).message).toBe(
      `${FILE}: none of its 2 outputs gives class scores over the whole window (outputs: "mask" [6, 6, 2] spatial, "edges" [8, 8, 1] spatial): Convmap converts classifiers`,
    );
  });

  it('refuses a trunk layer that cannot run at any input size', () => {
    const model = seq([
      tf.layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [8, 8, 1] }),
      tf.layers.conv2dTranspose({ filters: 2, kernelSize: 2, strides: 2, name: 'grow' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3 }),
    ]);
    expect(refusal(model).message).toContain('layer "grow" (Conv2DTranspose): is not supported in a trunk');
  });
});
