/**
 * What travels on the queue: one heatmap job per photo (paths and a recipe, never code) and the
 * probe a submitter sends to learn whether a worker sees its paths. Everything read from a job is
 * untrusted — anyone who can write to the Redis database can write a job — so a worker runs
 * {@link checkHeatmapJob} on each: the shape and range of every field (as main/electron/validate.ts
 * checks what the renderer sends), and every path inside the folders the worker was started with
 * (`--roots`), symbolic links resolved.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { CombineMode } from '../../core/average';
import { isColormapName, type ColormapName } from '../../core/colormap';
import { isPreprocessMode, type PreprocessMode } from '../../core/model-info';
import { isMapView, MAP_VIEWS, type MapView } from '../../core/pipeline';
import { scaleListProblem } from '../../core/scales';
import type { PhotoOutcome } from '../services/batch';
import { checkNamePattern, subfolderIn } from '../services/export';
import { NPY_DTYPES, SCORES_OUTPUTS, type NpyDtype, type ScoresOutput } from '../services/scores-file';

/** Job names on the queue. */
export const HEATMAP_JOB = 'heatmap';
export const PROBE_JOB = 'probe';
/** Version of the job layout; a worker refuses others. */
export const JOB_VERSION = 1;

/** The model a job is run with: where every worker reads it, and the hash it must have. */
export interface HeatmapJobModel {
  /** Absolute path of the model file or folder; null: the built-in digit model. */
  path: string | null;
  /** services/cache modelHash of the prepared model (64 hex digits): a worker whose copy differs refuses the job. */
  key: string;
  preprocess: PreprocessMode;
  /** --stride (à trous rewrite), when given. */
  stride?: number;
  /** --output of a multi-output classifier, when given. */
  output?: string;
  /** Absolute path of a --labels file, when given. */
  labels?: string;
}

/** The recipe: runBatch's options as the command line sets them (services/batch BatchOptions). */
export interface HeatmapJobOptions {
  classChoice: string;
  colormap: ColormapName;
  opacity: number;
  threshold: number;
  mode: CombineMode;
  /** What the overlay shows; absent: the model's default view. */
  view?: MapView;
  boxes: boolean;
  legend: boolean;
  detectThreshold: number;
  namePattern: string;
  overwrite: boolean;
  scores: ScoresOutput;
  npyDtype: NpyDtype;
  csv: boolean;
  resume: boolean;
}

/** One photo's job. */
export interface HeatmapJob {
  v: typeof JOB_VERSION;
  /** Absolute path of the photo. */
  photo: string;
  /** Where its outputs go under outDir ('/'-separated, '' for outDir itself), as scanInputs gave it. */
  subfolder: string;
  /** Absolute path of the output folder. */
  outDir: string;
  model: HeatmapJobModel;
  /** Scales for every photo; null: each photo's default scales. */
  scales: number[] | null;
  options: HeatmapJobOptions;
}

/** What a worker hands back for a finished job (a failed one carries its reason as BullMQ's failedReason). */
export interface HeatmapJobResult {
  status: 'done' | 'no cells';
  reason?: string;
  outcome: PhotoOutcome;
  /** The photo's summary.csv row and detections.csv rows, when the recipe has csv. */
  rows?: { summary: string; detections: string };
  /** host:pid of the worker. */
  worker: string;
}

/** A probe: can the worker read (and, for `write`, write into) these paths? */
export interface ProbeJob {
  v: typeof JOB_VERSION;
  paths: { path: string; write: boolean }[];
}

/** A probe's answer: one line per path the worker cannot use (empty: all are fine). */
export interface ProbeResult {
  problems: string[];
  worker: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };
const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const no = <T>(reason: string): Checked<T> => ({ ok: false, reason });

const MAX_PATH = 32_767;
const MAX_TEXT = 200;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return `a string of ${v.length} characters`;
  return typeof v;
}

function keysProblem(v: Record<string, unknown>, what: string, required: readonly string[], optional: readonly string[] = []): string | undefined {
  for (const k of Object.keys(v)) if (!required.includes(k) && !optional.includes(k)) return `${what}: unexpected field "${k.slice(0, 40)}"`;
  for (const k of required) if (!(k in v)) return `${what}: missing field "${k}"`;
  return undefined;
}

/** An absolute path as text (no NUL, bounded); not yet checked against the roots. */
function pathProblem(v: unknown, what: string): string | undefined {
  if (typeof v !== 'string') return `${what} must be a string, got ${describe(v)}`;
  if (v.length === 0 || v.length > MAX_PATH) return `${what} must be 1–${MAX_PATH} characters, got ${v.length}`;
  if (v.includes('\u0000')) return `${what} contains a NUL character`;
  if (!path.isAbsolute(v)) return `${what} must be an absolute path, got "${v.slice(0, 200)}"`;
  return undefined;
}

