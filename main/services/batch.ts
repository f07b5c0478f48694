/**
 * The batch queue, Electron-free: the CLI runs it, and so does the window's service. Each photo goes
 * through the one pipeline (./pipeline: load once → cached or computed score maps → analysis →
 * picture), and its files are written by ./export.
 *
 * A photo smaller than the model's window at every scale gets the status 'no cells' (nothing to
 * draw, nothing exported), not 'done'.
 *
 * Several photos are in flight at once (`jobs`, default max(2, workers)) so the engine's workers stay
 * busy while other photos decode, blend and encode; a memory budget (./memory-budget) bounds what the
 * photos in flight hold together, whatever their number and size. Each photo is reported through
 * `onEvent` (queued → running → done | failed | skipped) with overall progress (count, rate, ETA).
 * A bad photo (unreadable, truncated, over the pixel limit, a worker crash on it) fails with its
 * reason and the batch goes on. Pause/resume through a {@link BatchController}: no new photo starts
 * while paused, photos in flight finish. Cancel through `signal`: photos in flight stop, nothing
 * unfinished is written, finished exports stay, the CSV files hold the photos finished so far.
 *
 * Output folder policy: the folder is created and probed before the first photo; if it cannot be
 * written, runBatch rejects at once with one {@link OutputError} naming the folder and no photo is
 * processed. Temporary files left there by a killed run are removed first. With `resume` (the
 * default), a photo whose outputs a previous run with the same settings completed in this folder
 * (recorded in the folder's journal, every file still there) is not redone. A write that fails later
 * (disk full, permissions changed) fails that photo with a message naming the file, and the batch
 * goes on.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { classMaxima } from '../../core/average';
import type { BatchPhotoStatus, BatchProgress } from '../../core/api';
import type { Detection } from '../../core/detect';
import { reasonFor } from '../../core/errors';
import type { ConvertedModelInfo } from '../../core/model-info';
import { analyseMaps, bindRecipe, checkClassChoice, classLabel, type BoundRecipe } from '../../core/pipeline';
import { recipeKey, type Recipe } from '../../core/recipe';
import { scalePlan, type ScalePlan } from '../../core/defaults';
import { scaleListProblem } from '../../core/scales';
import { cellCount } from '../../core/scoremap';
import { DEFAULT_MAX_PIXELS, untilAborted, type RgbImage } from '../io/decode';
import type { Engine, ModelHandle } from '../engine/engine';
import { abortError, isAbortError } from '../io/abort';
import { checkOutputFolder, makeDirs, OutputError, removeStaleTemps } from '../io/atomic';
import type { ScoreCache } from './cache';
import { csvLine, OrderedCsv } from './csv';
import { checkNamePattern, exportPhotoFiles, subfolderIn, type PhotoFiles } from './export';
import { loadPhoto, PhotoDecoder, scoreMapsFor } from './pipeline';
import { prepareGlyphs } from './glyphs';
import { renderPicture, type PictureInput, type PictureStyle } from './picture';
import { MemoryBudget, photoMemoryEstimate } from './memory-budget';
import { npyChunks, scoresSummaryJson } from './scores-file';

/** What a finished photo produced. */
export interface PhotoOutcome {
  /** The picture PNG; absent when the batch has no output folder (scores only). */
  png?: string;
  /** The scores summary JSON. */
  json?: string;
  /** The full averaged grid (.npy). */
  npy?: string;
  /** What is drawn: the class's label, "any (…)" (core/pipeline anyLabel) or "class map". */
  classLabel: string;
  /** Upright size [height, width]. */
  imageSize: [number, number];
  /** Cells per scale. */
  cells: { scale: number; rows: number; cols: number }[];
  /** What the default scale plan chose for this photo and why (core/defaults ScalePlan.summary); absent for given scales. */
  scalePlan?: string;
  detections: number;
  /**
   * Per class (index order), the highest score of the averaged map over its covered cells, rounded
   * to float32: what ranks a folder by a class. Absent for 'no cells' and for photos resumed from a
   * journal (kept out of it: a 369-class model would add kilobytes a line).
   */
  maxima?: number[];
  /** Scales taken from the cache (all of them: no engine call for this photo). */
  cachedScales: number;
  /** True when a previous run in this folder completed it (resume): nothing was computed or written. */
  resumed?: boolean;
  ms: number;
}

