import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { COLORMAPS, isColormapName, type ColormapName } from '../../core/colormap';
import { readPreprocessMode, type ConvertedModelInfo } from '../../core/model-info';
import { checkClassChoice } from '../../core/pipeline';
import { printable as p, printableJson } from '../../core/printable';
import {
  checkRecipe, COMBINE_MODES, DEFAULT_RECIPE, isMapView, MAP_VIEWS, NPY_DTYPES, PICTURE_FORMATS, SCORES_OUTPUTS, STRIDE_LIMITS, type MapView, type Recipe,
} from '../../core/recipe';
import { parseScaleList } from '../../core/scales';
import { BACKEND_ENV, ENGINE_BACKEND_REQUESTS, isEngineBackendRequest } from '../engine/backend';
import { ENGINE_PROCESS_ENV, forkOnnxHostWith, prestartOnnxHost, type SpawnOnnxHost } from '../engine/onnx-host';
import { decodeProcesses } from '../io/decode-host';
import { DEVICE_REQUESTS, isDeviceRequest } from '../ort/devices';
import type { Engine } from '../engine/engine';
import type { BatchSummary, RunEvent } from '../services/batch';
import { createDiskCache, defaultCacheDir, parseByteSize } from '../services/storage/cache';
import { approximationWarning, preprocessWarning } from './report';
import { parseInteger, parseNumber, PREPROCESS_HELP, preprocessOption } from './options';
import { batchOutput } from './progress';

/** Colormap names people try from other tools, and the colormap they get here. */
const COLORMAP_ALIASES: Readonly<Record<string, ColormapName>> = { jet: 'turbo', gray: 'greys', grey: 'greys', rdylbu_r: 'rdylbu' };

/** A --colormap value or alias, as a colormap name; undefined when it is neither. */
export function colormapFromOption(v: string): ColormapName | undefined {
  const name = v.trim().toLowerCase();
  if (isColormapName(name)) return name;
  return COLORMAP_ALIASES[name];
}

/** A --view value as a MapView. @throws naming --view and the choices. */
export function mapViewFromOption(v: string): MapView {
  const name = v.trim().toLowerCase();
  if (!isMapView(name)) throw new Error(`--view must be one of ${MAP_VIEWS.join(', ')}, got "${v}"`);
  return name;
}

/** "class 8" for an unlabelled model's class, "class cat" for a labelled one; "any (not background)" as is. */
function classPhrase(label: string): string {
  return /^class /.test(label) || label.startsWith('any ') ? label : `class ${label}`;
}

/** "1 file", "2 files". */
function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The --scales flag: "1,1.5,2" checked by core's one scale validator, in the order given. @throws naming --scales and the bad entry. */
function scalesFlag(text: string): number[] {
  const parsed = parseScaleList(text);
  if ('error' in parsed) throw new Error(`--scales: ${parsed.error} (got "${text}")`);
  return parsed.scales;
}

