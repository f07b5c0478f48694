/**
 * On-disk cache of score maps, one file per (photo content, model, scale, preprocessing): reopening a
 * folder is instant, a changed photo (different bytes) is recomputed, and a new scale set reuses the
 * scales already computed.
 *
 * File format (little-endian): 8 bytes magic "CMAPSC01", uint32 header length n, n bytes of UTF-8
 * JSON header ({@link CacheHeader}), zero padding to a multiple of 4, then rows·cols·classes float32
 * scores. Files are written to a temporary name and renamed, so a reader never sees half a file; a
 * file that does not parse or does not match its key is treated as a miss.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { io } from '@tensorflow/tfjs';
import type { ConvertedModelInfo, PreprocessMode } from '../../core/model-info';
import type { ScoreMap } from '../../core/scoremap';
import { writeFileAtomic } from './atomic';

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

export interface CacheKeyParts {
  photo: string;
  model: string;
  scale: number;
  preprocess: PreprocessMode;
}

/** Header stored in each cache file. */
export interface CacheHeader extends CacheKeyParts {
  pipeline: string;
  imageSize: [number, number];
  scaledSize: [number, number];
  rows: number;
  cols: number;
  classes: number;
  geometry: ScoreMap['geometry'];
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

/** @returns the map, or undefined when the bytes are not a valid cache file for `parts`. */
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
  const scores = new Float32Array(count);
  if (os.endianness() === 'LE') new Uint8Array(scores.buffer).set(bytes.subarray(start));
  else for (let i = 0; i < count; i++) scores[i] = bytes.readFloatLE(start + 4 * i);
  return {
    scale: h.scale, imageSize: h.imageSize, scaledSize: h.scaledSize, rows: h.rows, cols: h.cols, classes: h.classes,
    scores, geometry: h.geometry,
  };
}

/** Where score maps are kept between runs. */
export interface ScoreCache {
  readonly dir: string;
  /** The cached map, or undefined (missing, unreadable, corrupt or for another key). */
  get(parts: CacheKeyParts): Promise<ScoreMap | undefined>;
  /** Store a map atomically; errors (read-only or full disk) are reported once via onWarning, never thrown. */
  put(parts: CacheKeyParts, map: ScoreMap): Promise<void>;
}

export interface DiskCacheOptions {
  /** Called once, the first time a write fails (the cache then stops writing). */
  onWarning?(message: string): void;
}

/** A score cache in `dir` (default {@link defaultCacheDir}); the folder is created on first write. */
export function createDiskCache(dir: string = defaultCacheDir(), opts: DiskCacheOptions = {}): ScoreCache {
  const root = path.resolve(dir);
  const fileOf = (parts: CacheKeyParts): string => {
    const key = cacheKey(parts);
    return path.join(root, 'scores-v1', key.slice(0, 2), `${key}.cmap`);
  };
  let broken = false;
  return {
    dir: root,
    async get(parts) {
      try {
        return decodeScoreMap(parts, await fs.readFile(fileOf(parts)));
      } catch {
        return undefined;
      }
    },
    async put(parts, map) {
      if (broken) return;
      const file = fileOf(parts);
      try {
        await fs.mkdir(path.dirname(file), { recursive: true });
        await writeFileAtomic(file, encodeScoreMap(parts, map));
      } catch (err) {
        broken = true;
        opts.onWarning?.(`score cache ${root} is not writable, results are not cached (${(err as Error).message})`);
      }
    },
  };
}