/** True when `p` (resolved) is `root` or inside it. */
export function isInside(p: string, root: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The real path of `p`, or for a path that does not exist yet (an output folder), the real path of
 * its nearest existing ancestor with the missing part appended.
 */
async function realOrPlanned(p: string): Promise<string> {
  let at = path.resolve(p);
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(await fs.realpath(at), ...rest.reverse());
    } catch {
      const up = path.dirname(at);
      if (up === at) return path.resolve(p);
      rest.push(path.basename(at));
      at = up;
    }
  }
}

/**
 * Refuses a path outside the roots (real paths: a link inside a root that points out of it is
 * refused). `roots` must be real, absolute paths (see {@link realRoots}).
 */
export async function rootsProblem(p: string, roots: readonly string[], what: string): Promise<string | undefined> {
  const real = await realOrPlanned(p);
  return roots.some((r) => isInside(real, r)) ? undefined : `${what} ${p.slice(0, 300)} is outside the folders this worker serves (--roots ${roots.join(',')})`;
}

/** The real paths of `--roots` folders. @throws naming a root that is missing or not a folder. */
export async function realRoots(roots: readonly string[]): Promise<string[]> {
  if (roots.length === 0) throw new Error('--roots: name at least one folder the jobs\' photos, models and outputs are in');
  return Promise.all(roots.map(async (r) => {
    const st = await fs.stat(r).catch(() => null);
    if (!st?.isDirectory()) throw new Error(`--roots ${r}: not a folder`);
    return fs.realpath(r);
  }));
}

function unit(v: unknown, what: string): string | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1 ? undefined : `${what} must be a number in [0, 1], got ${typeof v === 'number' ? v : describe(v)}`;
}

function checkOptions(v: unknown): Checked<HeatmapJobOptions> {
  if (!isPlainObject(v)) return no(`options must be an object, got ${describe(v)}`);
  const keys = keysProblem(v, 'options', ['classChoice', 'colormap', 'opacity', 'threshold', 'mode', 'boxes', 'legend', 'detectThreshold', 'namePattern', 'overwrite', 'scores', 'npyDtype', 'csv', 'resume'], ['view']);
  if (keys) return no(keys);
  if (typeof v.classChoice !== 'string' || v.classChoice.length === 0 || v.classChoice.length > MAX_TEXT) return no(`classChoice must be a label, 'top' or 'any', got ${describe(v.classChoice)}`);
  if (!isColormapName(v.colormap)) return no(`colormap must be a colormap name, got ${JSON.stringify(v.colormap)?.slice(0, 40)}`);
  for (const k of ['opacity', 'detectThreshold'] as const) {
    const r = unit(v[k], k);
    if (r) return no(r);
  }
  if (typeof v.threshold !== 'number' || !Number.isFinite(v.threshold) || v.threshold < 0) return no(`threshold must be a number ≥ 0, got ${describe(v.threshold)}`);
  if (v.mode !== 'mean' && v.mode !== 'max') return no(`mode must be 'mean' or 'max', got ${JSON.stringify(v.mode)?.slice(0, 40)}`);
  if (v.view !== undefined && !isMapView(v.view)) return no(`view must be one of ${MAP_VIEWS.join(', ')}, got ${JSON.stringify(v.view)?.slice(0, 40)}`);
  for (const k of ['boxes', 'legend', 'overwrite', 'csv', 'resume'] as const) {
    if (typeof v[k] !== 'boolean') return no(`${k} must be a boolean, got ${describe(v[k])}`);
  }
  if (typeof v.namePattern !== 'string' || v.namePattern.length > MAX_TEXT) return no(`namePattern must be a string of at most ${MAX_TEXT} characters, got ${describe(v.namePattern)}`);
  try {
    checkNamePattern(v.namePattern);
  } catch (e) {
    return no((e as Error).message);
  }
  if (!SCORES_OUTPUTS.includes(v.scores as ScoresOutput)) return no(`scores must be one of ${SCORES_OUTPUTS.join(', ')}`);
  if (!NPY_DTYPES.includes(v.npyDtype as NpyDtype)) return no(`npyDtype must be one of ${NPY_DTYPES.join(', ')}`);
  return ok({
    classChoice: v.classChoice, colormap: v.colormap, opacity: v.opacity as number, threshold: v.threshold, mode: v.mode,
    ...(v.view !== undefined ? { view: v.view } : {}),
    boxes: v.boxes as boolean, legend: v.legend as boolean, detectThreshold: v.detectThreshold as number, namePattern: v.namePattern,
    overwrite: v.overwrite as boolean, scores: v.scores as ScoresOutput, npyDtype: v.npyDtype as NpyDtype, csv: v.csv as boolean, resume: v.resume as boolean,
  });
}

