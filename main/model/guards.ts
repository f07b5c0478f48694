import { realpath } from 'node:fs/promises';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { formatBytes, openRegularFile, readInside, readRegularFile, resolveRealInside, UnsafeFileError } from '../io/safe-read';
import { readPreprocessMode, type ConvertedModelInfo } from '../../core/model-info';
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
/**
 * Largest ratio of unpacked to packed bytes allowed for big compressed data (a .keras zip entry,
 * a filtered HDF5 dataset): real weights barely compress, a bomb of zeros packs a thousand to one.
 */
export const MAX_COMPRESSION_RATIO = 200;
/** Largest small side file of a model (labels.txt, metadata.json, convmap.json), in bytes. */
export const MAX_SIDE_FILE_BYTES = 16 * 2 ** 20;
/** Most weight files (shard paths) a model.json may list: tfjs writes 4 MB shards, so 2 GB of weights is 512. */
export const MAX_WEIGHT_FILES = 4096;
/**
 * Deepest nesting of objects and arrays in a model's JSON. A Keras layer sits about 10 levels deep and
 * each nested model adds 4: real files stay far below; a deeper one would overflow the stack of the
 * code (ours and tfjs's) that walks it.
 */
export const MAX_JSON_DEPTH = 400;

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

/**
 * A converted folder's sidecar (convmap.json, from a stranger as much as from `convmap convert -o`):
 * a Convmap sidecar, its preprocessing read as `--preprocess` reads it (any spelling of a
 * `normalize:` mode, kept in canonical form).
 * @throws ModelError naming the file when it is not one, or its preprocessing is not a mode.
 */
export async function readSidecar(file: string): Promise<ConvertedModelInfo> {
  const info = (await readJsonFile(file, MAX_SIDE_FILE_BYTES)) as ConvertedModelInfo | null;
  if (typeof info !== 'object' || info === null || info.format !== 'convmap-fcn') throw new ModelError(file, 'is not a Convmap sidecar');
  const mode = readPreprocessMode(String(info.preprocess));
  if (!mode.ok) throw new ModelError(file, `preprocess: ${mode.reason}`);
  return { ...info, preprocess: mode.mode };
}

/** Parses JSON text from `file`; the refusal names `where` and never quotes the text. */
export function parseJsonText(text: string, file: string, where: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    throw new ModelError(file, where === 'the file' ? 'is not valid JSON' : `${where} is not valid JSON`);
  }
  if (jsonDepthOver(value, MAX_JSON_DEPTH)) {
    throw new ModelError(file, `${where === 'the file' ? 'its JSON' : where} nests deeper than ${MAX_JSON_DEPTH} levels (models within models?): refused before reading it`);
  }
  return value;
}

/** Whether `value` nests objects/arrays deeper than `limit`, measured without recursion. */
function jsonDepthOver(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * Refuses a layer named like a member of every JavaScript object (`constructor`, `hasOwnProperty`,
 * `__proto__`…): tfjs keeps layers and nodes in plain objects keyed by name, and such a name fails
 * deep inside it ("unprocessedNodes[layer.name].push is not a function"). Walks the topology
 * without recursion (nested models included); call after `parseJsonText` bounded its depth.
 */
export function assertLayerNames(topology: unknown, file: string): void {
  const stack: unknown[] = [topology];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      stack.push(...v);
      continue;
    }
    if (!isRecord(v)) continue;
    const cfg = v.config;
    if (typeof v.class_name === 'string') {
      const names = [isRecord(cfg) ? cfg.name : undefined, v.name].filter((n): n is string => typeof n === 'string');
      const bad = names.find((n) => n in Object.prototype || n === '__proto__');
      if (bad !== undefined) {
        throw new ModelError(file, `the layer name "${bad}" is a built-in JavaScript property name, which TensorFlow.js cannot load: rename the layer`, { name: bad, className: v.class_name });
      }
    }
    for (const key of ['model_config', 'config', 'layers']) if (key in v) stack.push(v[key]);
  }
}

/**
 * A small side file of a model (labels.txt, classes.txt, metadata.json) by its name in the model's
 * folder, read as text only when it resolves inside that folder (a link may point within it, not
 * out), is a regular file and is at most `maxBytes`; otherwise, or when absent, null: a side file
 * is optional, and one that leaves the folder is not the model's.
 */
export async function readSideFile(dir: string, name: string, maxBytes = MAX_SIDE_FILE_BYTES): Promise<string | null> {
  try {
    return (await readInside(dir, name, { maxBytes })).bytes.toString('utf8');
  } catch {
    return null;
  }
}