function seconds(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return s < 3600 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

type Opts = Record<string, string | boolean | undefined>;

/** One of `values`, or a refusal naming the flag and the choices. */
function oneOf<T extends string>(flag: string, v: unknown, values: readonly T[]): T {
  if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
  throw new Error(`--${flag} must be one of ${values.join(', ')}, got "${String(v)}"`);
}

/**
 * The command line's flags as the one core/recipe Recipe (`heatmap`'s and `heatmap --queue`'s; a
 * flag not given keeps DEFAULT_RECIPE's value). Each flag is refused in one line naming it; the
 * whole recipe then passes core/recipe checkRecipe. Not bound to a model yet: `model` is null and a
 * class choice or view not given is null (the model's default, core/pipeline bindRecipe).
 * @throws naming the flag.
 */
export function recipeFromFlags(opts: Opts): Recipe {
  const d = DEFAULT_RECIPE;
  const given = (k: string): boolean => opts[k] !== undefined;
  const preprocess = given('preprocess') ? readPreprocessMode(String(opts.preprocess)) : null;
  if (preprocess?.ok === false) throw new Error(preprocess.reason);
  const colormap = given('colormap') ? colormapFromOption(String(opts.colormap)) : d.colormap;
  if (colormap === undefined) throw new Error(`unknown colormap "${String(opts.colormap)}" (expected one of ${COLORMAPS.join(', ')}, or jet)`);
  const recipe: Recipe = {
    model: null,
    preprocess: preprocess?.ok ? preprocess.mode : null,
    stride: given('stride') ? parseInteger('stride', opts.stride, STRIDE_LIMITS.min, STRIDE_LIMITS.max) : null,
    scales: given('scales') ? scalesFlag(String(opts.scales)) : 'auto',
    mode: given('mode') ? oneOf('mode', opts.mode, COMBINE_MODES) : d.mode,
    classChoice: given('class') ? String(opts.class) : null,
    // A class named without a view asks for that class's map; neither: the model's default view.
    view: given('view') ? mapViewFromOption(String(opts.view)) : given('class') ? 'absolute' : null,
    colormap,
    opacity: given('opacity') ? parseNumber('opacity', opts.opacity, 0, 1) : d.opacity,
    threshold: given('threshold') ? parseNumber('threshold', opts.threshold, 0, 1) : d.threshold,
    smooth: d.smooth,
    boxes: given('boxes') ? opts.boxes === true : d.boxes,
    detectThreshold: given('detectThreshold') ? parseNumber('detect-threshold', opts.detectThreshold, 0, 1) : d.detectThreshold,
    legend: given('legend') ? opts.legend !== false : d.legend,
    namePattern: given('name') ? String(opts.name) : d.namePattern,
    format: given('format') ? oneOf('format', opts.format, PICTURE_FORMATS) : d.format,
    scores: given('scores') ? oneOf('scores', opts.scores, SCORES_OUTPUTS) : d.scores,
    npyDtype: given('npyDtype') ? oneOf('npy-dtype', opts.npyDtype, NPY_DTYPES) : d.npyDtype,
    csv: opts.csv === true,
  };
  const checked = checkRecipe(recipe);
  if (!checked.ok) throw new Error(checked.reason);
  return checked.recipe;
}

/**
 * `convmap heatmap [MODEL] FOLDER_OR_IMAGE...`: one overlay PNG (and scores JSON, CSV rows) per
 * photo; folders are scanned for images (recursively with --recursive). Exit code 0 when every image
 * was processed, 1 when any failed or the run was cancelled (Ctrl-C: finished exports are kept).
 */
export async function runHeatmapCommand(inputs: string[], opts: Opts): Promise<void> {
  const early = startEarly(opts);
  try {
    await runHeatmap(inputs, opts, early.spawnOnnxHost);
  } finally {
    early.end();
  }
}

/**
 * What a local run starts before anything else (nothing for --queue): ONNX Runtime's process, where
 * the engine may be ONNX Runtime, and a photo decoding process. They load Node, ONNX Runtime and
 * libvips while this process loads its own modules and reads the model. `end` kills what is left
 * when the command ends (a process no engine took, idle decoding processes), so that no child
 * outlives the command holding its stdout and stderr (a caller waits for those to close).
 */
function startEarly(opts: Opts): { spawnOnnxHost?: SpawnOnnxHost; end(): void } {
  if (typeof opts.queue === 'string') return { end: () => undefined };
  const backend = process.env[BACKEND_ENV] || (typeof opts.backend === 'string' ? opts.backend : 'auto');
  const host = backend === 'auto' || backend === 'onnx' ? prestartOnnxHost(forkOnnxHostWith(ENGINE_PROCESS_ENV)) : undefined;
  decodeProcesses().warm();
  return {
    spawnOnnxHost: host?.spawn,
    end: () => {
      host?.dispose();
      decodeProcesses().close();
    },
  };
}

async function runHeatmap(inputs: string[], opts: Opts, spawnOnnxHost: SpawnOnnxHost | undefined): Promise<void> {
  // Loaded here, not at start-up: `convmap --version` or `--help` need none of tfjs, sharp or the engine.
  const [{ createEngine }, { BatchController, journalRecipe, runBatch }, { checkOutputFolder }, { prepareModel }, { scanInputs }, { resolveHeatmapInputs }, { modelKeyOf, openSession }, { keepShapedText, prepareGlyphs, saveShapedText, SHAPED_TEXT_FILE }] = await Promise.all([
    import('../engine/engine'), import('../services/batch'), import('../io/atomic'), import('../services/models'), import('../services/scan'), import('./inputs'),
    import('../services/session'), import('../services/glyphs'),
  ]);
  const recipe = recipeFromFlags(opts);
  const run = { overwrite: opts.overwrite === true, resume: opts.resume !== false };
  const quiet = opts.quiet === true;
  const workers = opts.workers !== undefined ? parseInteger('workers', opts.workers, 1, 64) : undefined;
  const stride = recipe.stride ?? undefined;
  const window = opts.window !== undefined ? parseInteger('window', opts.window, 8, 4096) : undefined;
  if (window !== undefined && typeof opts.queue === 'string') {
    throw new Error('--window with --queue: convert the model at that size first (convmap convert MODEL --window N -o DIR) and queue DIR');
  }
  const jobs = opts.jobs !== undefined ? parseInteger('jobs', opts.jobs, 1, 64) : undefined;
  const useCache = opts.cache !== false;
  const cacheBytes = typeof opts.cacheSize === 'string' ? parseByteSize(opts.cacheSize) : undefined;
  const cacheDir = typeof opts.cacheDir === 'string' ? opts.cacheDir : defaultCacheDir();

  const { modelPath, modelName, targets } = await resolveHeatmapInputs(inputs, typeof opts.model === 'string' ? opts.model : undefined, opts.recursive === true);
  if (targets.length === 0) throw new Error('no photos given (usage: convmap heatmap [MODEL] FOLDER_OR_IMAGE... --out DIR)');
  const outDir = String(opts.out ?? '.');
  const outStat = await fs.stat(outDir).catch(() => null);
  if (outStat && !outStat.isDirectory()) throw new Error(`--out ${outDir}: is a file, not a folder`);
  const scan = await scanInputs(targets, { recursive: opts.recursive === true, exclude: [outDir, ...(useCache ? [cacheDir] : [])] });
  if (scan.photos.length === 0) {
    throw new Error(`no image files in ${targets.join(', ')}${scan.skipped.length ? ` (${count(scan.skipped.length, 'other entry', 'other entries')} skipped${opts.recursive ? '' : '; sub-folders need --recursive'})` : ''}`);
  }

  const backendRequest = isEngineBackendRequest(opts.backend) ? opts.backend : 'auto';
  const deviceRequest = isDeviceRequest(opts.device) ? opts.device : 'auto';
  // The model cache (converted models, ONNX Runtime's optimised files) lives with the score cache.
  const modelCache = useCache ? { dir: cacheDir } : undefined;
  // ONNX Runtime's process starts while the model is read; a refusal before the run ends it.
  const engineStart = typeof opts.queue === 'string' ? undefined : createEngine({ backend: backendRequest, device: deviceRequest, workers, modelCache, spawnOnnxHost });
  engineStart?.catch(() => undefined);
  const dropEngine = (): void => void engineStart?.then((e) => e.close(), () => undefined);
  const prepared = await prepareModel(modelPath ?? undefined, {
    // tfjs converts a model that needs it (and runs it only when the engine is not onnx).
    backend: backendRequest === 'onnx' ? 'auto' : backendRequest,
    preprocess: recipe.preprocess ?? undefined,
    stride,
    window,
    output: typeof opts.output === 'string' ? opts.output : undefined,
    labelsFile: typeof opts.labels === 'string' ? opts.labels : undefined,
    cache: modelCache,
    // openSession below reads a converted model's weights only for an engine other than ONNX Runtime.
    deferWeights: true,
  }).catch((err: unknown) => {
    dropEngine();
    throw err;
  });
  const { info } = prepared;
  const modelKey = modelKeyOf(prepared);
  const bound = journalRecipe({ modelKey, info, options: { recipe } });
  try {
    checkClassFlag(bound.classChoice, info.labels, modelName);
  } catch (err) {
    dropEngine();
    throw err;
  }
  warnAboutModel(info);
  if (typeof opts.queue === 'string') {
    // The workers run the photos (main/queue); this process submits them and follows.
    const { runQueuedHeatmap } = await import('./queue');
    const labelsFile = typeof opts.labels === 'string' ? path.resolve(opts.labels) : undefined;
    await runQueuedHeatmap({
      queue: opts.queue, detach: opts.detach === true, json: opts.json === true, quiet, modelName, labels: info.labels,
      model: {
        path: modelPath ? path.resolve(modelPath) : null,
        ...(typeof opts.output === 'string' ? { output: opts.output } : {}), ...(labelsFile ? { labels: labelsFile } : {}),
      },
      photos: scan.photos.map((f) => path.resolve(f)), subfolders: scan.subfolders, filesSkipped: scan.skipped.length, recursive: opts.recursive === true,
      outDir: path.resolve(outDir), recipe: bound, run,
    });
    return;
  }

  const engine = await (engineStart ?? createEngine({ backend: backendRequest, device: deviceRequest, workers, modelCache, spawnOnnxHost }));
  // Made only now that the run starts (a refused --class or device leaves no empty folder behind).
  await checkOutputFolder(outDir).catch(async (err: unknown) => {
    await engine.close();
    throw err;
  });
  const tty = process.stderr.isTTY === true && !opts.json && !quiet;
  const { bar, warn } = batchOutput(tty);
  const cache = useCache ? createDiskCache(cacheDir, { onWarning: warn, maxBytes: cacheBytes }) : null;
  const abort = new AbortController();
  const unhookSignals = cancelOnSignals(abort);
  const onEvent = photoPrinter({
    json: opts.json === true, quiet, bar, warn, modelName, backend: engine.backend, window: info.window,
    scaleCount: (cells) => (bound.scales === 'auto' ? cells.length : bound.scales.length),
  });

  let summary;
  let modelLoad: Record<string, unknown> = {};
  try {
    // ONNX Runtime's idle threads sleep instead of spinning, even for one photo: between its passes and
    // after the last one this thread cuts tiles and draws, and spinning threads took its core. One 1 MP
    // photo at 7 scales: 3.0 → 2.1 s median; at one scale (a lone pass, 4–6 % faster spinning on an idle
    // machine): 2.0 → 1.75 and 1.8 → 1.6 s (8 interleaved runs each, load average ~5).
    // The fonts of legends and box tags load while ONNX Runtime opens the model, not before it is asked to (they take this thread a while).
    const loadFonts = bound.legend || bound.boxes ? () => prepareGlyphs(info.labels) : undefined;
    // The legend's lines as shaped by earlier runs: a second run of the same labels loads no fonts.
    if (loadFonts && useCache) keepShapedText(path.join(cacheDir, SHAPED_TEXT_FILE));
    const { handle } = await openSession(engine, modelPath ?? undefined, prepared, { spinning: false, onRequested: loadFonts });
    modelLoad = { fromCache: prepared.fromCache === true, ...(handle.loaded ?? {}) };
    bar?.start(scan.photos.length, 0, { photo: '', rate: '0.0', left: '…' });
    summary = await runBatch({
      engine, handle, info, photos: scan.photos, subfolders: scan.subfolders, outDir, jobs, signal: abort.signal,
      cache, modelKey,
      controller: new BatchController(), onEvent,
      // A photo of many tiles (a big photo, large scales) shows how far it is, not only which one runs.
      onTiles: bar ? (_i, photo, done, total) => { if (total > 1) bar.update({ photo: `${p(path.basename(photo))} (${done}/${total} tiles)` }); } : undefined,
      options: { recipe, ...run },
    });
  } finally {
    bar?.stop();
    unhookSignals();
    await engine.close();
  }
  await saveShapedText();

  printSummary(summary, {
    json: opts.json === true, quiet, recursive: opts.recursive === true, modelName, modelPath, modelLoad, filesSkipped: scan.skipped.length,
    engine, quietDeviceNotes: deviceRequest === 'auto',
  });
}

/**
 * Refuses a --class the model does not have: an index out of range, or a label it lacks.
 * @throws `--class X: …`
 */
function checkClassFlag(classChoice: string, labels: readonly string[], modelName: string): void {
  if (/^\d+$/.test(classChoice) && !labels.includes(classChoice) && Number(classChoice) >= labels.length) {
    throw new Error(`--class ${classChoice}: class index out of range 0–${labels.length - 1} (${modelName} has ${labels.length} classes)`);
  }
  try {
    checkClassChoice(classChoice, labels);
  } catch (err) {
    throw new Error(`--class ${classChoice}: ${(err as Error).message}`);
  }
}

/** Warns on stderr when the converted model is not exact against its crops, or its preprocessing was guessed. */
function warnAboutModel(info: ConvertedModelInfo): void {
  const approximate = approximationWarning(info.equivalence);
  if (approximate) process.stderr.write(`convmap: ${p(approximate)}\n`);
  const guessed = preprocessWarning(info);
  if (guessed) process.stderr.write(`convmap: ${p(guessed)}\n`);
}

/**
 * SIGINT (Ctrl-C), SIGTERM (kill, systemd, a CI timeout) and SIGHUP (the terminal closed) end the
 * batch through `abort`: finished outputs stay complete, temporary files go, the CSV files are
 * written; a second signal quits at once. @returns the unhook.
 */
function cancelOnSignals(abort: AbortController): () => void {
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++interrupts > 1) process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGHUP' ? 1 : 15));
    process.stderr.write(`\nconvmap: ${signal === 'SIGINT' ? 'cancelling' : `${signal}, cancelling`} — finished exports are kept (Ctrl-C again to quit at once)\n`);
    abort.abort(new Error('interrupted'));
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const sig of signals) process.on(sig, onSignal);
  return () => {
    for (const sig of signals) process.off(sig, onSignal);
  };
}

