/**
 * ONNX classifiers from other exporters: opened, rewritten as sliding models and exported as ONNX.
 * The oracle is ONNX Runtime running the ORIGINAL file on crops (and, for the fixtures, PyTorch's
 * own output saved next to them by scripts/onnx_fixtures.py), never the code under test.
 */
import { promises as fs, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIDECAR, saveConverted } from '../../main/convert/save';
import { exportConverted } from '../../main/onnx/convert';
import { AttributeType, DataType, encodeModel, type AttributeProto } from '../../main/onnx/proto';
import { prepareModelInWorker } from '../../main/services/threads/convert-thread';
import { prepareModel } from '../../main/services/models';
import { useWasm } from '../helpers/models';
import { cellsAgainstCrops, convert, ortRun, relDiff } from './helpers';

beforeAll(useWasm);

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, 'fixtures');
const corpus = path.resolve(here, '../../../shared/corpus/models');
const noCorpus = existsSync(corpus) ? null : `${corpus} is absent`;
if (noCorpus) console.log(`skipped: the corpus ONNX tests (${noCorpus})`);


describe('ONNX files from the corpus (PyTorch, tf2onnx, keras2onnx, CNTK)', () => {
  const valid = [
    { dir: 'onnx_pytorch_selu_cifar100_colvertyety', file: 'model.onnx', layout: 'nchw' as const, what: 'PyTorch 1.13 SELU net, Reshape → Gemm over a C·H·W flatten' },
    { dir: 'onnx_pytorch_external_data_mnist_zuramai', file: 'mnist.onnx', layout: 'nchw' as const, what: 'PyTorch 2.9 dynamo export with external data and a run-time shape' },
    { dir: 'onnx_keras2onnx_mlp_mnist_frenz86', file: 'mnist.onnx', layout: 'nhwc' as const, what: 'keras2onnx NHWC MLP: Flatten → MatMul + Add' },
  ];
  for (const m of valid) {
    it.skipIf(noCorpus !== null)(`${m.what}: opened from its folder, every cell of the rewritten model equals the original file run on its crop`, async () => {
      const dir = path.join(corpus, m.dir);
      const { info, diffs } = await cellsAgainstCrops(dir, path.join(dir, m.file), m.layout, 3);
      expect(Math.max(...diffs)).toBeLessThan(1e-4);
      expect(info.equivalence.grade).toBe('exact');
      expect(info.padding).toBe('valid');
    }, 60_000);
  }

  it.skipIf(noCorpus !== null)('--stride 1 on a stride-2 PyTorch net: every cell, one pixel apart, equals the original file on its crop', async () => {
    const dir = path.join(corpus, 'onnx_pytorch_selu_cifar100_colvertyety');
    const { info, diffs } = await cellsAgainstCrops(dir, path.join(dir, 'model.onnx'), 'nchw', 4, undefined, 1);
    expect(info.stride).toEqual([1, 1]);
    expect(info.networkStride).toEqual([2, 2]);
    expect(Math.max(...diffs)).toBeLessThan(1e-4);
  }, 60_000);

  const padded = [
    { dir: 'onnx_mnist8_cntk_emclab', file: 'mnist-8.onnx', layout: 'nchw' as const, what: 'ONNX-zoo mnist-8 (CNTK, SAME_UPPER convs, a MatMul over a reshaped constant)' },
    { dir: 'onnx_tf2onnx_squeezenet_nhwc_cifar10_emclab', file: 'squeezenet_cifar10.onnx', layout: 'nhwc' as const, what: 'tf2onnx NHWC SqueezeNet (Transpose, 1×1 conv head, GAP → Squeeze → Softmax)' },
    { dir: 'onnx_pytorch_gap_sigmoid_gray64_penble1109', file: 'model.onnx', layout: 'nchw' as const, what: 'PyTorch GAP → Flatten → Gemm → Sigmoid, grey' },
  ];
  for (const m of padded) {
    it.skipIf(noCorpus !== null)(`${m.what}: on a window-sized image the rewritten model equals the original file; zero padding is reported, not called exact`, async () => {
      const dir = path.join(corpus, m.dir);
      const { info, diffs } = await cellsAgainstCrops(dir, path.join(dir, m.file), m.layout, 1);
      expect(diffs[0]).toBeLessThan(1e-4);
      expect(info.equivalence.grade).not.toBe('exact');
      expect(info.equivalence.note).toMatch(/pad with zeros/);
    }, 60_000);
  }

  it.skipIf(noCorpus !== null)('refuses the UltraFace detector in one line naming its box outputs', async () => {
    const err = await prepareModel(path.join(corpus, 'onnx_detector_ultraface_potipot')).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/version-RFB-320\.onnx: outputs "scores" \[1, 4420, 2\], "boxes" \[1, 4420, 4\]: a detector/);
    expect((err as Error).message).not.toContain('\n');
  });
});

