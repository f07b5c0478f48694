/**
 * On-disk cache of score maps, one file per (photo content, model, scale, preprocessing): reopening a
 * folder is instant, a changed photo (different bytes) is recomputed, and a new scale set reuses the
 * scales already computed.
 *
 * File format (little-endian): 8 bytes magic "CMAPSC01", uint32 header length n, n bytes of UTF-8
 * JSON header ({@link CacheHeader}), zero padding to a multiple of 4, then rows·cols·classes float32
 * scores. Files are written to a temporary name and renamed, so a reader never sees half a file; a
 * file that does not parse, does not match its key or holds a non-finite score is a miss, and is
 * removed.
 *
 * The folder is bounded by bytes (default 1 GB): after each write, the least recently used files
 * (a hit touches its file's mtime) are removed until the total is under the limit.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { io } from '@tensorflow/tfjs';
import type { ConvertedModelInfo, PreprocessMode } from '../../../core/model-info';
import type { CellGeometry, ScoreMap } from '../../../core/scoremap';
import { readRegularFile } from '../../io/safe-read';
import { makeDirs, writeFileAtomic } from '../../io/atomic';

const MAGIC = 'CMAPSC01';
/**
 * Version of what goes into a score map besides model, photo, scale and preprocessing: decoding
 * (EXIF rotation, alpha flattened on white, sRGB 8-bit) and resizing (Lanczos-3). Bump on change.
 */
export const PIPELINE_VERSION = 'decode-srgb8-white/resize-lanczos3/v1';

/** The cache folder: $CONVMAP_CACHE_DIR, else ~/.cache/convmap. */
export function defaultCacheDir(): string {
  return process.env.CONVMAP_CACHE_DIR || path.join(os.homedir(), '.cache', 'convmap');
}

function sha256(parts: (string | Uint8Array)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** sha256 of a photo's bytes (its content, not its name or date). */
export function photoHash(bytes: Uint8Array): string {
  return sha256([bytes]);
}

/**
 * Hash of a model: its topology, weight specs and weight bytes, plus what Convmap knows of it
 * (geometry, channels, labels, padding) — not where it was loaded from.
 */
export function modelHash(artifacts: io.ModelArtifacts, info: Pick<ConvertedModelInfo, 'window' | 'stride' | 'offset' | 'channels' | 'labels' | 'padding'>): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(artifacts.modelTopology ?? null));
  h.update(JSON.stringify(artifacts.weightSpecs ?? []));
  const data = artifacts.weightData as ArrayBuffer | ArrayBuffer[] | undefined;
  for (const buf of data === undefined ? [] : Array.isArray(data) ? data : [data]) h.update(new Uint8Array(buf));
  h.update(JSON.stringify({ window: info.window, stride: info.stride, offset: info.offset, channels: info.channels, labels: info.labels, padding: info.padding }));
  return h.digest('hex');
}

/**
 * modelHash of a model whose scores come from one ONNX file (a converted folder opened from its
 * model.onnx): the file's sha256 `onnxDigest` stands for its topology and weights.
 */
export function onnxModelHash(onnxDigest: string, info: Pick<ConvertedModelInfo, 'window' | 'stride' | 'offset' | 'channels' | 'labels' | 'padding'>): string {
  return sha256([JSON.stringify({ onnx: onnxDigest, window: info.window, stride: info.stride, offset: info.offset, channels: info.channels, labels: info.labels, padding: info.padding })]);
}

export interface CacheKeyParts {
  photo: string;
  model: string;
  scale: number;
  preprocess: PreprocessMode;
}

/** Header stored in each cache file: the key, the pipeline version and the map's geometry (all of ScoreMap but its scores). */
export interface CacheHeader extends CacheKeyParts, Pick<ScoreMap, 'imageSize' | 'scaledSize' | 'rows' | 'cols' | 'classes' | 'geometry'> {
  pipeline: string;
}

export function cacheKey(parts: CacheKeyParts): string {
  return sha256([JSON.stringify({ v: PIPELINE_VERSION, photo: parts.photo, model: parts.model, scale: parts.scale, preprocess: parts.preprocess })]);
}

