// The conversion's one-off ONNX Runtime sessions (crop check, ONNX check) open from a temporary file,
// unoptimised: they give tfjs's scores, and leave no file behind.
import { readdir } from 'node:fs/promises';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../main/engine/backend';
import { exportOnnx } from '../../main/onnx/export';
import { oneOffSession } from '../../main/onnx/one-off-session';
import { loadOrt } from '../../main/ort/runtime';

describe('oneOffSession', () => {
  beforeAll(async () => {
    await selectBackend('auto');
  });

  it('runs the model as tfjs does (BatchNormalization, a 3×3 conv, a 2×2 Dense-as-conv) and removes its temporary file', async () => {
    const input = tf.input({ shape: [null, null, 3] });
    let x = tf.layers.conv2d({ filters: 6, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ gammaInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: 2 }) }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: 4, kernelSize: 2, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(x) as tf.SymbolicTensor;
    const fcn = tf.model({ inputs: input, outputs: x });
    const image = tf.randomUniform([1, 9, 11, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const leftovers = async (): Promise<string[]> => (await readdir(os.tmpdir())).filter((f) => f.startsWith('convmap-check-'));
    const before = await leftovers();
    const { session } = await oneOffSession(exportOnnx(fcn, 'one-off').bytes, { device: 'cpu', threads: 1 });
    try {
      expect(await leftovers()).toEqual(before);
      const ort = await loadOrt();
      const out = await session.run({ image: new ort.Tensor('float32', image.dataSync() as Float32Array, image.shape) });
      const want = tf.tidy(() => (fcn.predict(image) as tf.Tensor).dataSync());
      const got = out.scores.data as Float32Array;
      expect(got.length).toBe(want.length);
      expect(Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i])))).toBeLessThan(1e-5);
    } finally {
      await session.release();
      image.dispose();
      fcn.dispose();
    }
  });
});