interface Saved {
  inputShape: number[];
  input: number[];
  outputShape: number[];
  output: number[];
}

describe('PyTorch exports made by scripts/onnx_fixtures.py, against PyTorch\'s own output', () => {
  const cases = [
    { name: 'flat_head_logsoftmax', layout: 'nchw' as const, exp: true, what: 'fixed batch 2, opset 11, Flatten(C·H·W) → Gemm → BatchNorm1d → LeakyReLU → Dropout → Gemm → LogSoftmax' },
    { name: 'gap_argmax_uint8', layout: 'nchw' as const, exp: false, what: 'uint8 input, grouped conv, padded max pool, HardSwish, ReduceMean → Gemm → ArgMax (stripped)' },
    { name: 'flat_input_float64', layout: 'flat' as const, exp: false, what: 'a flat float64 [N, 784] input cast and reshaped inside, a Gemm over a run-time reshape' },
    { name: 'squeeze_excite_sigmoid', layout: 'nchw' as const, exp: false, what: 'depthwise conv, SiLU, a squeeze-and-excitation branch, GAP → Gemm → Sigmoid' },
    { name: 'convnext_o17', layout: 'nchw' as const, exp: false, what: 'a small ConvNeXt at opset 17: LayerNormalization over channels-last maps and a pooled vector, MatMul on a permuted map, exact GELU (Erf), layer scale' },
    { name: 'convnext_o11', layout: 'nchw' as const, exp: false, what: 'the same ConvNeXt at opset 11: its layer norms as ReduceMean → Sub → Pow → ReduceMean → Add → Sqrt → Div' },
  ];
  for (const f of cases) {
    it(`${f.what}: the rewritten model on the window gives PyTorch's scores`, async () => {
      const saved = JSON.parse(await fs.readFile(path.join(fixtures, `${f.name}.json`), 'utf8')) as Saved;
      const file = path.join(fixtures, `${f.name}.onnx`);
      const uint8 = f.name.includes('uint8');
      const { bytes, info } = await convert(file, { preprocess: uint8 ? 'raw' : 'unit' });
      const [h, w] = info.window;
      const c = info.channels;
      // The first image of the saved batch, channels-last.
      const src = saved.input.slice(0, h * w * c);
      const nhwc = new Float32Array(h * w * c);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) nhwc[(y * w + x) * c + k] = f.layout === 'nchw' ? src[(k * h + y) * w + x] : src[(y * w + x) * c + k];
      const image = tf.tensor4d(nhwc, [1, h, w, c]);
      const got = await ortRun(bytes, image);
      image.dispose();
      const classes = saved.outputShape[1];
      expect(got.dims).toEqual([1, 1, 1, classes]);
      const want = saved.output.slice(0, classes).map((v) => (f.exp ? Math.exp(v) : v));
      expect(relDiff(got.data, want)).toBeLessThan(1e-4);
      if (f.exp) expect(info.head.join('\n')).toMatch(/LogSoftmax is shown as Softmax/);
      if (uint8) expect(info.head.join('\n')).toMatch(/is the class index \(ArgMax/);
      if (f.name.startsWith('convnext')) expect(info.head.join('\n')).toMatch(/\(LayerNormalization\) → kept, over the channel axis of every cell/);
    }, 60_000);
  }

  it('a two-output model converts its first class-score output, and --output age the other, each equal to PyTorch\'s', async () => {
    const saved = JSON.parse(await fs.readFile(path.join(fixtures, 'two_heads.json'), 'utf8')) as Saved & { age: number[] };
    const file = path.join(fixtures, 'two_heads.onnx');
    const image = tf.tidy(() => tf.tensor4d(saved.input, [1, 3, 16, 16]).transpose([0, 2, 3, 1]) as tf.Tensor4D);
    for (const [output, want] of [[undefined, saved.output], ['age', saved.age]] as const) {
      const prepared = await prepareModel(file, { preprocess: 'unit', ...(output ? { output } : {}) });
      const { bytes } = await exportConverted(prepared.artifacts, prepared.info, file);
      const got = await ortRun(bytes, image);
      expect(got.dims).toEqual([1, 1, 1, want.length]);
      expect(relDiff(got.data, want)).toBeLessThan(1e-4);
      expect(prepared.info.head.join('\n')).toMatch(/the graph has 2 outputs \(output, age\)/);
      // The sidecar names the ONNX graph's output, the name --output takes, not a layer of the rebuild.
      expect(prepared.info.output).toBe(output ?? 'output');
      expect(prepared.info.outputs?.map((o) => o.name)).toEqual([output ?? 'output']);
      if (output === 'age') {
        expect(prepared.info.labels).toEqual(['age']);
        // Saved and opened again: the folder answers to the ONNX name and refuses the other output.
        const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-two-heads-'));
        try {
          await saveConverted(dir, prepared.artifacts, prepared.info);
          expect((JSON.parse(await fs.readFile(path.join(dir, SIDECAR), 'utf8')) as { output: string }).output).toBe('age');
          expect((await prepareModel(dir, { output: 'age' })).info.output).toBe('age');
          await expect(prepareModel(dir, { output: 'output' })).rejects.toThrow(/was converted from output "age"; convert the classifier again with --output output/);
        } finally {
          await fs.rm(dir, { recursive: true, force: true });
        }
      }
    }
    image.dispose();
    await expect(prepareModel(file, { output: 'boxes' })).rejects.toThrow(/two_heads\.onnx: has no output "boxes" \(outputs: output, age\)/);
  }, 60_000);

  it('a channel shuffle (Reshape → Transpose → Reshape, ShuffleNet) becomes a permutation: every cell equals the original file on its crop', async () => {
    const file = path.join(fixtures, 'channel_shuffle.onnx');
    const { info, diffs } = await cellsAgainstCrops(file, file, 'nchw', 3);
    expect(Math.max(...diffs)).toBeLessThan(1e-4);
    expect(info.head.join('\n')).toMatch(/a channel shuffle in 2 groups runs as a 1×1 convolution by a permutation/);
  }, 60_000);

  const refusals = [
    { name: 'refuse_lstm', message: /node "\/lstm\/LSTM" \(LSTM\): LSTM is a recurrent or control-flow operator: a sequence model/ },
    { name: 'refuse_segmenter', message: /node "\/up\/ConvTranspose" \(ConvTranspose\): scales a feature map up .*: a segmenter/ },
    { name: 'refuse_fixed_reshape', message: /node "\/Reshape" \(Reshape\): reshapes the 4×14×14 feature map to \[56, 14\]: a shape fixed for the training size/ },
    { name: 'refuse_tokens', message: /input "input" holds int64 values, not an image/ },
  ];
  for (const r of refusals) {
    it(`refuses ${r.name.replace('refuse_', '')} in one line naming the node and why`, async () => {
      const err = await prepareModel(path.join(fixtures, `${r.name}.onnx`)).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(r.message);
      expect((err as Error).message.startsWith(path.join(fixtures, `${r.name}.onnx`))).toBe(true);
      expect((err as Error).message).not.toContain('\n');
    });
  }
});

