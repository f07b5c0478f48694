/**
 * Batch processing of many photos, Electron-free: the CLI runs it, and the app's queue will too.
 *
 * Several photos are in flight at once (`jobs`, default max(2, workers)) so the engine's workers stay
 * busy while other photos decode, blend and encode; a pixel budget bounds the memory of photos in
 * flight, so memory does not grow with the number or size of photos. Each photo is reported through
 * `onEvent` (queued → running → done | failed | skipped) with overall progress (count, rate, ETA).
 * A bad photo (unreadable, truncated, over the pixel limit, a worker crash on it) fails with its
 * reason and the batch goes on. Pause/resume through a {@link BatchController}: no new photo starts
 * while paused, photos in flight finish. Cancel through `signal`: photos in flight stop, nothing
 * unfinished is written, finished exports stay, the CSV files hold the photos finished so far.
 *
 * Output folder policy: the folder is created and probed before the first photo; if it cannot be
 * written, runBatch rejects at once with one {@link OutputError} naming the folder and no photo is
 * processed. A write that fails later (disk full, permissions changed) fails that photo with a
 * message naming the file, and the batch goes on.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { averageScoreMaps, classMaxima } from '../../core/average';
import type { BatchProgress } from '../../core/api';
import type { Detection } from '../../core/detect';
import type { ConvertedModelInfo } from '../../core/model-info';
import type { ScoreMap } from '../../core/scoremap';
import { DEFAULT_MAX_PIXELS, decodeImage, ImageError, type RgbImage } from '../engine/decode';
import type { Engine, ModelHandle } from '../engine/engine';
import { isAbortError } from '../engine/pool';
import { decodeBmp, isBmp } from './bmp';
import type { ScoreCache } from './cache';
import { photoHash } from './cache';
import {
  checkNamePattern, checkOutputFolder, csvLine, DEFAULT_NAME_PATTERN, exportPhotoFiles, OutputError, photoDetections, renderExportPng,
  writeFileNoClobber, type ExportStyle,
} from './export';
import { chooseClass, classLabel, namedClass, scoresRecord, type PhotoResult } from './heatmap';

/** 'no cells': processed, but the photo is smaller than the model's window at every scale (nothing to draw, nothing exported). */
export type PhotoStatus = 'queued' | 'running' | 'done' | 'no cells' | 'failed' | 'skipped';

/** What a finished photo produced. */
export interface PhotoOutcome {
  /** The overlay PNG; absent when the batch has no output folder (scores only). */
  png?: string;
  json?: string;
  /** The class drawn (label, or "any (not background)"). */
  classLabel: string;
  /** Upright size [height, width]. */
  imageSize: [number, number];
  /** Cells per scale. */
  cells: { scale: number; rows: number; cols: number }[];
  detections: number;
  /** Scales taken from the cache (all of them: no engine call for this photo). */
  cachedScales: number;
  ms: number;
}

export interface PhotoEvent {
  type: 'photo';
  /** Index into `photos`. */
  index: number;
  photo: string;
  status: PhotoStatus;
  /** Why it failed or was skipped; the file name is not repeated in it. */
  reason?: string;
  outcome?: PhotoOutcome;
}

export interface ProgressEvent extends BatchProgress {
  type: 'progress';
}

export type BatchEvent = PhotoEvent | ProgressEvent | { type: 'paused' } | { type: 'resumed' } | { type: 'warning'; message: string };

/** Pause/resume for a running batch (one controller per batch). */
export class BatchController {
  private isPaused = false;
  private waiters: (() => void)[] = [];
  /** Set by runBatch. */
  onChange?: (paused: boolean) => void;

  get paused(): boolean {
    return this.isPaused;
  }

  /** No new photo starts until resume(); photos already running finish. */
  pause(): void {
    if (this.isPaused) return;
    this.isPaused = true;
    this.onChange?.(true);
  }

  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    for (const w of this.waiters.splice(0)) w();
    this.onChange?.(false);
  }

  /** Resolves when not paused, or when the signal aborts (one abort listener per wait, removed after). */
  async waitWhilePaused(signal?: AbortSignal): Promise<void> {
    while (this.isPaused && signal?.aborted !== true) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.waiters.push(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }
}