/** A photo's status changed (runBatch's events carry indexes into `photos`; the window's core/api BatchEvent carries photo ids). */
export interface PhotoEvent {
  type: 'photo';
  /** Index into `photos`. */
  index: number;
  photo: string;
  status: BatchPhotoStatus;
  /** Why it failed or was skipped; the file name is not repeated in it. */
  reason?: string;
  outcome?: PhotoOutcome;
}

/** The run's counts, after every photo event (core/api's ProgressEvent is a conversion's or a computeScores job's). */
export interface RunProgressEvent extends BatchProgress {
  type: 'progress';
}

/** What runBatch reports through `onEvent` (main/services/batch-adapter turns it into core/api's BatchEvent for the window). */
export type RunEvent = PhotoEvent | RunProgressEvent | { type: 'paused' } | { type: 'resumed' } | { type: 'warning'; message: string };

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

/** How a batch runs, beside what it makes (its recipe): none of these changes a file's bytes. */
export interface RunOptions {
  /** Replace existing outputs instead of adding a "-n" suffix. */
  overwrite?: boolean;
  /** Skip photos a previous run with the same settings completed in this output folder (default true; off with `overwrite`). */
  resume?: boolean;
  /** Largest photo accepted, width · height (default the decoder's 100 MP). */
  maxPixels?: number;
  /** Bytes the photos in flight may hold together (default 2 GiB; a bigger photo runs alone). */
  maxBytesInFlight?: number;
}

export interface BatchOptions extends RunOptions {
  /**
   * What every photo gets (core/recipe): scales ('auto': each photo its core/defaults scalePlan),
   * the picture, the score files and CSVs. Its `model` and `preprocess` are the run's model's
   * whatever is given (see {@link journalRecipe}).
   */
  recipe: Recipe;
}

/** Renders a photo's picture PNG; the default is renderPicture on this thread. */
export type RenderPicture = (input: PictureInput, labels: readonly string[], style: PictureStyle) => Promise<Uint8Array>;

export interface RunBatchArgs {
  /** The engine (or any object with its scoreMaps and workers, e.g. a counting wrapper). */
  engine: Pick<Engine, 'scoreMaps' | 'workers'>;
  handle: ModelHandle;
  info: ConvertedModelInfo;
  photos: readonly string[];
  options: BatchOptions;
  /**
   * Output folder. Absent: score maps are computed (and cached) only, nothing is written, and a photo
   * whose every scale is in the cache is not even decoded (the app's background queue).
   */
  outDir?: string;
  /**
   * Per photo, its sub-folder under `outDir` ('/'-separated, as scanInputs gives it: a folder's
   * layout is mirrored, so same-named photos of different sub-folders keep their names). Absent or
   * '': the output folder itself.
   */
  subfolders?: readonly string[];
  /** Photos in flight at once (default max(2, engine.workers); measured best on 2 cores). */
  jobs?: number;
  signal?: AbortSignal;
  /** Score cache; null or absent: no cache. Needs `modelKey`. */
  cache?: ScoreCache | null;
  /** Hash of the model (cache.modelHash(artifacts, info)); required with a cache, and keys resume (the recipe's `model`). */
  modelKey?: string;
  controller?: BatchController;
  onEvent?(event: RunEvent): void;
  /** Tiles the engine has finished of a photo's `total` (every scale's, in order): a long photo's progress. */
  onTiles?(index: number, photo: string, done: number, total: number): void;
  /** Renders the picture (default renderPicture here); the app passes one running in worker threads. */
  render?: RenderPicture;
  /**
   * With `options.csv`: receives each photo's rows as summary.csv and detections.csv would hold them
   * (with the per-class maxima), and runBatch writes no CSV file itself — a queue worker hands the
   * rows to its submitter, which writes the files for the whole batch (main/queue).
   */
  csvRows?(index: number, rows: { summary: string; detections: string }): void;
  /**
   * Remove temporary files of dead processes from the output folders first (default true). False on
   * a queue worker: other machines' live temporary files look dead from here (their pids are not ours).
   */
  removeStaleTemps?: boolean;
}

