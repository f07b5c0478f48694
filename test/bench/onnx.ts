/**
 * Bench cases of the ONNX Runtime engine (issue 8): Convmap's engine against a bare onnxruntime-node
 * session and against PyTorch on the same VGG16 FCN, and a Teachable-Machine-shaped MobileNetV2 over
 * a big photo, the whole job with the share of each stage.
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { averageScoreMaps } from '../../core/average';
import type { ConvertedModelInfo } from '../../core/model-info';
import { convertClassifier } from '../../main/convert/convert';
import { checkEquivalence } from '../../main/convert/equivalence';
import { loadConverted, modelToArtifacts } from '../../main/convert/save';
import { selectBackend } from '../../main/engine/backend';
import { decodePhoto } from '../../main/io/decode';
import { createEngine } from '../../main/engine/engine';
import { ENGINE_PROCESS_ENV, forkOnnxHostWith } from '../../main/engine/onnx-host';
import { renderPicture } from '../../main/services/picture';
import { interleavedSides, median, timeRuns } from './timing';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = '/usr/bin/python3';

async function torchAvailable(): Promise<boolean> {
  return existsSync(PYTHON) && (await run(PYTHON, ['-c', 'import torch']).then(() => true, () => false));
}

const randomPhoto = (h: number, w: number): { data: Uint8Array; width: number; height: number; channels: 3 } => {
  const data = new Uint8Array(h * w * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  return { data, width: w, height: h, channels: 3 };
};

/** The saved VGG16 FCN of the bench (cases.ts prepares it in its own process). */
async function vggFcn(vggDir: string, prepare: () => Promise<void>): Promise<Awaited<ReturnType<typeof loadConverted>>> {
  if (!existsSync(path.join(vggDir, 'convmap.json'))) await prepare();
  return loadConverted(vggDir);
}

/**
 * onnx-peer: Convmap's engine on its own export of VGG16 vs a bare onnxruntime-node session on the
 * same network exported by torch.onnx.export, one 384×384 pass each, the same threads. The engine
 * runs twice, interleaved with the bare session: in the ONNX Runtime process the CLI starts
 * (ENGINE_PROCESS_ENV: glibc's malloc keeps each pass's activations instead of mapping them afresh),
 * the headline; and in one started with this process's environment, as the window's and the tests' are.
 */
export async function onnxPeer(runs: number, vggDir: string, prepare: () => Promise<void>): Promise<Record<string, unknown>> {
  if (!(await torchAvailable())) return { case: 'onnx-peer', skipped: 'Debian python3-torch is not installed' };
  const threads = os.availableParallelism();
  const file = path.join(os.tmpdir(), 'convmap-bench-vgg16-torch.onnx');
  if (!existsSync(file)) await run(PYTHON, [path.join(here, 'torch_vgg_onnx.py'), file], { maxBuffer: 1 << 20 });
  const ort = await import('onnxruntime-node');
  const bare = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
  const x = new ort.Tensor('float32', Float32Array.from({ length: 3 * 384 * 384 }, (_, i) => ((i * 2654435761) >>> 24) / 255), [1, 3, 384, 384]);

  const { artifacts, info } = await vggFcn(vggDir, prepare);
  const engine = await createEngine({ backend: 'onnx', workers: threads, spawnOnnxHost: forkOnnxHostWith(ENGINE_PROCESS_ENV) });
  const plain = await createEngine({ backend: 'onnx', workers: threads });
  try {
    const handle = await engine.loadModel(artifacts, info);
    const plainHandle = await plain.loadModel(artifacts, info);
    const photo = randomPhoto(384, 384);
    // Interleaved (A B C A B C …), so load from other work hits every side alike; a pause between
    // sides lets the other sides' idle threads stop spinning.
    const t = await interleavedSides(runs, {
      bare: () => bare.run({ x }),
      convmap: () => engine.scoreMaps(handle, photo, [1], 'unit'),
      plainEnv: () => plain.scoreMaps(plainHandle, photo, [1], 'unit'),
    }, 100);
    const bareMs = median(t.bare);
    const ratio = (xs: number[]): { medianMs: number; minMs: number; ratioToBare: number; ratioOfMins: number } => ({
      medianMs: Math.round(median(xs)), minMs: Math.round(Math.min(...xs)), ratioToBare: +(median(xs) / bareMs).toFixed(2), ratioOfMins: +(Math.min(...xs) / Math.min(...t.bare)).toFixed(2),
    });
    const cli = ratio(t.convmap);
    return {
      case: 'onnx-peer', input: [384, 384], threads, runs, device: engine.device,
      convmapMedianMs: cli.medianMs, bareOrtMedianMs: Math.round(bareMs), ratioConvmapToBare: cli.ratioToBare, target: 1.05,
      convmapMinMs: cli.minMs, bareOrtMinMs: Math.round(Math.min(...t.bare)), ratioOfMins: cli.ratioOfMins,
      processEnvironment: ratio(t.plainEnv),
      note: "interleaved runs; Convmap's time is the whole scoreMaps call (resize, preprocessing, copy to its ONNX Runtime process) in the process the CLI starts; processEnvironment: the same in a process with this one's environment (the window's, the tests'); the bare session runs on a ready tensor",
    };
  } finally {
    await engine.close();
    await plain.close();
    await bare.release();
  }
}