describe('the window\'s conversion worker', () => {
  it('opens an ONNX file in its worker thread (ONNX Runtime checks the rebuild there) and says so in the head lines', async () => {
    const prepared = await prepareModelInWorker({ target: path.join(fixtures, 'squeeze_excite_sigmoid.onnx'), preprocess: 'unit' });
    expect(prepared.info.head[0]).toMatch(/^ONNX input "input" NCHW \[1, 3, 24, 24\]; scores from "output": rebuilt and checked against ONNX Runtime/);
    expect(prepared.info.window).toEqual([24, 24]);
  }, 60_000);
});

describe('the window of an ONNX file', () => {
  it('is taken as 224 for a free height and width, saying so; --window gives it; a fixed size refuses another window', async () => {
    const free = path.join(fixtures, 'free_size.onnx');
    const byDefault = await prepareModel(free, { preprocess: 'unit' });
    expect(byDefault.info.window).toEqual([224, 224]);
    expect(byDefault.info.head.join('\n')).toMatch(/free height and width: the window is taken as 224×224 \(give the size it was trained at with --window\)/);
    const given = await prepareModel(free, { preprocess: 'unit', window: 40 });
    expect(given.info.window).toEqual([40, 40]);
    expect(given.info.head.join('\n')).toMatch(/the window is 40×40, as given/);
    await expect(prepareModel(path.join(fixtures, 'squeeze_excite_sigmoid.onnx'), { window: 32 }))
      .rejects.toThrow(/squeeze_excite_sigmoid\.onnx: input "input" has a fixed 24×24 size, so a window of 32 px cannot be given to it/);
  }, 60_000);
});