export interface BatchSummary {
  total: number;
  done: number;
  failed: { photo: string; reason: string }[];
  skipped: { photo: string; reason: string }[];
  /** Photos with no cell at any scale (not counted in `done`; nothing exported). */
  noCells: { photo: string; reason: string }[];
  cancelled: boolean;
  /** Photos whose every scale came from the cache. */
  cacheHits: number;
  /** Photos a previous run had completed (resume): counted in `done`. */
  resumed: number;
  /** Calls to engine.scoreMaps. */
  engineCalls: number;
  elapsedMs: number;
  /** Temporary files of a killed earlier run removed from the output folder. */
  staleTempsRemoved: number;
  csv?: {
    summary: string;
    detections: string;
    /**
     * One line per CSV file that lacks rows (a write failed: full disk, size limit), naming it and
     * why; the file holds its header and the rows before the failure, each whole.
     */
    incomplete?: string[];
  };
}

const SUMMARY_FIXED = ['photo', 'status', 'reason', 'output', 'class', 'width', 'height', 'detections'];

/** summary.csv's header line: the fixed columns, then "max:<label>" per class in index order. */
export function summaryCsvHeader(labels: readonly string[]): string {
  return csvLine([...SUMMARY_FIXED, ...labels.map((l) => `max:${l}`)]);
}

/** detections.csv's header line. */
export const DETECTIONS_CSV_HEADER = csvLine(['photo', 'label', 'score', 'y0', 'x0', 'y1', 'x1']);

/** One photo's summary.csv row (with its newline); `maxima` per class, for a finished photo. */
export function summaryCsvRow(photo: string, st: BatchPhotoStatus, reason: string, outcome?: PhotoOutcome, maxima?: readonly number[]): string {
  return csvLine([photo, st, reason, outcome?.png, outcome?.classLabel, outcome?.imageSize[1], outcome?.imageSize[0], outcome?.detections, ...(maxima ?? [])]);
}
/** The output folder's record of completed photos, one JSON line each (see {@link JournalEntry}). */
export const JOURNAL_FILE = '.convmap-batch.jsonl';

/** One completed photo in the journal. */
interface JournalEntry {
  /** Recipe key (journalKey). */
  key: string;
  /** Content hash of the photo. */
  photo: string;
  /** The photo's absolute path. */
  file: string;
  files: PhotoFiles<string>;
  outcome: PhotoOutcome;
  summaryRow?: string;
  detectionRows?: string;
}

/**
 * The CSV files a run wrote, in the journal (names inside the output folder): a rerun with the same
 * settings replaces them instead of adding "summary-2.csv", even when no photo of the first run
 * had finished.
 */
interface JournalCsvEntry {
  key: string;
  csv: { summary: string; detections: string };
}

/** A journal's CSV file name: a plain .csv name in the output folder, or undefined. */
function csvName(v: unknown): string | undefined {
  return typeof v === 'string' && v === path.basename(v) && /^[^.].*\.csv$/.test(v) ? v : undefined;
}

/**
 * The recipe a run really follows: the options' recipe bound to the run's model (core/pipeline
 * bindRecipe: its hash, or its source without one; its preprocessing; the default class and view
 * filled in) with the name pattern as written (export checkNamePattern).
 * @throws for a bad name pattern.
 */
export function journalRecipe(args: Pick<RunBatchArgs, 'modelKey' | 'info' | 'options'>): BoundRecipe {
  const { info } = args;
  const bound = bindRecipe(args.options.recipe, { hash: args.modelKey ?? info.source, preprocess: info.preprocess, labels: info.labels });
  return { ...bound, namePattern: checkNamePattern(bound.namePattern, bound.format) };
}

/**
 * What makes two runs' outputs of the same photo the same: the key of the output folder's journal
 * entries ({@link JOURNAL_FILE}; a queue worker reads them to find photos already written), the
 * sha256 of core/recipe recipeKey of the {@link journalRecipe}: every recipe field joins it.
 */
export function journalKey(recipe: Readonly<Recipe>): string {
  return createHash('sha256').update(recipeKey(recipe)).digest('hex');
}

async function readJournal(file: string, key: string): Promise<{ photos: Map<string, JournalEntry>; csv?: JournalCsvEntry['csv'] }> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  const photos = new Map<string, JournalEntry>();
  let csv: JournalCsvEntry['csv'] | undefined;
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as Partial<JournalEntry & JournalCsvEntry>;
      if (e.key !== key) continue;
      if (typeof e.photo === 'string' && typeof e.files?.png === 'string') photos.set(`${e.photo}\n${e.file}`, e as JournalEntry);
      const summary = csvName(e.csv?.summary);
      const detections = csvName(e.csv?.detections);
      if (summary !== undefined && detections !== undefined) csv = { summary, detections };
    } catch {
      // A line cut by a kill: that photo is redone.
    }
  }
  return { photos, csv };
}

