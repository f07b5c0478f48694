/**
 * mobilenetv2-graph-peer (issue 21): is Convmap's exported graph as fast in ONNX Runtime as PyTorch's
 * export of the same network? Convmap's `model.onnx` of the corpus's Teachable Machine model (Keras
 * MobileNetV2 α 0.35, NHWC input, Keras's bottom/right padding, BatchNormalization left for ONNX
 * Runtime to fold) against torchvision's MobileNetV2 α 0.35 with the same head (torch_mnv2_onnx.py:
 * the same 54 convolution shapes), both in bare onnxruntime-node sessions with the same options,
 * interleaved (A B A B …), at the window's size and on a 1 MP photo's size.
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { interleavedRuns, median } from './timing';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const PYTHON = '/usr/bin/python3';
const TM_MODEL = path.resolve(repo, '../shared/corpus/models/teachablemachine_korean5_00sky0213');
const WORK = path.join(os.tmpdir(), 'convmap-bench-graph-peer');

export async function mobilenetGraphPeer(runs: number): Promise<Record<string, unknown>> {
  const name = 'mobilenetv2-graph-peer';
  if (!existsSync(TM_MODEL)) return { case: name, skipped: 'the shared corpus (../shared/corpus) is not here' };
  if (!(await run(PYTHON, ['-c', 'import torch, torchvision']).then(() => true, () => false))) return { case: name, skipped: 'Debian python3-torch / python3-torchvision are not installed' };
  const torchFile = path.join(WORK, 'torch-mobilenetv2-035.onnx');
  const convmapDir = path.join(WORK, 'tm-converted');
  await fs.mkdir(WORK, { recursive: true });
  if (!existsSync(torchFile)) await run(PYTHON, [path.join(here, 'torch_mnv2_onnx.py'), torchFile], { maxBuffer: 1 << 20 });
  if (!existsSync(path.join(convmapDir, 'model.onnx'))) await run(process.execPath, [path.join(repo, 'bin/convmap.mjs'), 'convert', TM_MODEL, '-o', convmapDir], { cwd: repo, maxBuffer: 1 << 24 });
  const ort = await import('onnxruntime-node');
  const threads = os.availableParallelism();
  const options = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' as const, executionMode: 'sequential' as const };
  const torch = await ort.InferenceSession.create(torchFile, options);
  const convmap = await ort.InferenceSession.create(path.join(convmapDir, 'model.onnx'), options);
  const sizes: [number, number][] = [[224, 224], [866, 1155]];
  const results: Record<string, unknown>[] = [];
  try {
    for (const [h, w] of sizes) {
      const data = Float32Array.from({ length: h * w * 3 }, (_, i) => (((i * 2654435761) >>> 24) / 255) * 2 - 1);
      const nchw = { [torch.inputNames[0]]: new ort.Tensor('float32', data, [1, 3, h, w]) };
      const nhwc = { [convmap.inputNames[0]]: new ort.Tensor('float32', data, [1, h, w, 3]) };
      const { a, b } = await interleavedRuns(runs, () => torch.run(nchw), () => convmap.run(nhwc), 50);
      results.push({
        input: [h, w], torchExportMinMs: +Math.min(...a).toFixed(1), torchExportMedianMs: +median(a).toFixed(1),
        convmapMinMs: +Math.min(...b).toFixed(1), convmapMedianMs: +median(b).toFixed(1),
        ratioOfMedians: +(median(b) / median(a)).toFixed(3), ratioOfMins: +(Math.min(...b) / Math.min(...a)).toFixed(3),
      });
    }
  } finally {
    await torch.release();
    await convmap.release();
  }
  return { case: name, threads, runs, sizes: results, target: 1.05, note: 'bare sessions, same options; the torch graph takes NCHW, Convmap\'s NHWC (its Transpose is in the time)' };
}
