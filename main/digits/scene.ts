/**
 * The built-in digit model's files, and a deterministic generator of demo scenes: white held-out
 * MNIST digits at several sizes scattered on a black RGB canvas, with their ground-truth boxes.
 *
 * A digit's truth box is its whole 28×28 MNIST frame scaled to its size (the digit's ink fills
 * about the middle 20×20 of that frame), i.e. exactly the window the classifier should fire on.
 */
import { promises as fs } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Box } from '../../core/scoremap';
import { DIGIT_SIZE, digitImage, loadDigits, type DigitSplit } from './mnist-data';
import { seededRandom } from '../../core/random';

/** Class labels of the built-in digit model, in output order (same as model/labels.txt). */
export const digitLabels: readonly string[] = Object.freeze(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'background']);
/** Index of the "background" class. */
export const DIGIT_BACKGROUND_CLASS = 10;

/** Folder of the committed model (model.json, weights.bin, labels.txt). */
export const DIGIT_MODEL_DIR: string = fileURLToPath(new URL('./model/', import.meta.url));

export interface DigitModelFiles {
  dir: string;
  modelJson: string;
  weights: string;
  labels: string;
}

/** Paths of the committed digit model; rejects with a clear error when they are missing. */
export async function loadDigitModelFiles(): Promise<DigitModelFiles> {
  const files: DigitModelFiles = {
    dir: DIGIT_MODEL_DIR,
    modelJson: fileURLToPath(new URL('./model/model.json', import.meta.url)),
    weights: fileURLToPath(new URL('./model/weights.bin', import.meta.url)),
    labels: fileURLToPath(new URL('./model/labels.txt', import.meta.url)),
  };
  for (const file of [files.modelJson, files.weights, files.labels]) {
    await fs.access(file).catch(() => {
      throw new Error(`built-in digit model file missing: ${file} (run npm run train:digits)`);
    });
  }
  return files;
}

export interface DigitSceneOptions {
  width: number;
  height: number;
  /** Number of digits to place. */
  count: number;
  /** Digit box sizes in pixels (the 28×28 frame scaled to this size); used in turn, then shuffled. */
  sizes: number[];
  seed: number;
  /** Which digits to draw from; 'heldout' (default) never appears in training. */
  split?: DigitSplit;
  /** Minimum empty gap between two digit boxes in pixels (default 8). */
  margin?: number;
}

export interface DigitTruth {
  /** [y0, x0, y1, x1) in pixels of the scene. */
  box: Box;
  classIndex: number;
  label: string;
}

export interface DigitScene {
  /** width · height · 3 bytes, row-major RGB, white digits on black. */
  rgb: Uint8Array;
  width: number;
  height: number;
  truth: DigitTruth[];
}


/**
 * Bilinear resize of a square single-channel image (half-pixel centres, edge clamped).
 * @returns size × size floats.
 */
export function resizeBilinear(src: Float32Array, srcSize: number, size: number): Float32Array {
  const out = new Float32Array(size * size);
  const ratio = srcSize / size;
  const coord = (d: number): [number, number, number] => {
    const s = Math.min(Math.max((d + 0.5) * ratio - 0.5, 0), srcSize - 1);
    const i0 = Math.floor(s);
    const i1 = Math.min(i0 + 1, srcSize - 1);
    return [i0, i1, s - i0];
  };
  const xs = Array.from({ length: size }, (_, x) => coord(x));
  for (let y = 0; y < size; y++) {
    const [y0, y1, fy] = coord(y);
    for (let x = 0; x < size; x++) {
      const [x0, x1, fx] = xs[x];
      const top = src[y0 * srcSize + x0] * (1 - fx) + src[y0 * srcSize + x1] * fx;
      const bottom = src[y1 * srcSize + x0] * (1 - fx) + src[y1 * srcSize + x1] * fx;
      out[y * size + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

function checkOptions(o: DigitSceneOptions): void {
  const positiveInt = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`makeDigitScene: ${name} must be a positive integer, got ${v}`);
  };
  positiveInt('width', o.width);
  positiveInt('height', o.height);
  if (!Number.isInteger(o.count) || o.count < 0) throw new Error(`makeDigitScene: count must be a non-negative integer, got ${o.count}`);
  if (o.sizes.length === 0) throw new Error('makeDigitScene: sizes must not be empty');
  for (const s of o.sizes) {
    positiveInt('each size', s);
    if (s > o.width || s > o.height) throw new Error(`makeDigitScene: size ${s} does not fit a ${o.width}×${o.height} canvas`);
  }
}

/**
 * A deterministic scene: the same options (seed included) give the same bytes and truth.
 * Digits never overlap: boxes are at least `margin` pixels apart. Throws when `count` digits
 * cannot be placed on the canvas.
 */
export function makeDigitScene(options: DigitSceneOptions): DigitScene {
  checkOptions(options);
  const { width, height, count, sizes, seed } = options;
  const margin = options.margin ?? 8;
  const digits = loadDigits(options.split ?? 'heldout');
  const rand = seededRandom(seed);

  // Sizes in turn (every size appears when count ≥ sizes.length), shuffled, biggest placed first.
  const wanted = Array.from({ length: count }, (_, k) => sizes[k % sizes.length]);
  for (let k = wanted.length - 1; k > 0; k--) {
    const j = Math.floor(rand() * (k + 1));
    [wanted[k], wanted[j]] = [wanted[j], wanted[k]];
  }
  const order = wanted.map((size, k) => ({ size, k })).sort((a, b) => b.size - a.size || a.k - b.k);

  const boxes: Box[] = new Array<Box>(count);
  const placed: Box[] = [];
  const apart = (a: Box, b: Box): boolean =>
    a[2] + margin <= b[0] || b[2] + margin <= a[0] || a[3] + margin <= b[1] || b[3] + margin <= a[1];
  for (const { size, k } of order) {
    let box: Box | undefined;
    for (let attempt = 0; attempt < 2000 && !box; attempt++) {
      const y = Math.floor(rand() * (height - size + 1));
      const x = Math.floor(rand() * (width - size + 1));
      const candidate: Box = [y, x, y + size, x + size];
      if (placed.every((p) => apart(candidate, p))) box = candidate;
    }
    if (!box) {
      throw new Error(`makeDigitScene: cannot place ${count} digits of sizes [${sizes.join(', ')}] ${margin} px apart on a ${width}×${height} canvas; use a bigger canvas or fewer digits`);
    }
    placed.push(box);
    boxes[k] = box;
  }

  const rgb = new Uint8Array(width * height * 3);
  const truth: DigitTruth[] = [];
  for (const box of boxes) {
    const index = Math.floor(rand() * digits.count);
    const classIndex = digits.labels[index];
    const size = box[2] - box[0];
    const img = resizeBilinear(digitImage(digits, index), DIGIT_SIZE, size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const v = Math.round(Math.min(Math.max(img[y * size + x], 0), 1) * 255);
        const p = ((box[0] + y) * width + box[1] + x) * 3;
        if (v > rgb[p]) rgb.fill(v, p, p + 3);
      }
    }
    truth.push({ box, classIndex, label: digitLabels[classIndex] });
  }
  return { rgb, width, height, truth };
}
