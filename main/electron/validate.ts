/**
 * Run-time validation of everything that crosses from the renderer: the sender's URL and the shape
 * of each invoke's arguments, driven by core/api.ts's channel table (one checker per argument kind).
 * Pure functions (no Electron), so they are tested in Node. A renderer is untrusted input:
 * TypeScript types end at the process boundary, and paths are accepted only when the user chose them.
 */
import path from 'node:path';
import {
  INVOKES, type AddFoldersRequest, type ArgKind, type ArgKinds, type ComputeScoresRequest, type ExportSettings, type InvokeArgs,
  type InvokeMethod, type LoadModelRequest, type RunBatchRequest, type SetPreprocessRequest,
} from '../../core/api';
import { isPreprocessMode, NORMALIZE_SYNTAX, PREPROCESS_MODES, type PreprocessMode } from '../../core/model-info';
import { checkRecipe, RECIPE_CHECKS } from '../../core/recipe';
import { MAX_SCALE, MAX_SCALED_PIXELS, MAX_SCALES, scaleListProblem } from '../../core/scales';

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

/** What the validators may ask about main's state (ids must exist). */
export interface ValidationContext {
  hasModel(id: string): boolean;
  /** Upright [height, width] of an opened photo; undefined for ids never issued. */
  photoSize(id: string): [number, number] | undefined;
  /** True for an export folder the user chose in the dialog this session (absent: none is). */
  isExportDir?(path: string): boolean;
  /**
   * True for a file or folder the user chose: a dialog, a drop, the command line, a recent item or
   * the OS's open-file (main/electron/chosen.ts keeps them). Absent: no path is.
   */
  isChosen?(path: string): boolean;
  /**
   * True for a path the file manager may be opened on: a chosen one, an export folder chosen in the
   * dialog, or a file an export wrote this session (absent: none is).
   */
  isShowable?(path: string): boolean;
}

export const LIMITS = {
  /** Longest accepted path (Windows long paths are up to 32 767 UTF-16 units). */
  pathLength: 32_767,
  /** Most paths in one addPhotos call. */
  paths: 10_000,
  /** Longest id (ours are UUIDs; job ids are the renderer's). */
  idLength: 128,
  scales: MAX_SCALES,
  /** Largest scale factor. */
  maxScale: MAX_SCALE,
  /** Largest resized photo at one scale, in pixels: bounds the memory of one resize. */
  maxScaledPixels: MAX_SCALED_PIXELS,
  /** Most photos in one batch. */
  batchPhotos: 100_000,
} as const;

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const no = <T>(reason: string): Checked<T> => ({ ok: false, reason });

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return `a string of ${v.length} characters`;
  return typeof v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Refuses keys outside `allowed` and missing `required` ones. */
function checkKeys(v: Record<string, unknown>, what: string, required: readonly string[], optional: readonly string[] = []): string | undefined {
  for (const k of Object.keys(v)) {
    if (!required.includes(k) && !optional.includes(k)) return `${what}: unexpected field "${k.slice(0, 40)}"`;
  }
  for (const k of required) if (!(k in v)) return `${what}: missing field "${k}"`;
  return undefined;
}

/** A checker per field of a request: what `checkFields` runs on each field's value. */
type FieldChecks = Record<string, (v: unknown, ctx: ValidationContext) => Checked<unknown>>;
type CheckedFields<F extends FieldChecks> = { [K in keyof F]: F[K] extends (v: unknown, ctx: ValidationContext) => Checked<infer T> ? T : never };

/**
 * A plain object holding exactly the fields of `fields`, each passing its checker (in the table's
 * order); the value is a fresh object of the checked values.
 */
function checkFields<F extends FieldChecks>(v: unknown, what: string, fields: F, ctx: ValidationContext): Checked<CheckedFields<F>> {
  if (!isPlainObject(v)) return no(`${what} must be an object, got ${describe(v)}`);
  const keys = checkKeys(v, what, Object.keys(fields));
  if (keys) return no(keys);
  const out: Record<string, unknown> = {};
  for (const [k, check] of Object.entries(fields)) {
    const r = check(v[k], ctx);
    if (!r.ok) return r;
    out[k] = r.value;
  }
  return ok(out as CheckedFields<F>);
}