describe('labels', () => {
  const tmp: string[] = [];
  afterAll(async () => Promise.all(tmp.map((d) => fs.rm(d, { recursive: true, force: true }))));

  it('a 1000-class model without labels gets ImageNet\'s class names, and says where they came from', async () => {
    const prepared = await prepareModel(path.join(fixtures, 'thousand_classes.onnx'), { preprocess: 'unit' });
    expect(prepared.info.labels).toHaveLength(1000);
    expect([prepared.info.labels[0], prepared.info.labels[1], prepared.info.labels[999]]).toEqual(['tench', 'goldfish', 'toilet tissue']);
    expect(prepared.info.head.join('\n')).toMatch(/labels from ImageNet's 1000 class names/);
  }, 60_000);

  it('labels in metadata_props name the classes; a labels.txt beside the file wins over them', async () => {
    const file = path.join(fixtures, 'metadata_labels.onnx');
    expect((await prepareModel(file, { preprocess: 'unit' })).info.labels).toEqual(['cat', 'dog', 'bird']);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-onnx-labels-'));
    tmp.push(dir);
    await fs.copyFile(file, path.join(dir, 'model.onnx'));
    await fs.writeFile(path.join(dir, 'labels.txt'), 'one\ntwo\nthree\n');
    const prepared = await prepareModel(dir, { preprocess: 'unit' });
    expect(prepared.info.labels).toEqual(['one', 'two', 'three']);
    expect(prepared.info.head.join('\n')).toMatch(/labels from labels\.txt/);
  }, 60_000);
});

describe('untrusted sizes', () => {
  it('an input declared far bigger than Convmap runs (a 70000² image behind a global pool) is refused before anything is allocated for it', async () => {
    const weights = new Float32Array([1, 2, 3, 4, 5, 6]);
    const bytes = encodeModel({
      producerName: 'test', producerVersion: '0',
      graph: {
        name: 'huge',
        node: [
          { name: 'gap', opType: 'GlobalAveragePool', input: ['input'], output: ['g'], attribute: [] },
          { name: 'flat', opType: 'Flatten', input: ['g'], output: ['f'], attribute: [] },
          { name: 'fc', opType: 'MatMul', input: ['f', 'w'], output: ['output'], attribute: [] },
        ],
        initializer: [{ name: 'w', dims: [3, 2], dataType: DataType.FLOAT, rawData: new Uint8Array(weights.buffer) }],
        input: [{ name: 'input', elemType: DataType.FLOAT, shape: [1, 3, 70000, 70000] }],
        output: [{ name: 'output', elemType: DataType.FLOAT, shape: [1, 2] }],
      },
    });
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-onnx-huge-'));
    try {
      await fs.writeFile(path.join(dir, 'huge.onnx'), bytes);
      await expect(prepareModel(path.join(dir, 'huge.onnx'))).rejects.toThrow(/huge\.onnx: input "input" is 70000×70000×3, over the limit of 16777216 pixels/);
      await expect(prepareModel(path.join(fixtures, 'free_size.onnx'), { window: 5000 })).rejects.toThrow(/free_size\.onnx: input "input" is 5000×5000×3, over the limit/);
      // Not ONNX at all: a JPEG's first bytes and a text file, each refused in one line naming the file.
      await fs.writeFile(path.join(dir, 'photo.onnx'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]));
      await fs.writeFile(path.join(dir, 'notes.onnx'), 'not a model\n');
      for (const name of ['photo.onnx', 'notes.onnx']) {
        const err = await prepareModel(path.join(dir, name)).catch((e: Error) => e);
        expect((err as Error).message).toMatch(new RegExp(`${name.replace('.', '\\.')}: is not an ONNX model`));
        expect((err as Error).message).not.toContain('\n');
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('layer norms and Erf that cannot slide', () => {
  /** input [1, 2, 8, 8] → 1×1 Conv → `middle` → GlobalAveragePool → Flatten → MatMul [2, 3]. */
  function net(middle: { opType: string; input: string[]; attribute: AttributeProto[] }): Uint8Array {
    const f = (v: number[]): Uint8Array => new Uint8Array(new Float32Array(v).buffer);
    return encodeModel({
      producerName: 'test', producerVersion: '0',
      graph: {
        name: 'norm',
        node: [
          { name: 'conv', opType: 'Conv', input: ['input', 'k'], output: ['c'], attribute: [] },
          { name: 'mid', opType: middle.opType, input: middle.input, output: ['m'], attribute: middle.attribute },
          { name: 'gap', opType: 'GlobalAveragePool', input: ['m'], output: ['g'], attribute: [] },
          { name: 'flat', opType: 'Flatten', input: ['g'], output: ['v'], attribute: [] },
          { name: 'fc', opType: 'MatMul', input: ['v', 'w'], output: ['output'], attribute: [] },
        ],
        initializer: [
          { name: 'k', dims: [2, 2, 1, 1], dataType: DataType.FLOAT, rawData: f([1, 0.5, -0.5, 1]) },
          { name: 'gamma', dims: [2, 8, 8], dataType: DataType.FLOAT, rawData: f(Array.from({ length: 128 }, () => 1)) },
          { name: 'w', dims: [2, 3], dataType: DataType.FLOAT, rawData: f([1, 2, 3, 4, 5, 6]) },
        ],
        input: [{ name: 'input', elemType: DataType.FLOAT, shape: [1, 2, 8, 8] }],
        output: [{ name: 'output', elemType: DataType.FLOAT, shape: [1, 3] }],
      },
    });
  }

  it('refuses a LayerNormalization over C, H and W of an NCHW map and an Erf outside GELU, naming the node', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-onnx-norm-'));
    try {
      const cases = [
        { name: 'whole.onnx', middle: { opType: 'LayerNormalization', input: ['c', 'gamma'], attribute: [{ name: 'axis', type: AttributeType.INT, i: 1 }] }, message: /whole\.onnx: node "mid" \(LayerNormalization\): normalises axes 1–3 of a NCHW map, not its channels alone/ },
        { name: 'erf.onnx', middle: { opType: 'Erf', input: ['c'], attribute: [] }, message: /erf\.onnx: node "mid" \(Erf\): Erf outside the exact GELU/ },
      ];
      for (const c of cases) {
        await fs.writeFile(path.join(dir, c.name), net(c.middle));
        const err = await prepareModel(path.join(dir, c.name)).catch((e: Error) => e);
        expect((err as Error).message).toMatch(c.message);
        expect((err as Error).message).not.toContain('\n');
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('external data', () => {
  const tmp: string[] = [];
  afterAll(async () => Promise.all(tmp.map((d) => fs.rm(d, { recursive: true, force: true }))));

  it.skipIf(noCorpus !== null)('is not read through a link that leaves the model\'s folder', async () => {
    const src = path.join(corpus, 'onnx_pytorch_external_data_mnist_zuramai');
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-onnx-ext-'));
    tmp.push(root);
    await fs.mkdir(path.join(root, 'model'));
    await fs.copyFile(path.join(src, 'mnist.onnx'), path.join(root, 'model', 'mnist.onnx'));
    await fs.copyFile(path.join(src, 'mnist.onnx.data'), path.join(root, 'outside.data'));
    await fs.symlink(path.join(root, 'outside.data'), path.join(root, 'model', 'mnist.onnx.data'));
    const err = await prepareModel(path.join(root, 'model', 'mnist.onnx')).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/mnist\.onnx: external data "mnist\.onnx\.data" is a link to .*outside\.data, outside /);
  });

  it.skipIf(noCorpus !== null)('that is missing is named in one line', async () => {
    const src = path.join(corpus, 'onnx_pytorch_external_data_mnist_zuramai');
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-onnx-ext-'));
    tmp.push(root);
    await fs.copyFile(path.join(src, 'mnist.onnx'), path.join(root, 'mnist.onnx'));
    const err = await prepareModel(path.join(root, 'mnist.onnx')).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/mnist\.onnx: external data "mnist\.onnx\.data" cannot be read \(ENOENT\)/);
  });
});
