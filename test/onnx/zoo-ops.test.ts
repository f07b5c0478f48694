/**
 * Operators that exporters other than PyTorch 1.13 write into classifiers: Caffe2's LRN and variadic
 * Sum (the ONNX model zoo's AlexNet, CaffeNet, GoogLeNet, ResNet50-caffe2), Mean, Max and Min (tf2onnx's
 * ReLU6 and clamps), and PyTorch 2's Gelu (opset 20) and Mish (opset 18). The fixtures are written
 * node by node by scripts/onnx_zoo_fixtures.py; the oracle is ONNX Runtime running each ORIGINAL file
 * on the crop of every cell.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AttributeType, decodeModel } from '../../main/onnx/proto';
import { exportConverted } from '../../main/onnx/convert';
import { prepareModel } from '../../main/services/models';
import { cliSandbox } from '../helpers/cli';
import { ortRun } from './helpers';
import { useWasm } from '../helpers/models';
import { cellsAgainstCrops, convert, originalScores, relDiff } from './helpers';

beforeAll(useWasm);

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** The operator types of an ONNX model's graph, in order. */
function opTypes(bytes: Uint8Array): string[] {
  return decodeModel(bytes).graph.node.map((n) => n.opType);
}

describe('operators of Caffe2, tf2onnx and PyTorch 2 exports', () => {
  const cases = [
    { name: 'caffe2_lrn_sum', ops: ['LRN', 'Sum', 'Mean', 'Max', 'Min'], what: 'Caffe2: LRN of sizes 5 and 3, a Sum of three, Mean, Max of two maps, Min with a constant per channel' },
    { name: 'relu6_minmax', ops: ['Max', 'Min'], what: 'tf2onnx: Min(Max(x, 0), 6), Max(Min(x, 6), 0), Max(x, 0.5)' },
    { name: 'gelu_mish_o20', ops: ['Gelu', 'Mish'], what: 'opset 20: Gelu exact and tanh, Mish' },
  ];
  for (const c of cases) {
    it(`${c.what}: every cell equals the original file on its crop`, async () => {
      const file = path.join(fixtures, `${c.name}.onnx`);
      const source = opTypes(new Uint8Array(await readFile(file)));
      for (const op of c.ops) expect(source).toContain(op);
      const { diffs } = await cellsAgainstCrops(file, file, 'nchw', 3);
      expect(diffs).toHaveLength(9);
      expect(Math.max(...diffs)).toBeLessThan(1e-4);
    }, 60_000);
  }

  it('the converted Caffe2 model keeps ONNX\'s LRN with its attributes, and ReLU6 of a non-negative map becomes one Clip', async () => {
    const lrn = await convert(path.join(fixtures, 'caffe2_lrn_sum.onnx'));
    const graph = decodeModel(lrn.bytes).graph;
    const norms = graph.node.filter((n) => n.opType === 'LRN').map((n) => Object.fromEntries(n.attribute.map((a) => [a.name, a.type === AttributeType.INT ? a.i : +(a.f ?? 0).toFixed(6)])));
    expect(norms).toEqual([{ size: 5, alpha: 0.01, beta: 0.75, bias: 1 }, { size: 3, alpha: 0.02, beta: 0.5, bias: 2 }]);
    // Min(Max(x, 0), 6): Max with 0 is a ReLU, and Min of that non-negative map with 6 a ReLU capped at 6.
    const relu6 = await convert(path.join(fixtures, 'relu6_minmax.onnx'));
    const ops = opTypes(relu6.bytes);
    expect(ops.filter((o) => o === 'Clip').length).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('guesses Caffe\'s preprocessing (BGR, ImageNet mean subtracted) for a colour file whose producer is onnx-caffe2, as the zoo\'s, and [0, 1] for another producer\'s', async () => {
    const caffe = await prepareModel(path.join(fixtures, 'caffe2_lrn_sum.onnx'));
    expect(caffe.info.preprocess).toBe('caffe');
    expect(caffe.info.preprocessGuess?.why).toMatch(/^guessed: a Caffe model \(producer "onnx-caffe2"\), Caffe's BGR 0–255 with the ImageNet mean subtracted/);
    expect(caffe.info.preprocessGuess?.uncertain).toBe(true);
    expect((await prepareModel(path.join(fixtures, 'relu6_minmax.onnx'))).info.preprocess).toBe('unit');
  }, 60_000);

  it('guesses a tf2onnx export\'s preprocessing from the keras.applications trunk its node names hold (MobileNetV2: [-1, 1])', async () => {
    const prepared = await prepareModel(path.join(fixtures, 'tf2onnx_trunk.onnx'));
    expect(prepared.info.preprocess).toBe('signed');
    expect(prepared.info.preprocessGuess?.why).toBe('guessed from the nested keras.applications trunk \'mobilenetv2_1.00_224\' (named in the graph\'s nodes; ONNX files state no preprocessing; --preprocess settles it)');
    // The same graph is a valid NHWC classifier: its cells are the file's on their crops.
    const { diffs } = await cellsAgainstCrops(path.join(fixtures, 'tf2onnx_trunk.onnx'), path.join(fixtures, 'tf2onnx_trunk.onnx'), 'nhwc', 2);
    expect(Math.max(...diffs)).toBeLessThan(1e-4);
  }, 60_000);

  it('reads the range a graph that scales its own input wants from its constants: ImageNet\'s mean/std of [0, 1] → unit (not imagenet again), x / 255 → raw', async () => {
    const imagenet = await prepareModel(path.join(fixtures, 'scaled_imagenet.onnx'));
    expect(imagenet.info.preprocess).toBe('unit');
    // (x − 0.485) / 0.229 = 4.367 x − 2.118 for red; the same for green and blue with their own statistics.
    expect(imagenet.info.preprocessGuess?.why).toBe('guessed: the graph scales its input itself (/normalize/Sub, /normalize/Div: x · scale + offset, scale 4.367/4.464/4.444, offset -2.118/-2.036/-1.804), which fits pixel values in 0–1 (ONNX files state no preprocessing; --preprocess settles it)');
    // (x / 255 − 0.5) / 0.5 = x / 127.5 − 1.
    const raw = await prepareModel(path.join(fixtures, 'scaled_255.onnx'));
    expect(raw.info.preprocess).toBe('raw');
    expect(raw.info.preprocessGuess?.why).toMatch(/scale 0\.007843, offset -1\), which fits pixel values in 0–255/);
  }, 60_000);

  it('a 1001-class model without labels (TensorFlow-slim\'s ImageNet classifiers) gets a background class and ImageNet\'s names', async () => {
    const prepared = await prepareModel(path.join(fixtures, 'slim_1001.onnx'), { preprocess: 'unit' });
    expect(prepared.info.labels).toHaveLength(1001);
    expect([prepared.info.labels[0], prepared.info.labels[1], prepared.info.labels[1000]]).toEqual(['background', 'tench', 'toilet tissue']);
    expect(prepared.info.head.join('\n')).toMatch(/labels from a background class and ImageNet's 1000 class names/);
  }, 60_000);

  const refusals = [
    { name: 'refuse_max3', what: 'a Max of two maps and a constant at once', message: /node "[^"]*" \(Max\): Max of 2 computed tensor\(s\) and 1 constant\(s\) at once/ },
    { name: 'refuse_attention', what: 'a vision transformer (scripts/onnx_fixtures.py attention), at its attention and not at a reshape of tokens before it', message: /node "[^"]*MatMul[^"]*" \(MatMul\): MatMul of two tensors computed from the image \(attention\): a vision transformer, not a convolutional classifier that can slide/ },
    { name: 'refuse_group_norm', what: 'a GroupNorm network (exported as InstanceNormalization between Reshapes), at the norm and not at its Reshape', message: /node "[^"]*" \(InstanceNormalization\): InstanceNormalization normalises each channel group over the whole feature map .*cannot slide$/ },
    { name: 'refuse_lrn_if', what: 'PyTorch\'s nn.LocalResponseNorm (scripts/onnx_fixtures.py refuselrn) at its If, as a branch and not as a sequence model', message: /node "[^"]*If[^"]*" \(If\): If chooses a branch while the graph runs \(PyTorch writes one in nn\.LocalResponseNorm and in checks of a shape\): Convmap rewrites graphs without control flow$/ },
    { name: 'refuse_int8', what: 'an integer-quantised graph', message: /node "[^"]*" \(QuantizeLinear\): QuantizeLinear: an integer-quantised model; .*open the float32 export/ },
  ];
  for (const r of refusals) {
    it(`refuses ${r.what} in one line naming the file and the node`, async () => {
      const file = path.join(fixtures, `${r.name}.onnx`);
      const err = await prepareModel(file).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      const message = (err as Error).message;
      expect(message.startsWith(file)).toBe(true);
      expect(message).toMatch(r.message);
      expect(message).not.toContain('\n');
    });
  }

  const cli = cliSandbox('convmap-zoo-ops-', { CONVMAP_BACKEND: undefined });
  it('a converted folder holding LRN runs on the tfjs engine (its worker threads know the layer) with the scores ONNX Runtime gives', async () => {
    const folder = path.join(cli.dir, 'caffe2');
    expect((await cli.convmap('convert', path.join(fixtures, 'caffe2_lrn_sum.onnx'), '-o', folder)).code).toBe(0);
    const photo = path.join(cli.dir, 'noise.png');
    const pixels = Buffer.from(Array.from({ length: 60 * 50 * 3 }, (_, i) => (i * 97 + (i >> 7) * 31) % 256));
    await writeFile(photo, await sharp(pixels, { raw: { width: 60, height: 50, channels: 3 } }).png().toBuffer());
    // A background class: the grid holds every cell's scores (a closed-set model's would hold only the cells it passes).
    const labels = path.join(cli.dir, 'labels.txt');
    await writeFile(labels, 'background\na\nb\nc\nd\n');
    const grids: Record<string, Float32Array> = {};
    for (const backend of ['wasm', 'onnx']) {
      const r = await cli.convmap('heatmap', folder, photo, '--out', path.join(cli.dir, backend), '--backend', backend, '--scales', '1', '--scores', 'full', '--labels', labels, '--no-cache');
      expect(r.stderr).not.toMatch(/Unknown layer/);
      expect(r.code).toBe(0);
      // A .npy file, version 1: magic, version, header length (uint16 LE), header, then float32 LE.
      const npy = await readFile(path.join(cli.dir, backend, 'noise.scores.npy'));
      const body = 10 + npy.readUInt16LE(8);
      grids[backend] = new Float32Array(npy.buffer.slice(npy.byteOffset + body, npy.byteOffset + npy.byteLength));
    }
    // The averaged grid of 5 classes, the same cells from both engines.
    expect(grids.wasm.length % 5).toBe(0);
    expect(grids.wasm.length).toBe(grids.onnx.length);
    expect(Math.max(...grids.wasm)).toBeGreaterThan(0.3);
    grids.wasm.forEach((v, i) => expect(Math.abs(v - grids.onnx[i])).toBeLessThan(1e-4));
  }, 120_000);
});

describe('pads computed from the input size (timm\'s Conv2dSame, F.pad): folded at the window', () => {
  /** The converted model's one cell on a window-sized random image, against the original file on the same image. */
  async function oneCell(file: string, window?: number): Promise<number> {
    const prepared = await prepareModel(file, { preprocess: 'unit', ...(window ? { window } : {}) });
    const { bytes } = await exportConverted(prepared.artifacts, prepared.info, file);
    const [h, w] = prepared.info.window;
    const image = tf.randomUniform([1, h, w, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
    const pixels = Float32Array.from(image.dataSync());
    const got = await ortRun(bytes, image);
    image.dispose();
    expect(got.dims.slice(0, 3)).toEqual([1, 1, 1]);
    const [want] = await originalScores(file, [pixels], [h, w, 3], 'nchw');
    return relDiff(got.data, want);
  }

  it('a fixed 32×32 graph (ConstantOfShape, a pad table reversed by Slice, Cast): its window-sized cell is the file\'s score', async () => {
    const source = opTypes(new Uint8Array(await readFile(path.join(fixtures, 'pad_same.onnx'))));
    for (const op of ['ConstantOfShape', 'Slice', 'Pad', 'Cast']) expect(source).toContain(op);
    expect(await oneCell(path.join(fixtures, 'pad_same.onnx'))).toBeLessThan(1e-5);
  }, 60_000);

  it('a free-size input resized inside to 32×32 gets that window (as a Keras Resizing after the input does): every cell is its crop; another window, or a fixed 48×48 input, is refused', async () => {
    const file = path.join(fixtures, 'resize_free.onnx');
    const prepared = await prepareModel(file, { preprocess: 'unit' });
    expect(prepared.info.window).toEqual([32, 32]);
    expect(prepared.info.head.join('\n')).toMatch(/input "data" has a free height and width: the window is 32×32, the size the graph resizes it to/);
    const { diffs } = await cellsAgainstCrops(file, file, 'nchw', 3);
    expect(Math.max(...diffs)).toBeLessThan(1e-4);
    const other = await prepareModel(file, { window: 64 }).catch((e: Error) => e);
    expect((other as Error).message).toMatch(/\(Resize\): resizes the image from 64×64 to 32×32: the classifier does not look at the photo pixel for pixel, so its cells could not be its crops$/);
    const fixed = await prepareModel(path.join(fixtures, 'resize_fixed.onnx')).catch((e: Error) => e);
    expect((fixed as Error).message).toMatch(/\(Resize\): resizes the image from 48×48 to 32×32: the classifier does not look at the photo pixel for pixel, so its cells could not be its crops$/);
  }, 60_000);

  it('a free-size graph traced at 32: refused at the default 224 saying --window gives the training size; at --window 32 its cell is the file\'s', async () => {
    const file = path.join(fixtures, 'pad_same_dynamic.onnx');
    const err = await prepareModel(file).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/\(Pad\): pads \[.*\] beyond height and width \(the window was taken as 224×224 for the free height and width: --window gives the size it was trained at\)$/);
    expect(await oneCell(file, 32)).toBeLessThan(1e-5);
  }, 60_000);
});
