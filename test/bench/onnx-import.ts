/**
 * ONNX import (issue 22): torchvision classifiers with seeded random weights, exported by
 * scripts/onnx_fixtures.py (Debian's python3-torch), converted by Convmap and run in a bare ONNX
 * Runtime session: one pass over a 384² image against the original file on each of its crops, and
 * ResNet-18's rewritten graph against PyTorch's own export with dynamic axes at the same input size.
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { selectBackend } from '../../main/engine/backend';
import { exportFcn } from '../../main/onnx/convert';
import { prepareModel } from '../../main/services/models';
import { median } from './timing';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const run = promisify(execFile);
const SIZE = 384;

/** Exports torchvision's `name` (random weights) to DIR/name.onnx once; dynamic H/W at opset 17 when asked. */
async function exported(name: string, dynamic = false): Promise<string> {
  const dir = path.join(os.tmpdir(), 'convmap-bench-torchvision', dynamic ? 'dynamic' : 'fixed');
  const file = path.join(dir, `${name}.onnx`);
  if (existsSync(file)) return file;
  await fs.mkdir(dir, { recursive: true });
  await run('/usr/bin/python3', [path.join(repo, 'scripts/onnx_fixtures.py'), 'torchvision', dir, name, '224', dynamic ? '17' : '13', ...(dynamic ? ['dynamic'] : [])], { maxBuffer: 1 << 24 });
  return file;
}

/** Multiply-accumulates of a chain of conv/pool/dense layers (VGG, AlexNet) on an n×n input. */
function chainMacs(fcn: tf.LayersModel, n: number, channels: number): number {
  let [h, w, c] = [n, n, channels];
  let total = 0;
  for (const layer of fcn.layers) {
    const cfg = layer.getConfig() as Record<string, unknown>;
    const cls = layer.getClassName();
    const size = (x: number, k: number, s: number, d = 1): number => (cfg.padding === 'same' ? Math.ceil(x / s) : Math.floor((x - ((k - 1) * d + 1)) / s) + 1);
    if (cls === 'ZeroPadding2D') {
      const p = cfg.padding as number[][];
      [h, w] = [h + p[0][0] + p[0][1], w + p[1][0] + p[1][1]];
    } else if (cls === 'Conv2D') {
      const [kh, kw] = cfg.kernelSize as number[];
      const [sh, sw] = cfg.strides as number[];
      const [dh, dw] = (cfg.dilationRate as number[] | undefined) ?? [1, 1];
      const [oh, ow] = [size(h, kh, sh, dh), size(w, kw, sw, dw)];
      total += oh * ow * kh * kw * c * Number(cfg.filters);
      [h, w, c] = [oh, ow, Number(cfg.filters)];
    } else if (cls.endsWith('Pooling2D') && !cls.startsWith('Global')) {
      const [ph, pw] = cfg.poolSize as number[];
      const [sh, sw] = cfg.strides as number[];
      [h, w] = [size(h, ph, sh), size(w, pw, sw)];
    }
  }
  return total;
}

async function session(model: string | Uint8Array): Promise<ort.InferenceSession> {
  const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: os.availableParallelism(), interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' };
  return typeof model === 'string' ? ort.InferenceSession.create(model, opts) : ort.InferenceSession.create(model, opts);
}

function random(n: number, seed: number): Float32Array {
  let a = seed;
  return Float32Array.from({ length: n }, () => ((a = (a * 1103515245 + 12345) % 2147483648) / 2147483648));
}

/**
 * VGG11 / AlexNet / ResNet-18 at 384²: Convmap's converted model once over the image against the
 * original file on each crop (window 224, the network's stride 32: 36 crops), medians of `runs`
 * interleaved runs, with the ratio of multiply-accumulates where the network is a chain.
 */
