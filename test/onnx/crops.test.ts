// The crop check's classifier in ONNX Runtime: the same report as tfjs's check, and tfjs wherever
// the classifier does not export as one input and one [batch, classes] output.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { checkEquivalence, smoothRandomImage } from '../../main/convert/equivalence';
import { selectBackend } from '../../main/engine/backend';
import { loadClassifier } from '../../main/model/load';
import { onnxCropRunner } from '../../main/onnx/crops';
import { BUILTIN_MODEL_DIR } from '../../main/services/models';

/** A small MobileNet-shaped classifier: convolutions, global average pooling, a dense softmax head. */
function gapClassifier(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [32, 32, 3], filters: 8, kernelSize: 3, strides: 2, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
  m.add(tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
  m.add(tf.layers.globalAveragePooling2d({}));
  m.add(tf.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
  return m;
}

describe('the crop check in ONNX Runtime', () => {
  beforeAll(async () => {
    await selectBackend('auto');
  });

  it('gives the report tfjs gives, crop for crop (convolutions, global pooling, a dense head)', async () => {
    const classifier = gapClassifier();
    const conv = convertClassifier(classifier, 'gap-classifier');
    const probe = smoothRandomImage(32, 32, 3, 7);
    const runner = await onnxCropRunner(classifier, 'gap-classifier', probe);
    probe.dispose();
    expect(runner).toBeDefined();
    try {
      // Its scores are the classifier's.
      const batch = tf.randomUniform([5, 32, 32, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
      const [got, want] = [await runner!.predict(batch), classifier.predict(batch) as tf.Tensor];
      expect(got.shape).toEqual([5, 4]);
      expect(tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]).toBeLessThan(1e-5);
      tf.dispose([batch, got, want]);
      let batches = 0;
      const viaOrt = await checkEquivalence(classifier, conv, 'gap-classifier', { predictCrops: (b) => (batches++, runner!.predict(b)) });
      expect(batches).toBe(Math.sqrt(viaOrt.cellsChecked));
      const viaTfjs = await checkEquivalence(classifier, conv, 'gap-classifier');
      expect(viaOrt.cellsChecked).toBe(viaTfjs.cellsChecked);
      expect(viaOrt.maxAbsDiff).toBeGreaterThan(0);
      expect(Math.abs(viaOrt.maxAbsDiff - viaTfjs.maxAbsDiff)).toBeLessThan(1e-5);
      expect(Math.abs((viaOrt.meanAbsDiff ?? NaN) - (viaTfjs.meanAbsDiff ?? NaN))).toBeLessThan(1e-5);
      expect(viaOrt.topClassMismatch).toBe(viaTfjs.topClassMismatch);
    } finally {
      await runner?.release();
      conv.fcn.dispose();
      classifier.dispose();
    }
  });

  it('runs a classifier that flattens a map (the built-in digit model: Flatten of 3×3×64 → Dense) in ONNX Runtime, giving tfjs\'s scores', async () => {
    const { model: digits, file } = await loadClassifier(BUILTIN_MODEL_DIR);
    const probe28 = smoothRandomImage(28, 28, 1, 7);
    const runner = await onnxCropRunner(digits, file, probe28);
    probe28.dispose();
    try {
      expect(runner).toBeDefined();
      const batch = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
      const [got, want] = [await runner!.predict(batch), digits.predict(batch) as tf.Tensor];
      expect(got.shape).toEqual(want.shape);
      expect(tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]).toBeLessThan(1e-5);
      tf.dispose([batch, got, want]);
    } finally {
      await runner?.release();
      digits.dispose();
    }
  });

  it('takes the probe\'s tfjs scores from the converted model at one window when given them, and refuses ONNX Runtime when they disagree', async () => {
    const classifier = gapClassifier();
    const conv = convertClassifier(classifier, 'gap-classifier');
    const probe = smoothRandomImage(32, 32, 3, 7);
    const oneCell = (p: tf.Tensor4D): tf.Tensor => tf.tidy(() => (conv.fcn.predict(p) as tf.Tensor).reshape([p.shape[0], -1]));
    const runner = await onnxCropRunner(classifier, 'gap-classifier', probe, oneCell);
    try {
      expect(runner).toBeDefined();
      const batch = tf.randomUniform([3, 32, 32, 3], 0, 1, 'float32', 12) as tf.Tensor4D;
      const [got, want] = [await runner!.predict(batch), classifier.predict(batch) as tf.Tensor];
      expect(tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]).toBeLessThan(1e-5);
      tf.dispose([batch, got, want]);
      // Scores that are not the classifier's (every class 0.25) leave the crops to tfjs.
      expect(await onnxCropRunner(classifier, 'gap-classifier', probe, (p) => tf.fill([p.shape[0], 4], 0.25))).toBeUndefined();
    } finally {
      await runner?.release();
      probe.dispose();
      conv.fcn.dispose();
      classifier.dispose();
    }
  });

  it('leaves to tfjs a classifier with two outputs', async () => {
    const input = tf.input({ shape: [8, 8, 1] });
    const flat = tf.layers.globalAveragePooling2d({}).apply(input) as tf.SymbolicTensor;
    const a = tf.layers.dense({ units: 2 }).apply(flat) as tf.SymbolicTensor;
    const b = tf.layers.dense({ units: 3 }).apply(flat) as tf.SymbolicTensor;
    const two = tf.model({ inputs: input, outputs: [a, b] });
    const probe = tf.zeros([1, 8, 8, 1]) as tf.Tensor4D;
    expect(await onnxCropRunner(two, 'two-outputs', probe)).toBeUndefined();
    probe.dispose();
    two.dispose();
  });
});