export function encodeScoreMap(parts: CacheKeyParts, map: ScoreMap): Uint8Array {
  const header: CacheHeader = {
    ...parts, pipeline: PIPELINE_VERSION, imageSize: map.imageSize, scaledSize: map.scaledSize,
    rows: map.rows, cols: map.cols, classes: map.classes, geometry: map.geometry,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const start = Math.ceil((12 + json.length) / 4) * 4;
  const out = Buffer.alloc(start + map.scores.byteLength);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(json.length, 8);
  json.copy(out, 12);
  const scores = Buffer.from(map.scores.buffer, map.scores.byteOffset, map.scores.byteLength);
  if (os.endianness() === 'LE') scores.copy(out, start);
  else for (let i = 0; i < map.scores.length; i++) out.writeFloatLE(map.scores[i], start + 4 * i);
  return out;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isPair(v: unknown, ok: (x: unknown) => boolean): boolean {
  return Array.isArray(v) && v.length === 2 && v.every(ok);
}

/** The header's sizes are what an engine writes: whole pixel and cell counts, a positive scale. */
function validGeometry(h: CacheHeader): boolean {
  const positive = (x: unknown): boolean => isCount(x) && x > 0;
  const g = h.geometry as Partial<CellGeometry> | undefined;
  return typeof h.scale === 'number' && Number.isFinite(h.scale) && h.scale > 0 && isCount(h.rows) && isCount(h.cols) && positive(h.classes)
    && isPair(h.imageSize, positive) && isPair(h.scaledSize, positive)
    && typeof g === 'object' && g !== null && isPair(g.window, positive) && isPair(g.stride, positive) && isPair(g.offset, isCount);
}

/**
 * @returns the map, or undefined when the bytes are not a valid cache file for `parts`: another
 *   key, a damaged header, sizes that are not whole counts, or a score that is not finite (NaN, ±∞).
 */
export function decodeScoreMap(parts: CacheKeyParts, bytes: Buffer): ScoreMap | undefined {
  if (bytes.length < 12 || bytes.toString('latin1', 0, 8) !== MAGIC) return undefined;
  const n = bytes.readUInt32LE(8);
  if (12 + n > bytes.length) return undefined;
  let h: CacheHeader;
  try {
    h = JSON.parse(bytes.toString('utf8', 12, 12 + n)) as CacheHeader;
  } catch {
    return undefined;
  }
  if (h.pipeline !== PIPELINE_VERSION || h.photo !== parts.photo || h.model !== parts.model || h.scale !== parts.scale || h.preprocess !== parts.preprocess) return undefined;
  const start = Math.ceil((12 + n) / 4) * 4;
  const count = h.rows * h.cols * h.classes;
  if (!(Number.isInteger(count) && count >= 0) || bytes.length !== start + count * 4) return undefined;
  if (!validGeometry(h)) return undefined;
  const scores = new Float32Array(count);
  if (os.endianness() === 'LE') new Uint8Array(scores.buffer).set(bytes.subarray(start));
  else for (let i = 0; i < count; i++) scores[i] = bytes.readFloatLE(start + 4 * i);
  // The engine refuses non-finite scores; one in a file means the file was damaged or written by another hand.
  for (let i = 0; i < count; i++) if (!Number.isFinite(scores[i])) return undefined;
  return {
    scale: h.scale, imageSize: h.imageSize, scaledSize: h.scaledSize, rows: h.rows, cols: h.cols, classes: h.classes,
    scores, geometry: h.geometry,
  };
}

/** Default bound of the cache folder: 1 GB. */
export const DEFAULT_CACHE_BYTES = 1_000_000_000;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/**
 * A byte size as people write it: "1GB", "500 MB", "2.5g", "64MiB", "1000000".
 * @throws naming the text when it is not a size.
 */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`"${text}" is not a size (e.g. 500MB, 2GB)`);
  return Math.round(Number(m[1]) * unit);
}

