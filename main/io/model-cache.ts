/**
 * The model cache, in the score cache's folder: what opening a model computes, kept by content so
 * the next open of the same files is a file open.
 *
 * - `conversions-v1/<key>/`: a classifier's conversion as `convmap convert -o` writes it (model.json,
 *   weights.bin, convmap.json with the crop check's report, model.onnx), keyed by the bytes of the
 *   model's files (model file, weight shards, an ONNX file's external data, label and metadata files)
 *   and the conversion's options.
 *   A changed file gives another key.
 * - `onnx-v1/<key>.onnx`: ONNX Runtime's optimised form of a model.onnx, keyed by its bytes, the ONNX
 *   Runtime version, the device and the CPU (the optimised layout is specific to them).
 * - `digests-v1/<id>`: the sha256 of a big model file as {@link fileDigest} last computed it, by the
 *   file's identity and times, so that finding its conversion does not read the model again.
 *
 * Entries appear whole (written under a temporary name, then renamed). The two folders together are
 * bounded by bytes (default {@link DEFAULT_MODEL_CACHE_BYTES}); a use touches an entry, and the least
 * recently used go first.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeDirs, writeFileAtomic } from './atomic';
import { resolveRealInside } from './safe-read';

/** Conversions, one folder each. */
export const CONVERSIONS_DIR = 'conversions-v1';
/** ONNX Runtime's optimised models, one file each. */
export const OPTIMIZED_DIR = 'onnx-v1';
/**
 * Default bound of the model cache: 2 GB, about one VGG16-sized model (its conversion, 1.1 GB, and
 * its optimised file, 0.5 GB) or hundreds of MobileNet-sized ones.
 */
export const DEFAULT_MODEL_CACHE_BYTES = 2_000_000_000;
/** Bump when what a conversion writes changes within one package version. */
const CONVERSION_FORMAT = 'convmap-conversion/5';

let version: Promise<string> | undefined;

