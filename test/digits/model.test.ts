import { readFileSync, statSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClassifier } from '../../main/model/load';
import { DIGIT_PIXELS, loadDigits } from '../../main/digits/mnist-data';
import { DIGIT_BACKGROUND_CLASS, digitLabels, loadDigitModelFiles, resizeBilinear } from '../../main/digits/scene';

let model: tf.LayersModel;

beforeAll(async () => {
  await tf.setBackend('cpu');
  model = (await loadClassifier((await loadDigitModelFiles()).modelJson)).model;
});

afterAll(() => {
  model?.dispose();
});

/** Predicted class of each 28×28 window (count · 784 floats), without leaking tensors. */
function classify(windows: Float32Array): Int32Array {
  const n = windows.length / DIGIT_PIXELS;
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => (model.predict(tf.tensor4d(windows, [n, 28, 28, 1])) as tf.Tensor).argMax(-1).dataSync() as Int32Array);
  expect(tf.memory().numTensors).toBe(before);
  return out;
}

/** A copy of a 28×28 image moved by (dy, dx) pixels, zeros shifted in. */
function shifted(img: Float32Array, dy: number, dx: number): Float32Array {
  const out = new Float32Array(DIGIT_PIXELS);
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const sy = y - dy, sx = x - dx;
      if (sy >= 0 && sy < 28 && sx >= 0 && sx < 28) out[y * 28 + x] = img[sy * 28 + sx];
    }
  }
  return out;
}

/** The image shrunk by `factor` about its centre onto a 28×28 black window. */
function shrunk(img: Float32Array, size: number): Float32Array {
  const small = resizeBilinear(img, 28, size);
  const out = new Float32Array(DIGIT_PIXELS);
  const o = Math.floor((28 - size) / 2);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) out[(y + o) * 28 + x + o] = small[y * size + x];
  return out;
}

describe('built-in digit model', () => {
  it('is a small valid-padding tfjs layers model: 28×28×1 in, 11 softmax classes out', async () => {
    const files = await loadDigitModelFiles();
    const json = JSON.parse(readFileSync(files.modelJson, 'utf8')) as { format: string; modelTopology: { config: { layers: { class_name: string; config: { padding?: string } }[] } } };
    expect(json.format).toBe('layers-model');
    for (const layer of json.modelTopology.config.layers) {
      if (layer.config.padding !== undefined) expect(layer.config.padding).toBe('valid');
    }
    expect(statSync(files.weights).size).toBeLessThan(1_000_000);
    expect(model.inputs[0].shape).toEqual([null, 28, 28, 1]);
    expect(model.outputs[0].shape).toEqual([null, digitLabels.length]);
    expect(digitLabels[DIGIT_BACKGROUND_CLASS]).toBe('background');
  });

  it('classifies held-out centred digits with accuracy ≥ 0.95', () => {
    const before = tf.memory().numTensors;
    const held = loadDigits('heldout');
    const pred = classify(held.images);
    let correct = 0;
    for (let i = 0; i < held.count; i++) if (pred[i] === held.labels[i]) correct++;
    const accuracy = correct / held.count;
    console.log(`held-out accuracy: ${accuracy.toFixed(4)} (${correct}/${held.count})`);
    expect(accuracy).toBeGreaterThanOrEqual(0.95);
    // Digits are classes 0–9 only: a centred digit is rarely called background.
    expect(pred.filter((p) => p === DIGIT_BACKGROUND_CLASS).length / held.count).toBeLessThan(0.03);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('calls blank, dim and noisy windows background', () => {
    const before = tf.memory().numTensors;
    const n = 20;
    const windows = new Float32Array(n * DIGIT_PIXELS);
    let seed = 1;
    const rand = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let k = 1; k < n; k++) {
      const level = k < 10 ? k * 0.02 : 0;
      for (let p = 0; p < DIGIT_PIXELS; p++) windows[k * DIGIT_PIXELS + p] = k < 10 ? level : rand() * 0.15;
    }
    const pred = classify(windows);
    expect(pred[0]).toBe(DIGIT_BACKGROUND_CLASS);
    expect(pred.filter((p) => p === DIGIT_BACKGROUND_CLASS).length).toBeGreaterThanOrEqual(n - 1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('calls strongly off-centre and much too small digits background, mostly', () => {
    const before = tf.memory().numTensors;
    const held = loadDigits('heldout');
    const picks = Array.from({ length: 100 }, (_, k) => Math.floor((k * held.count) / 100));
    const moves: [number, number][] = [[0, 12], [0, -12], [12, 0], [-12, 0], [10, 10], [-14, 8]];
    const off = new Float32Array(picks.length * moves.length * DIGIT_PIXELS);
    const small = new Float32Array(picks.length * DIGIT_PIXELS);
    picks.forEach((i, k) => {
      const img = held.images.subarray(i * DIGIT_PIXELS, (i + 1) * DIGIT_PIXELS);
      moves.forEach(([dy, dx], m) => off.set(shifted(img, dy, dx), (k * moves.length + m) * DIGIT_PIXELS));
      small.set(shrunk(img, 14), k * DIGIT_PIXELS);
    });
    const offRate = classify(off).filter((p) => p === DIGIT_BACKGROUND_CLASS).length / (picks.length * moves.length);
    const smallRate = classify(small).filter((p) => p === DIGIT_BACKGROUND_CLASS).length / picks.length;
    console.log(`background rate: off-centre by 12–16 px ${offRate.toFixed(3)}, half size ${smallRate.toFixed(3)}`);
    expect(offRate).toBeGreaterThanOrEqual(0.9);
    expect(smallRate).toBeGreaterThanOrEqual(0.8);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('still recognises digits shifted by up to 2 px (the stride grid is not aligned)', () => {
    const held = loadDigits('heldout');
    const picks = Array.from({ length: 200 }, (_, k) => Math.floor((k * held.count) / 200));
    const windows = new Float32Array(picks.length * DIGIT_PIXELS);
    picks.forEach((i, k) => {
      const dy = (k % 5) - 2, dx = ((k >> 2) % 5) - 2;
      windows.set(shifted(held.images.subarray(i * DIGIT_PIXELS, (i + 1) * DIGIT_PIXELS), dy, dx), k * DIGIT_PIXELS);
    });
    const pred = classify(windows);
    const accuracy = picks.filter((i, k) => pred[k] === held.labels[i]).length / picks.length;
    expect(accuracy).toBeGreaterThanOrEqual(0.9);
  });
});