/** A byte count for people: "1.2 GB", "340 MB", "12 kB". */
export function formatByteSize(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(0)} MB` : `${Math.ceil(n / 1e3)} kB`;
}

/** Where score maps are kept between runs. */
export interface ScoreCache {
  readonly dir: string;
  /** The byte bound of the folder. */
  readonly maxBytes: number;
  /** The cached map, or undefined (missing, unreadable, corrupt or for another key). */
  get(parts: CacheKeyParts): Promise<ScoreMap | undefined>;
  /** Store a map atomically; errors (read-only or full disk) are reported once via onWarning, never thrown. */
  put(parts: CacheKeyParts, map: ScoreMap): Promise<void>;
}

export interface DiskCacheOptions {
  /** Called once, the first time a write fails (the cache then stops writing). */
  onWarning?(message: string): void;
  /** Bytes the folder may hold (default {@link DEFAULT_CACHE_BYTES}); least recently used files go first. */
  maxBytes?: number;
}

/** The cache's files (scores-v1/xx/*.cmap) with size and last use (mtime, ms). */
async function cacheFiles(root: string): Promise<{ file: string; size: number; used: number }[]> {
  const base = path.join(root, 'scores-v1');
  const out: { file: string; size: number; used: number }[] = [];
  for (const sub of await fs.readdir(base).catch(() => [] as string[])) {
    const dir = path.join(base, sub);
    for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
      if (!name.endsWith('.cmap')) continue;
      const file = path.join(dir, name);
      const st = await fs.stat(file).catch(() => null);
      if (st?.isFile()) out.push({ file, size: st.size, used: st.mtimeMs });
    }
  }
  return out;
}

/** What the cache folder holds. */
export interface CacheInfo {
  dir: string;
  files: number;
  bytes: number;
}

/** Files and bytes of the cache in `dir`. */
export async function cacheInfo(dir: string = defaultCacheDir()): Promise<CacheInfo> {
  const files = await cacheFiles(path.resolve(dir));
  return { dir: path.resolve(dir), files: files.length, bytes: files.reduce((a, f) => a + f.size, 0) };
}

/** Removes every cached score map in `dir` (the folder itself stays). @returns what was removed. */
export async function clearCache(dir: string = defaultCacheDir()): Promise<CacheInfo> {
  const info = await cacheInfo(dir);
  await fs.rm(path.join(path.resolve(dir), 'scores-v1'), { recursive: true, force: true });
  return info;
}

/**
 * Removes least recently used files until the folder holds at most `maxBytes`.
 * @returns the bytes left.
 */
export async function trimCache(dir: string, maxBytes: number): Promise<number> {
  const files = (await cacheFiles(path.resolve(dir))).sort((a, b) => a.used - b.used);
  let total = files.reduce((a, f) => a + f.size, 0);
  for (const f of files) {
    if (total <= maxBytes) break;
    await fs.rm(f.file, { force: true });
    total -= f.size;
  }
  return total;
}

/** A score cache in `dir` (default {@link defaultCacheDir}); the folder is created on first write. */
export function createDiskCache(dir: string = defaultCacheDir(), opts: DiskCacheOptions = {}): ScoreCache {
  const root = path.resolve(dir);
  const fileOf = (parts: CacheKeyParts): string => {
    const key = cacheKey(parts);
    return path.join(root, 'scores-v1', key.slice(0, 2), `${key}.cmap`);
  };
  let broken = false;
  const maxBytes = opts.maxBytes ?? DEFAULT_CACHE_BYTES;
  // Bytes in the folder as this process knows them: counted once, then kept up to date by its writes.
  let total: Promise<number> | undefined;
  let trimming: Promise<void> = Promise.resolve();
  return {
    dir: root,
    maxBytes,
    async get(parts) {
      const file = fileOf(parts);
      let bytes: Buffer;
      try {
        // A regular file within the folder's bound: a FIFO or device planted there is a miss, not a hang.
        bytes = await readRegularFile(file, { maxBytes, capName: 'the cache bound' });
      } catch {
        return undefined;
      }
      const map = decodeScoreMap(parts, bytes);
      if (map === undefined) {
        // A file under this key's name that is not a valid map for it: removed, so the map computed now replaces it.
        await fs.rm(file, { force: true }).catch(() => undefined);
        return undefined;
      }
      // A hit is a use: the least recently used files are the ones trimmed.
      const now = new Date();
      await fs.utimes(file, now, now).catch(() => undefined);
      return map;
    },
    async put(parts, map) {
      if (broken) return;
      const file = fileOf(parts);
      try {
        await makeDirs(path.dirname(file));
        const bytes = encodeScoreMap(parts, map);
        await writeFileAtomic(file, bytes);
        total ??= cacheInfo(root).then((i) => i.bytes - bytes.length);
        const now = (await total) + bytes.length;
        total = Promise.resolve(now);
        if (now > maxBytes) {
          trimming = trimming.then(async () => {
            total = Promise.resolve(await trimCache(root, maxBytes));
          });
          await trimming;
        }
      } catch (err) {
        broken = true;
        opts.onWarning?.(`score cache ${root} is not writable, results are not cached (${(err as Error).message})`);
      }
    },
  };
}
