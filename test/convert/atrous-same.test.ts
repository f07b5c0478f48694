import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refineStride } from '../../main/convert/atrous';
import { convertClassifier, type Conversion } from '../../main/convert/convert';
import { randomImage, randomizeWeights, useWasm } from '../helpers/models';

const FILE = 'same.json';
const MARGIN = 3;
beforeAll(useWasm);
const made: tf.LayersModel[] = [];
afterAll(() => made.forEach((m) => m.dispose()));

/**
 * The oracle, independent of the rewrite and of shiftedPasses: for each phase (a, b) the network at
 * its own stride s on the image shifted by (a·S, b·S) and cut to window + m·s pixels (what a crop's
 * alignment is: the engine feeds window + k·stride pixels), its cells interleaved. With 'same'
 * padding a shifted pass pads zeros at its own edges where the one-pass map has real pixels, so only
 * cells MARGIN cells away from the shifted pass's edges are compared (the trunks below reach at most
 * 2.5 cells beyond a cell's window).
 * @returns [phase, interior cells compared, largest |rewrite − pass| relative to the largest |pass|]
 */
function againstShiftedCrops(coarse: Conversion, fine: tf.LayersModel, image: tf.Tensor4D, S: number): { cells: number; rel: number } {
  const [, h, w, c] = image.shape;
  const [wy, wx] = coarse.window;
  const s = coarse.stride[0];
  const k = s / S;
  const map = fine.predict(image) as tf.Tensor4D;
  const [, R, C, K] = map.shape;
  expect([R, C]).toEqual([Math.floor((h - wy) / S) + 1, Math.floor((w - wx) / S) + 1]);
  const got = map.dataSync();
  map.dispose();
  let maxDiff = 0;
  let scale = 0;
  let cells = 0;
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      const ph = wy + Math.floor((h - a * S - wy) / s) * s;
      const pw = wx + Math.floor((w - b * S - wx) / s) * s;
      const pass = tf.tidy(() => coarse.fcn.predict(image.slice([0, a * S, b * S, 0], [1, ph, pw, c])) as tf.Tensor4D);
      const [, r, q] = pass.shape;
      const want = pass.dataSync();
      pass.dispose();
      for (let i = MARGIN; i < r - MARGIN; i++) {
        for (let j = MARGIN; j < q - MARGIN; j++) {
          const at = ((i * k + a) * C + j * k + b) * K;
          for (let z = 0; z < K; z++) {
            maxDiff = Math.max(maxDiff, Math.abs(got[at + z] - want[(i * q + j) * K + z]));
            scale = Math.max(scale, Math.abs(want[(i * q + j) * K + z]));
          }
          cells++;
        }
      }
    }
  }
  return { cells, rel: maxDiff / scale };
}

function model(layers: tf.layers.Layer[], seed: number): tf.LayersModel {
  const m = tf.sequential({ layers });
  randomizeWeights(m, seed);
  made.push(m);
  return m;
}

const same = (filters: number, strides = 1, extra: Record<string, unknown> = {}): tf.layers.Layer =>
  tf.layers.conv2d({ filters, kernelSize: 3, strides, padding: 'same', activation: 'relu', ...extra });

/** tfjs pads a 'same' k = 3, s = 2 layer (0, 1) on an even input and (1, 1) on an odd one. */
const CASES: { name: string; window: number; build: (w: number) => tf.layers.Layer[] }[] = [
  {
    name: "'same' stride-2 convs on even inputs (24 → 12 → 6)",
    window: 24,
    build: (w) => [same(4, 1, { inputShape: [w, w, 3] }), same(6, 2), same(6), same(8, 2), same(8), tf.layers.flatten(), tf.layers.dense({ units: 5, activation: 'softmax' })],
  },
  {
    name: "'same' stride-2 convs on odd inputs (22 → 11 → 6), a 'same' 2×2 conv (pads (0, 1)) at the coarse end",
    window: 22,
    build: (w) => [
      same(4, 1, { inputShape: [w, w, 3] }), same(6, 2), same(6), same(8, 2),
      tf.layers.conv2d({ filters: 8, kernelSize: 2, padding: 'same', activation: 'relu' }), tf.layers.flatten(), tf.layers.dense({ units: 5, activation: 'softmax' }),
    ],
  },
  {
    name: 'MobileNetV2-like: ZeroPadding2D (0, 1) + valid stride-2 depthwise, same depthwise at stride 1, GAP head',
    window: 32,
    build: (w) => [
      same(4, 2, { inputShape: [w, w, 3] }), // 16
      tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]] }), tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, activation: 'relu' }), // 8
      tf.layers.conv2d({ filters: 6, kernelSize: 1, activation: 'relu' }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]] }), tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, activation: 'relu' }), // 4
      tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.globalAveragePooling2d({}), tf.layers.dense({ units: 4, activation: 'softmax' }),
    ],
  },
];

describe("stride rewrite of 'same'-padded networks keeps each phase aligned like a crop", () => {
  for (const [n, { name, window, build }] of CASES.entries()) {
    it(name, () => {
      const coarse = convertClassifier(model(build(window), 300 + n), FILE);
      made.push(coarse.fcn);
      const s = coarse.stride[0];
      for (const S of [s / 2, s / 4]) {
        const fine = refineStride(coarse, S, FILE);
        made.push(fine.fcn);
        // window + k·S with k even on one axis and odd on the other.
        const image = randomImage(window + 12 * s + 2 * S, window + 9 * s + S, 3, 77 + n);
        const { cells, rel } = againstShiftedCrops(coarse, fine.fcn, image, S);
        image.dispose();
        expect(cells, `interior cells compared at stride ${S}`).toBeGreaterThan(20);
        expect(rel, `stride ${S}`).toBeLessThan(1e-4);
      }
    });
  }
});
