import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { formatBytes, openRegularFile, readRegularFile, resolveRealInside, UnsafeFileError } from '../io/safe-read';
import { ModelError } from './errors';

/**
 * Checks on model files from strangers, kept apart from the loaders so that each loader calls one
 * function: caps on what is read before it is allocated, weight paths that stay in the model's
 * folder, shards of exactly the manifest's length, and finite weights.
 */

/** Largest model.json (or Keras config) read, in bytes: real topologies are kilobytes to a few MB. */
export const MAX_MODEL_JSON_BYTES = 64 * 2 ** 20;
/** Largest total of a model's weights, in bytes (VGG-19 in float32 is 0.55 GB). */
export const MAX_WEIGHT_BYTES = 2 * 2 ** 30;
/** Largest small side file of a model (labels.txt, metadata.json, convmap.json), in bytes. */
export const MAX_SIDE_FILE_BYTES = 16 * 2 ** 20;

/** An UnsafeFileError as the ModelError of the model file, or `e` unchanged. */
function asModelError(e: unknown, file: string, what?: string): unknown {
  if (!(e instanceof UnsafeFileError)) return e;
  return new ModelError(file, what === undefined || e.file === file ? e.detail : `${what}: ${e.message}`);
}

/**
 * A model's JSON text (model.json, sidecar, metadata), read only when it is a regular file under
 * `maxBytes`, and parsed. A parse error says "is not valid JSON" without quoting the content.
 */
export async function readJsonFile(file: string, maxBytes = MAX_MODEL_JSON_BYTES): Promise<unknown> {
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(file, { maxBytes, capName: 'the limit for a JSON file' });
  } catch (e) {
    throw asModelError(e, file);
  }
  return parseJsonText(bytes.toString('utf8'), file, 'the file');
}

/** Parses JSON text from `file`; the refusal names `where` and never quotes the text. */
export function parseJsonText(text: string, file: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ModelError(file, where === 'the file' ? 'is not valid JSON' : `${where} is not valid JSON`);
  }
}

/** A small side file's text (labels.txt, metadata.json), or null when it is absent or refused. */
export async function readSideFile(file: string, maxBytes = MAX_SIDE_FILE_BYTES): Promise<string | null> {
  try {
    return (await readRegularFile(file, { maxBytes })).toString('utf8');
  } catch {
    return null;
  }
}

/**
 * Reads one weight group's shards, each path (URL-decoded as tfjs writes them) resolved inside the
 * model's folder, links followed only when they stay inside it, regular files only, and together
 * exactly `expectedBytes` long (the manifest's byte count) — checked before any shard is read.
 * @param modelFile the model.json, named in every refusal.
 * @param paths the group's `paths` as written in the manifest.
 * @param expectedBytes bytes the group's weight entries need.
 * @param budget bytes of weights still allowed for this model; reduced by this group.
 */
export async function readWeightShards(modelFile: string, paths: unknown, expectedBytes: number, budget: { left: number }): Promise<Buffer[]> {
  if (!Array.isArray(paths) || !paths.every((p): p is string => typeof p === 'string')) {
    throw new ModelError(modelFile, 'weightsManifest "paths" must be a list of file names');
  }
  if (!Number.isSafeInteger(expectedBytes) || expectedBytes < 0) {
    throw new ModelError(modelFile, 'weightsManifest has a weight whose shape is not a list of non-negative whole numbers');
  }
  if (expectedBytes > budget.left) {
    throw new ModelError(modelFile, `the weights need ${formatBytes(MAX_WEIGHT_BYTES - budget.left + expectedBytes)}, over the limit of ${formatBytes(MAX_WEIGHT_BYTES)}`);
  }
  const dir = path.dirname(modelFile);
  const shards: { name: string; file: string; size: number }[] = [];
  for (const p of paths) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(p);
    } catch {
      throw new ModelError(modelFile, `weight file "${p}" is not a valid URL-encoded path`);
    }
    let file: string;
    try {
      file = await resolveRealInside(dir, decoded);
    } catch (e) {
      if (e instanceof UnsafeFileError && e.reason === 'unreadable') {
        throw new ModelError(modelFile, `weight file "${p}" is missing (expected at ${path.join(dir, decoded)})`);
      }
      if (e instanceof UnsafeFileError) throw new ModelError(modelFile, `weight file "${p}" is refused: ${e.message}`);
      throw e;
    }
    let size: number;
    try {
      const { handle, stats } = await openRegularFile(file);
      await handle.close();
      size = stats.size;
    } catch (e) {
      throw asModelError(e, modelFile, `weight file "${p}"`);
    }
    shards.push({ name: p, file, size });
  }
  const total = shards.reduce((n, s) => n + s.size, 0);
  if (total !== expectedBytes) {
    const names = paths.join(', ');
    throw new ModelError(
      modelFile,
      total < expectedBytes
        ? `weight files ${names} hold ${total} bytes, the manifest needs ${expectedBytes} (truncated?)`
        : `weight files ${names} hold ${total} bytes, the manifest needs ${expectedBytes}: longer than its weights (another model's shards?)`,
    );
  }
  budget.left -= expectedBytes;
  const parts: Buffer[] = [];
  for (const s of shards) {
    try {
      parts.push(await readRegularFile(s.file, { maxBytes: s.size, exactBytes: s.size }));
    } catch (e) {
      throw asModelError(e, modelFile, `weight file "${s.name}"`);
    }
  }
  return parts;
}

