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
import { reasonFor } from '../../core/errors';
import type { ConvertedModelInfo } from '../../core/model-info';
import { analyseMaps, bindRecipe, checkClassChoice, classLabel, type BoundRecipe } from '../../core/pipeline';
import { recipeKey, type Recipe } from '../../core/recipe';
import { scalePlan, type ScalePlan } from '../../core/defaults';
import { scaleListProblem } from '../../core/scales';
import { cellCount, type ScoreMap } from '../../core/scoremap';
import { DEFAULT_MAX_PIXELS, untilAborted, type RgbImage } from '../io/decode';
import type { Engine, ModelHandle } from '../engine/engine';
import { abortError, isAbortError } from '../io/abort';
import { checkOutputFolder, makeDirs, OutputError, removeStaleTemps } from '../io/atomic';
import type { ScoreCache } from './storage/cache';
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

/** What runBatch reports through `onEvent` (main/services/window/batch-adapter turns it into core/api's BatchEvent for the window). */
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
  const { photos, outDir, signal, controller } = args;
  const recipe = journalRecipe(args);
  if (args.cache && !args.modelKey) throw new Error('runBatch: a cache needs modelKey (modelHash(artifacts, info))');
  checkClassChoice(recipe.classChoice, args.info.labels);
  // The fonts of legends and box tags load while the first photo is scored.
  if (outDir !== undefined && args.render === undefined && (recipe.legend || recipe.boxes)) prepareGlyphs(args.info.labels);
  const emit = (e: RunEvent): void => {
    try {
      args.onEvent?.(e);
    } catch {
      // A listener's error must not break the batch.
    }
  };

  const key = journalKey(recipe);
  const output = outDir === undefined ? undefined : await prepareOutput(args, key);
  const csv = await openCsvs(args, recipe);
  const clock = new RunClock();
  const book = new Bookkeeping(photos, emit, clock, csv);
  book.summary.staleTempsRemoved = output?.staleTempsRemoved ?? 0;
  const maxPixels = args.options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const run: PhotoRun = {
    args, recipe, book, csv, journal: output?.journal, maxPixels,
    budget: new MemoryBudget(args.options.maxBytesInFlight ?? 2 * 1024 ** 3),
    decoder: new PhotoDecoder({ keep: 0, maxPixels }),
    render: args.render ?? renderPicture,
    reserved: new Set<string>(),
  };

  const unfollow = followPauses(controller, clock, emit);
  for (let i = 0; i < photos.length; i++) emit({ type: 'photo', index: i, photo: photos[i], status: 'queued' });
  book.progress();
  const lanes = Math.max(1, Math.floor(args.jobs ?? Math.max(2, args.engine.workers)));
  try {
    await runLanes(photos.length, lanes, controller, signal, (i) => processPhoto(run, i));
  } finally {
    unfollow();
  }

  const summary = book.summary;
  summary.cancelled = signal?.aborted === true;
  for (let i = 0; i < photos.length; i++) if (book.status[i] === 'queued') book.skipped(i, CANCELLED);
  summary.elapsedMs = clock.elapsed();
  await output?.journal.flushed();
  if (csv.files && output) {
    // A rerun's CSVs cover every photo: they replace those an earlier run with these settings wrote
    // (recorded in the journal, even when it was stopped before its first photo finished).
    const replace = args.options.overwrite === true || summary.resumed > 0 || output.journal.csv !== undefined;
    summary.csv = await finishCsvs(csv.files, output.dir, replace, output.journal.csv, emit);
    await output.journal.recordCsv(summary.csv);
  }
  book.progress();
  return summary;
}

/** The reason of photos a cancel stopped or never started. */
const CANCELLED = 'cancelled';

/** What every photo of a run shares. */
interface PhotoRun {
  args: RunBatchArgs;
  /** The recipe bound to the run's model (journalRecipe). */
  recipe: BoundRecipe;
  book: Bookkeeping;
  csv: CsvSink;
  /** The output folder's journal; absent without an output folder. */
  journal?: BatchJournal;
  maxPixels: number;
  /** Bounds what the photos in flight hold together. */
  budget: MemoryBudget;
  decoder: PhotoDecoder;
  render: RenderPicture;
  /** File names claimed by photos in flight (no two photos write the same name). */
  reserved: Set<string>;
}

/**
 * One photo through the pipeline: resumed from the journal, or scaled, scored (cache or engine)
 * within the memory budget, analysed and exported; its outcome goes to the bookkeeping, whichever of
 * done, no cells, failed or skipped (cancelled) it is.
 */
