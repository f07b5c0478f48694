/**
 * ONNX Runtime sessions that run a few times and are thrown away (the conversion's crop check and
 * its ONNX check): opened from a temporary file and not optimised. From a buffer the binding copies
 * the bytes and ONNX Runtime parses them beside that copy; the optimiser then reorders every kernel
 * into its blocked layout. Measured on VGG16's 553 MB file: the session took 2.43 GB at its peak
 * from bytes with optimisation, 1.34 GB from a file, 0.64 GB from a file unoptimised — for a few
 * runs whose results are the same to float precision.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createSession, type OnnxSession, type SessionOptions } from '../ort/runtime';

/**
 * An ONNX Runtime session of `bytes` (an ONNX model), opened from a temporary file that is removed
 * once the session holds the model.
 * @param opts the session's options (device, threads, spinning); it is never optimised
 */
export async function oneOffSession(bytes: Uint8Array, opts: OneOffOptions = {}): Promise<OnnxSession> {
  return withTempOnnx((file) => writeFile(file, bytes), opts);
}

type OneOffOptions = Omit<SessionOptions, 'optimized' | 'saveOptimizedTo'>;

/**
 * A one-off session of a model written to a temporary file by `write` (e.g. exportOnnxFile, which
 * streams it: the bytes are never whole in memory); the file is removed once the session holds the model.
 * @param opts as {@link oneOffSession}'s
 */
export async function withTempOnnx(write: (file: string) => Promise<unknown>, opts: OneOffOptions = {}): Promise<OnnxSession> {
  return inTempOnnx(write, (file) => oneOffFileSession(file, opts));
}

/**
 * `open` of a model written to a temporary file by `write`; the file is removed once `open` has
 * settled (a session then holds the model).
 */
export async function inTempOnnx<T>(write: (file: string) => Promise<unknown>, open: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'convmap-check-'));
  try {
    const file = path.join(dir, 'model.onnx');
    await write(file);
    return await open(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A one-off session of an ONNX file on disk, not optimised (see above). */
export async function oneOffFileSession(file: string, opts: OneOffOptions = {}): Promise<OnnxSession> {
  return createSession(file, { ...opts, optimized: true });
}