export function checkId(v: unknown, what: string): Checked<string> {
  if (typeof v !== 'string') return no(`${what} must be a string, got ${describe(v)}`);
  if (v.length === 0 || v.length > LIMITS.idLength) return no(`${what} must be 1–${LIMITS.idLength} characters, got ${v.length}`);
  if (/[\u0000-\u001f]/.test(v)) return no(`${what} contains control characters`);
  return ok(v);
}

/** The id (checkId) of a model main has loaded. */
function checkModelId(v: unknown, ctx: ValidationContext): Checked<string> {
  const id = checkId(v, 'modelId');
  if (!id.ok) return id;
  return ctx.hasModel(id.value) ? id : no(`no loaded model has id "${id.value}"`);
}

/** The id (checkId) of an opened photo, with the photo's upright [height, width]. */
function checkPhotoId(v: unknown, what: string, ctx: ValidationContext): Checked<{ id: string; size: [number, number] }> {
  const id = checkId(v, what);
  if (!id.ok) return id;
  const size = ctx.photoSize(id.value);
  return size ? ok({ id: id.value, size }) : no(`no opened photo has id "${id.value}"`);
}

function checkPreprocess(v: unknown): Checked<PreprocessMode> {
  return isPreprocessMode(v) ? ok(v) : no(`preprocess must be one of ${PREPROCESS_MODES.join(', ')} or ${NORMALIZE_SYNTAX} in canonical form, got ${JSON.stringify(v)?.slice(0, 60)}`);
}

/** An absolute path of a file or folder, as the OS gave it (no NUL, bounded length). */
export function checkPath(v: unknown, what = 'path'): Checked<string> {
  if (typeof v !== 'string') return no(`${what} must be a string, got ${describe(v)}`);
  if (v.length === 0 || v.length > LIMITS.pathLength) return no(`${what} must be 1–${LIMITS.pathLength} characters, got ${v.length}`);
  if (v.includes('\u0000')) return no(`${what} contains a NUL character`);
  if (!path.isAbsolute(v) && !path.win32.isAbsolute(v)) return no(`${what} must be absolute, got "${v.slice(0, 200)}"`);
  return ok(v);
}

/** An absolute path (checkPath) that the user chose. */
export function checkChosenPath(v: unknown, ctx: ValidationContext, what = 'path'): Checked<string> {
  const p = checkPath(v, what);
  if (!p.ok) return p;
  if (!(ctx.isChosen?.(p.value) ?? false)) return no(`${what} "${p.value.slice(0, 200)}" was not chosen by the user (open it from a dialog, a drop, the command line or the recent list)`);
  return p;
}

/** 0–10 000 paths, each one the user chose. */
export function checkPaths(v: unknown, ctx: ValidationContext): Checked<string[]> {
  if (!Array.isArray(v)) return no(`paths must be an array of strings, got ${describe(v)}`);
  if (v.length > LIMITS.paths) return no(`at most ${LIMITS.paths} paths at once, got ${v.length}`);
  const out: string[] = [];
  for (let i = 0; i < v.length; i++) {
    const p = checkChosenPath(v[i], ctx, `paths[${i}]`);
    if (!p.ok) return p;
    out.push(p.value);
  }
  return ok(out);
}

