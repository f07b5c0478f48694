/**
 * The original ONNX file run by ONNX Runtime: the oracle of an ONNX import, both for the rebuild's
 * check at the window size (./load-onnx) and for the converter's crop check (main/convert/equivalence),
 * so a crop's scores never come from the code under test.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { InferenceSession } from 'onnxruntime-node';
import { ModelError } from '../errors';
import { createSession, loadOrt } from '../../ort/runtime';
import { OnnxType } from './read';
import type { ImportedClassifier } from './to-layers';

/** What running the original file on images takes. */
export interface OriginalOnnx {
  file: string;
  /**
   * What ONNX Runtime opens: the file's bytes (with the scores tensor made a graph output where an
   * ArgMax was stripped), or the file's path where it has external data (read from its folder).
   */
  model: Uint8Array | string;
  /** The image input: name, element type, dims at the window, layout (NCHW, NHWC, or flat H·W·C). */
  input: ImportedClassifier['input'];
  /** The input's batch size when the file fixes it, else null. */
  batch: number | null;
  /** The tensor read as the scores (the graph output, or what a stripped ArgMax read). */
  scores: string;
  /** The scores are a LogSoftmax's: exp is taken, as the converted model shows softmax. */
  logSoftmax: boolean;
}

/** A classifier run on crops: scores [n, classes] of crops [n, height, width, channels]. */
export interface CropRunner {
  predict(batch: tf.Tensor4D): Promise<tf.Tensor2D>;
  release(): Promise<void>;
}

/** Channels-last images [n, h, w, c] in the ONNX input's layout (NCHW transposed; NHWC and flat as they are). */
export function toInputLayout(nhwc: Float32Array, n: number, h: number, w: number, c: number, layout: OriginalOnnx['input']['layout']): Float32Array {
  if (layout !== 'nchw') return nhwc;
  const per = h * w * c;
  const out = new Float32Array(nhwc.length);
  for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) out[b * per + (k * h + y) * w + x] = nhwc[b * per + (y * w + x) * c + k];
  return out;
}

/** The dims of `n` images of h × w × c as the input takes them. */
function inputDims(o: OriginalOnnx, n: number, h: number, w: number, c: number): number[] {
  if (o.input.layout === 'flat') return [n, ...o.input.dims.slice(1)];
  return o.input.layout === 'nchw' ? [n, c, h, w] : [n, h, w, c];
}

/** Opens the original file in ONNX Runtime on the CPU. @throws ModelError naming the file when it does not open */
export async function openOriginal(o: OriginalOnnx, threads?: number): Promise<InferenceSession> {
  try {
    // Its threads sleep between batches: spinning, they take the CPU the tfjs side of a check needs.
    return (await createSession(o.model, { device: 'cpu', ...(threads ? { threads, spinning: false } : {}) })).session;
  } catch (e) {
    throw new ModelError(o.file, `ONNX Runtime cannot run the original file: ${(e as Error).message.split('\n')[0]}`);
  }
}

/**
 * Scores of channels-last images through the original file: fed in its layout and element type
 * (uint8 values rounded and clamped to 0–255), in batches of the file's fixed batch size (the last
 * one padded with zeros) or all at once where the batch is free.
 * @param nhwc [n, h, w, c] row-major
 * @returns [n · classes] scores, exp taken of a LogSoftmax's
 */
export async function runOriginal(o: OriginalOnnx, session: InferenceSession, nhwc: Float32Array, shape: [number, number, number, number]): Promise<Float32Array> {
  const ort = await loadOrt();
  const [n, h, w, c] = shape;
  const per = h * w * c;
  const step = o.batch !== null && o.batch > 0 ? o.batch : n;
  const values = toInputLayout(nhwc, n, h, w, c, o.input.layout);
  const parts: Float32Array[] = [];
  for (let at = 0; at < n; at += step) {
    const chunk = new Float32Array(step * per);
    chunk.set(values.subarray(at * per, Math.min(n, at + step) * per));
    const dims = inputDims(o, step, h, w, c);
    const tensor = o.input.elemType === OnnxType.UINT8
      ? new ort.Tensor('uint8', new Uint8Array(Uint8ClampedArray.from(chunk, (v) => Math.round(v)).buffer), dims)
      : o.input.elemType === OnnxType.DOUBLE ? new ort.Tensor('float64', Float64Array.from(chunk), dims) : new ort.Tensor('float32', chunk, dims);
    let y: Float32Array;
    try {
      const out = await session.run({ [o.input.name]: tensor }, [o.scores]);
      y = Float32Array.from(out[o.scores].data as ArrayLike<number>);
    } catch (e) {
      throw new ModelError(o.file, `ONNX Runtime cannot run the original file: ${(e as Error).message.split('\n')[0]}`);
    }
    const taken = Math.min(n, at + step) - at;
    parts.push(y.subarray(0, (y.length / step) * taken));
  }
  const scores = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    scores.set(p, at);
    at += p.length;
  }
  return o.logSoftmax ? scores.map(Math.exp) : scores;
}

/**
 * The original file in ONNX Runtime as the crop check's classifier: crops in, the scores the
 * converted model's cells must reproduce out.
 * @throws ModelError naming the file when ONNX Runtime cannot open it
 */
export async function originalCropRunner(o: OriginalOnnx): Promise<CropRunner> {
  const session = await openOriginal(o, os.availableParallelism());
  return {
    predict: async (batch) => {
      const [n, h, w, c] = batch.shape;
      const scores = await runOriginal(o, session, (await batch.data()) as Float32Array, [n, h, w, c]);
      return tf.tensor2d(scores, [n, scores.length / n]);
    },
    release: () => session.release(),
  };
}

/**
 * How far `actual` is from `expected` (same length, any layout): the largest absolute difference,
 * and that over the largest |expected| (at least 1 for an output bounded to [0, 1], else 1e-12).
 * NaN on either side counts as an infinite difference, never as a small one.
 */
export function scoreDifference(actual: Float32Array, expected: Float32Array, bounded = false): { maxAbs: number; maxRel: number } {
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return { maxAbs, maxRel: maxAbs / Math.max(scale, bounded ? 1 : 1e-12) };
}
