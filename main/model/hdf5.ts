import type { Dataset as H5Dataset, Group as H5Group } from 'h5wasm';
import { formatBytes, readFileHead } from '../io/safe-read';
import { ModelError } from './errors';
import { firstNonFinite, MAX_COMPRESSION_RATIO, nonFiniteText } from './guards';
import { assertNoExternalLink, confineH5, type H5Confinement } from './h5-guard';

/**
 * HDF5 reading for Keras native files, through h5wasm (no Python): file sniffing, opening with one-line
 * errors, attributes as Keras writes them, and datasets as float32 weights.
 */

/** A layer named in an error: its name and class. */
export interface LayerRef {
  name: string;
  className: string;
}

export const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
export const ZIP_SIGNATURE = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

/** 'hdf5' or 'zip' when the bytes start like a Keras native file, else null. */
export function kerasFileKind(head: Uint8Array): 'hdf5' | 'zip' | null {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.subarray(0, 8).equals(HDF5_SIGNATURE)) return 'hdf5';
  if (b.subarray(0, 4).equals(ZIP_SIGNATURE)) return 'zip';
  return null;
}

/** Reads the first bytes of a file to tell whether it is a Keras native file. */
export async function sniffKerasFile(file: string): Promise<'hdf5' | 'zip' | null> {
  // Never blocks on a FIFO: what is not a regular file is no Keras file (and is refused by the caller).
  const head = await readFileHead(file, 8).catch(() => null);
  return head === null ? null : kerasFileKind(head);
}

type H5Module = typeof import('h5wasm/node');
let h5Promise: Promise<H5Module> | null = null;

/** Loads h5wasm's Node build once; HDF5 errors become JS exceptions instead of stderr noise. */
export async function h5wasm(): Promise<H5Module> {
  h5Promise ??= (async () => {
    const mod = await import('h5wasm/node');
    const module = await mod.ready;
    module.activate_throwing_error_handler();
    return mod;
  })();
  return h5Promise;
}

