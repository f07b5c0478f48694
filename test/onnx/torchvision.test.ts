/**
 * torchvision architectures (random weights) exported on demand by scripts/onnx_fixtures.py with
 * Debian's python3-torch, at small sizes to keep CI short; the rest of the zoo is in the bench
 * (test/bench/onnx-coverage.ts, table in docs/models.md). Oracle: ONNX Runtime on the original file.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportConverted } from '../../main/onnx/convert';
import { prepareModel } from '../../main/services/models';
import { useWasm } from '../helpers/models';
import { ortRun } from './helpers';

const PYTHON = '/usr/bin/python3';
const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/onnx_fixtures.py');

function torchMissing(): string | null {
  try {
    execFileSync(PYTHON, ['-c', 'import torch, torchvision'], { stdio: 'ignore' });
    return null;
  } catch {
    return `${PYTHON} with torch and torchvision is not installed (Debian: python3-torch python3-torchvision)`;
  }
}
const missing = torchMissing();
if (missing) console.log(`skipped: the torchvision ONNX tests (${missing})`);

let dir = '';
beforeAll(async () => {
  useWasm();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-torchvision-'));
});
afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** Relative difference of the converted model (a bare session on its bytes) and the original file on one window-sized image. */
async function onWindow(file: string, bytes: Uint8Array, size: number): Promise<number> {
  const image = tf.randomUniform([1, size, size, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
  const got = await ortRun(bytes, image);
  const nchw = tf.tidy(() => image.transpose([0, 3, 1, 2]).dataSync() as Float32Array);
  image.dispose();
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', nchw, [1, 3, size, size]) });
    const want = out[session.outputNames[0]].data as Float32Array;
    expect(got.data.length).toBe(want.length);
    let maxAbs = 0;
    let scale = 0;
    for (let i = 0; i < want.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(got.data[i] - want[i]));
      scale = Math.max(scale, Math.abs(want[i]));
    }
    return maxAbs / scale;
  } finally {
    await session.release();
  }
}

describe('torchvision architectures exported by PyTorch 1.13', () => {
  const cases = [
    { name: 'resnet18', size: 64, opset: 17, dynamic: true, what: 'ResNet-18, opset 17, dynamic batch/height/width' },
    { name: 'shufflenet_v2_x0_5', size: 64, opset: 11, dynamic: false, what: 'ShuffleNetV2 ×0.5, opset 11 (channel shuffles, channel splits)' },
  ];
  for (const c of cases) {
    it.skipIf(missing !== null)(`${c.what}: converted, checked against the original file on crops, equal to it on a window-sized image`, async () => {
      await promisify(execFile)(PYTHON, [script, 'torchvision', dir, c.name, String(c.size), String(c.opset), ...(c.dynamic ? ['dynamic'] : [])]);
      const file = path.join(dir, `${c.name}.onnx`);
      const prepared = await prepareModel(file, { preprocess: 'unit', window: c.size });
      expect(prepared.info.window).toEqual([c.size, c.size]);
      expect(prepared.info.stride).toEqual([32, 32]);
      // Zero padding: cells near borders differ from crops, so neither is exact; the report says so.
      expect(prepared.info.equivalence.grade).not.toBe('exact');
      expect(prepared.info.equivalence.note).toMatch(/pad with zeros/);
      expect(prepared.info.equivalence.cellsChecked).toBeGreaterThanOrEqual(9);
      const { bytes } = await exportConverted(prepared.artifacts, prepared.info, file);
      expect(await onWindow(file, bytes, c.size)).toBeLessThan(1e-4);
    }, 180_000);
  }
});