async function processPhoto(run: PhotoRun, index: number): Promise<void> {
  const { args, book, recipe } = run;
  const { info, signal } = args;
  const photo = args.photos[index];
  const t0 = Date.now();
  book.start(index);
  let held = 0;
  try {
    const loaded = await loadPhoto(photo, { maxPixels: run.maxPixels });
    const done = await run.journal?.completed(loaded);
    if (done) {
      book.done(index, { ...done.outcome, resumed: true, ms: Date.now() - t0 }, { summary: done.summaryRow ?? '', detections: done.detectionRows ?? '' });
      return;
    }
    const { width, height } = loaded.size;
    const { scales, plan } = photoScales(recipe, info, [height, width]);
    held = await run.budget.acquire(photoMemoryEstimate(width, height, loaded.bytes.length, args.handle.classes, cellsPerScale(info, [height, width], scales)));
    if (signal?.aborted) throw abortError(signal);
    let decoded: Promise<RgbImage> | undefined;
    const decode = (): Promise<RgbImage> => (decoded ??= run.decoder.decode(loaded, signal));
    const scored = await scoreMapsFor(loaded, decode, {
      // The cache key's model and preprocessing are the recipe's (its other fields do not change a map: caches stay valid).
      engine: args.engine, handle: args.handle, preprocess: recipe.preprocess, scales, cache: args.cache ?? null, modelKey: args.modelKey, signal,
      onProgress: args.onTiles ? (tilesDone, tilesTotal) => args.onTiles?.(index, photo, tilesDone, tilesTotal) : undefined,
    });
    if (scored.computed) book.summary.engineCalls++;
    const { maps, cachedScales } = scored;
    const cells = maps.map((m) => ({ scale: m.scale, rows: m.rows, cols: m.cols }));
    const empty = noCellsReason(maps, [height, width], scales, info.window);
    if (empty !== undefined) {
      book.noCells(index, empty, { classLabel: '', imageSize: [height, width], cells, detections: 0, cachedScales, ms: Date.now() - t0 });
      return;
    }
    const analysis = analyseMaps(maps, info.labels, recipe);
    // What the picture shows: the class map names no one class.
    const label = recipe.view === 'classes' ? 'class map' : classLabel(info.labels, analysis.classIndex);
    const maxima = classMaxima(analysis.averaged).map((m) => Math.fround(m.score));
    const outcome: PhotoOutcome = {
      classLabel: label, imageSize: [height, width], cells, detections: analysis.detections.length,
      maxima, cachedScales, ms: 0, ...(plan ? { scalePlan: plan.summary } : {}),
    };
    if (args.outDir === undefined) {
      outcome.ms = Date.now() - t0;
      book.done(index, outcome);
      return;
    }
    const files = await writePhotoFiles(run, index, decode, maps, analysis, label);
    outcome.png = files.png;
    outcome.json = files.json;
    outcome.npy = files.npy;
    outcome.ms = Date.now() - t0;
    const rows = {
      summary: summaryCsvRow(photo, 'done', '', outcome, run.csv.withMaxima ? maxima : undefined),
      detections: analysis.detections.map((d) => csvLine([photo, info.labels[d.classIndex], d.score, ...d.box])).join(''),
    };
    run.journal?.record(loaded, files, outcome, rows);
    book.done(index, outcome, rows);
  } catch (err) {
    if (isAbortError(err) && signal?.aborted) book.skipped(index, CANCELLED);
    else book.failed(index, reasonFor(err, photo));
  } finally {
    book.end();
    if (held > 0) run.budget.release(held);
    book.progress();
  }
}

/**
 * The photo's scales: the recipe's, or its own core/defaults scalePlan for 'auto'.
 * @throws when no scale fits or a scaled image would pass the pixel limit (the given scales as the planned ones)
 */
function photoScales(recipe: BoundRecipe, info: ConvertedModelInfo, size: [number, number]): { scales: readonly number[]; plan?: ScalePlan } {
  const plan = recipe.scales === 'auto' ? scalePlan(info.window, size) : undefined;
  const scales = plan ? plan.scales : (recipe.scales as readonly number[]);
  const tooLarge = scales.length === 0 ? (plan?.summary ?? 'no scales') : scaleListProblem(scales, size);
  if (tooLarge) throw new Error(tooLarge);
  return plan ? { scales, plan } : { scales };
}

