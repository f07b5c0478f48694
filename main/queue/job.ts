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
import type { BoundRecipe } from '../../core/pipeline';
import { checkRecipe } from '../../core/recipe';
import type { PhotoOutcome } from '../services/batch';
import { subfolderIn } from '../services/export';

/** Job names on the queue. */
export const HEATMAP_JOB = 'heatmap';
export const PROBE_JOB = 'probe';
/** Version of the job layout; a worker refuses others (2: the settings are one core/recipe Recipe). */
export const JOB_VERSION = 2;

/**
 * Where every worker reads the job's model. What it must be (its hash), its preprocessing and its
 * stride are the recipe's `model`, `preprocess` and `stride`.
 */
export interface HeatmapJobModel {
  /** Absolute path of the model file or folder; null: the built-in digit model. */
  path: string | null;
  /** --output of a multi-output classifier, when given. */
  output?: string;
  /** Absolute path of a --labels file, when given. */
  labels?: string;
}

/** A job's recipe bound to its model (services/batch journalRecipe): `model` is the hash a worker's copy must have. */
export type JobRecipe = BoundRecipe;

/** How the job runs beside its recipe (services/batch RunOptions). */
export interface JobRunOptions {
  overwrite: boolean;
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
  /** Everything the photo's files are made with (its scales 'auto': each photo its own plan). */
  recipe: JobRecipe;
  run: JobRunOptions;
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

/** A job's recipe: core/recipe checkRecipe, bound to a model (its hash and preprocessing given). */
export function checkJobRecipe(v: unknown): Checked<JobRecipe> {
  const r = checkRecipe(v);
  if (!r.ok) return no(`recipe: ${r.reason}`);
  const { recipe } = r;
  if (recipe.model === null) return no('recipe: model must be the model\'s hash (64 hex digits), got null');
  const { model, preprocess, classChoice, view } = recipe;
  if (preprocess === null) return no('recipe: preprocess must be the model\'s preprocessing, got null');
  if (classChoice === null || view === null) return no('recipe: classChoice and view must be given (the submitter binds the recipe to the model)');
  return ok({ ...recipe, model, preprocess, classChoice, view });
}

function checkRun(v: unknown): Checked<JobRunOptions> {
  if (!isPlainObject(v)) return no(`run must be an object, got ${describe(v)}`);
  const keys = keysProblem(v, 'run', ['overwrite', 'resume']);
  if (keys) return no(keys);
  for (const k of ['overwrite', 'resume'] as const) {
    if (typeof v[k] !== 'boolean') return no(`run.${k} must be a boolean, got ${describe(v[k])}`);
  }
  return ok({ overwrite: v.overwrite as boolean, resume: v.resume as boolean });
}

function checkModel(v: unknown): Checked<HeatmapJobModel> {
  if (!isPlainObject(v)) return no(`model must be an object, got ${describe(v)}`);
  const keys = keysProblem(v, 'model', ['path'], ['output', 'labels']);
  if (keys) return no(keys);
  if (v.path !== null) {
    const p = pathProblem(v.path, 'model.path');
    if (p) return no(p);
  }
  if (v.output !== undefined && (typeof v.output !== 'string' || v.output.length === 0 || v.output.length > MAX_TEXT)) return no(`model.output must be a layer name of at most ${MAX_TEXT} characters`);
  if (v.labels !== undefined) {
    const p = pathProblem(v.labels, 'model.labels');
    if (p) return no(p);
  }
  return ok({
    path: v.path as string | null,
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
  const keys = keysProblem(v, 'job', ['v', 'photo', 'subfolder', 'outDir', 'model', 'recipe', 'run']);
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
  const recipe = checkJobRecipe(v.recipe);
  if (!recipe.ok) return recipe;
  const run = checkRun(v.run);
  if (!run.ok) return run;
  const inRoots = [
    [photo, 'photo'], [outDir, 'output folder'],
    ...(model.value.path !== null ? [[model.value.path, 'model']] : []),
    ...(model.value.labels !== undefined ? [[model.value.labels, 'labels file']] : []),
  ] as const;
  for (const [p, what] of inRoots) {
    const problem = await rootsProblem(p, roots, what);
    if (problem) return no(problem);
  }
  return ok({ v: JOB_VERSION, photo, subfolder: v.subfolder, outDir, model: model.value, recipe: recipe.value, run: run.value });
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
