/**
 * The crop check of an ONNX file has the ORIGINAL file, run by ONNX Runtime, as its oracle, never the
 * tfjs rebuild the converter works on. Independent oracles: PyTorch's own scores saved beside the
 * fixtures (scripts/onnx_fixtures.py), and a bare onnxruntime-node session on the file opened here.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { checkEquivalence, smoothRandomImage } from '../../main/convert/equivalence';
import { loadClassifier } from '../../main/model/load';
import { originalCropRunner } from '../../main/model/onnx/original';
import { useWasm } from '../helpers/models';

beforeAll(useWasm);

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

interface Saved { inputShape: number[]; input: number[]; outputShape: number[]; output: number[] }

describe('the original file in ONNX Runtime as the crop runner', () => {
  const cases = [
    { name: 'flat_head_logsoftmax', layout: 'nchw', exp: true, what: 'a fixed batch of 2 (fed one crop, padded), LogSoftmax (exp taken)' },
    { name: 'gap_argmax_uint8', layout: 'nchw', exp: false, what: 'a uint8 input and a stripped ArgMax (the scores it reads)' },
    { name: 'flat_input_float64', layout: 'flat', exp: false, what: 'a flat float64 [N, 784] input' },
    { name: 'squeeze_excite_sigmoid', layout: 'nchw', exp: false, what: 'an NCHW float32 input' },
  ];
  for (const f of cases) {
    it(`${f.what}: its scores of channels-last crops are PyTorch's`, async () => {
      const saved = JSON.parse(await fs.readFile(path.join(fixtures, `${f.name}.json`), 'utf8')) as Saved;
      const classifier = await loadClassifier(path.join(fixtures, `${f.name}.onnx`));
      // The window and channels of the rebuild's channels-last input.
      const [, h, w, c] = classifier.model.inputs[0].shape as number[];
      classifier.model.dispose();
      const original = classifier.onnx!.original;
      const nhwc = new Float32Array(h * w * c);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) nhwc[(y * w + x) * c + k] = saved.input[f.layout === 'nchw' ? (k * h + y) * w + x : (y * w + x) * c + k];
      const runner = await originalCropRunner(original);
      try {
        const crops = tf.tensor4d(nhwc, [1, h, w, c]);
        const got = await runner.predict(crops);
        crops.dispose();
        const classes = saved.outputShape[1];
        expect(got.shape).toEqual([1, classes]);
        const want = saved.output.slice(0, classes).map((v) => (f.exp ? Math.exp(v) : v));
        const data = got.dataSync();
        got.dispose();
        for (let k = 0; k < classes; k++) expect(data[k]).toBeCloseTo(want[k], 5);
      } finally {
        await runner.release();
      }
    }, 60_000);
  }
});

describe('the crop check of an ONNX file', () => {
  it('compares the converted model with the original file on each crop: a rebuild that drifts from the file is caught (the rebuild\'s own crops would agree with it)', async () => {
    const file = path.join(fixtures, 'squeeze_excite_sigmoid.onnx');
    const classifier = await loadClassifier(file);
    // The rebuild drifts from the file: its last Dense scaled by 1.05, as a rewrite bug would.
    const dense = classifier.model.layers.filter((l) => l.getClassName() === 'Dense').at(-1)!;
    dense.setWeights(dense.getWeights().map((t) => tf.mul(t, 1.05)));
    const conv = convertClassifier(classifier.model, file);
    const runner = await originalCropRunner(classifier.onnx!.original);
    const [wy, wx] = conv.window;
    const [sy, sx] = conv.stride;
    let report;
    try {
      report = await checkEquivalence(classifier.model, conv, file, { cellsPerAxis: 3, predictCrops: runner.predict });
    } finally {
      await runner.release();
    }
    // The same check image, its cells by the converted model, its crops by a bare session on the file.
    const [H, W] = [wy + 2 * sy, wx + 2 * sx];
    const image = smoothRandomImage(H, W, 3, 42);
    const cells = tf.tidy(() => (conv.fcn.predict(image) as tf.Tensor).dataSync() as Float32Array);
    const pixels = image.dataSync();
    image.dispose();
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
    let maxAbs = 0;
    let selfMax = 0;
    try {
      for (let r = 0; r < 3; r++) {
        for (let q = 0; q < 3; q++) {
          const nchw = new Float32Array(3 * wy * wx);
          for (let y = 0; y < wy; y++) for (let x = 0; x < wx; x++) for (let k = 0; k < 3; k++) nchw[(k * wy + y) * wx + x] = pixels[((r * sy + y) * W + q * sx + x) * 3 + k];
          const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', nchw, [1, 3, wy, wx]) });
          const want = out[session.outputNames[0]].data as Float32Array;
          const crop = tf.tidy(() => tf.tensor4d(nchw, [1, 3, wy, wx]).transpose([0, 2, 3, 1]));
          const mine = tf.tidy(() => (classifier.model.predict(crop) as tf.Tensor).dataSync());
          crop.dispose();
          for (let k = 0; k < want.length; k++) {
            const cell = cells[(r * 3 + q) * want.length + k];
            maxAbs = Math.max(maxAbs, Math.abs(cell - want[k]));
            selfMax = Math.max(selfMax, Math.abs(cell - mine[k]));
          }
        }
      }
    } finally {
      await session.release();
      conv.fcn.dispose();
      classifier.model.dispose();
    }
    // The drift shows against the file; against the drifted rebuild's own crops it would not.
    expect(maxAbs).toBeGreaterThan(1e-3);
    expect(selfMax).toBeLessThan(1e-5);
    expect(report.maxAbsDiff).toBeCloseTo(maxAbs, 5);
    expect(report.grade).not.toBe('exact');
  }, 60_000);
});