/** Cells per scale of a [height, width] photo, as the engine will count them: what its memory estimate needs. */
function cellsPerScale(info: ConvertedModelInfo, [height, width]: [number, number], scales: readonly number[]): number[] {
  return scales.map((s) => cellCount(Math.max(1, Math.round(height * s)), info.window[0], info.stride[0]) * cellCount(Math.max(1, Math.round(width * s)), info.window[1], info.stride[1]));
}

/** Why a photo gets 'no cells' (smaller than the window at every scale: nothing to draw), or undefined. */
function noCellsReason(maps: readonly { rows: number; cols: number }[], [height, width]: [number, number], scales: readonly number[], window: readonly [number, number]): string | undefined {
  if (!maps.every((m) => m.rows * m.cols === 0)) return undefined;
  return `no cells: the photo (${width}×${height}) is smaller than the model's ${window[1]}×${window[0]} window at every scale (${scales.map((sc) => Number(sc.toFixed(3))).join(', ')})`;
}

/**
 * Renders the photo's picture and writes its files into its sub-folder of the output folder, named
 * by the recipe's pattern (a "-n" suffix unless overwrite): the picture, and the scores JSON and
 * .npy grid as the recipe asks.
 */
async function writePhotoFiles(
  run: PhotoRun, index: number, decode: () => Promise<RgbImage>, maps: ScoreMap[], analysis: ReturnType<typeof analyseMaps>, label: string,
): Promise<PhotoFiles<string>> {
  const { args, recipe } = run;
  const { info, signal } = args;
  const photo = args.photos[index];
  const image = await decode();
  // Like a decode, a render runs in libvips' threads: a cancel stops the wait, not the render.
  const png = await untilAborted(run.render({ image, averaged: analysis.averaged, classIndex: analysis.classIndex, drawn: analysis.drawn }, info.labels, recipe), signal);
  if (signal?.aborted) throw abortError(signal);
  const scoresOut = recipe.scores;
  const names = { npy: '' };
  const outDir = args.outDir as string;
  const dir = subfolderIn(outDir, args.subfolders?.[index] ?? '');
  if (dir !== outDir) await makeDirs(dir).catch((err: unknown) => Promise.reject(new OutputError(dir, err)));
  return exportPhotoFiles({
    outDir: dir, name: path.basename(photo, path.extname(photo)), className: label, pattern: recipe.namePattern, overwrite: args.options.overwrite === true, reserved: run.reserved,
    data: {
      png,
      ...(scoresOut !== 'none' ? {
        json: () => [Buffer.from(scoresSummaryJson({
          photo, info, maps, averaged: analysis.averaged, classIndex: analysis.classIndex, detections: analysis.detections,
          npy: scoresOut === 'full' ? { file: names.npy, dtype: recipe.npyDtype } : undefined,
        }))],
      } : {}),
      ...(scoresOut === 'full' ? {
        npy: () => npyChunks(analysis.averaged, recipe.npyDtype),
      } : {}),
    },
    onNames: (n) => {
      names.npy = n.npy ?? '';
    },
  });
}

/**
 * The output folder made ready before the first photo: created and probed (an OutputError naming it
 * otherwise), temporary files of killed runs removed from it and the photos' sub-folders, the
 * journal of this recipe read unless the run neither resumes nor keeps outputs.
 */
async function prepareOutput(args: RunBatchArgs, key: string): Promise<{ dir: string; journal: BatchJournal; staleTempsRemoved: number }> {
  const dir = args.outDir as string;
  await checkOutputFolder(dir);
  let staleTempsRemoved = 0;
  const dirs = new Set([dir, ...args.photos.map((_p, i) => subfolderIn(dir, args.subfolders?.[i] ?? ''))]);
  if (args.removeStaleTemps !== false) for (const d of dirs) staleTempsRemoved += (await removeStaleTemps(d)).length;
  const file = path.join(dir, JOURNAL_FILE);
  const resume = args.options.resume !== false && args.options.overwrite !== true;
  const read = resume ? await readJournal(file, key) : { photos: new Map<string, JournalEntry>() };
  return { dir, journal: new BatchJournal(file, key, read.photos, read.csv), staleTempsRemoved };
}

/** The output folder's journal ({@link JOURNAL_FILE}) for one recipe key: what earlier runs completed, and this run's records. */
class BatchJournal {
  private chain: Promise<unknown> = Promise.resolve();