/** What the photos' lines need to know. */
interface PrinterContext {
  json: boolean;
  quiet: boolean;
  bar: ReturnType<typeof batchOutput>['bar'];
  warn: (message: string) => void;
  modelName: string;
  backend: string;
  /** The model's window [height, width]. */
  window: readonly [number, number];
  /** Scales the photo was asked for, by its cells per scale. */
  scaleCount: (cells: readonly unknown[]) => number;
}

/** Runs' events as the terminal shows them: the progress bar, a line (or JSON line) per finished photo, warnings. */
function photoPrinter(c: PrinterContext): (e: RunEvent) => void {
  const { bar, warn } = c;
  return (e) => {
    if (e.type === 'progress') {
      bar?.update(e.done + e.failed + e.skipped, { rate: e.photosPerMinute.toFixed(1), left: e.etaMs === null ? '…' : seconds(e.etaMs) });
    } else if (e.type === 'photo') {
      if (e.status === 'running') bar?.update({ photo: p(path.basename(e.photo)) });
      if (e.status === 'done' && e.outcome) {
        const o = e.outcome;
        const cached = o.cachedScales === c.scaleCount(o.cells);
        const empty = o.cells.filter((cell) => cell.rows * cell.cols === 0);
        if (empty.length > 0) {
          warn(`${e.photo}: no cells at scale ${empty.map((cell) => Number(cell.scale.toFixed(3))).join(', ')} (the photo is smaller than the model's ${c.window[1]}×${c.window[0]} window there)`);
        }
        if (c.json) {
          process.stdout.write(printableJson({ photo: e.photo, status: 'done', png: o.png, scores: o.json, grid: o.npy, resumed: o.resumed === true, class: o.classLabel, model: c.modelName, backend: c.backend, detections: o.detections, cached, ...(o.scalePlan ? { scalePlan: o.scalePlan, scales: o.cells.map((cell) => cell.scale) } : {}) }) + '\n');
        } else if (!bar && !c.quiet) {
          const cellsText = o.scalePlan ?? `${o.cells.map((cell) => `${Number(cell.scale.toFixed(3))}: ${cell.rows}×${cell.cols}`).join(', ')} cells`;
          process.stdout.write(`${p(e.photo)} → ${p(o.png)} (${p(classPhrase(o.classLabel))}, ${p(cellsText)}${o.resumed ? ', done by an earlier run' : cached ? ', cached' : ''})\n`);
        }
      } else if (e.status === 'no cells') {
        if (c.json) process.stdout.write(printableJson({ photo: e.photo, status: 'no cells', reason: e.reason, model: c.modelName }) + '\n');
        else warn(`${e.photo}: ${e.reason ?? 'no cells'}`);
      } else if (e.status === 'failed') {
        // Named once, in the summary (printed even with --quiet when something failed).
        if (c.json) process.stdout.write(printableJson({ photo: e.photo, status: 'failed', reason: e.reason }) + '\n');
      }
    } else if (e.type === 'warning') {
      warn(e.message);
    }
  };
}

