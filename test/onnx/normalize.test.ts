/**
 * `normalize:MEAN/STD` preprocessing (torchvision's ToTensor then Normalize with the model's own
 * statistics): the engine's scores of a window-sized photo equal a bare ONNX Runtime session on the
 * ORIGINAL file fed the photo normalised here by hand; and 'unit' does not (the test can fail).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../main/engine/engine';
import { prepareModel } from '../../main/services/models';
import type { PreprocessMode } from '../../core/model-info';
import type { RgbImage } from '../../main/io/decode';
import { seededRandom } from '../../core/random';
import { cliSandbox } from '../helpers/cli';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** A size×size photo of seeded random pixels; grey (r = g = b) when asked, so a 1-channel model's luma is the pixel value itself. */
function photo(size: number, grey: boolean, seed: number): RgbImage {
  const rnd = seededRandom(seed);
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    for (let c = 0; c < 3; c++) data[i * 3 + c] = grey && c > 0 ? data[i * 3] : Math.floor(rnd() * 256);
  }
  return { data, width: size, height: size, channels: 3 };
}

const cli = cliSandbox('convmap-normalize-');

describe('normalize:MEAN/STD preprocessing against ONNX Runtime on the original file', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({ backend: 'onnx' });
  });
  afterAll(async () => {
    await engine?.close();
  });

  async function engineScores(file: string, img: RgbImage, preprocess: PreprocessMode): Promise<number[]> {
    const prepared = await prepareModel(file, { preprocess });
    expect(prepared.info.preprocess).toBe(preprocess);
    const handle = await engine.loadModel(prepared.artifacts, prepared.info);
    try {
      const [map] = await engine.scoreMaps(handle, img, [1]);
      expect([map.rows, map.cols]).toEqual([1, 1]);
      return Array.from(map.scores.subarray(0, map.classes));
    } finally {
      engine.releaseModel(handle);
    }
  }

  it('three channels, per-channel statistics (CIFAR-10\'s): every class of the one cell', async () => {
    const file = path.join(fixtures, 'squeeze_excite_sigmoid.onnx');
    const size = 24;
    const img = photo(size, false, 3);
    const mean = [0.4914, 0.4822, 0.4465];
    const std = [0.247, 0.2435, 0.2616];
    const nchw = new Float32Array(3 * size * size);
    for (let c = 0; c < 3; c++) for (let p = 0; p < size * size; p++) nchw[c * size * size + p] = (img.data[p * 3 + c] / 255 - mean[c]) / std[c];
    const session = await ort.InferenceSession.create(file);
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', nchw, [1, 3, size, size]) });
    const want = Array.from(out[session.outputNames[0]].data as Float32Array);
    await session.release();
    const got = await engineScores(file, img, 'normalize:0.4914,0.4822,0.4465/0.247,0.2435,0.2616');
    expect(got).toHaveLength(want.length);
    for (let k = 0; k < want.length; k++) expect(got[k]).toBeCloseTo(want[k], 5);
    const unit = await engineScores(file, img, 'unit');
    expect(Math.max(...unit.map((v, k) => Math.abs(v - want[k])))).toBeGreaterThan(1e-3);
  }, 60_000);

  it('one channel, one value each (MNIST\'s 0.1307 / 0.3081), a float64 flat input', async () => {
    const file = path.join(fixtures, 'flat_input_float64.onnx');
    const img = photo(28, true, 5);
    const flat = new Float64Array(28 * 28);
    for (let p = 0; p < 28 * 28; p++) flat[p] = (img.data[p * 3] / 255 - 0.1307) / 0.3081;
    const session = await ort.InferenceSession.create(file);
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float64', flat, [1, 784]) });
    const want = Array.from(out[session.outputNames[0]].data as Float32Array | Float64Array, Number);
    await session.release();
    const got = await engineScores(file, img, 'normalize:0.1307/0.3081');
    expect(got).toHaveLength(want.length);
    const scale = Math.max(1, ...want.map(Math.abs));
    for (let k = 0; k < want.length; k++) expect(Math.abs(got[k] - want[k]) / scale).toBeLessThan(1e-4);
    const unit = await engineScores(file, img, 'unit');
    expect(Math.max(...unit.map((v, k) => Math.abs(v - want[k])))).toBeGreaterThan(1e-3);
  }, 60_000);
});