/** Index of the first NaN or ±Infinity in `values`, or −1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) return i;
  }
  return -1;
}

/** "NaN", "Infinity" or "-Infinity", with where it sits: `NaN at value 3 of 120`. */
export function nonFiniteText(values: ArrayLike<number>, at: number): string {
  return `${String(values[at])} at value ${at} of ${values.length}`;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Layer name → class name over a Keras/tfjs topology, nested models included. */
function layerClasses(topology: unknown, into = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(topology)) {
    for (const t of topology) layerClasses(t, into);
  } else if (isRecord(topology)) {
    const cfg = topology.config;
    if (typeof topology.class_name === 'string' && isRecord(cfg) && typeof cfg.name === 'string') into.set(cfg.name, topology.class_name);
    for (const key of ['model_config', 'config', 'layers']) if (key in topology) layerClasses(topology[key], into);
  }
  return into;
}

function halfIsFinite(h: number): boolean {
  return ((h >> 10) & 0x1f) !== 0x1f;
}

/**
 * Refuses weights holding NaN or ±Infinity, naming the layer (and its class, from the topology)
 * and the weight. Reads `weightData` in `weightSpecs` order as tfjs lays it out: float32 values, or
 * quantised values whose scale/min (uint8, uint16) or halves (float16) are checked.
 */
export function assertFiniteArtifacts(file: string, artifacts: tf.io.ModelArtifacts): void {
  const specs = artifacts.weightSpecs ?? [];
  const data = artifacts.weightData;
  if (data === undefined || specs.length === 0) return;
  const buffers = Array.isArray(data) ? data : [data];
  const bytes = buffers.length === 1 ? new Uint8Array(buffers[0]) : Buffer.concat(buffers.map((b) => new Uint8Array(b)));
  const classes = layerClasses(artifacts.modelTopology);
  let offset = 0;
  for (const spec of specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const q = spec.quantization;
    const width = q ? (q.dtype === 'uint8' ? 1 : 2) : spec.dtype === 'bool' ? 1 : 4;
    const at = offset;
    offset += n * width;
    if (offset > bytes.byteLength) return; // short data is refused by tfjs with its own message
    let bad: string | null = null;
    if (q) {
      if (q.dtype === 'float16') {
        const view = new DataView(bytes.buffer, bytes.byteOffset + at, n * 2);
        for (let i = 0; i < n && bad === null; i++) if (!halfIsFinite(view.getUint16(i * 2, true))) bad = `a non-finite float16 at value ${i} of ${n}`;
      } else {
        const params = [q.scale, q.min].filter((v): v is number => v !== undefined);
        const i = firstNonFinite(params);
        if (i >= 0) bad = `a quantisation ${i === 0 && q.scale !== undefined ? 'scale' : 'minimum'} of ${String(params[i])}`;
      }
    } else if (spec.dtype === 'float32') {
      const values = (bytes.byteOffset + at) % 4 === 0
        ? new Float32Array(bytes.buffer, bytes.byteOffset + at, n)
        : new Float32Array(bytes.slice(at, at + n * 4).buffer);
      const i = firstNonFinite(values);
      if (i >= 0) bad = nonFiniteText(values, i);
    }
    if (bad !== null) {
      const parts = spec.name.split('/');
      const layerName = parts.slice(0, -1).reverse().find((p) => classes.has(p));
      const layer = layerName !== undefined ? { name: layerName, className: classes.get(layerName) as string } : undefined;
      throw new ModelError(file, `weight "${spec.name}" holds ${bad}: the model's weights must be finite numbers`, layer);
    }
  }
}