export function checkLoadModelRequest(v: unknown, ctx: ValidationContext): Checked<LoadModelRequest> {
  if (!isPlainObject(v)) return no(`load-model request must be an object, got ${describe(v)}`);
  const keys = checkKeys(v, 'load-model request', ['path'], ['jobId', 'preprocess', 'stride', 'output', 'labelsFile', 'window']);
  if (keys) return no(keys);
  if (v.jobId !== undefined) {
    const jobId = checkId(v.jobId, 'jobId');
    if (!jobId.ok) return jobId;
  }
  let modelPath: string | null = null;
  if (v.path !== null) {
    const p = checkChosenPath(v.path, ctx, 'path');
    if (!p.ok) return p;
    modelPath = p.value;
  }
  const preprocess = v.preprocess === undefined ? ok(undefined) : checkPreprocess(v.preprocess);
  if (!preprocess.ok) return preprocess;
  // The recipe's one stride bound (prepareModel checks it again for callers without this validator).
  const strideProblem = v.stride === undefined ? undefined : v.stride === null ? 'stride must be a whole number, got null' : RECIPE_CHECKS.stride(v.stride);
  if (strideProblem) return no(strideProblem);
  if (v.window !== undefined && !(Number.isInteger(v.window) && (v.window as number) >= 8 && (v.window as number) <= 4096)) {
    return no(`window must be a whole number of pixels in [8, 4096], got ${JSON.stringify(v.window)?.slice(0, 40)}`);
  }
  if (v.output !== undefined) {
    const out = checkId(v.output, 'output');
    if (!out.ok) return out;
  }
  let labelsFile: string | undefined;
  if (v.labelsFile !== undefined) {
    const p = checkChosenPath(v.labelsFile, ctx, 'labelsFile');
    if (!p.ok) return p;
    labelsFile = p.value;
  }
  return ok({
    ...(v.jobId === undefined ? {} : { jobId: v.jobId as string }),
    path: modelPath,
    ...(preprocess.value === undefined ? {} : { preprocess: preprocess.value }),
    ...(v.stride === undefined ? {} : { stride: v.stride as number }),
    ...(v.output === undefined ? {} : { output: v.output as string }),
    ...(labelsFile === undefined ? {} : { labelsFile }),
    ...(v.window === undefined ? {} : { window: v.window as number }),
  });
}

export function checkSetPreprocessRequest(v: unknown, ctx: ValidationContext): Checked<SetPreprocessRequest> {
  return checkFields(v, 'set-preprocess request', { modelId: checkModelId, preprocess: checkPreprocess }, ctx);
}

export function checkComputeScoresRequest(v: unknown, ctx: ValidationContext): Checked<ComputeScoresRequest> {
  if (!isPlainObject(v)) return no(`compute-scores request must be an object, got ${describe(v)}`);
  const keys = checkKeys(v, 'compute-scores request', ['jobId', 'modelId', 'photoId', 'scales']);
  if (keys) return no(keys);
  const jobId = checkId(v.jobId, 'jobId');
  if (!jobId.ok) return jobId;
  const modelId = checkModelId(v.modelId, ctx);
  if (!modelId.ok) return modelId;
  const photo = checkPhotoId(v.photoId, 'photoId', ctx);
  if (!photo.ok) return photo;
  const scales = checkScales(v.scales, photo.value.size);
  if (!scales.ok) return scales;
  return ok({ jobId: jobId.value, modelId: modelId.value, photoId: photo.value.id, scales: scales.value });
}

/** Scale factors: core/scales' one validator, with no scale making a photo of `size` bigger than the resize limit. */
export function checkScales(scales: unknown, size: [number, number]): Checked<number[]> {
  if (!Array.isArray(scales)) return no(`scales must be an array of numbers, got ${describe(scales)}`);
  const problem = scaleListProblem(scales, size);
  return problem ? no(problem) : ok([...(scales as number[])]);
}

export function checkAddFoldersRequest(v: unknown, ctx: ValidationContext): Checked<AddFoldersRequest> {
  return checkFields(v, 'add-folders request', { paths: checkPaths, recursive: (r) => checkBoolean(r, 'recursive') }, ctx);
}

/** An absolute path (checkPath) that the user chose or an export wrote: what Show in folder may open. */
export function checkShownPath(v: unknown, ctx: ValidationContext): Checked<string> {
  const p = checkPath(v, 'path');
  if (!p.ok) return p;
  if (!(ctx.isShowable?.(p.value) ?? false)) return no(`path "${p.value.slice(0, 200)}" is neither one the user chose nor an export written in this session`);
  return p;
}