/**
 * The run's last lines (or its JSON summary), and exit code 1 when a photo failed, the run was
 * cancelled or a CSV file is incomplete.
 */
function printSummary(summary: BatchSummary, c: {
  json: boolean; quiet: boolean; recursive: boolean; modelName: string; modelPath: string | null; modelLoad: Record<string, unknown>; filesSkipped: number;
  engine: Pick<Engine, 'backend' | 'device' | 'workers' | 'notes' | 'deviceFallbacks'>;
  /** With --device auto, a GPU provider that is not installed is the normal case: its reason stays in --json's backendNotes. */
  quietDeviceNotes: boolean;
}): void {
  const { engine, quiet, modelName, modelPath, modelLoad } = c;
  const failed = summary.failed.length;
  // One model a run: a device that failed on it left the run to the CPU.
  const ranOn = engine.deviceFallbacks?.length ? 'cpu' : engine.device;
  if (!c.json) {
    const lines = [
      `${summary.done} of ${summary.total} photos done in ${seconds(summary.elapsedMs)} by model ${p(modelName)} with ${engine.backend === 'onnx' ? `onnx on ${ranOn} (${engine.workers} threads)` : `${engine.backend} (${engine.workers} workers)`}`
        + `${summary.cacheHits ? `, ${summary.cacheHits} from the cache` : ''}${summary.resumed ? `, ${summary.resumed} done by an earlier run (--no-resume redoes them)` : ''}`
        + `${summary.cancelled ? ' — cancelled' : ''}`,
    ];
    const notes = engine.backend === 'onnx' && c.quietDeviceNotes ? [] : engine.notes;
    for (const note of notes) lines.push(`not used: ${p(note)}`);
    for (const why of engine.deviceFallbacks ?? []) lines.push(`device: ${p(why)}`);
    if (summary.noCells.length) lines.push(`no cells: ${count(summary.noCells.length, 'photo')} smaller than the model's window at every scale`);
    const notImages = c.filesSkipped;
    if (notImages || summary.skipped.length) {
      lines.push(`skipped: ${notImages ? `${count(notImages, 'file')} that ${notImages === 1 ? 'is' : 'are'} not ${notImages === 1 ? 'an image' : 'images'}${c.recursive ? '' : ` or ${notImages === 1 ? 'a sub-folder' : 'sub-folders'}`}` : ''}`
        + `${notImages && summary.skipped.length ? ', ' : ''}${summary.skipped.length ? `${count(summary.skipped.length, 'photo')} not processed (cancelled)` : ''}`);
    }
    if (failed) {
      lines.push(`failed: ${failed}`);
      for (const f of summary.failed) lines.push(`  ${p(f.photo)}: ${p(f.reason)}`);
    }
    if (summary.csv) lines.push(`csv: ${p(summary.csv.summary)}, ${p(summary.csv.detections)}${summary.csv.incomplete ? ' (incomplete, see above)' : ''}`);
    if (!quiet || failed > 0 || engine.deviceFallbacks?.length) process.stdout.write((quiet ? lines.filter((l) => !l.startsWith('skipped')) : lines).join('\n') + '\n');
  } else {
    process.stdout.write(printableJson({
      summary: { model: modelName, modelPath, backend: engine.backend, device: ranOn, backendNotes: engine.notes, deviceFallbacks: engine.deviceFallbacks ?? [], total: summary.total, done: summary.done, noCells: summary.noCells, failed: summary.failed, skipped: summary.skipped.length, filesSkipped: c.filesSkipped, cancelled: summary.cancelled, cacheHits: summary.cacheHits, csv: summary.csv, modelLoad },
    }) + '\n');
  }
  if (failed > 0 || summary.cancelled || summary.csv?.incomplete) process.exitCode = 1;
}