  /** @param completedBefore entries of earlier runs with this key (empty when the run does not resume) */
  constructor(
    readonly file: string, private readonly key: string,
    private readonly completedBefore: ReadonlyMap<string, JournalEntry>, readonly csv?: JournalCsvEntry['csv'],
  ) {}

  /** An earlier run's entry for this photo (same content and path) whose files are all still there. */
  async completed(photo: { hash: string; file: string }): Promise<JournalEntry | undefined> {
    const done = this.completedBefore.get(`${photo.hash}\n${photo.file}`);
    return done && (await allExist(done.files)) ? done : undefined;
  }

  /** Appends a finished photo (without its maxima: see PhotoOutcome), in order; a failed append only costs the resume. */
  record(photo: { hash: string; file: string }, files: PhotoFiles<string>, outcome: PhotoOutcome, rows: { summary: string; detections: string }): void {
    const { maxima: _m, ...kept } = outcome;
    const entry: JournalEntry = { key: this.key, photo: photo.hash, file: photo.file, files, outcome: kept, summaryRow: rows.summary, detectionRows: rows.detections };
    this.chain = this.chain.then(() => fs.appendFile(this.file, `${JSON.stringify(entry)}\n`)).catch(() => undefined);
  }

  /** Records the CSV files this run wrote, so that a rerun replaces them. */
  async recordCsv(csv: { summary: string; detections: string }): Promise<void> {
    const entry: JournalCsvEntry = { key: this.key, csv: { summary: path.basename(csv.summary), detections: path.basename(csv.detections) } };
    await fs.appendFile(this.file, `${JSON.stringify(entry)}\n`).catch(() => undefined);
  }

  /** Resolves when every record is written (or failed). */
  flushed(): Promise<unknown> {
    return this.chain;
  }
}

/** Where the photos' CSV rows go: summary.csv and detections.csv in photo order, and/or the caller's csvRows. */
interface CsvSink {
  put(index: number, summary: string, detections: string): void;
  /** Finished photos' summary rows carry the per-class maxima. */
  withMaxima: boolean;
  /** The files, when this run writes them. */
  files?: { summary: OrderedCsv; detections: OrderedCsv };
}

/** The recipe's CSV output: files in the output folder, or the rows handed to `csvRows` (a queue worker), or nothing. */
async function openCsvs(args: RunBatchArgs, recipe: BoundRecipe): Promise<CsvSink> {
  const { outDir } = args;
  const rowsTo = recipe.csv === true ? args.csvRows : undefined;
  let files: CsvSink['files'];
  if (recipe.csv && outDir !== undefined && !args.csvRows) {
    let summary: OrderedCsv | undefined;
    try {
      summary = await OrderedCsv.open(path.join(outDir, 'summary.csv'), summaryCsvHeader(args.info.labels));
      files = { summary, detections: await OrderedCsv.open(path.join(outDir, 'detections.csv'), DETECTIONS_CSV_HEADER) };
    } catch (err) {
      await summary?.discard();
      throw new OutputError(outDir, err);
    }
  }
  return {
    files,
    withMaxima: files !== undefined || rowsTo !== undefined,
    put(index, summary, detections) {
      files?.summary.put(index, summary);
      files?.detections.put(index, detections);
      rowsTo?.(index, { summary, detections });
    },
  };
}

/** Writes both CSV files (replacing an earlier run's when `replace`), warning about each that lacks rows. */
async function finishCsvs(
  files: NonNullable<CsvSink['files']>, outDir: string, replace: boolean, earlier: JournalCsvEntry['csv'] | undefined, emit: (e: RunEvent) => void,
): Promise<NonNullable<BatchSummary['csv']>> {
  const into = (name: string | undefined): string | undefined => (name === undefined ? undefined : path.join(outDir, name));
  const csv: NonNullable<BatchSummary['csv']> = {
    summary: await files.summary.finish(replace, into(earlier?.summary)),
    detections: await files.detections.finish(replace, into(earlier?.detections)),
  };
  const incomplete = [[csv.summary, files.summary.incomplete], [csv.detections, files.detections.incomplete]] as const;
  for (const [file, why] of incomplete) {
    if (why === undefined) continue;
    const message = `${file} is incomplete: ${why}`;
    (csv.incomplete ??= []).push(message);
    emit({ type: 'warning', message });
  }
  return csv;
}

/** Time the batch has run, pauses excepted: what its rate and ETA are computed over. */
class RunClock {
  private activeMs = 0;
  private since: number | undefined = Date.now();

  elapsed(): number {
    return this.activeMs + (this.since !== undefined ? Date.now() - this.since : 0);
  }