/** The useful line of an HDF5 error stack: its innermost message ("truncated file: eof = …"). */
export function hdf5Reason(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const lines = [...text.matchAll(/#\d+: .*? in [\w_]+\(\): (.*)$/gm)].map((m) => m[1].trim());
  const last = lines.length > 0 ? lines[lines.length - 1] : text.split('\n')[0];
  return last.replace(/[^\x20-\x7e]/g, '?').slice(0, 300);
}

export interface H5File {
  root: H5Group;
  mod: H5Module;
  /** h5wasm may open only this file while it is open (no external links, storage or virtual datasets). */
  confinement: H5Confinement;
  /**
   * Bytes the file holds, and how many of them the datasets read so far need at least (a dataset
   * without filters needs its full size, a compressed one 1/MAX_COMPRESSION_RATIO of it).
   */
  storage: { fileBytes: number; needed: number };
  close(): void;
}

/**
 * Opens `diskPath` read-only, h5wasm confined to it.
 * @param fileBytes the file's size in bytes (from the caller's fstat or its own bytes), the most its datasets can store.
 */
export function openHdf5(mod: H5Module, diskPath: string, file: string, what: string, fileBytes: number): H5File {
  let f;
  const confinement = confineH5(mod, diskPath);
  try {
    f = new mod.File(diskPath, 'r');
  } catch (e) {
    confinement.release();
    const reason = hdf5Reason(e);
    const truncated = /truncated file/.test(reason);
    throw new ModelError(file, `${what} cannot be read as HDF5${truncated ? ' (the file is truncated: an interrupted download or copy?)' : ''}: ${reason}`);
  }
  const handle = f;
  return {
    root: handle, mod, confinement, storage: { fileBytes, needed: 0 },
    close: () => {
      try {
        handle.close();
      } finally {
        confinement.release();
      }
    },
  };
}

export function isGroup(h5: H5File, x: unknown): x is H5Group {
  return x instanceof h5.mod.Group;
}

export function isDataset(h5: H5File, x: unknown): x is H5Dataset {
  return x instanceof h5.mod.Dataset;
}

export function getEntity(group: H5Group, name: string): unknown {
  assertNoExternalLink(group, name);
  try {
    return group.get(name);
  } catch {
    return null;
  }
}

/** A string attribute (Keras writes JSON configs as one string, sometimes as bytes). */
export function attrText(obj: H5Group, name: string): string | null {
  const attr = obj.attrs[name];
  if (!attr) return null;
  const v = attr.value;
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return null;
}

/**
 * A list-of-strings attribute (`layer_names`, `weight_names`). Keras splits long ones into
 * `name0`, `name1`, … and writes an empty float array for an empty list.
 */
export function attrStrings(obj: H5Group, name: string): string[] | null {
  const one = (n: string): string[] | null => {
    const attr = obj.attrs[n];
    if (!attr) return null;
    const v = attr.value;
    if (typeof v === 'string') return [v];
    if (Array.isArray(v)) return v.map((s) => (s instanceof Uint8Array ? Buffer.from(s).toString('utf8') : String(s)));
    if (ArrayBuffer.isView(v) && (v as unknown as { length: number }).length === 0) return [];
    return null;
  };
  const whole = one(name);
  if (whole !== null) return whole;
  const parts: string[] = [];
  let found = false;
  for (let i = 0; ; i++) {
    const chunk = one(`${name}${i}`);
    if (chunk === null) break;
    found = true;
    parts.push(...chunk);
  }
  return found ? parts : null;
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

export interface Weight {
  shape: number[];
  values: Float32Array;
}

/**
 * What a layer allows a dataset to be, checked from its metadata before any data is read: the
 * shape the layer needs (when known by position), and a budget of values shared by all the
 * layer's datasets (the layer's own number of weight values), so a file declaring a huge dataset
 * is refused instead of allocated.
 */
export interface WeightLimits {
  want?: readonly (number | null)[];
  /** Another shape the layer accepts (a depthwise kernel stored as a Conv2D's with groups = channels). */
  orWant?: readonly number[];
  budget: { left: number };
}

function sameDims(a: readonly (number | null)[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, k) => d === b[k]);
}

function dimsText(s: readonly (number | null)[]): string {
  return `[${s.join(', ')}]`;
}

/**
 * Refuses a dataset whose declared bytes the file cannot be storing: HDF5 hands out a fill value
 * (zeros) for chunks never written, so a few KB may declare gigabytes that reading would allocate.
 * h5wasm does not expose a dataset's storage size, so the check is on the whole file: the datasets
 * read so far need their full size when stored plain, and 1/MAX_COMPRESSION_RATIO of it when
 * filtered (compressed), and together they must fit in the file's bytes.
 */
function checkStoredBytes(h5: H5File, ds: H5Dataset, bytes: number, file: string, layer: LayerRef, where: string, shape: readonly number[]): void {
  let filtered = false;
  try {
    filtered = ds.filters.length > 0;
  } catch {
    // unreadable filter list: counted as stored plain, the stricter of the two
  }
  const need = filtered ? Math.ceil(bytes / MAX_COMPRESSION_RATIO) : bytes;
  const { storage } = h5;
  if (storage.needed + need > storage.fileBytes) {
    const how = filtered ? `, compressed: at least ${formatBytes(need)} at ${MAX_COMPRESSION_RATIO}:1` : '';
    throw new ModelError(
      file,
      `weight "${where}" declares shape ${dimsText(shape)}, ${formatBytes(bytes)}${how}, more than the file stores: it holds ` +
        `${formatBytes(storage.fileBytes)} in all, ${storage.needed} of them needed by the weights before it ` +
        `(chunks never written, or packed over ${MAX_COMPRESSION_RATIO}:1): refused before reading`,
      layer,
    );
  }
  storage.needed += need;
}

/** A dataset as float32, whatever float or integer type the file stores. */
export function readWeight(h5: H5File, group: H5Group, name: string, file: string, layer: LayerRef, where: string, limits?: WeightLimits): Weight {
  const ds = getEntity(group, name);
  if (!isDataset(h5, ds)) throw new ModelError(file, `weight "${where}" is missing from the file`, layer);
  const shape = ds.shape ?? [];
  const meta = ds.metadata;
  const virtual = meta.virtual_sources ?? [];
  if (virtual.length > 0) {
    throw new ModelError(file, `weight "${where}" is a virtual dataset reading from ${virtual[0].file_name}: data from other files is refused`, layer);
  }
  // H5T_INTEGER (0) or H5T_FLOAT (1) of at most 8 bytes: anything else is refused before it is read.
  if (meta.vlen || (meta.type !== 0 && meta.type !== 1) || !(meta.size >= 1 && meta.size <= 8)) {
    throw new ModelError(file, `weight "${where}" has a data type Convmap cannot read (${JSON.stringify(ds.dtype)})`, layer);
  }
  if (limits?.want !== undefined && !sameDims(limits.want, shape) && !(limits.orWant !== undefined && sameDims(limits.orWant, shape))) {
    throw new ModelError(file, `weight "${where}" has shape ${dimsText(shape)} in the file, the layer needs ${dimsText(limits.want)}`, layer);
  }
  const declared = shape.reduce((a, b) => a * b, 1);
  if (limits !== undefined) {
    if (declared > limits.budget.left) {
      throw new ModelError(file, `weight "${where}" declares shape ${dimsText(shape)} (${declared} values), more than the layer's weights hold: refused before reading`, layer);
    }
    limits.budget.left -= declared;
  }
  checkStoredBytes(h5, ds, declared * meta.size, file, layer, where, shape);
  let raw;
  try {
    raw = ds.value;
  } catch (e) {
    const outside = h5.confinement.refusedPaths();
    if (outside.length > 0) {
      throw new ModelError(file, `weight "${where}" stores its data in another file (${outside[0]}): external storage is refused`, layer);
    }
    throw new ModelError(file, `weight "${where}" cannot be read: ${hdf5Reason(e)}`, layer);
  }
  let values: Float32Array;
  if (raw instanceof Float32Array) values = raw;
  else if (raw instanceof Float64Array || raw instanceof Int32Array || raw instanceof Int16Array || raw instanceof Int8Array || raw instanceof Uint8Array) {
    values = Float32Array.from(raw);
  } else if (raw instanceof Uint16Array && meta.type === 1 && meta.size === 2) values = Float32Array.from(raw, halfToFloat);
  else if (raw instanceof Uint16Array) values = Float32Array.from(raw);
  else if (typeof raw === 'number') values = Float32Array.of(raw);
  else throw new ModelError(file, `weight "${where}" has a data type Convmap cannot read (${JSON.stringify(ds.dtype)})`, layer);
  const n = shape.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new ModelError(file, `weight "${where}" holds ${values.length} values for shape [${shape.join(', ')}]`, layer);
  const bad = firstNonFinite(values);
  if (bad >= 0) throw new ModelError(file, `weight "${where}" holds ${nonFiniteText(values, bad)}: the model's weights must be finite numbers`, layer);
  return { shape, values };
}
