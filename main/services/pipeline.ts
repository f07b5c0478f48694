/**
 * The one data path every entry point (the window's service, the batch queue, the CLI, export)
 * calls, stage by stage:
 *
 *   photo file ─loadPhoto→ LoadedPhoto (read once, hashed once, size from the header)
 *              ─PhotoDecoder.decode→ RgbImage (once per content hash, kept in a small LRU)
 *              ─scoreMapsFor→ ScoreMap[] per scale (disk cache first, then the engine; cancellable)
 *              ─analyseMaps (core/pipeline)→ averaged, class, detections
 *              ─renderPicture (./picture)→ overlay PNG
 *
 * The same PictureSettings give the same picture and boxes whichever caller runs them.
 */
import path from 'node:path';
import { LruMap } from '../../core/lru';
import type { PreprocessMode } from '../../core/model-info';
import type { ScoreMap } from '../../core/scoremap';
import { DEFAULT_MAX_PIXELS, probePhoto, readPhotoFile, untilAborted, type PhotoSize, type RgbImage } from '../io/decode';
import { decodeProcesses, type DecodeProcesses } from '../io/decode-host';
import type { Engine, ModelHandle } from '../engine/engine';
import { abortError } from '../io/abort';
import type { FileIdentity } from '../io/safe-read';
import { photoHash, type ScoreCache } from './storage/cache';

/** A photo read from disk: its bytes, content hash and upright size. */
export interface LoadedPhoto {
  /** Absolute path. */
  file: string;
  /** File name, for messages. */
  name: string;
  /** The encoded bytes, as read (once). */
  bytes: Buffer;
  /** sha256 of the bytes (hex): the cache key of the photo's content. */
  hash: string;
  /** Upright size from the header, checked against the pixel limit. */
  size: PhotoSize;
  /** The file the bytes were read from, by its open descriptor: what the photo scheme checks before serving them. */
  identity?: FileIdentity;
}

/** Limits of {@link loadPhoto} (the engine's LoadOptions are how a model is loaded). */
export interface PhotoLoadOptions {
  /** Largest width · height accepted (default 100 MP). */
  maxPixels?: number;
  /** Largest file read, bytes (default the decoder's 1 GiB). */
  maxBytes?: number;
}

/**
 * Reads a photo once (a regular file, size-capped), hashes it once and reads its upright size from
 * the header (refusing it over the pixel limit) — no pixel is decoded.
 * @throws ImageError naming the file.
 */
export async function loadPhoto(file: string, opts: PhotoLoadOptions = {}): Promise<LoadedPhoto> {
  const abs = path.resolve(file);
  const name = path.basename(abs);
  let identity: FileIdentity | undefined;
  const bytes = await readPhotoFile(abs, { maxBytes: opts.maxBytes, onIdentity: (id) => (identity = id) });
  const size = await probePhoto(bytes, { name, maxPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS });
  return { file: abs, name, bytes, hash: photoHash(bytes), size, identity };
}

/** A decode shared by every caller that asked for the same content while it ran. */
interface SharedDecode {
  image: Promise<RgbImage>;
  /** Callers still waiting for it; the last one to give up stops it. */
  waiters: number;
  settled: boolean;
  stop: AbortController;
}

/**
 * Decodes photos by content: the same bytes are decoded once while they stay among the `keep` most
 * recent. Each decode runs in a decoding process (io/decode-host) that is killed when every caller
 * waiting for it has given up, so a cancelled batch or window never waits for libvips.
 */
export class PhotoDecoder {
  private readonly recent: LruMap<string, SharedDecode>;
  constructor(private readonly opts: { keep?: number; maxPixels?: number; processes?: DecodeProcesses } = {}) {
    this.recent = new LruMap({ maxEntries: opts.keep ?? 2 });
    // The first photo need not wait for the decoding process to start.
    this.processes.warm();
  }

  private get processes(): DecodeProcesses {
    return this.opts.processes ?? decodeProcesses();
  }