/** torch-peer: PyTorch with every core vs Convmap's default engine with every core, VGG16 FCN at 384×384. */
export async function torchPeerAllCores(runs: number, vggDir: string, prepare: () => Promise<void>): Promise<Record<string, unknown>> {
  if (!(await torchAvailable())) return { case: 'torch-peer', skipped: 'Debian python3-torch is not installed' };
  const threads = os.availableParallelism();
  const { stdout } = await run(PYTHON, [path.join(here, 'torch_vgg.py'), String(runs), String(threads)], { maxBuffer: 1 << 20 });
  const torch = JSON.parse(stdout.trim().split('\n').pop() as string) as { medianMs: number; version: string };
  const { artifacts, info } = await vggFcn(vggDir, prepare);
  const engine = await createEngine({ workers: threads });
  try {
    const handle = await engine.loadModel(artifacts, info);
    const photo = randomPhoto(384, 384);
    const ms = median(await timeRuns(runs, () => engine.scoreMaps(handle, photo, [1], 'unit'), 1));
    return {
      case: 'torch-peer', input: [384, 384], threads, runs, torchVersion: torch.version,
      convmapBackend: engine.backend, convmapDevice: engine.device, convmapMedianMs: Math.round(ms), torchMedianMs: Math.round(torch.medianMs),
      speedupOverTorch: +(torch.medianMs / ms).toFixed(2), target: 1.5,
    };
  } finally {
    await engine.close();
  }
}

/** Inverted residual block of MobileNetV2 (expand 1×1, depthwise 3×3, project 1×1; skip when shapes match). */
function invertedResidual(x: tf.SymbolicTensor, expand: number, out: number, stride: number): tf.SymbolicTensor {
  const cin = x.shape[3] as number;
  let y = x;
  const bnRelu6 = (t: tf.SymbolicTensor): tf.SymbolicTensor => tf.layers.reLU({ maxValue: 6 }).apply(tf.layers.batchNormalization({}).apply(t)) as tf.SymbolicTensor;
  if (expand !== 1) y = bnRelu6(tf.layers.conv2d({ filters: cin * expand, kernelSize: 1, useBias: false }).apply(y) as tf.SymbolicTensor);
  if (stride === 2) y = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]] }).apply(y) as tf.SymbolicTensor;
  y = bnRelu6(tf.layers.depthwiseConv2d({ kernelSize: 3, strides: stride, padding: stride === 2 ? 'valid' : 'same', useBias: false }).apply(y) as tf.SymbolicTensor);
  y = tf.layers.batchNormalization({}).apply(tf.layers.conv2d({ filters: out, kernelSize: 1, useBias: false }).apply(y)) as tf.SymbolicTensor;
  return stride === 1 && cin === out ? (tf.layers.add().apply([x, y]) as tf.SymbolicTensor) : y;
}

/**
 * A Teachable-Machine-shaped classifier: MobileNetV2 α = 0.35 trunk at 224×224 (Keras' layout),
 * GlobalAveragePooling → Dense 100 relu → Dense classes softmax. Random weights.
 */