export interface BatchOptions extends ExportStyle {
  /** A label, a class index, 'top' (each photo's strongest class but background) or 'any'. Default 'top'. */
  classChoice?: string;
  /** File name pattern with {name} and {class}; default '{name}.heatmap.png'. */
  namePattern?: string;
  /** Replace existing outputs instead of adding a "-n" suffix. */
  overwrite?: boolean;
  /** Write <name>.scores.json per photo (default true). */
  scoresJson?: boolean;
  /** Write summary.csv (per photo: status, class, per-class maxima) and detections.csv (default false). */
  csv?: boolean;
  /** Largest photo accepted, width · height (default the decoder's 100 MP). */
  maxPixels?: number;
  /** Decoded pixels allowed in flight over all photos (default 150 MP; a bigger photo runs alone). */
  maxPixelsInFlight?: number;
}

export interface RunBatchArgs {
  /** The engine (or any object with its scoreMaps and workers, e.g. a counting wrapper). */
  engine: Pick<Engine, 'scoreMaps' | 'workers'>;
  handle: ModelHandle;
  info: ConvertedModelInfo;
  photos: readonly string[];
  /** The same scales for every photo, or per photo from its upright size [height, width] (core/defaults defaultScales). */
  scales: readonly number[] | ((imageSize: [number, number]) => readonly number[]);
  options: BatchOptions;
  /**
   * Output folder. Absent: score maps are computed (and cached) only, nothing is written, and a photo
   * whose every scale is in the cache is not even decoded (the app's background queue).
   */
  outDir?: string;
  /** Photos in flight at once (default max(2, engine.workers); measured best on 2 cores). */
  jobs?: number;
  signal?: AbortSignal;
  /** Score cache; null or absent: no cache. Needs `modelKey`. */
  cache?: ScoreCache | null;
  /** Hash of the model (cache.modelHash(artifacts, info)); required with a cache. */
  modelKey?: string;
  controller?: BatchController;
  onEvent?(event: BatchEvent): void;
  /**
   * Renders a photo's overlay PNG (default renderExportPng, on this thread). The app passes one that
   * runs in a worker thread (export-thread.ts); it may take the photo's pixels (result.image.data).
   */
  render?(result: PhotoResult, info: Pick<ConvertedModelInfo, 'labels'>, style: ExportStyle, detections: readonly Detection[]): Promise<Uint8Array>;
}

export interface BatchSummary {
  total: number;
  done: number;
  failed: { photo: string; reason: string }[];
  skipped: { photo: string; reason: string }[];
  /** Photos with no cell at any scale (not counted in `done`). */
  noCells: { photo: string; reason: string }[];
  cancelled: boolean;
  /** Photos whose every scale came from the cache. */
  cacheHits: number;
  /** Calls to engine.scoreMaps. */
  engineCalls: number;
  elapsedMs: number;
  csv?: { summary: string; detections: string };
}

function errorMessage(err: unknown, photo: string): string {
  let msg = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  const base = path.basename(photo);
  if (msg.startsWith(`${base}: `)) msg = msg.slice(base.length + 2);
  return msg;
}

/** A counting semaphore over pixels; a request larger than the whole budget waits for it all. */
class PixelBudget {
  private used = 0;
  private waiters: { n: number; go: () => void }[] = [];
  constructor(private readonly total: number) {}
  /** @returns the amount held, to hand back to release(). */
  async acquire(n: number): Promise<number> {
    const want = Math.min(Math.max(n, 1), this.total);
    if (this.waiters.length === 0 && this.used + want <= this.total) {
      this.used += want;
      return want;
    }
    // release() counts it as used before waking us.
    await new Promise<void>((go) => this.waiters.push({ n: want, go }));
    return want;
  }
  release(n: number): void {
    this.used -= n;
    while (this.waiters.length > 0 && this.used + this.waiters[0].n <= this.total) {
      const w = this.waiters.shift() as { n: number; go: () => void };
      this.used += w.n;
      w.go();
    }
  }
}