  /**
   * The photo upright as RGB (see decodePhoto); a rejected decode is not kept. With `signal`, the
   * wait ends with an AbortError when it fires; the decode itself is stopped (its process killed)
   * unless another caller still waits for it.
   */
  decode(photo: Pick<LoadedPhoto, 'bytes' | 'hash' | 'name'>, signal?: AbortSignal): Promise<RgbImage> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const entry = this.shared(photo);
    entry.waiters++;
    return untilAborted(entry.image, signal).finally(() => {
      if (--entry.waiters > 0 || entry.settled) return;
      entry.stop.abort();
      if (this.recent.peek(photo.hash) === entry) this.recent.delete(photo.hash);
    });
  }

  private shared(photo: Pick<LoadedPhoto, 'bytes' | 'hash' | 'name'>): SharedDecode {
    const hit = this.recent.get(photo.hash);
    if (hit) return hit;
    const stop = new AbortController();
    const image = this.processes.decode(photo.bytes, { name: photo.name, maxPixels: this.opts.maxPixels ?? DEFAULT_MAX_PIXELS, signal: stop.signal });
    const entry: SharedDecode = { image, waiters: 0, settled: false, stop };
    image.then(() => (entry.settled = true), () => {
      entry.settled = true;
      if (this.recent.peek(photo.hash) === entry) this.recent.delete(photo.hash);
    });
    this.recent.set(photo.hash, entry);
    return entry;
  }

  /** Keeps an image already decoded (e.g. when a photo is opened) under its hash. */
  remember(hash: string, image: RgbImage): void {
    this.recent.set(hash, { image: Promise.resolve(image), waiters: 0, settled: true, stop: new AbortController() });
  }

  /** Forgets every decoded image (memory back). */
  clear(): void {
    this.recent.clear();
  }
}

/** What scoreMapsFor needs besides the photo. */
export interface ScoreRequest {
  engine: Pick<Engine, 'scoreMaps'>;
  handle: ModelHandle;
  preprocess: PreprocessMode;
  scales: readonly number[];
  /** Disk cache; null: none. */
  cache: ScoreCache | null;
  /** The model's cache key (cache.modelHash); required with a cache. */
  modelKey?: string;
  signal?: AbortSignal;
  onProgress?(done: number, total: number, missing: readonly number[]): void;
}

/** The maps of every requested scale, in the order asked, and how many came from the cache. */
export interface PhotoMaps {
  maps: ScoreMap[];
  cachedScales: number;
  /** True when the engine ran (some scale was not in the cache). */
  computed: boolean;
}

/**
 * Score maps of one photo at every scale: from the cache where a map of the same content, model,
 * scale and preprocessing (and the photo's size and the model's class count) is stored, the rest
 * from the engine in one call (decoding the photo only then), stored back into the cache.
 * @param decode gives the upright photo; called at most once, and only when a scale is missing.
 * @throws AbortError when `req.signal` fires (also while the cache is read).
 */
export async function scoreMapsFor(photo: Pick<LoadedPhoto, 'hash' | 'size'>, decode: () => Promise<RgbImage>, req: ScoreRequest): Promise<PhotoMaps> {
  const { cache, scales, preprocess } = req;
  if (cache && !req.modelKey) throw new Error('scoreMapsFor: a cache needs modelKey (modelHash(artifacts, info))');
  const key = (scale: number) => ({ photo: photo.hash, model: req.modelKey as string, scale, preprocess });
  const maps: (ScoreMap | undefined)[] = scales.map(() => undefined);
  if (cache) {
    const got = await Promise.all(scales.map((s) => cache.get(key(s))));
    got.forEach((m, k) => {
      if (m && m.classes === req.handle.classes && m.imageSize[0] === photo.size.height && m.imageSize[1] === photo.size.width) maps[k] = m;
    });
  }
  if (req.signal?.aborted) throw abortError(req.signal);
  const missing = scales.filter((_, k) => maps[k] === undefined);
  if (missing.length > 0) {
    const image = await decode();
    if (req.signal?.aborted) throw abortError(req.signal);
    const computed = await req.engine.scoreMaps(req.handle, image, missing, preprocess, {
      signal: req.signal,
      onProgress: req.onProgress ? (done, total) => req.onProgress?.(done, total, missing) : undefined,
    });
    let j = 0;
    for (let k = 0; k < maps.length; k++) if (maps[k] === undefined) maps[k] = computed[j++];
    if (cache) await Promise.all(computed.map((m, q) => cache.put(key(missing[q]), m)));
  }
  return { maps: maps as ScoreMap[], cachedScales: scales.length - missing.length, computed: missing.length > 0 };
}