async function allExist(files: PhotoFiles<string>): Promise<boolean> {
  const list = [files.png, files.json, files.npy].filter((f): f is string => typeof f === 'string');
  return (await Promise.all(list.map((f) => fs.stat(f).then((s) => s.isFile(), () => false)))).every(Boolean);
}

/**
 * Process photos: compute (or read from the cache) their score maps at every scale, export the
 * picture PNG (and scores files, CSV rows) for each.
 * @returns the summary, also when cancelled (then `cancelled` is true; photos not finished are skipped).
 * @throws OutputError when the output folder cannot be created or written (before any photo), or
 *   an Error for invalid options (unknown class label, bad name pattern).
 */
export async function runBatch(args: RunBatchArgs): Promise<BatchSummary> {
  const { engine, handle, info, photos, outDir, signal, controller } = args;
  const run = args.options;
  const opts = journalRecipe(args);
  const scalesOf = (size: [number, number]): { scales: readonly number[]; plan?: ScalePlan } => {
    if (opts.scales !== 'auto') return { scales: opts.scales };
    const plan = scalePlan(info.window, size);
    return { scales: plan.scales, plan };
  };
  const cache = args.cache ?? null;
  if (cache && !args.modelKey) throw new Error('runBatch: a cache needs modelKey (modelHash(artifacts, info))');
  const pattern = opts.namePattern;
  checkClassChoice(opts.classChoice, info.labels);
  const jobs = Math.max(1, Math.floor(args.jobs ?? Math.max(2, engine.workers)));
  const maxPixels = run.maxPixels ?? DEFAULT_MAX_PIXELS;
  const budget = new MemoryBudget(run.maxBytesInFlight ?? 2 * 1024 ** 3);
  const decoder = new PhotoDecoder({ keep: 0, maxPixels });
  const scoresOut = opts.scores;
  const render = args.render ?? renderPicture;
  // The fonts of legends and box tags load while the first photo is scored.
  if (outDir !== undefined && args.render === undefined && (opts.legend || opts.boxes)) prepareGlyphs(info.labels);
  const emit = (e: RunEvent): void => {
    try {
      args.onEvent?.(e);
    } catch {
      // A listener's error must not break the batch.
    }
  };

  const summary: BatchSummary = {
    total: photos.length, done: 0, failed: [], skipped: [], noCells: [], cancelled: false, cacheHits: 0, resumed: 0, engineCalls: 0, elapsedMs: 0, staleTempsRemoved: 0,
  };
  const key = journalKey(opts);
  const journalFile = outDir === undefined ? undefined : path.join(outDir, JOURNAL_FILE);
  let journal = new Map<string, JournalEntry>();
  let journalCsv: JournalCsvEntry['csv'] | undefined;
  const subfolders = args.subfolders ?? [];
  const outDirOf = (index: number): string => subfolderIn(outDir as string, subfolders[index] ?? '');
  if (outDir !== undefined) {
    await checkOutputFolder(outDir);
    const dirs = new Set([outDir, ...photos.map((_p, i) => outDirOf(i))]);
    if (args.removeStaleTemps !== false) for (const dir of dirs) summary.staleTempsRemoved += (await removeStaleTemps(dir)).length;
    if (run.resume !== false && run.overwrite !== true) ({ photos: journal, csv: journalCsv } = await readJournal(journalFile as string, key));
  }

  const total = photos.length;
  const status: BatchPhotoStatus[] = photos.map(() => 'queued');
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
  if (opts.csv && outDir !== undefined && !args.csvRows) {
    try {
      summaryCsv = await OrderedCsv.open(path.join(outDir, 'summary.csv'), summaryCsvHeader(info.labels));
      detectionsCsv = await OrderedCsv.open(path.join(outDir, 'detections.csv'), DETECTIONS_CSV_HEADER);
    } catch (err) {
      await summaryCsv?.discard();
      throw new OutputError(outDir, err);
    }
  }
  const reserved = new Set<string>();
  let journalChain: Promise<unknown> = Promise.resolve();

  const summaryRow = summaryCsvRow;
  const rowsTo = opts.csv === true ? args.csvRows : undefined;
  const putRows = (index: number, summaryLine: string, detectionLines: string): void => {
    summaryCsv?.put(index, summaryLine);
    detectionsCsv?.put(index, detectionLines);
    rowsTo?.(index, { summary: summaryLine, detections: detectionLines });
  };
  const detectionRows = (photo: string, dets: readonly Detection[]): string =>
    dets.map((d) => csvLine([photo, info.labels[d.classIndex], d.score, ...d.box])).join('');

  const cancelledReason = 'cancelled';
  const skip = (index: number, reason: string): void => {
    status[index] = 'skipped';
    summary.skipped.push({ photo: photos[index], reason });
    putRows(index, summaryRow(photos[index], 'skipped', reason), '');
    emit({ type: 'photo', index, photo: photos[index], status: 'skipped', reason });
  };
  const finish = (index: number, outcome: PhotoOutcome, rows?: { summary: string; detections: string }): void => {
    if (outcome.cachedScales === outcome.cells.length && !outcome.resumed) summary.cacheHits++;
    if (outcome.resumed) summary.resumed++;
    summary.done++;
    status[index] = 'done';
    putRows(index, rows?.summary ?? '', rows?.detections ?? '');
    running--;
    emit({ type: 'photo', index, photo: photos[index], status: 'done', outcome });
  };
  const aborted = (): Error => abortError(signal);

  const processOne = async (index: number): Promise<void> => {
    const photo = photos[index];
    const t0 = Date.now();
    status[index] = 'running';
    running++;
    emit({ type: 'photo', index, photo, status: 'running' });
    let held = 0;
    try {
      const loaded = await loadPhoto(photo, { maxPixels });
      const done = journal.get(`${loaded.hash}\n${loaded.file}`);
      if (done && (await allExist(done.files))) {
        finish(index, { ...done.outcome, resumed: true, ms: Date.now() - t0 }, { summary: done.summaryRow ?? '', detections: done.detectionRows ?? '' });
        return;
      }
      const { width, height } = loaded.size;
      const { scales, plan } = scalesOf([height, width]);
      // Every scaled image stays under the pixel limit, the given scales as the planned ones.
      const tooLarge = scales.length === 0 ? (plan?.summary ?? 'no scales') : scaleListProblem(scales, [height, width]);
      if (tooLarge) throw new Error(tooLarge);
      const cells = scales.map((s) => cellCount(Math.max(1, Math.round(height * s)), info.window[0], info.stride[0]) * cellCount(Math.max(1, Math.round(width * s)), info.window[1], info.stride[1]));
      held = await budget.acquire(photoMemoryEstimate(width, height, loaded.bytes.length, handle.classes, cells));
      if (signal?.aborted) throw aborted();
      let decoded: Promise<RgbImage> | undefined;
      const decode = (): Promise<RgbImage> => (decoded ??= decoder.decode(loaded, signal));
      const scored = await scoreMapsFor(loaded, decode, {
        // The cache key's model and preprocessing are the recipe's (its other fields do not change a map: caches stay valid).
        engine, handle, preprocess: opts.preprocess, scales, cache, modelKey: args.modelKey, signal,
        onProgress: args.onTiles ? (tilesDone, tilesTotal) => args.onTiles?.(index, photo, tilesDone, tilesTotal) : undefined,
      });
      if (scored.computed) summary.engineCalls++;
      const { maps, cachedScales } = scored;
      if (maps.every((m) => m.rows * m.cols === 0)) {
        const reason = `no cells: the photo (${width}×${height}) is smaller than the model's ${info.window[1]}×${info.window[0]} window at every scale (${scales.map((sc) => Number(sc.toFixed(3))).join(', ')})`;
        const outcome: PhotoOutcome = {
          classLabel: '', imageSize: [height, width], cells: maps.map((m) => ({ scale: m.scale, rows: m.rows, cols: m.cols })), detections: 0, cachedScales, ms: Date.now() - t0,
        };
        status[index] = 'no cells';
        summary.noCells.push({ photo, reason });
        putRows(index, summaryRow(photo, 'no cells', reason, outcome), '');
        running--;
        emit({ type: 'photo', index, photo, status: 'no cells', reason, outcome });
        return;
      }
      const analysis = analyseMaps(maps, info.labels, opts);
      // What the picture shows: the class map names no one class.
      const label = opts.view === 'classes' ? 'class map' : classLabel(info.labels, analysis.classIndex);
      const maxima = classMaxima(analysis.averaged).map((m) => Math.fround(m.score));
      const outcome: PhotoOutcome = {
        classLabel: label, imageSize: [height, width],
        cells: maps.map((m) => ({ scale: m.scale, rows: m.rows, cols: m.cols })), detections: analysis.detections.length,
        maxima, cachedScales, ms: 0, ...(plan ? { scalePlan: plan.summary } : {}),
      };
      if (outDir === undefined) {
        outcome.ms = Date.now() - t0;
        finish(index, outcome);
        return;
      }
      const image = await decode();
      // Like a decode, a render runs in libvips' threads: a cancel stops the wait, not the render.
      const png = await untilAborted(render({ image, averaged: analysis.averaged, classIndex: analysis.classIndex, drawn: analysis.drawn }, info.labels, opts), signal);
      if (signal?.aborted) throw aborted();
      const name = path.basename(photo, path.extname(photo));
      const npyDtype = opts.npyDtype;
      const names = { npy: '' };
      const dir = outDirOf(index);
      if (dir !== outDir) await makeDirs(dir).catch((err: unknown) => Promise.reject(new OutputError(dir, err)));
      const files = await exportPhotoFiles({
        outDir: dir, name, className: label, pattern, overwrite: run.overwrite === true, reserved,
        data: {
          png,
          ...(scoresOut !== 'none' ? {
            json: () => [Buffer.from(scoresSummaryJson({
              photo, info, maps, averaged: analysis.averaged, classIndex: analysis.classIndex, detections: analysis.detections,
              npy: scoresOut === 'full' ? { file: names.npy, dtype: npyDtype } : undefined,
            }))],
          } : {}),
          ...(scoresOut === 'full' ? {
            npy: () => npyChunks(analysis.averaged, npyDtype),
          } : {}),
        },
        onNames: (n) => {
          names.npy = n.npy ?? '';
        },
      });
      outcome.png = files.png;
      outcome.json = files.json;
      outcome.npy = files.npy;
      outcome.ms = Date.now() - t0;
      const rows = {
        summary: summaryRow(photo, 'done', '', outcome, summaryCsv || rowsTo ? maxima : undefined),
        detections: detectionRows(photo, analysis.detections),
      };
      if (journalFile) {
        const { maxima: _m, ...kept } = outcome;
        const entry: JournalEntry = { key, photo: loaded.hash, file: loaded.file, files, outcome: kept, summaryRow: rows.summary, detectionRows: rows.detections };
        journalChain = journalChain.then(() => fs.appendFile(journalFile, `${JSON.stringify(entry)}\n`)).catch(() => undefined);
      }
      finish(index, outcome, rows);
    } catch (err) {
      running--;
      if (isAbortError(err) && signal?.aborted) {
        skip(index, cancelledReason);
      } else {
        const reason = reasonFor(err, photo);
        status[index] = 'failed';
        summary.failed.push({ photo, reason });
        putRows(index, summaryRow(photo, 'failed', reason), '');
        emit({ type: 'photo', index, photo, status: 'failed', reason });
      }
    } finally {
      if (held > 0) budget.release(held);
      progress();
    }
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
  await journalChain;
  if (summaryCsv && detectionsCsv && outDir !== undefined) {
    // A rerun's CSVs cover every photo: they replace those an earlier run with these settings wrote
    // (recorded in the journal, even when it was stopped before its first photo finished).
    const into = (name: string | undefined): string | undefined => (name === undefined ? undefined : path.join(outDir, name));
    const replace = run.overwrite === true || summary.resumed > 0 || journalCsv !== undefined;
    summary.csv = {
      summary: await summaryCsv.finish(replace, into(journalCsv?.summary)),
      detections: await detectionsCsv.finish(replace, into(journalCsv?.detections)),
    };
    const incomplete = [[summary.csv.summary, summaryCsv.incomplete], [summary.csv.detections, detectionsCsv.incomplete]] as const;
    for (const [file, why] of incomplete) {
      if (why === undefined) continue;
      const message = `${file} is incomplete: ${why}`;
      (summary.csv.incomplete ??= []).push(message);
      emit({ type: 'warning', message });
    }
    if (journalFile) {
      const entry: JournalCsvEntry = { key, csv: { summary: path.basename(summary.csv.summary), detections: path.basename(summary.csv.detections) } };
      await fs.appendFile(journalFile, `${JSON.stringify(entry)}\n`).catch(() => undefined);
    }
  }
  progress();
  return summary;
}