/** The package version, from the nearest package.json named convmap above this file (source or a build). */
function packageVersion(): Promise<string> {
  version ??= (async () => {
    for (let up = '../../'; up.length <= 15; up += '../') {
      try {
        const pkg = JSON.parse(await fs.readFile(new URL(`${up}package.json`, import.meta.url), 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'convmap') return pkg.version ?? 'unknown';
      } catch {
        // not here; one folder up
      }
    }
    return 'unknown';
  })();
  return version;
}

/** Remembered file digests, in a cache folder (see {@link fileDigest}). */
export const DIGESTS_DIR = 'digests-v1';

/** Files smaller than this are hashed every time (a remembered digest saves nothing there). */
const MEMO_MIN_BYTES = 16 << 20;

/** A file changed this recently is not remembered: a second write within the file system's timestamp granularity could keep its times. */
const MEMO_SETTLED_MS = 2000;

/**
 * sha256 of a file's bytes, streamed (a VGG16 .h5 is half a gigabyte). With `memoDir` (a cache
 * folder), the digest of a file of 16 MiB or more is remembered under the file's device, inode,
 * size and modification and change times (nanoseconds), and given again while they are all the
 * same, without reading the file: sha256 of VGG16's 553 MB took 0.75 s and reading it 0.45 s at a
 * load of 8. Any write changes the change time, which no program can set back. A file changed in the
 * last 2 s, or while it was read, is not remembered.
 */
export async function fileDigest(file: string, memoDir?: string): Promise<string> {
  const before = memoDir === undefined ? undefined : await fs.stat(file, { bigint: true });
  const id = before !== undefined && before.size >= MEMO_MIN_BYTES ? `${before.dev}:${before.ino}:${before.size}:${before.mtimeNs}:${before.ctimeNs}` : undefined;
  const memo = id !== undefined && memoDir !== undefined ? path.join(memoDir, DIGESTS_DIR, createHash('sha256').update(id).digest('hex')) : undefined;
  if (memo !== undefined) {
    const kept = await fs.readFile(memo, 'utf8').catch(() => '');
    if (/^[0-9a-f]{64}$/.test(kept)) return kept;
  }
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  const digest = h.digest('hex');
  if (memo !== undefined) {
    const after = await fs.stat(file, { bigint: true }).catch(() => undefined);
    const same = after !== undefined && `${after.dev}:${after.ino}:${after.size}:${after.mtimeNs}:${after.ctimeNs}` === id;
    if (same && Date.now() - Number(after.ctimeMs) > MEMO_SETTLED_MS) {
      // A cache: a folder that cannot be written only means hashing again next time.
      await makeDirs(path.dirname(memo)).then(() => writeFileAtomic(memo, digest)).catch(() => undefined);
    }
  }
  return digest;
}

/** Files next to a model that change what its conversion says (labels, Teachable Machine's metadata). */
const SIDE_FILES = ['metadata.json', 'labels.txt', 'classes.txt'];

/** Which length-delimited fields of an ONNX message hold messages that can lead to a tensor (onnx.proto numbers). */
const ONNX_TENSOR_PATHS: Record<string, Record<number, string>> = {
  model: { 7: 'graph' },
  graph: { 1: 'node', 5: 'tensor', 15: 'sparse' },
  node: { 5: 'attribute' },
  attribute: { 5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparse', 23: 'sparse' },
  sparse: { 1: 'tensor', 2: 'tensor' },
  tensor: { 13: 'entry' },
};

/**
 * The external data files an ONNX model's tensors name (each TensorProto's external_data
 * "location"), in order, each once. Walks only the messages that can hold tensors (graphs, nodes,
 * attributes, subgraphs) and skips every other field by its length, weights included, reading the
 * file in small pieces: a half-gigabyte model with its weights inside costs a few reads. A file that
 * is not a protobuf gives what was found before the damage (its loading refuses it).
 */
export async function onnxExternalLocations(file: string): Promise<string[]> {
  const fh = await fs.open(file, 'r');
  const found = new Set<string>();
  try {
    const size = (await fh.stat()).size;
    const CHUNK = 1 << 16;
    let chunk = Buffer.alloc(0);
    let chunkAt = 0;
    /** Makes bytes [pos, pos + n) (clipped to the file) readable from `chunk`. */
    const ensure = async (pos: number, n: number): Promise<void> => {
      if (pos >= chunkAt && Math.min(pos + n, size) <= chunkAt + chunk.length) return;
      const buf = Buffer.alloc(Math.max(0, Math.min(CHUNK, size - pos)));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      chunk = buf.subarray(0, bytesRead);
      chunkAt = pos;
    };
    const varint = async (pos: number, end: number): Promise<[number, number]> => {
      await ensure(pos, 10);
      let value = 0;
      for (let shift = 1; pos < end && pos < chunkAt + chunk.length && shift < 2 ** 63; shift *= 128) {
        const b = chunk[pos++ - chunkAt];
        value += (b & 0x7f) * shift;
        if (b < 0x80) return [value, pos];
      }
      throw new Error('bad varint');
    };
    const text = async (start: number, end: number): Promise<string> => {
      const buf = Buffer.alloc(end - start);
      await fh.read(buf, 0, buf.length, start);
      return buf.toString('utf8');
    };
    const walk = async (type: string, start: number, end: number, depth: number): Promise<void> => {
      const entry: Record<number, string> = {};
      for (let pos = start; pos < end;) {
        const [key, p] = await varint(pos, end);
        const field = Math.floor(key / 8);
        const wire = key % 8;
        if (wire === 0) [, pos] = await varint(p, end);
        else if (wire === 1) pos = p + 8;
        else if (wire === 5) pos = p + 4;
        else if (wire === 2) {
          const [length, q] = await varint(p, end);
          pos = q + length;
          if (pos > end) throw new Error('field beyond its message');
          const sub = ONNX_TENSOR_PATHS[type]?.[field];
          if (type === 'entry' && (field === 1 || field === 2) && length <= 4096) entry[field] = await text(q, pos);
          else if (sub !== undefined && depth < 64) await walk(sub, q, pos, depth + 1);
        } else throw new Error(`wire type ${wire}`);
      }
      if (type === 'entry' && entry[1] === 'location' && entry[2] !== undefined) found.add(entry[2]);
    };
    await walk('model', 0, size, 0).catch(() => undefined);
  } finally {
    await fh.close();
  }
  return [...found];
}

/**
 * Key of a classifier's conversion: the bytes of `files` (the model file and its weight shards),
 * of the external data files an ONNX file names (those inside the model's folder; one outside is
 * refused by loading, and its key part is null), of the side files in the model's folder that
 * exist, of a label file given, and the options.
 * @param files the model's own files; each must exist
 * @param memoDir the cache folder, where the digests of big files are remembered ({@link fileDigest})
 */
export async function conversionKey(files: readonly string[], options: Record<string, unknown>, labelsFile?: string, memoDir?: string): Promise<string> {
  const dir = path.dirname(files[0]);
  const sides = SIDE_FILES.map((n) => path.join(dir, n)).filter((f) => !files.includes(f));
  const digests: Record<string, string | null> = {};
  for (const f of files) {
    digests[path.relative(dir, f)] = await fileDigest(f, memoDir);
    if (!/\.onnx$/i.test(f)) continue;
    for (const location of await onnxExternalLocations(f)) {
      const target = await resolveRealInside(path.dirname(f), location).catch(() => null);
      digests[`${path.relative(dir, f)} external ${location}`] = target === null ? null : await fileDigest(target, memoDir).catch(() => null);
    }
  }
  for (const f of sides) digests[path.basename(f)] = await fileDigest(f).catch(() => null);
  const labels = labelsFile === undefined ? null : await fileDigest(labelsFile);
  return createHash('sha256').update(JSON.stringify({ v: CONVERSION_FORMAT, convmap: await packageVersion(), digests, labels, options })).digest('hex');
}

/** The folder of a conversion entry. */
export function conversionDir(cacheDir: string, key: string): string {
  return path.join(path.resolve(cacheDir), CONVERSIONS_DIR, key);
}

/**
 * The conversion entry of `key` when it is whole (its folder holds every file), touched as used;
 * else undefined.
 */
export async function findConversion(cacheDir: string, key: string, files: readonly string[]): Promise<string | undefined> {
  const dir = conversionDir(cacheDir, key);
  for (const f of files) {
    const st = await fs.stat(path.join(dir, f)).catch(() => null);
    if (!st?.isFile()) return undefined;
  }
  const now = new Date();
  await fs.utimes(dir, now, now).catch(() => undefined);
  return dir;
}

/**
 * Stores a conversion: `write` fills a fresh temporary folder, which is then renamed to the entry's
 * name (a reader never sees half an entry; of two writers of one key, the first stays). Then trims
 * the cache to `maxBytes`.
 * @returns the entry's folder
 */
export async function storeConversion(cacheDir: string, key: string, write: (dir: string) => Promise<void>, maxBytes = DEFAULT_MODEL_CACHE_BYTES): Promise<string> {
  const dir = conversionDir(cacheDir, key);
  await makeDirs(path.dirname(dir));
  const tmp = await fs.mkdtemp(path.join(path.dirname(dir), `.${key.slice(0, 8)}-`));
  try {
    await write(tmp);
    await fs.rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
      // Another process stored the same conversion meanwhile: its entry is as good as this one.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      await fs.rm(tmp, { recursive: true, force: true });
    });
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
  await trimModelCache(cacheDir, maxBytes, dir);
  return dir;
}

/** What identifies an optimised model besides the model: ONNX Runtime's version, the device and this CPU. */
export function optimizedKey(modelDigest: string, ortVersion: string, device: string): string {
  const cpu = `${os.arch()} ${os.cpus()[0]?.model ?? 'unknown'}`;
  return createHash('sha256').update(JSON.stringify({ model: modelDigest, ort: ortVersion, device, cpu })).digest('hex');
}

/** The file of an optimised model in the cache. */
export function optimizedFile(cacheDir: string, key: string): string {
  return path.join(path.resolve(cacheDir), OPTIMIZED_DIR, `${key}.onnx`);
}

/**
 * Puts `file` into the cache as `target`: a hard link where the file system allows one, else a copy,
 * under a temporary name renamed into place.
 */
export async function linkOrCopy(file: string, target: string): Promise<void> {
  await makeDirs(path.dirname(target));
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`);
  await fs.rm(tmp, { force: true });
  try {
    await fs.link(file, tmp).catch(() => fs.copyFile(file, tmp));
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

interface Entry {
  path: string;
  bytes: number;
  used: number;
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const st = await fs.lstat(path.join(dir, name)).catch(() => null);
    if (st?.isFile()) total += st.size;
  }
  return total;
}

/** Every entry of the model cache (temporary ones of writers at work excluded). */
async function modelEntries(cacheDir: string): Promise<Entry[]> {
  const root = path.resolve(cacheDir);
  const out: Entry[] = [];
  const conversions = path.join(root, CONVERSIONS_DIR);
  for (const name of await fs.readdir(conversions).catch(() => [] as string[])) {
    if (name.startsWith('.')) continue;
    const dir = path.join(conversions, name);
    const st = await fs.lstat(dir).catch(() => null);
    if (st?.isDirectory()) out.push({ path: dir, bytes: await folderBytes(dir), used: st.mtimeMs });
  }
  const optimized = path.join(root, OPTIMIZED_DIR);
  for (const name of await fs.readdir(optimized).catch(() => [] as string[])) {
    if (name.startsWith('.')) continue;
    const file = path.join(optimized, name);
    const st = await fs.lstat(file).catch(() => null);
    if (st?.isFile()) out.push({ path: file, bytes: st.size, used: st.mtimeMs });
  }
  return out;
}

/** What the model cache holds: conversions, optimised models and their bytes. */
export interface ModelCacheInfo {
  dir: string;
  conversions: number;
  optimized: number;
  bytes: number;
}

export async function modelCacheInfo(cacheDir: string): Promise<ModelCacheInfo> {
  const entries = await modelEntries(cacheDir);
  const conversions = entries.filter((e) => path.basename(path.dirname(e.path)) === CONVERSIONS_DIR).length;
  return { dir: path.resolve(cacheDir), conversions, optimized: entries.length - conversions, bytes: entries.reduce((n, e) => n + e.bytes, 0) };
}

/** Removes every conversion and optimised model (the folder itself stays). @returns what was removed. */
export async function clearModelCache(cacheDir: string): Promise<ModelCacheInfo> {
  const info = await modelCacheInfo(cacheDir);
  const root = path.resolve(cacheDir);
  await fs.rm(path.join(root, CONVERSIONS_DIR), { recursive: true, force: true });
  await fs.rm(path.join(root, OPTIMIZED_DIR), { recursive: true, force: true });
  await fs.rm(path.join(root, DIGESTS_DIR), { recursive: true, force: true });
  return info;
}

/**
 * Removes the least recently used entries until the model cache holds at most `maxBytes`.
 * @param keep an entry just stored, which stays even alone over the bound (its caller opens it next)
 * @returns the bytes left
 */
export async function trimModelCache(cacheDir: string, maxBytes = DEFAULT_MODEL_CACHE_BYTES, keep?: string): Promise<number> {
  const entries = (await modelEntries(cacheDir)).sort((a, b) => a.used - b.used);
  let total = entries.reduce((n, e) => n + e.bytes, 0);
  for (const e of entries) {
    if (total <= maxBytes) break;
    if (e.path === keep) continue;
    await fs.rm(e.path, { recursive: true, force: true });
    total -= e.bytes;
  }
  return total;
}
