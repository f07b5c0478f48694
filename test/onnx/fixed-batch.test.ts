/**
 * An ONNX classifier traced at a fixed batch (a training script's data-loader batch, exported without
 * dynamic axes): its input is [4, 3, 32, 32] and the exporter folded `x.view(x.size(0), -1)` to a
 * Reshape to [4, -1]. The fixture is written by `scripts/onnx_fixtures.py fixedbatch`; the oracle is
 * ONNX Runtime running the ORIGINAL file on the four crops of a 2×2-cell image as its one batch.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasm } from '../helpers/models';
import { convert, crop, ortRun, relDiff } from './helpers';

beforeAll(useWasm);

const file = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'fixed_batch4.onnx');

describe('an ONNX file traced at a fixed batch of 4', () => {
  it('converts; each of the 2×2 cells equals the original file on its crop, the four crops run as the file\'s batch', async () => {
    const { bytes, info } = await convert(file);
    expect(info.window).toEqual([32, 32]);
    const [sy, sx] = info.stride;
    const [H, W] = [32 + sy, 32 + sx];
    const image = tf.tidy(() => tf.randomUniform([1, H, W, 3], 0, 1, 'float32', 7) as tf.Tensor4D);
    const pixels = image.dataSync() as Float32Array;
    const got = await ortRun(bytes, image);
    image.dispose();
    expect(got.dims.slice(1, 4)).toEqual([2, 2, 4]);

    // The original: one run of [4, 3, 32, 32], crops in row-major cell order, NCHW.
    const batch = new Float32Array(4 * 3 * 32 * 32);
    const crops = [[0, 0], [0, sx], [sy, 0], [sy, sx]].map(([top, left]) => crop(pixels, W, 3, top, left, 32, 32));
    crops.forEach((c, n) => {
      for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) for (let k = 0; k < 3; k++) batch[((n * 3 + k) * 32 + y) * 32 + x] = c[(y * 32 + x) * 3 + k];
    });
    const session = await ort.InferenceSession.create(file);
    try {
      const out = await session.run({ input: new ort.Tensor('float32', batch, [4, 3, 32, 32]) });
      const want = out[session.outputNames[0]].data as Float32Array;
      for (let n = 0; n < 4; n++) expect(relDiff(got.data.subarray(n * 4, n * 4 + 4), want.subarray(n * 4, n * 4 + 4))).toBeLessThan(1e-4);
    } finally {
      await session.release();
    }
  }, 60_000);
});