export function checkBoolean(v: unknown, what: string): Checked<boolean> {
  return typeof v === 'boolean' ? ok(v) : no(`${what} must be a boolean, got ${describe(v)}`);
}

export function checkExportSettings(v: unknown, ctx: ValidationContext): Checked<ExportSettings> {
  if (!isPlainObject(v)) return no(`export settings must be an object, got ${describe(v)}`);
  const keys = checkKeys(v, 'export settings', ['outDir']);
  if (keys) return no(keys);
  const outDir = checkPath(v.outDir, 'outDir');
  if (!outDir.ok) return outDir;
  if (!(ctx.isExportDir?.(outDir.value) ?? false)) return no(`outDir "${outDir.value.slice(0, 200)}" was not chosen in the export dialog`);
  return ok({ outDir: outDir.value });
}

export function checkRunBatchRequest(v: unknown, ctx: ValidationContext): Checked<RunBatchRequest> {
  if (!isPlainObject(v)) return no(`run-batch request must be an object, got ${describe(v)}`);
  const keys = checkKeys(v, 'run-batch request', ['batchId', 'modelId', 'photoIds', 'recipe'], ['export', 'queue']);
  if (keys) return no(keys);
  const batchId = checkId(v.batchId, 'batchId');
  if (!batchId.ok) return batchId;
  const modelId = checkModelId(v.modelId, ctx);
  if (!modelId.ok) return modelId;
  const ids = v.photoIds;
  if (!Array.isArray(ids)) return no(`photoIds must be an array of ids, got ${describe(ids)}`);
  if (ids.length === 0 || ids.length > LIMITS.batchPhotos) return no(`photoIds must hold 1–${LIMITS.batchPhotos} ids, got ${ids.length}`);
  const photoIds: string[] = [];
  let largest: [number, number] = [0, 0];
  for (let i = 0; i < ids.length; i++) {
    const photo = checkPhotoId(ids[i], `photoIds[${i}]`, ctx);
    if (!photo.ok) return photo;
    const { id, size } = photo.value;
    if (size[0] * size[1] > largest[0] * largest[1]) largest = size;
    photoIds.push(id);
  }
  // core/recipe's one validator; then the scales against the largest photo, as computeScores checks
  // them against its one ('auto' scales are core/defaults' own for each photo).
  const recipe = checkRecipe(v.recipe);
  if (!recipe.ok) return no(`recipe: ${recipe.reason}`);
  const { scales } = recipe.recipe;
  if (scales !== 'auto') {
    const sized = checkScales(scales, largest);
    if (!sized.ok) return no(`recipe: ${sized.reason}`);
  }
  const out: RunBatchRequest = { batchId: batchId.value, modelId: modelId.value, photoIds, recipe: recipe.recipe };
  if (v.export !== undefined) {
    const e = checkExportSettings(v.export, ctx);
    if (!e.ok) return e;
    out.export = e.value;
  }
  if (v.queue !== undefined) {
    const q = checkQueueUrl(v.queue);
    if (!q.ok) return q;
    if (!out.export) return no('queue: a queue batch is an export (the workers write the files): it needs export settings');
    out.queue = q.value;
  }
  return ok(out);
}

/**
 * A queue URL, `redis://[user:password@]host[:port][/db]` or `rediss://…` (main/queue/connection
 * parses it). Refusals never repeat the URL: it may hold a password.
 */
