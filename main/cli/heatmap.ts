import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { Option, type Command } from 'commander';
import type { CombineMode } from '../../core/average';
import { COLORMAPS, isColormapName, type ColormapName } from '../../core/colormap';
import { isPreprocessMode, PREPROCESS_MODES, type PreprocessMode } from '../../core/model-info';
import { BACKEND_REQUESTS, isBackendRequest, selectBackend } from '../engine/backend';
import { createEngine } from '../engine/engine';
import { BatchController, runBatch, type BatchEvent } from '../services/batch';
import { createDiskCache, defaultCacheDir, modelHash } from '../services/cache';
import { checkNamePattern, DEFAULT_NAME_PATTERN } from '../services/export';
import { prepareModel } from '../services/models';
import { scanInputs } from '../services/scan';
import { approximationWarning } from './report';

const MODEL_EXT = /\.(json|h5|hdf5|keras)$/i;

/** A first argument is a model when it is a .json/.h5/.keras file or a folder holding a model.json. */
async function looksLikeModel(p: string): Promise<boolean> {
  const stat = await fs.stat(p).catch(() => null);
  if (!stat) return MODEL_EXT.test(p);
  if (stat.isFile()) return MODEL_EXT.test(p);
  const entries = await fs.readdir(p).catch(() => [] as string[]);
  return entries.includes('model.json') || entries.includes('convmap.json');
}

function parseNumber(name: string, v: unknown, lo: number, hi: number): number {
  const x = Number(v);
  if (!Number.isFinite(x) || x < lo || x > hi) throw new Error(`--${name} must be a number in [${lo}, ${hi}], got "${String(v)}"`);
  return x;
}

function parseInteger(name: string, v: unknown, lo: number, hi: number): number {
  const x = parseNumber(name, v, lo, hi);
  if (!Number.isInteger(x)) throw new Error(`--${name} must be a whole number, got "${String(v)}"`);
  return x;
}

/** Parses "1,1.5,2" into positive scales. */
export function parseScales(text: string): number[] {
  const scales = text.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (scales.length === 0 || scales.some((s) => !Number.isFinite(s) || s <= 0 || s > 16)) {
    throw new Error(`--scales must be comma-separated numbers in (0, 16], got "${text}"`);
  }
  return scales;
}

