import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { ModelError } from '../../main/model/errors';
import { exportOnnx } from '../../main/onnx/export';
import { decodeModel, encodeModel } from '../../main/onnx/proto';
import { checkOnnx } from '../../main/onnx/verify';
import { checkConverted, probeScores } from '../../main/onnx/check-converted';
import { openInOwnProcess } from '../../main/engine/onnx-one-off';
import { forkOnnxHost, type OnnxHost, type SpawnOnnxHost } from '../../main/engine/onnx-host';
import type { OwnProcess } from '../../main/onnx/tensor-session';
import { checkEquivalence, smoothRandomImage } from '../../main/convert/equivalence';
import { randomizeWeights, useWasm } from '../helpers/models';

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../..');
const corpus = path.resolve(repo, '../shared/corpus/models');
const hasCorpus = existsSync(corpus);
if (!hasCorpus) console.log(`skipping the corpus conversion cases: ${corpus} is absent`);

let tmp: string;
beforeAll(async () => {
  await useWasm();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-onnx-convert-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe.skipIf(!hasCorpus)('convmap convert -o DIR writes DIR/model.onnx', () => {
  it('reports the ONNX Runtime check in --json, and the saved model.onnx gives, in a bare session, the grid the sidecar predicts', async () => {
    const out = path.join(tmp, 'detexify');
    const { stdout } = await run(process.execPath, [path.join(repo, 'bin/convmap.mjs'), 'convert', path.join(corpus, 'detexify369_yuhuishishishi'), '-o', out, '--json'], {
      cwd: repo, env: { ...process.env, CONVMAP_BACKEND: 'wasm' }, maxBuffer: 64 << 20,
    });
    const report = JSON.parse(stdout) as { onnx: { maxAbsDiff: number; maxRelDiff: number; inputSize: number[] } };
    expect(report.onnx.maxRelDiff).toBeLessThanOrEqual(1e-4);
    expect(report.onnx.maxAbsDiff).toBeGreaterThanOrEqual(0);
    // One window (32): model.onnx's cell there against the classifier in tfjs; its map of many cells is the crop check's.
    expect(report.onnx.inputSize).toEqual([32, 32]);

    const sidecar = JSON.parse(await fs.readFile(path.join(out, 'convmap.json'), 'utf8')) as { window: number[]; stride: number[]; channels: number; labels: string[] };
    const session = await ort.InferenceSession.create(path.join(out, 'model.onnx'));
    try {
      const [h, w] = [101, 77];
      const input = new ort.Tensor('float32', new Float32Array(h * w * sidecar.channels).fill(0.5), [1, h, w, sidecar.channels]);
      const result = await session.run({ [session.inputNames[0]]: input });
      const rows = Math.floor((h - sidecar.window[0]) / sidecar.stride[0]) + 1;
      const cols = Math.floor((w - sidecar.window[1]) / sidecar.stride[1]) + 1;
      expect(result[session.outputNames[0]].dims).toEqual([1, rows, cols, sidecar.labels.length]);
    } finally {
      await session.release();
    }
  });
});

/** Three 3×3 convolutions c1–c3 on 16×16×3, Flatten, Dense softmax: seeded random weights. */
function threeConvClassifier(): tf.Sequential {
  const m = tf.sequential({
    layers: [
      tf.layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [16, 16, 3], activation: 'relu', name: 'c1' }),
      tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', name: 'c2' }),
      tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', name: 'c3' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
    ],
  });
  randomizeWeights(m, 3);
  return m;
}

/** The ONNX file with layer c2's kernel (initializer c2/W) changed by 1 %: c1 still agrees, c2 is the first to differ. */
function withC2Off(bytes: Uint8Array): Uint8Array {
  const proto = decodeModel(bytes);
  const kernel = proto.graph.initializer.find((t) => t.name === 'c2/W');
  expect(kernel).toBeDefined();
  const values = new Float32Array(Uint8Array.from(kernel?.rawData ?? []).buffer);
  values.forEach((v, i) => (values[i] = v * 1.01));
  if (kernel) kernel.rawData = new Uint8Array(values.buffer);
  return encodeModel(proto);
}