/** Read a photo's bytes, with specific messages for missing and empty files. */
async function readPhoto(photo: string): Promise<Buffer> {
  const name = path.basename(photo);
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(photo);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ImageError(name, e.code === 'ENOENT' ? 'file not found' : e.code === 'EISDIR' ? 'is a folder, not an image' : `cannot read file (${e.message})`, { cause: err });
  }
  if (bytes.length === 0) throw new ImageError(name, 'empty file (0 bytes), not an image');
  return bytes;
}

async function pixelCount(bytes: Buffer): Promise<number> {
  if (isBmp(bytes)) return bytes.readInt32LE(18) * Math.abs(bytes.readInt32LE(22));
  try {
    const m = await sharp(bytes, { limitInputPixels: false }).metadata();
    return (m.width ?? 0) * (m.height ?? 0);
  } catch {
    return 0;
  }
}

async function decodePhoto(bytes: Buffer, photo: string, maxPixels: number): Promise<RgbImage> {
  const name = path.basename(photo);
  if (isBmp(bytes)) {
    const raw = decodeBmp(bytes, name, maxPixels);
    return { data: raw.data, width: raw.width, height: raw.height, channels: 3 };
  }
  return decodeImage(bytes, { name, maxPixels });
}

const SUMMARY_FIXED = ['photo', 'status', 'reason', 'output', 'class', 'width', 'height', 'detections'];

/** A CSV file written in photo order (rows may arrive out of order) to a temporary file, renamed at the end. */
class OrderedCsv {
  private pending = new Map<number, string>();
  private next = 0;
  private chain: Promise<void> = Promise.resolve();
  private constructor(readonly file: string, private readonly tmp: string, private readonly fh: fs.FileHandle) {}
  static async open(file: string, header: string): Promise<OrderedCsv> {
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
    const fh = await fs.open(tmp, 'wx');
    await fh.write(header);
    return new OrderedCsv(file, tmp, fh);
  }
  /** Rows of photo `index` ('' for none); every index from 0 must be put exactly once (skipped ones too). */
  put(index: number, rows: string): void {
    this.pending.set(index, rows);
    let text = '';
    while (this.pending.has(this.next)) {
      text += this.pending.get(this.next);
      this.pending.delete(this.next++);
    }
    if (text) this.chain = this.chain.then(() => this.fh.write(text).then(() => undefined));
  }
  /** Flush, close and move into place (never over an existing file unless overwrite). @returns the path. */
  async finish(overwrite: boolean): Promise<string> {
    const rest = [...this.pending.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]).join('');
    this.pending.clear();
    this.chain = this.chain.then(() => (rest ? this.fh.write(rest).then(() => undefined) : undefined));
    try {
      await this.chain;
      await this.fh.close();
      const ext = path.extname(this.file);
      const stem = this.file.slice(0, -ext.length);
      for (let n = 1; n < 100_000; n++) {
        const f = n === 1 ? this.file : `${stem}-${n}${ext}`;
        if (overwrite) {
          await fs.rename(this.tmp, f);
          return f;
        }
        if (await writeFileNoClobber(f, await fs.readFile(this.tmp))) return f;
      }
      throw new Error(`no free name for ${this.file}`);
    } catch (err) {
      throw new OutputError(this.file, err);
    } finally {
      await fs.rm(this.tmp, { force: true });
    }
  }
  async discard(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await fs.rm(this.tmp, { force: true });
  }
}

/**
 * Process photos: compute (or read from the cache) their score maps at every scale, export the
 * overlay PNG (and scores JSON, CSV rows) for each.
 * @returns the summary, also when cancelled (then `cancelled` is true; photos not finished are skipped).
 * @throws OutputError when the output folder cannot be created or written (before any photo), or
 *   an Error for invalid options (unknown class label, bad name pattern).
 */