/** Registers `convmap heatmap` on the program; `fail` prints a refusal in one line and sets the exit code. */
export function registerHeatmapCommand(program: Command, fail: (err: unknown, json?: { file: string }) => void): void {
  program
    .command('heatmap')
    .description('write an overlay PNG (and <name>.scores.json) for each photo of the folders and files given (MODEL first, or --model PATH; --model builtin: the built-in digit model)')
    .argument('<inputs...>', '[MODEL] FOLDER_OR_IMAGE... — MODEL is a model.json, a model folder, a converted folder, a .h5, .keras or .onnx file')
    .option('--model <path>', 'the model (instead of the first argument); "builtin" for the built-in digit model')
    .option('--out <dir>', 'output folder', '.')
    .option('--recursive', 'scan sub-folders too')
    .option('--scales <list>', 'comma-separated scales, e.g. 1,1.5,2 (default per photo: objects from the photo\'s shorter side down to the model\'s window or 1/20 of that side, in steps of ×1.26, within 16 MP)')
    .option('--class <label>', 'class to draw: a label, a class index, "top" (each photo\'s strongest class but background) or, for models with a background class, "any" (strongest but background, per location; the default there); else the default is "top"')
    .option('--preprocess <mode>', `input preprocessing (${PREPROCESS_HELP})`, preprocessOption)
    .option('--stride <px>', 'cells this many pixels apart, a divisor of the network\'s stride (à trous rewrite)')
    .option('--output <name>', 'output of a multi-output model to convert (default: the first giving class scores)')
    .option('--labels <file>', 'class names, one a line or a JSON array')
    .option('--window <px>', 'input size the model was trained at, for a model saved without a fixed input size ([null, null, 3])')
    .option('--view <view>', 'what the overlay shows: absolute (the class\'s scores, 0–1), relative (the class\'s scores min–max normalised over each photo) or classes (the class map: each cell in its winning class\'s colour); default absolute for models with a background class or with --class, else classes')
    .option('--colormap <name>', `colormap (${COLORMAPS.join(', ')}; jet is taken as turbo)`, DEFAULT_RECIPE.colormap)
    .option('--opacity <x>', 'overlay opacity 0–1', String(DEFAULT_RECIPE.opacity))
    .option('--threshold <x>', 'scores below this are transparent', String(DEFAULT_RECIPE.threshold))
    .option('--mode <mean|max>', 'how scales are combined', DEFAULT_RECIPE.mode)
    .option('--name <pattern>', 'output file name with {name} and {class} (default {name}.heatmap.png; the extension follows --format)')
    .option('--format <format>', `picture format: ${PICTURE_FORMATS.join(', ')} (JPEG and WebP at quality 90: a tenth of a photo PNG\'s bytes or less)`, DEFAULT_RECIPE.format)
    .option('--overwrite', 'replace existing outputs (default: add a "-2", "-3"… suffix)')
    .option('--boxes', 'draw detection boxes with labels')
    .option('--detect-threshold <x>', 'score a peak needs to become a detection', String(DEFAULT_RECIPE.detectThreshold))
    .option('--legend', 'draw the legend: what is drawn, its colour scale or its classes (the default, as in the window)')
    .option('--no-legend', 'leave out the legend')
    .option('--csv', 'write summary.csv (per-class maxima per photo) and detections.csv')
    .option('--scores <what>', 'score files per photo: summary (<name>.scores.json: per class max, where, top cells), full (also <name>.scores.npy, the whole grid for NumPy) or none', DEFAULT_RECIPE.scores)
    .option('--npy-dtype <type>', 'element type of the .npy grid: float32 or float16', DEFAULT_RECIPE.npyDtype)
    .option('--no-resume', 'redo photos that an earlier run with the same settings completed in --out')
    .option('--no-cache', 'do not read or write the caches (score maps, converted models and the digests of their files, ONNX Runtime\'s optimised models, the legend\'s shaped text)')
    .option('--cache-dir <dir>', `score cache folder (default ${defaultCacheDir()})`)
    .option('--cache-size <size>', 'bound of the score cache folder, e.g. 500MB or 2GB; least recently used maps go first (default 1GB)')
    .option('--jobs <n>', 'photos in flight at once (default: max(2, workers))')
    .option('--workers <n>', 'inference threads: ONNX Runtime threads, or tfjs worker threads (default: all cores)')
    .option('--json', 'print one JSON line per photo and a JSON summary')
    .option('-q, --quiet', 'print only warnings and errors (and the summary when something failed)')
    .addOption(new Option('--backend <name>', 'inference engine: onnx (ONNX Runtime), node, wasm or cpu (tfjs); auto tries them in that order').choices(ENGINE_BACKEND_REQUESTS as string[]))
    .addOption(new Option('--device <name>', 'ONNX Runtime execution provider; auto uses a GPU provider where one loads, else the CPU').choices(DEVICE_REQUESTS as string[]))
    .option('--queue <url>', 'run on queue workers instead of here: redis://[user:password@]host[:port][/db] (see docs/cluster.md; paths must be on a mount the workers see)')
    .option('--detach', 'with --queue: submit and return (convmap queue status|wait follows; the same command again writes the CSV files)')
    .action(async (inputs: string[], opts: Opts) => {
      try {
        await runHeatmapCommand(inputs, opts);
      } catch (e) {
        fail(e, opts.json === true ? { file: typeof opts.model === 'string' ? opts.model : inputs[0] ?? '' } : undefined);
      }
    });
}