/**
 * Checks a weights manifest's form before any file is touched: groups are objects, weights have a
 * name, and at most MAX_WEIGHT_FILES shard paths are listed, none twice (tfjs never does; listed
 * 200 000 times, one small shard made the reader open and stat it that often). Linear in its size.
 */
export function checkManifest(modelFile: string, manifest: readonly unknown[]): void {
  let count = 0;
  const seen = new Set<string>();
  for (const group of manifest) {
    if (!isRecord(group)) throw new ModelError(modelFile, 'a weightsManifest group is not an object');
    if (Array.isArray(group.weights) && !group.weights.every((w) => isRecord(w) && typeof w.name === 'string')) {
      throw new ModelError(modelFile, 'weightsManifest has a weight without a name');
    }
    if (!Array.isArray(group.paths)) continue;
    count += group.paths.length;
    if (count > MAX_WEIGHT_FILES) {
      const all = manifest.reduce((n: number, g) => n + (isRecord(g) && Array.isArray(g.paths) ? g.paths.length : 0), 0);
      throw new ModelError(modelFile, `weightsManifest lists ${all} weight files, over the limit of ${MAX_WEIGHT_FILES}`);
    }
    for (const p of group.paths) {
      if (typeof p !== 'string') continue;
      if (seen.has(p)) throw new ModelError(modelFile, `weightsManifest lists the weight file "${p}" more than once`);
      seen.add(p);
    }
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
 * @param sink given, takes the shards' bytes in order as they are read, in pieces valid only during
 *   the call (so a caller filling one buffer never holds a shard besides it) and nothing is returned
 */
export async function readWeightShards(
  modelFile: string, paths: unknown, expectedBytes: number, budget: { left: number }, sink?: (bytes: Buffer) => void,
): Promise<Buffer[]> {
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
  const realDir = await realpath(dir).catch(() => dir);
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
      file = await resolveRealInside(dir, decoded, realDir);
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
      // Opened again and checked on its descriptor: the file read is the one inside the folder, of the size counted.
      // With a sink, the shard goes to it piece by piece: no shard-sized buffer is left for the garbage collector.
      const { bytes } = await readInside(dir, path.relative(dir, s.file), { maxBytes: s.size, exactBytes: s.size, rootReal: realDir, ...(sink ? { onChunk: sink } : {}) });
      if (!sink) parts.push(bytes);
    } catch (e) {
      throw asModelError(e, modelFile, `weight file "${s.name}"`);
    }
  }
  return parts;
}

/** Layers that hold weights themselves (nested models opened up), in order. */
function leafLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const out: tf.layers.Layer[] = [];
  const stack: tf.layers.Layer[] = [...model.layers].reverse();
  while (stack.length > 0) {
    const layer = stack.pop() as tf.layers.Layer;
    const inner = (layer as Partial<tf.LayersModel>).layers;
    if (Array.isArray(inner)) stack.push(...[...inner].reverse());
    else out.push(layer);
  }
  return out;
}

/** Most pixels (height × width) of a classifier's fixed input: conversion runs it on whole crops of that size. */
export const MAX_INPUT_PIXELS = 4096 * 4096;

/**
 * Refuses a model whose weights, as float32, add up past MAX_WEIGHT_BYTES, naming its largest
 * layer, or whose fixed input is over MAX_INPUT_PIXELS, before any weight is read: a file's config
 * may declare any layer or input size (a 2 KB model.json declaring a 70000×70000 input took the
 * CLI to 2.5 GB), and the reader and converter would allocate what it declares. (Built by
 * `buildUntrusted`, the weights cost address space only so far.)
 */
export function assertModelBudget(file: string, model: tf.LayersModel): void {
  for (const input of model.inputs) {
    const [, h, w] = input.shape;
    if (typeof h === 'number' && typeof w === 'number' && h * w > MAX_INPUT_PIXELS) {
      throw new ModelError(file, `the model's input is ${input.shape.slice(1).join('×')}, over the limit of ${MAX_INPUT_PIXELS} pixels (4096×4096) that Convmap runs a classifier on`);
    }
  }
  let total = 0;
  let largest: { layer: tf.layers.Layer; bytes: number } | null = null;
  for (const layer of leafLayers(model)) {
    const bytes = layer.weights.reduce((n, w) => n + 4 * w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
    total += bytes;
    if (largest === null || bytes > largest.bytes) largest = { layer, bytes };
  }
  if (total <= MAX_WEIGHT_BYTES || largest === null) return;
  throw new ModelError(
    file,
    `the model's weights take ${formatBytes(total)} as float32 (this layer ${formatBytes(largest.bytes)}), over the limit of ${formatBytes(MAX_WEIGHT_BYTES)} for a model: refused before reading them`,
    { name: largest.layer.name, className: largest.layer.getClassName() },
  );
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