export async function onnxImportCrops(name: 'vgg11' | 'alexnet' | 'resnet18', runs: number): Promise<Record<string, unknown>> {
  const file = await exported(name);
  // The conversion's crop check on the backend the CLI would pick (tfjs's plain-JS one takes minutes on these).
  await selectBackend('auto');
  const t0 = performance.now();
  const prepared = await prepareModel(file, { preprocess: 'imagenet' });
  const convertMs = Math.round(performance.now() - t0);
  const fcn = await tf.loadLayersModel(tf.io.fromMemory(prepared.artifacts));
  const bytes = exportFcn(fcn, prepared.info, file);
  const [wh, ww] = prepared.info.window;
  const [sy, sx] = prepared.info.stride;
  const cells = [Math.floor((SIZE - wh) / sy) + 1, Math.floor((SIZE - ww) / sx) + 1];
  const macRatio = name === 'resnet18' ? null : (cells[0] * cells[1] * chainMacs(fcn, wh, 3)) / chainMacs(fcn, SIZE, 3);
  fcn.dispose();
  const whole = await session(bytes);
  const original = await session(file);
  const image = new ort.Tensor('float32', random(SIZE * SIZE * 3, 1), [1, SIZE, SIZE, 3]);
  const crop = new ort.Tensor('float32', random(3 * wh * ww, 2), [1, 3, wh, ww]);
  const onePass = async (): Promise<number> => {
    const t = performance.now();
    await whole.run({ [whole.inputNames[0]]: image });
    return performance.now() - t;
  };
  const allCrops = async (): Promise<number> => {
    const t = performance.now();
    for (let i = 0; i < cells[0] * cells[1]; i++) await original.run({ [original.inputNames[0]]: crop });
    return performance.now() - t;
  };
  await onePass();
  await allCrops();
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    a.push(await onePass());
    b.push(await allCrops());
  }
  await whole.release();
  await original.release();
  const fcnMs = median(a);
  const cropsMs = median(b);
  return {
    case: `onnx-import-${name}-384`, model: `torchvision ${name}, random weights, opset 13`, convertMs, grade: prepared.info.equivalence.grade,
    cells: `${cells[0]}×${cells[1]}`, fcnMs: Math.round(fcnMs), cropsMs: Math.round(cropsMs), speedup: +(cropsMs / fcnMs).toFixed(2),
    minSpeedup: +(Math.min(...b) / Math.min(...a)).toFixed(2),
    ...(macRatio !== null ? { macRatio: +macRatio.toFixed(2) } : {}), threads: os.availableParallelism(), runs,
  };
}

/**
 * ResNet-18 at 384²: Convmap's rewritten graph (converted at 224, run at 384: a 6×6 map) against a
 * bare ONNX Runtime session on PyTorch's own export with dynamic height and width at 384 (one
 * globally pooled answer): the same trunk, interleaved runs, ratio of medians (target ≤ 1.05).
 */
export async function onnxImportPeer(runs: number): Promise<Record<string, unknown>> {
  const fixed = await exported('resnet18');
  const dynamic = await exported('resnet18', true);
  await selectBackend('auto');
  const prepared = await prepareModel(fixed, { preprocess: 'imagenet' });
  const fcn = await tf.loadLayersModel(tf.io.fromMemory(prepared.artifacts));
  const bytes = exportFcn(fcn, prepared.info, fixed);
  fcn.dispose();
  const ours = await session(bytes);
  const peer = await session(dynamic);
  const pixels = random(SIZE * SIZE * 3, 3);
  const nhwc = new ort.Tensor('float32', pixels, [1, SIZE, SIZE, 3]);
  const nchw = new ort.Tensor('float32', pixels, [1, 3, SIZE, SIZE]);
  const time = async (s: ort.InferenceSession, x: ort.Tensor): Promise<number> => {
    const t = performance.now();
    await s.run({ [s.inputNames[0]]: x });
    return performance.now() - t;
  };
  await time(ours, nhwc);
  await time(peer, nchw);
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < Math.max(runs, 5); i++) {
    a.push(await time(ours, nhwc));
    b.push(await time(peer, nchw));
  }
  await ours.release();
  await peer.release();
  return {
    case: 'onnx-import-resnet18-peer-384', convmapMs: +median(a).toFixed(1), pytorchExportMs: +median(b).toFixed(1),
    ratio: +(median(a) / median(b)).toFixed(3), minRatio: +(Math.min(...a) / Math.min(...b)).toFixed(3), target: 1.05, threads: os.availableParallelism(), runs: a.length,
  };
}
