// A Squeeze-and-Excitation global pool inside the trunk becomes an average over the window around
// each location. The converted model computes it as an h×1 pool then a 1×w one; the oracle here is
// tfjs's own single h×w 'same' pool (which counts only pixels inside the image) and the SE formula
// x · sigmoid(W2 relu(W1 mean + b1) + b2) written with tf ops and the classifier's weights.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { randomImage, randomizeWeights, useWasm } from '../helpers/models';

beforeAll(useWasm);
const made: tf.LayersModel[] = [];
afterAll(() => made.forEach((m) => m.dispose()));

type Sym = tf.SymbolicTensor;

/** conv f (16×16 window, 'same') → SE (GAP, Reshape, Dense relu, Dense sigmoid, Multiply) → 1×1 conv → GAP → Dense. */
function seClassifier(h: number, w: number): tf.LayersModel {
  const input = tf.input({ shape: [h, w, 3] });
  const f = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'f' }).apply(input) as Sym;
  const squeezed = tf.layers.globalAveragePooling2d({ name: 'se_squeeze' }).apply(f) as Sym;
  const r = tf.layers.reshape({ targetShape: [1, 1, 4], name: 'se_reshape' }).apply(squeezed) as Sym;
  const d1 = tf.layers.dense({ units: 2, activation: 'relu', name: 'se_reduce' }).apply(r) as Sym;
  const d2 = tf.layers.dense({ units: 4, activation: 'sigmoid', name: 'se_expand' }).apply(d1) as Sym;
  const excited = tf.layers.multiply({ name: 'se_excite' }).apply([f, d2]) as Sym;
  const p = tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'proj' }).apply(excited) as Sym;
  const g = tf.layers.globalAveragePooling2d({ name: 'head_pool' }).apply(p) as Sym;
  const m = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3, name: 'pred' }).apply(g) as Sym });
  randomizeWeights(m, 5);
  made.push(m);
  return m;
}

describe('a Squeeze-and-Excitation pool in the converted model', () => {
  for (const [h, w] of [[16, 16], [12, 20]] as [number, number][]) {
    it(`equals the SE formula over tfjs's ${h}×${w} window pool at every location of a 23×30 photo`, () => {
      const classifier = seClassifier(h, w);
      const { fcn } = convertClassifier(classifier, 'se.json');
      made.push(fcn);
      const probe = tf.model({ inputs: fcn.inputs, outputs: [fcn.getLayer('f').output as Sym, fcn.getLayer('se_excite').output as Sym] });
      const image = randomImage(23, 30, 3, 7);
      const [fMap, excited] = probe.predict(image) as tf.Tensor4D[];
      const expected = tf.tidy(() => {
        const mean = tf.avgPool(fMap, [h, w], 1, 'same');
        const [k1, b1] = classifier.getLayer('se_reduce').getWeights();
        const [k2, b2] = classifier.getLayer('se_expand').getWeights();
        const hidden = tf.relu(tf.add(tf.matMul(mean.reshape([-1, 4]), k1), b1));
        const scales = tf.sigmoid(tf.add(tf.matMul(hidden, k2), b2)).reshape(mean.shape);
        return tf.mul(fMap, scales);
      });
      expect(excited.shape).toEqual([1, 23, 30, 4]);
      const diff = tf.abs(tf.sub(excited, expected)).max().dataSync()[0];
      const scale = tf.abs(expected).max().dataSync()[0];
      expect(scale).toBeGreaterThan(0);
      expect(diff).toBeLessThanOrEqual(1e-5 * scale);
      tf.dispose([image, fMap, excited, expected]);
    });
  }
});
