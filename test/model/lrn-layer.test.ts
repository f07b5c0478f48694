/**
 * ONNX's LRN as Convmap's layer, against values worked by hand from the operator's definition:
 * y[c] = x[c] / (bias + alpha / size · Σ x[c']²)^beta, c' from c − ⌊(size − 1)/2⌋ to c + ⌈(size − 1)/2⌉.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { OnnxLRN } from '../../main/model/lrn-layer';

/** The layer on one cell of channels [1, 2, 3]. */
function cell(size: number, alpha: number, beta: number, bias: number): number[] {
  return tf.tidy(() => Array.from((new OnnxLRN({ size, alpha, beta, bias }).apply(tf.tensor4d([1, 2, 3], [1, 1, 1, 3])) as tf.Tensor).dataSync()));
}

describe('LRN across channels', () => {
  it('an even size reaches one channel further up than down: sums 1+4, 4+9, 9', () => {
    const got = cell(2, 0.5, 0.75, 1);
    const want = [1 / (1 + 0.25 * 5) ** 0.75, 2 / (1 + 0.25 * 13) ** 0.75, 3 / (1 + 0.25 * 9) ** 0.75];
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
  });

  it('size 3 sums each channel with its neighbours: 1+4, 1+4+9, 4+9', () => {
    const got = cell(3, 0.3, 0.5, 2);
    const want = [1 / Math.sqrt(2 + 0.1 * 5), 2 / Math.sqrt(2 + 0.1 * 14), 3 / Math.sqrt(2 + 0.1 * 13)];
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
  });

  it('a size past every channel sums all 14, divided by the size given, also at a size of 10⁹ (in no more time)', () => {
    const got = cell(5, 0.5, 0.75, 1);
    got.forEach((v, i) => expect(v).toBeCloseTo((i + 1) / (1 + 0.1 * 14) ** 0.75, 6));
    const huge = cell(1e9, 2e9, 1, 1);
    huge.forEach((v, i) => expect(v).toBeCloseTo((i + 1) / (1 + 2 * 14), 6));
  });
});