function seconds(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return s < 3600 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

type Opts = Record<string, string | boolean | undefined>;

/**
 * `convmap heatmap [MODEL] FOLDER_OR_IMAGE...`: one overlay PNG (and scores JSON, CSV rows) per
 * photo; folders are scanned for images (recursively with --recursive). Exit code 0 when every image
 * was processed, 1 when any failed or the run was cancelled (Ctrl-C: finished exports are kept).
 */
export async function runHeatmapCommand(inputs: string[], opts: Opts): Promise<void> {
  const scales = parseScales(String(opts.scales ?? '1'));
  if (opts.mode !== undefined && opts.mode !== 'mean' && opts.mode !== 'max') throw new Error(`--mode must be mean or max, got "${String(opts.mode)}"`);
  if (opts.preprocess !== undefined && !isPreprocessMode(opts.preprocess)) throw new Error(`unknown preprocessing "${String(opts.preprocess)}"`);
  if (opts.colormap !== undefined && !isColormapName(opts.colormap)) {
    throw new Error(`unknown colormap "${String(opts.colormap)}" (expected one of ${COLORMAPS.join(', ')})`);
  }
  const style = {
    colormap: (isColormapName(opts.colormap) ? opts.colormap : 'turbo') as ColormapName,
    opacity: parseNumber('opacity', opts.opacity ?? 0.5, 0, 1),
    threshold: parseNumber('threshold', opts.threshold ?? 0, 0, Number.MAX_VALUE),
    mode: (opts.mode === 'max' ? 'max' : 'mean') as CombineMode,
    boxes: opts.boxes === true,
    legend: opts.legend === true,
    detectThreshold: parseNumber('detect-threshold', opts.detectThreshold ?? 0.5, 0, 1),
  };
  const workers = opts.workers !== undefined ? parseInteger('workers', opts.workers, 1, 64) : undefined;
  const jobs = opts.jobs !== undefined ? parseInteger('jobs', opts.jobs, 1, 64) : undefined;
  const namePattern = checkNamePattern(String(opts.name ?? DEFAULT_NAME_PATTERN));
  const useCache = opts.cache !== false;
  const cacheDir = typeof opts.cacheDir === 'string' ? opts.cacheDir : defaultCacheDir();

  let modelPath: string | undefined;
  let targets = inputs;
  if (inputs.length > 0 && (await looksLikeModel(inputs[0]))) {
    modelPath = inputs[0];
    targets = inputs.slice(1);
  }
  if (targets.length === 0) throw new Error('no photos given (usage: convmap heatmap [MODEL] FOLDER_OR_IMAGE... --out DIR)');
  const outDir = String(opts.out ?? '.');
  const scan = await scanInputs(targets, { recursive: opts.recursive === true, exclude: [outDir, ...(useCache ? [cacheDir] : [])] });
  if (scan.photos.length === 0) {
    throw new Error(`no image files in ${targets.join(', ')}${scan.skipped.length ? ` (${scan.skipped.length} other entries skipped${opts.recursive ? '' : '; sub-folders need --recursive'})` : ''}`);
  }

  const backendRequest = isBackendRequest(opts.backend) ? opts.backend : 'auto';
  await selectBackend(backendRequest);
  const prepared = await prepareModel(modelPath, { preprocess: isPreprocessMode(opts.preprocess) ? opts.preprocess : undefined });
  const { info } = prepared;
  const approximate = approximationWarning(info.equivalence);
  if (approximate) process.stderr.write(`convmap: ${approximate}\n`);

  const engine = await createEngine({ backend: backendRequest, workers });
  const tty = process.stderr.isTTY === true && !opts.json;
  const bar = tty
    ? new SingleBar({ format: 'heatmap {bar} {value}/{total} photos | {rate}/min | left {left} | {photo}', hideCursor: true, clearOnComplete: false }, Presets.shades_classic)
    : undefined;
  const warn = (m: string): void => {
    if (bar) bar.stop();
    process.stderr.write(`convmap: ${m}\n`);
  };
  const cache = useCache ? createDiskCache(cacheDir, { onWarning: warn }) : null;
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    if (++interrupts > 1) process.exit(130);
    process.stderr.write('\nconvmap: cancelling — finished exports are kept (Ctrl-C again to quit at once)\n');
    abort.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSigint);

  const onEvent = (e: BatchEvent): void => {
    if (e.type === 'progress') {
      bar?.update(e.done + e.failed + e.skipped, { rate: e.photosPerMinute.toFixed(1), left: e.etaMs === null ? '…' : seconds(e.etaMs) });
    } else if (e.type === 'photo') {
      if (e.status === 'running') bar?.update({ photo: path.basename(e.photo) });
      if (e.status === 'done' && e.outcome) {
        const o = e.outcome;
        if (opts.json) {
          process.stdout.write(JSON.stringify({ photo: e.photo, status: 'done', png: o.png, scores: o.json, class: o.classLabel, backend: engine.backend, detections: o.detections, cached: o.cachedScales === scales.length }) + '\n');
        } else if (!bar) {
          process.stdout.write(`${e.photo} → ${o.png} (class ${o.classLabel}, ${o.cells.map((c) => `${c.scale}: ${c.rows}×${c.cols}`).join(', ')} cells${o.cachedScales === scales.length ? ', cached' : ''})\n`);
        }
      } else if (e.status === 'failed') {
        if (opts.json) process.stdout.write(JSON.stringify({ photo: e.photo, status: 'failed', reason: e.reason }) + '\n');
        else if (!bar) process.stderr.write(`convmap: ${e.photo}: ${e.reason}\n`);
      }
    }
  };

  let summary;
  try {
    const handle = await engine.loadModel(prepared.artifacts, info);
    bar?.start(scan.photos.length, 0, { photo: '', rate: '0.0', left: '…' });
    summary = await runBatch({
      engine, handle, info, photos: scan.photos, scales, outDir, jobs, signal: abort.signal,
      cache, modelKey: cache ? modelHash(prepared.artifacts, info) : undefined,
      controller: new BatchController(), onEvent,
      options: {
        ...style, classChoice: String(opts.class ?? 'top'), namePattern, overwrite: opts.overwrite === true,
        scoresJson: opts.scores !== false, csv: opts.csv === true,
      },
    });
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
    await engine.close();
  }

  const failed = summary.failed.length;
  if (!opts.json) {
    const lines = [
      `${summary.done} of ${summary.total} photos done in ${seconds(summary.elapsedMs)} with ${engine.backend} (${engine.workers} workers)`
        + `${summary.cacheHits ? `, ${summary.cacheHits} from the cache` : ''}${summary.cancelled ? ' — cancelled' : ''}`,
    ];
    const notImages = scan.skipped.length;
    if (notImages || summary.skipped.length) {
      lines.push(`skipped: ${notImages ? `${notImages} files that are not images${opts.recursive ? '' : ' or sub-folders'}` : ''}`
        + `${notImages && summary.skipped.length ? ', ' : ''}${summary.skipped.length ? `${summary.skipped.length} photos not processed (cancelled)` : ''}`);
    }
    if (failed) {
      lines.push(`failed: ${failed}`);
      for (const f of summary.failed) lines.push(`  ${f.photo}: ${f.reason}`);
    }
    if (summary.csv) lines.push(`csv: ${summary.csv.summary}, ${summary.csv.detections}`);
    process.stdout.write(lines.join('\n') + '\n');
  } else {
    process.stdout.write(JSON.stringify({
      summary: { total: summary.total, done: summary.done, failed: summary.failed, skipped: summary.skipped.length, filesSkipped: scan.skipped.length, cancelled: summary.cancelled, cacheHits: summary.cacheHits, csv: summary.csv },
    }) + '\n');
  }
  if (failed > 0 || summary.cancelled) process.exitCode = 1;
}