describe('checkOnnx', () => {
  it('fails naming the first layer whose ONNX outputs differ from tfjs', async () => {
    const m = threeConvClassifier();
    const c = convertClassifier(m, 'three.json');
    try {
      const good = exportOnnx(c.fcn, 'three.json').bytes;
      const fine = await checkOnnx(c.fcn, good, 'three.json', [32, 32]);
      expect(fine.maxRelDiff).toBeLessThanOrEqual(1e-4);

      const bad = withC2Off(good);
      const err = await checkOnnx(c.fcn, bad, 'three.json', [32, 32]).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(ModelError);
      expect((err as ModelError).layer).toEqual({ name: 'c2', className: 'Conv2D' });
      expect((err as ModelError).message).toMatch(/^three\.json: layer "c2" \(Conv2D\): the ONNX model differs from the tfjs model by [0-9.e+-]+ of the output's scale \(> 0\.0001\) on a 32×32 image; this layer is the first whose outputs differ/);
    } finally {
      c.fcn.dispose();
      m.dispose();
    }
  });
});

/**
 * checkConverted on the three-convolution classifier's ONNX file: it grades as the all-tfjs check does
 * (the oracle: both sides in tfjs, no padding, so exact to float precision), then a file whose c2 is
 * off is refused in one line naming c2. `ownProcess`: the sessions' opener (a big model's path).
 */
async function expectChecksLikeTfjs(m: tf.LayersModel, c: ReturnType<typeof convertClassifier>, dir: string, ownProcess?: OwnProcess): Promise<void> {
  const good = exportOnnx(c.fcn, 'three.json').bytes;
  const file = path.join(dir, 'model.onnx');
  await fs.writeFile(file, good);
  const checked = await checkConverted({ classifier: m, conv: c, file: 'three.json', onnxFile: file, preprocess: 'unit', ownProcess });
  const viaTfjs = await checkEquivalence(m, c, 'three.json', { preprocess: 'unit' });
  expect(checked.equivalence.grade).toBe(viaTfjs.grade);
  expect(checked.equivalence.exact).toBe(true);
  expect(checked.equivalence.cellsChecked).toBe(viaTfjs.cellsChecked);
  expect(Math.abs(checked.equivalence.maxAbsDiff - viaTfjs.maxAbsDiff)).toBeLessThan(1e-5);
  if (checked.onnx instanceof ModelError) throw checked.onnx;
  expect(checked.onnx.maxRelDiff).toBeLessThanOrEqual(1e-4);
  expect(checked.onnx.inputSize).toEqual([16, 16]);

  await fs.writeFile(file, withC2Off(good));
  const err = (await checkConverted({ classifier: m, conv: c, file: 'three.json', onnxFile: file, preprocess: 'unit', ownProcess })).onnx;
  expect(err).toBeInstanceOf(ModelError);
  expect((err as ModelError).layer).toEqual({ name: 'c2', className: 'Conv2D' });
  expect((err as ModelError).message).toMatch(/^three\.json: layer "c2" \(Conv2D\): the ONNX model differs from the tfjs model by [0-9.e+-]+ of the output's scale \(> 0\.0001\) on a 16×16 image; this layer is the first whose outputs differ/);
  expect((err as ModelError).message).not.toContain('\n');
}

/** Runs `body` on {@link threeConvClassifier} and its conversion, disposed of afterwards. */
async function withThreeConv(body: (m: tf.LayersModel, c: ReturnType<typeof convertClassifier>) => Promise<void>): Promise<void> {
  const m = threeConvClassifier();
  const c = convertClassifier(m, 'three.json');
  try {
    await body(m, c);
  } finally {
    c.fcn.dispose();
    m.dispose();
  }
}

describe('checkConverted: the crop check and the ONNX check on the ONNX file', () => {
  it('grades a conversion as the all-tfjs check does, and gives the refusal of a file whose layer c2 is off, naming it', async () => {
    await withThreeConv(async (m, c) => {
      const x = tf.randomUniform([1, 16, 16, 3], 0, 1, 'float32', 5);
      const before = tf.tidy(() => (m.predict(x) as tf.Tensor).dataSync().slice());
      await expectChecksLikeTfjs(m, c, await fs.mkdtemp(path.join(tmp, 'checked-')));
      // Its Dense layers were computed by the formula for the probe: afterwards the classifier is its own again.
      expect(tf.getBackend()).toBe('wasm');
      expect(Array.from(tf.tidy(() => (m.predict(x) as tf.Tensor).dataSync().slice()))).toEqual(Array.from(before));
      x.dispose();
    });
  });
});

describe('checkConverted with its sessions in processes of their own (a big model\'s)', () => {
  it('opens the converted model and the exported classifier there, grades as the all-tfjs check does, and still names layer c2 of a file where it is off', async () => {
    const opened: string[] = [];
    // Every file counts as big; the sessions open in the real ONNX Runtime process.
    const ownProcess = { minBytes: 0, open: (f: string) => (opened.push(path.basename(f)), openInOwnProcess(f, 1)) };
    await withThreeConv(async (m, c) => {
      await expectChecksLikeTfjs(m, c, await fs.mkdtemp(path.join(tmp, 'own-process-')), ownProcess);
      // The converted model (probe and whole image) and the classifier exported for the crops, for each file.
      expect(opened).toEqual(['model.onnx', 'model.onnx', 'model.onnx', 'model.onnx']);
    });
  });
});

describe('probeScores: the check\'s tfjs pass of the classifier', () => {
  it('equals the classifier\'s own predict, Dense layers on maps and on vectors, with and without bias', async () => {
    const input = tf.input({ shape: [12, 12, 3] });
    let x = tf.layers.conv2d({ filters: 6, kernelSize: 3, activation: 'relu' }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.dense({ units: 5, activation: 'tanh' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
    x = tf.layers.dense({ units: 7, activation: 'relu', useBias: false }).apply(x) as tf.SymbolicTensor;
    const y = tf.layers.dense({ units: 4, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
    const m = tf.model({ inputs: input, outputs: y });
    randomizeWeights(m, 9);
    const c = convertClassifier(m, 'dense.json');
    try {
      const got = await probeScores(m, c, 'unit');
      const probe = smoothRandomImage(12, 12, 3, 7, 'unit');
      const want = tf.tidy(() => (m.predict(probe) as tf.Tensor).dataSync().slice());
      probe.dispose();
      expect(got.length).toBe(4);
      for (let i = 0; i < 4; i++) expect(got[i]).toBeCloseTo(want[i], 6);
    } finally {
      c.fcn.dispose();
      m.dispose();
    }
  });
});

describe('checkConverted when the process of its sessions ends (a big model\'s check, the system out of memory)', () => {
  it('refuses in one line naming the model and why the process ended', async () => {
    // The real ONNX Runtime process, killed (SIGKILL, as the kernel's out-of-memory killer does) once the model is open in it.
    const ownProcess = {
      minBytes: 0,
      open: async (f: string) => {
        let host: OnnxHost | undefined;
        const spawn: SpawnOnnxHost = (file, execArgv, events) => (host = forkOnnxHost(file, execArgv, events));
        const session = await openInOwnProcess(f, 1, spawn);
        host?.kill();
        return session;
      },
    };
    await withThreeConv(async (m, c) => {
      const file = path.join(await fs.mkdtemp(path.join(tmp, 'killed-')), 'model.onnx');
      await fs.writeFile(file, exportOnnx(c.fcn, 'three.json').bytes);
      const err = await checkConverted({ classifier: m, conv: c, file: 'three.json', onnxFile: file, preprocess: 'unit', ownProcess }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ModelError);
      expect((err as Error).message).toBe('three.json: its check could not finish: the ONNX Runtime process was killed (SIGKILL: the system may have run out of memory)');
    });
  });
});