export async function runBatch(args: RunBatchArgs): Promise<BatchSummary> {
  const { engine, handle, info, photos, outDir, signal, controller } = args;
  const scalesFor = typeof args.scales === 'function' ? args.scales : undefined;
  const fixedScales = typeof args.scales === 'function' ? undefined : args.scales;
  const opts = args.options;
  const cache = args.cache ?? null;
  if (cache && !args.modelKey) throw new Error('runBatch: a cache needs modelKey (modelHash(artifacts, info))');
  const pattern = checkNamePattern(opts.namePattern ?? DEFAULT_NAME_PATTERN);
  const classChoice = opts.classChoice ?? 'top';
  if (classChoice !== 'top' && classChoice !== 'any') {
    // Fail on an unknown label before any work.
    namedClass(classChoice, info.labels);
  }
  const jobs = Math.max(1, Math.floor(args.jobs ?? Math.max(2, engine.workers)));
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const budget = new PixelBudget(opts.maxPixelsInFlight ?? 150_000_000);
  const emit = (e: BatchEvent): void => {
    try {
      args.onEvent?.(e);
    } catch {
      // A listener's error must not break the batch.
    }
  };

  if (outDir !== undefined) await checkOutputFolder(outDir);

  const total = photos.length;
  const status: PhotoStatus[] = photos.map(() => 'queued');
  const summary: BatchSummary = { total, done: 0, failed: [], skipped: [], noCells: [], cancelled: false, cacheHits: 0, engineCalls: 0, elapsedMs: 0 };
  let running = 0;
  let activeMs = 0;
  let activeSince: number | undefined = Date.now();
  const elapsed = (): number => activeMs + (activeSince !== undefined ? Date.now() - activeSince : 0);
  const progress = (): void => {
    const finished = summary.done + summary.noCells.length + summary.failed.length;
    const ms = elapsed();
    const remaining = total - finished - summary.skipped.length;
    emit({
      type: 'progress', total, done: summary.done + summary.noCells.length, failed: summary.failed.length, skipped: summary.skipped.length, running,
      elapsedMs: ms, etaMs: finished > 0 ? Math.round((ms / finished) * remaining) : null,
      photosPerMinute: ms > 0 ? (finished * 60_000) / ms : 0,
    });
  };
  if (controller) {
    controller.onChange = (paused) => {
      if (paused && activeSince !== undefined) {
        activeMs += Date.now() - activeSince;
        activeSince = undefined;
      } else if (!paused && activeSince === undefined) {
        activeSince = Date.now();
      }
      emit({ type: paused ? 'paused' : 'resumed' });
    };
    if (controller.paused) controller.onChange(true);
  }

  let summaryCsv: OrderedCsv | undefined;
  let detectionsCsv: OrderedCsv | undefined;
  if (opts.csv && outDir !== undefined) {
    try {
      summaryCsv = await OrderedCsv.open(path.join(outDir, 'summary.csv'), csvLine([...SUMMARY_FIXED, ...info.labels.map((l) => `max:${l}`)]));
      detectionsCsv = await OrderedCsv.open(path.join(outDir, 'detections.csv'), csvLine(['photo', 'label', 'score', 'y0', 'x0', 'y1', 'x1']));
    } catch (err) {
      await summaryCsv?.discard();
      throw new OutputError(outDir, err);
    }
  }
  const reserved = new Set<string>();

  const csvRows = (index: number, photo: string, st: PhotoStatus, reason: string, outcome?: PhotoOutcome, maxima?: number[], dets?: Detection[]): void => {
    summaryCsv?.put(index, csvLine([photo, st, reason, outcome?.png, outcome?.classLabel, outcome?.imageSize[1], outcome?.imageSize[0], outcome?.detections, ...(maxima ?? [])]));
    detectionsCsv?.put(index, (dets ?? []).map((d) => csvLine([photo, info.labels[d.classIndex], d.score, ...d.box])).join(''));
  };

  const cancelledReason = 'cancelled';
  const skip = (index: number, reason: string): void => {
    status[index] = 'skipped';
    summary.skipped.push({ photo: photos[index], reason });
    csvRows(index, photos[index], 'skipped', reason);
    emit({ type: 'photo', index, photo: photos[index], status: 'skipped', reason });
  };

  /** The scales in the cache (undefined where missing); keyed by content, so no decode is needed to trust them. */
  const cachedMaps = async (bytes: Buffer, scales: readonly number[]): Promise<{ keyPhoto: string; maps: (ScoreMap | undefined)[] }> => {
    const maps: (ScoreMap | undefined)[] = scales.map(() => undefined);
    if (!cache) return { keyPhoto: '', maps };
    const keyPhoto = photoHash(bytes);
    const got = await Promise.all(scales.map((scale) => cache.get({ photo: keyPhoto, model: args.modelKey as string, scale, preprocess: info.preprocess })));
    got.forEach((m, k) => {
      if (m && m.classes === handle.classes) maps[k] = m;
    });
    return { keyPhoto, maps };
  };

  const computeMaps = async (image: RgbImage, keyPhoto: string, maps: (ScoreMap | undefined)[], scales: readonly number[]): Promise<{ maps: ScoreMap[]; cached: number }> => {
    maps.forEach((m, k) => {
      if (m && (m.imageSize[0] !== image.height || m.imageSize[1] !== image.width)) maps[k] = undefined;
    });
    const missing = scales.filter((_, k) => maps[k] === undefined);
    const cached = scales.length - missing.length;
    if (missing.length > 0) {
      summary.engineCalls++;
      const computed = await engine.scoreMaps(handle, image, missing, info.preprocess, { signal });
      let j = 0;
      for (let k = 0; k < scales.length; k++) if (maps[k] === undefined) maps[k] = computed[j++];
      if (cache) {
        await Promise.all(computed.map((m, q) => cache.put({ photo: keyPhoto, model: args.modelKey as string, scale: missing[q], preprocess: info.preprocess }, m)));
      }
    }
    return { maps: maps as ScoreMap[], cached };
  };

  const processOne = async (index: number): Promise<void> => {
    const photo = photos[index];
    const t0 = Date.now();
    status[index] = 'running';
    running++;
    emit({ type: 'photo', index, photo, status: 'running' });
    let held = 0;
    try {
      const bytes = await readPhoto(photo);
      let image: RgbImage | undefined;
      let scales = fixedScales ?? [];
      if (scalesFor) {
        // Per-photo scales need the upright size: decode first.
        held = await budget.acquire(await pixelCount(bytes));
        if (signal?.aborted) throw Object.assign(new Error(cancelledReason), { name: 'AbortError' });
        image = await decodePhoto(bytes, photo, maxPixels);
        scales = [...scalesFor([image.height, image.width])];
      }
      const hits = await cachedMaps(bytes, scales);
      let maps: ScoreMap[];
      let cached: number;
      if (image !== undefined) {
        ({ maps, cached } = await computeMaps(image, hits.keyPhoto, hits.maps, scales));
      } else if (outDir === undefined && hits.maps.every((m) => m !== undefined)) {
        // Scores only, all cached: no decode. The result's image stands for the size only.
        maps = hits.maps as ScoreMap[];
        cached = scales.length;
        image = { data: new Uint8Array(0), width: maps[0]?.imageSize[1] ?? 0, height: maps[0]?.imageSize[0] ?? 0, channels: 3 } as RgbImage;
      } else {
        held = await budget.acquire(await pixelCount(bytes));
        if (signal?.aborted) throw Object.assign(new Error(cancelledReason), { name: 'AbortError' });
        image = await decodePhoto(bytes, photo, maxPixels);
        ({ maps, cached } = await computeMaps(image, hits.keyPhoto, hits.maps, scales));
      }
      if (maps.every((m) => m.rows * m.cols === 0)) {
        const reason = `no cells: the photo (${image.width}×${image.height}) is smaller than the model's ${info.window[1]}×${info.window[0]} window at every scale (${scales.map((sc) => Number(sc.toFixed(3))).join(', ')})`;
        const outcome: PhotoOutcome = {
          classLabel: '', imageSize: [image.height, image.width],
          cells: maps.map((m) => ({ scale: m.scale, rows: m.rows, cols: m.cols })), detections: 0, cachedScales: cached, ms: Date.now() - t0,
        };
        status[index] = 'no cells';
        summary.noCells.push({ photo, reason });
        csvRows(index, photo, 'no cells', reason, outcome);
        running--;
        emit({ type: 'photo', index, photo, status: 'no cells', reason, outcome });
        progress();
        return;
      }
      const averaged = averageScoreMaps(maps, { mode: opts.mode });
      const result: PhotoResult = { image, maps, averaged, classIndex: chooseClass(classChoice, info.labels, averaged) };
      const detections = photoDetections(result, info, opts.detectThreshold ?? 0.5);
      const label = classLabel(info.labels, result.classIndex);
      if (outDir === undefined) {
        const outcome: PhotoOutcome = {
          classLabel: label, imageSize: [image.height, image.width],
          cells: maps.map((m) => ({ scale: m.scale, rows: m.rows, cols: m.cols })), detections: detections.length,
          cachedScales: cached, ms: Date.now() - t0,
        };
        if (cached === scales.length) summary.cacheHits++;
        summary.done++;
        status[index] = 'done';
        running--;
        emit({ type: 'photo', index, photo, status: 'done', outcome });
      } else {
        const png = await (args.render ?? renderExportPng)(result, info, opts, detections);
        if (signal?.aborted) throw Object.assign(new Error(cancelledReason), { name: 'AbortError' });
        const name = path.basename(photo, path.extname(photo));
        const json = opts.scoresJson === false ? undefined : JSON.stringify(scoresRecord(photo, info, result, detections)) + '\n';
        const files = await exportPhotoFiles({ outDir: outDir as string, name, className: label, pattern, overwrite: opts.overwrite === true, png, json, reserved });
        const outcome: PhotoOutcome = {
          png: files.png, json: files.json, classLabel: label, imageSize: [image.height, image.width],
          cells: maps.map((m) => ({ scale: m.scale, rows: m.rows, cols: m.cols })), detections: detections.length,
          cachedScales: cached, ms: Date.now() - t0,
        };
        if (cached === scales.length) summary.cacheHits++;
        summary.done++;
        status[index] = 'done';
        const maxima = summaryCsv ? classMaxima(averaged).map((m) => m.score) : undefined;
        csvRows(index, photo, 'done', '', outcome, maxima, detections);
        running--;
        emit({ type: 'photo', index, photo, status: 'done', outcome });
      }
    } catch (err) {
      running--;
      if (isAbortError(err) && signal?.aborted) {
        skip(index, cancelledReason);
      } else {
        const reason = errorMessage(err, photo);
        status[index] = 'failed';
        summary.failed.push({ photo, reason });
        csvRows(index, photo, 'failed', reason);
        emit({ type: 'photo', index, photo, status: 'failed', reason });
      }
    } finally {
      if (held > 0) budget.release(held);
    }
    progress();
  };

  for (let i = 0; i < total; i++) emit({ type: 'photo', index: i, photo: photos[i], status: 'queued' });
  progress();

  let next = 0;
  const loop = async (): Promise<void> => {
    for (;;) {
      await controller?.waitWhilePaused(signal);
      if (signal?.aborted) return;
      const i = next++;
      if (i >= total) return;
      await processOne(i);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(jobs, Math.max(total, 1)) }, loop));
  } finally {
    if (controller) controller.onChange = undefined;
  }
  summary.cancelled = signal?.aborted === true;
  for (let i = 0; i < total; i++) if (status[i] === 'queued') skip(i, cancelledReason);
  summary.elapsedMs = elapsed();
  if (summaryCsv && detectionsCsv) {
    summary.csv = { summary: await summaryCsv.finish(opts.overwrite === true), detections: await detectionsCsv.finish(opts.overwrite === true) };
  }
  progress();
  return summary;
}