/** Registers `convmap heatmap` on the program; `fail` prints a refusal in one line and sets the exit code. */
export function registerHeatmapCommand(program: Command, fail: (err: unknown) => void): void {
  program
    .command('heatmap')
    .description('write an overlay PNG (and <name>.scores.json) for each photo of the folders and files given (no MODEL: the built-in digit model)')
    .argument('<inputs...>', '[MODEL] FOLDER_OR_IMAGE... — MODEL is a model.json, a model folder or a converted folder')
    .option('--out <dir>', 'output folder', '.')
    .option('--recursive', 'scan sub-folders too')
    .option('--scales <list>', 'comma-separated scales, e.g. 1,1.5,2', '1')
    .option('--class <label>', 'class to draw: a label, a class index, "top" (each photo\'s strongest class) or "any" (strongest but background, per location)', 'top')
    .option('--preprocess <mode>', `input preprocessing (${PREPROCESS_MODES.join(', ')})`, (v: string): PreprocessMode => {
      if (!isPreprocessMode(v)) throw new Error(`expected one of ${PREPROCESS_MODES.join(', ')}`);
      return v;
    })
    .option('--colormap <name>', `colormap (${COLORMAPS.join(', ')})`, 'turbo')
    .option('--opacity <x>', 'overlay opacity 0–1', '0.5')
    .option('--threshold <x>', 'scores below this are transparent', '0')
    .option('--mode <mean|max>', 'how scales are combined', 'mean')
    .option('--name <pattern>', 'output file name with {name} and {class}', DEFAULT_NAME_PATTERN)
    .option('--overwrite', 'replace existing outputs (default: add a "-2", "-3"… suffix)')
    .option('--boxes', 'draw detection boxes with labels')
    .option('--detect-threshold <x>', 'score a peak needs to become a detection', '0.5')
    .option('--legend', 'draw a legend: class name and colormap scale')
    .option('--csv', 'write summary.csv (per-class maxima per photo) and detections.csv')
    .option('--no-scores', 'do not write <name>.scores.json')
    .option('--no-cache', 'do not read or write the score cache')
    .option('--cache-dir <dir>', `score cache folder (default ${defaultCacheDir()})`)
    .option('--jobs <n>', 'photos in flight at once (default: max(2, workers))')
    .option('--workers <n>', 'inference worker threads (default: all cores)')
    .option('--json', 'print one JSON line per photo and a JSON summary')
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(BACKEND_REQUESTS as string[]))
    .action(async (inputs: string[], opts: Opts) => {
      try {
        await runHeatmapCommand(inputs, opts);
      } catch (e) {
        fail(e);
      }
    });
}