describe('a normalize: mode stated in an ONNX file\'s metadata', () => {
  it('is taken, in canonical form, as the stated preprocessing (any spelling the CLI reads)', async () => {
    // metadata_props is ModelProto's field 14 (StringStringEntryProto: key = 1, value = 2); a field
    // appended to a message's bytes is read as part of it, so the entry is encoded here by hand.
    const entry = (key: string, value: string): Buffer => {
      const k = Buffer.from(key);
      const v = Buffer.from(value);
      const body = Buffer.concat([Buffer.from([0x0a, k.length]), k, Buffer.from([0x12, v.length]), v]);
      return Buffer.concat([Buffer.from([(14 << 3) | 2, body.length]), body]);
    };
    const file = path.join(cli.dir, 'stated.onnx');
    await fs.writeFile(file, Buffer.concat([await fs.readFile(path.join(fixtures, 'flat_input_float64.onnx')), entry('convmap.preprocess', 'normalize: 0.13070 / .3081')]));
    const prepared = await prepareModel(file);
    expect(prepared.info.preprocess).toBe('normalize:0.1307/0.3081');
    // Without the entry the same graph's preprocessing is a guess: `ink`, for a grey 28×28 input.
    const plain = await prepareModel(path.join(fixtures, 'flat_input_float64.onnx'));
    expect(plain.info.preprocess).toBe('ink');
    expect(plain.info.preprocessGuess?.uncertain).toBe(true);
  }, 60_000);
});

describe('convmap convert --preprocess normalize:…', () => {
  it('remembers the mode in the saved folder\'s convmap.json, in canonical form, and heatmap on the folder uses it', async () => {
    const out = path.join(cli.dir, 'fcn');
    const convert = await cli.convmap('convert', path.join(fixtures, 'flat_input_float64.onnx'), '-o', out, '--preprocess', 'normalize: 0.13070 / .3081');
    expect(convert.code).toBe(0);
    expect(convert.stdout).toMatch(/^preprocess\s+normalize:0\.1307\/0\.3081$/m);
    const sidecar = JSON.parse(await fs.readFile(path.join(out, 'convmap.json'), 'utf8')) as { preprocess: string };
    expect(sidecar.preprocess).toBe('normalize:0.1307/0.3081');
    const photoFile = path.join(cli.dir, 'grey.png');
    const img = photo(28, true, 9);
    await sharp(Buffer.from(img.data), { raw: { width: 28, height: 28, channels: 3 } }).png().toFile(photoFile);
    const heat = await cli.convmap('heatmap', out, photoFile, '--out', path.join(cli.dir, 'maps'), '--scores', 'summary', '--scales', '1', '--quiet');
    expect(heat.code).toBe(0);
    const scores = JSON.parse(await fs.readFile(path.join(cli.dir, 'maps', 'grey.scores.json'), 'utf8')) as { preprocess: string };
    expect(scores.preprocess).toBe('normalize:0.1307/0.3081');
  }, 120_000);

  it('reads a hand-written convmap.json\'s normalize: mode in any spelling, and refuses one that is no mode in one line naming the file', async () => {
    const out = path.join(cli.dir, 'fcn-hand');
    expect((await cli.convmap('convert', path.join(fixtures, 'flat_input_float64.onnx'), '-o', out, '--preprocess', 'unit')).code).toBe(0);
    const sidecarFile = path.join(out, 'convmap.json');
    const sidecar = JSON.parse(await fs.readFile(sidecarFile, 'utf8')) as Record<string, unknown>;
    const photoFile = path.join(cli.dir, 'grey-hand.png');
    const img = photo(28, true, 11);
    await sharp(Buffer.from(img.data), { raw: { width: 28, height: 28, channels: 3 } }).png().toFile(photoFile);

    await fs.writeFile(sidecarFile, JSON.stringify({ ...sidecar, preprocess: 'normalize: 0.13070 / .3081' }));
    const ok = await cli.convmap('heatmap', out, photoFile, '--out', path.join(cli.dir, 'maps-hand'), '--scores', 'summary', '--scales', '1', '--quiet', '--no-cache');
    expect(ok.code).toBe(0);
    const scores = JSON.parse(await fs.readFile(path.join(cli.dir, 'maps-hand', 'grey-hand.scores.json'), 'utf8')) as { preprocess: string };
    expect(scores.preprocess).toBe('normalize:0.1307/0.3081');

    await fs.writeFile(sidecarFile, JSON.stringify({ ...sidecar, preprocess: 'sepia' }));
    const bad = await cli.convmap('heatmap', out, photoFile, '--out', path.join(cli.dir, 'maps-bad'), '--quiet', '--no-cache');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toEqual([`convmap: ${sidecarFile}: preprocess: unknown preprocessing "sepia": expected one of raw, unit, signed, inverted, ink, imagenet, caffe or normalize:MEAN/STD (of x / 255, one value or three R,G,B values each)`]);
  }, 120_000);
});