  pause(): void {
    if (this.since === undefined) return;
    this.activeMs += Date.now() - this.since;
    this.since = undefined;
  }

  resume(): void {
    this.since ??= Date.now();
  }
}

/** Stops the clock while the controller pauses the batch, reporting each change; returns the unhook. */
function followPauses(controller: BatchController | undefined, clock: RunClock, emit: (e: RunEvent) => void): () => void {
  if (!controller) return () => undefined;
  controller.onChange = (paused) => {
    if (paused) clock.pause();
    else clock.resume();
    emit({ type: paused ? 'paused' : 'resumed' });
  };
  if (controller.paused) controller.onChange(true);
  return () => {
    controller.onChange = undefined;
  };
}

/** Runs `fn` on indexes 0…total−1, `lanes` at a time; a lane starts its next photo only while not paused, none once cancelled. */
async function runLanes(total: number, lanes: number, controller: BatchController | undefined, signal: AbortSignal | undefined, fn: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    for (;;) {
      await controller?.waitWhilePaused(signal);
      if (signal?.aborted) return;
      const i = next++;
      if (i >= total) return;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, Math.max(total, 1)) }, lane));
}

/**
 * The run's counts and each photo's status: the one place a photo's outcome (done, no cells, failed,
 * skipped) is counted, its CSV rows put and its event sent, and progress (rate, ETA) reported.
 */
class Bookkeeping {
  readonly summary: BatchSummary;
  readonly status: BatchPhotoStatus[];
  private running = 0;

  constructor(private readonly photos: readonly string[], private readonly emit: (e: RunEvent) => void, private readonly clock: RunClock, private readonly csv: CsvSink) {
    this.summary = {
      total: photos.length, done: 0, failed: [], skipped: [], noCells: [], cancelled: false, cacheHits: 0, resumed: 0, engineCalls: 0, elapsedMs: 0, staleTempsRemoved: 0,
    };
    this.status = photos.map(() => 'queued');
  }

  start(index: number): void {
    this.status[index] = 'running';
    this.running++;
    this.emit({ type: 'photo', index, photo: this.photos[index], status: 'running' });
  }

  /** A started photo has settled (whatever its outcome). */
  end(): void {
    this.running--;
  }

  done(index: number, outcome: PhotoOutcome, rows: { summary: string; detections: string } = { summary: '', detections: '' }): void {
    if (outcome.cachedScales === outcome.cells.length && !outcome.resumed) this.summary.cacheHits++;
    if (outcome.resumed) this.summary.resumed++;
    this.summary.done++;
    this.settle(index, 'done', rows, { outcome });
  }

  noCells(index: number, reason: string, outcome: PhotoOutcome): void {
    this.summary.noCells.push({ photo: this.photos[index], reason });
    this.settle(index, 'no cells', { summary: summaryCsvRow(this.photos[index], 'no cells', reason, outcome), detections: '' }, { reason, outcome });
  }

  failed(index: number, reason: string): void {
    this.summary.failed.push({ photo: this.photos[index], reason });
    this.settle(index, 'failed', { summary: summaryCsvRow(this.photos[index], 'failed', reason), detections: '' }, { reason });
  }

  skipped(index: number, reason: string): void {
    this.summary.skipped.push({ photo: this.photos[index], reason });
    this.settle(index, 'skipped', { summary: summaryCsvRow(this.photos[index], 'skipped', reason), detections: '' }, { reason });
  }

  /** Counts, rate and ETA (from the photos finished so far, over the time not paused). */
  progress(): void {
    const s = this.summary;
    const total = this.photos.length;
    const finished = s.done + s.noCells.length + s.failed.length;
    const ms = this.clock.elapsed();
    const remaining = total - finished - s.skipped.length;
    this.emit({
      type: 'progress', total, done: s.done + s.noCells.length, failed: s.failed.length, skipped: s.skipped.length, running: this.running,
      elapsedMs: ms, etaMs: finished > 0 ? Math.round((ms / finished) * remaining) : null,
      photosPerMinute: ms > 0 ? (finished * 60_000) / ms : 0,
    });
  }

  private settle(index: number, status: BatchPhotoStatus, rows: { summary: string; detections: string }, what: Pick<PhotoEvent, 'reason' | 'outcome'>): void {
    this.status[index] = status;
    this.csv.put(index, rows.summary, rows.detections);
    this.emit({ type: 'photo', index, photo: this.photos[index], status, ...what });
  }
}