export function mobilenetV2Tm(classes = 5): tf.LayersModel {
  const input = tf.input({ shape: [224, 224, 3] });
  const a = (c: number): number => Math.max(8, Math.round((c * 0.35) / 8) * 8);
  let x = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]] }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: a(32), kernelSize: 3, strides: 2, useBias: false }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6 }).apply(tf.layers.batchNormalization({}).apply(x)) as tf.SymbolicTensor;
  const blocks: [number, number, number, number][] = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];
  for (const [t, c, n, s] of blocks) {
    for (let i = 0; i < n; i++) x = invertedResidual(x, t, a(c), i === 0 ? s : 1);
  }
  x = tf.layers.conv2d({ filters: 1280, kernelSize: 1, useBias: false }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6 }).apply(tf.layers.batchNormalization({}).apply(x)) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 100, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: classes, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'mobilenetv2_035_tm' });
}

/**
 * MobileNetV2-TM on a 2725×2225 photo at scales 1 and 0.5 on the default engine: the whole job
 * (decode the PNG, inference, averaging, overlay PNG) and each stage's share.
 */
export async function mobilenetPhoto(runs: number): Promise<Record<string, unknown>> {
  await selectBackend('auto');
  const classifier = mobilenetV2Tm();
  const conv = convertClassifier(classifier, 'mobilenetv2-tm');
  const equivalence = await checkEquivalence(classifier, conv, 'mobilenetv2-tm', { cellsPerAxis: 2 });
  const info: ConvertedModelInfo = {
    format: 'convmap-fcn', version: 1, source: 'bench: MobileNetV2-0.35 TM-shaped, random weights', window: conv.window, stride: conv.stride,
    offset: conv.offset, channels: conv.channels, labels: ['a', 'b', 'c', 'd', 'e'], head: conv.head, boundary: conv.boundary,
    padding: conv.padding, preprocess: 'signed', equivalence,
  };
  const artifacts = await modelToArtifacts(conv.fcn);
  classifier.dispose();
  conv.fcn.dispose();
  const file = path.join(os.tmpdir(), 'convmap-bench-2725x2225.png');
  if (!existsSync(file)) {
    const p = randomPhoto(2225, 2725);
    await sharp(p.data, { raw: { width: 2725, height: 2225, channels: 3 } }).png().toFile(file);
  }
  const engine = await createEngine({});
  try {
    const handle = await engine.loadModel(artifacts, info);
    const stages = { decode: [] as number[], inference: [] as number[], averaging: [] as number[], overlay: [] as number[], total: [] as number[] };
    for (let r = 0; r <= runs; r++) {
      const t0 = performance.now();
      const image = await decodePhoto(file);
      const t1 = performance.now();
      const maps = await engine.scoreMaps(handle, image, [1, 0.5]);
      const t2 = performance.now();
      const averaged = averageScoreMaps(maps, { mode: 'mean' });
      const t3 = performance.now();
      const png = await renderPicture({ image, averaged, classIndex: 0, drawn: [] }, info.labels, { colormap: 'turbo', opacity: 0.5, threshold: 0, smooth: true, boxes: false, legend: false });
      const t4 = performance.now();
      if (png.length === 0) throw new Error('empty PNG');
      if (r === 0) continue;
      stages.decode.push(t1 - t0);
      stages.inference.push(t2 - t1);
      stages.averaging.push(t3 - t2);
      stages.overlay.push(t4 - t3);
      stages.total.push(t4 - t0);
    }
    const total = median(stages.total);
    const share = (xs: number[]): number => +(median(xs) / total).toFixed(3);
    return {
      case: 'mobilenetv2-tm-2725x2225', backend: engine.backend, device: engine.device, threads: engine.workers, scales: [1, 0.5], runs,
      wholeJobMedianMs: Math.round(total), target: 1500,
      stageMs: { decode: Math.round(median(stages.decode)), inference: Math.round(median(stages.inference)), averaging: Math.round(median(stages.averaging)), overlayPng: Math.round(median(stages.overlay)) },
      stageShare: { decode: share(stages.decode), inference: share(stages.inference), averaging: share(stages.averaging), overlayPng: share(stages.overlay) },
    };
  } finally {
    await engine.close();
    await fs.rm(file, { force: true }).catch(() => undefined);
  }
}