export function checkQueueUrl(v: unknown): Checked<string> {
  if (typeof v !== 'string') return no(`queue must be a redis:// URL, got ${describe(v)}`);
  if (v.length === 0 || v.length > 2048) return no(`queue must be a redis:// URL of 1–2048 characters, got ${v.length}`);
  if (/[\u0000-\u0020\u007f]/.test(v)) return no('queue: the URL must not contain spaces or control characters');
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return no('queue must be a URL such as redis://127.0.0.1:6379/0');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') return no(`queue: expected redis:// or rediss://, got ${u.protocol.slice(0, 20)}//`);
  if (!u.hostname) return no('queue: the URL names no host');
  if (!/^\/?\d{0,7}$/.test(u.pathname)) return no('queue: the database (after the host) must be a number');
  if (u.search || u.hash) return no('queue: the URL must not have a query or fragment');
  return ok(v);
}

/** One checker per argument kind of core/api.ts (the compiler refuses a kind without one). */
const ARG_CHECKS: { [K in ArgKind]: (v: unknown, ctx: ValidationContext) => Checked<ArgKinds[K]> } = {
  chosenPaths: checkPaths,
  loadModelRequest: checkLoadModelRequest,
  setPreprocessRequest: checkSetPreprocessRequest,
  computeScoresRequest: checkComputeScoresRequest,
  jobId: (v) => checkId(v, 'jobId'),
  batchId: (v) => checkId(v, 'batchId'),
  recursive: (v) => checkBoolean(v, 'recursive'),
  addFoldersRequest: checkAddFoldersRequest,
  runBatchRequest: checkRunBatchRequest,
  shownPath: checkShownPath,
};

const COUNTS = ['no arguments', 'one argument', 'two arguments'];

/**
 * Validates the arguments of one operation against its entry in the channel table; the value is a
 * fresh copy holding only the checked fields.
 */
export function checkInvokeArgs<M extends InvokeMethod>(method: M, args: unknown[], ctx: ValidationContext): Checked<InvokeArgs<M>> {
  if (!Object.hasOwn(INVOKES, method)) return no(`unknown operation ${String(method).slice(0, 60)}`);
  const { channel, args: kinds } = INVOKES[method] as { channel: string; args: readonly ArgKind[] };
  if (args.length !== kinds.length) return no(`${channel} takes ${COUNTS[kinds.length] ?? `${kinds.length} arguments`}, got ${args.length}`);
  const out: unknown[] = [];
  for (let i = 0; i < kinds.length; i++) {
    const r = ARG_CHECKS[kinds[i]](args[i], ctx);
    if (!r.ok) return r;
    out.push(r.value);
  }
  return ok(out as InvokeArgs<M>);
}

/** Where the app's own pages come from. */
export interface AppOrigins {
  /** The built renderer, served by the app scheme (e.g. 'convmap-app://renderer'). */
  appOrigin: string;
  /** The Vite dev server during `electron-vite dev`, else undefined. */
  devServerUrl?: string;
}

/**
 * True when `url` is one of the app's own pages: the app scheme's origin, or the dev server's
 * origin when one is in use. Parsed with URL, never compared by prefix.
 */
export function isAppUrl(url: string, origins: AppOrigins): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.username !== '' || u.password !== '') return false;
  const app = new URL(origins.appOrigin);
  if (u.protocol === app.protocol && u.host === app.host) return true;
  if (origins.devServerUrl) {
    const dev = new URL(origins.devServerUrl);
    if ((dev.protocol === 'http:' || dev.protocol === 'https:') && u.origin === dev.origin) return true;
  }
  return false;
}

/** The frame facts the sender check needs (an Electron WebFrameMain satisfies it). */
export interface SenderFrame {
  url: string;
  parent: unknown;
}

/**
 * Why a sender is refused, or undefined when it is trusted: the frame must still exist, be the top
 * frame of one of our windows, and show one of the app's pages.
 */
export function senderRefusal(frame: SenderFrame | null | undefined, isOurWindow: boolean, origins: AppOrigins): string | undefined {
  if (!frame) return 'the sending frame is gone';
  if (!isOurWindow) return 'the sender is not one of the app\'s windows';
  if (frame.parent !== null) return 'the sender is a subframe, not the main frame';
  if (!isAppUrl(frame.url, origins)) return `the sender's page ${frame.url.slice(0, 200)} is not the app's`;
  return undefined;
}