function checkModel(v: unknown): Checked<HeatmapJobModel> {
  if (!isPlainObject(v)) return no(`model must be an object, got ${describe(v)}`);
  const keys = keysProblem(v, 'model', ['path', 'key', 'preprocess'], ['stride', 'output', 'labels']);
  if (keys) return no(keys);
  if (v.path !== null) {
    const p = pathProblem(v.path, 'model.path');
    if (p) return no(p);
  }
  if (typeof v.key !== 'string' || !/^[0-9a-f]{64}$/.test(v.key)) return no('model.key must be 64 hex digits');
  if (!isPreprocessMode(v.preprocess)) return no(`model.preprocess must be a preprocessing mode, got ${JSON.stringify(v.preprocess)?.slice(0, 40)}`);
  if (v.stride !== undefined && (!Number.isInteger(v.stride) || (v.stride as number) < 1 || (v.stride as number) > 4096)) return no('model.stride must be a whole number from 1 to 4096');
  if (v.output !== undefined && (typeof v.output !== 'string' || v.output.length === 0 || v.output.length > MAX_TEXT)) return no(`model.output must be a layer name of at most ${MAX_TEXT} characters`);
  if (v.labels !== undefined) {
    const p = pathProblem(v.labels, 'model.labels');
    if (p) return no(p);
  }
  return ok({
    path: v.path as string | null, key: v.key, preprocess: v.preprocess,
    ...(v.stride !== undefined ? { stride: v.stride as number } : {}),
    ...(v.output !== undefined ? { output: v.output as string } : {}),
    ...(v.labels !== undefined ? { labels: v.labels as string } : {}),
  });
}

/**
 * Validates a heatmap job from the queue: its shape, every value's range, and every path inside
 * `roots` (real paths; see {@link realRoots}).
 * @returns a fresh copy holding only the checked fields, or the first problem found.
 */
export async function checkHeatmapJob(v: unknown, roots: readonly string[]): Promise<Checked<HeatmapJob>> {
  if (!isPlainObject(v)) return no(`a job must be an object, got ${describe(v)}`);
  const keys = keysProblem(v, 'job', ['v', 'photo', 'subfolder', 'outDir', 'model', 'scales', 'options']);
  if (keys) return no(keys);
  if (v.v !== JOB_VERSION) return no(`job layout ${JSON.stringify(v.v)?.slice(0, 20)} is not this worker's (${JOB_VERSION}): run the same Convmap version on workers and submitters`);
  for (const k of ['photo', 'outDir'] as const) {
    const p = pathProblem(v[k], k);
    if (p) return no(p);
  }
  const photo = v.photo as string;
  const outDir = v.outDir as string;
  if (typeof v.subfolder !== 'string' || v.subfolder.length > MAX_PATH) return no(`subfolder must be a string, got ${describe(v.subfolder)}`);
  try {
    subfolderIn(outDir, v.subfolder);
  } catch (e) {
    return no((e as Error).message);
  }
  const model = checkModel(v.model);
  if (!model.ok) return model;
  let scales: number[] | null = null;
  if (v.scales !== null) {
    if (!Array.isArray(v.scales)) return no(`scales must be a list of numbers or null, got ${describe(v.scales)}`);
    const problem = scaleListProblem(v.scales);
    if (problem) return no(`scales: ${problem}`);
    scales = (v.scales as number[]).slice();
  }
  const options = checkOptions(v.options);
  if (!options.ok) return options;
  const inRoots = [
    [photo, 'photo'], [outDir, 'output folder'],
    ...(model.value.path !== null ? [[model.value.path, 'model']] : []),
    ...(model.value.labels !== undefined ? [[model.value.labels, 'labels file']] : []),
  ] as const;
  for (const [p, what] of inRoots) {
    const problem = await rootsProblem(p, roots, what);
    if (problem) return no(problem);
  }
  return ok({ v: JOB_VERSION, photo, subfolder: v.subfolder, outDir, model: model.value, scales, options: options.value });
}

/**
 * The job id of a photo's job: the same photo content at the same path, with the same output
 * folder, recipe, scales and model hash, always gets the same id, so submitting again adds nothing.
 * @param photoKey sha256 of the photo's bytes (or of its path when it cannot be read: the worker reports why).
 */
export function heatmapJobId(job: HeatmapJob, photoKey: string): string {
  const h = createHash('sha256').update(JSON.stringify({ photoKey, job })).digest('hex');
  return `hm-${h}`;
}
