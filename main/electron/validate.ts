/**
 * Run-time validation of everything that crosses from the renderer: the sender's URL and the shape
 * of each invoke's arguments. Pure functions (no Electron), so they are tested in Node. A renderer
 * is untrusted input: TypeScript types end at the process boundary.
 */
import path from 'node:path';
import {
  INVOKE_CHANNELS, type ComputeScoresRequest, type InvokeArgs, type InvokeChannel, type LoadModelRequest, type SetPreprocessRequest,
} from '../../core/api';
import { isPreprocessMode } from '../../core/model-info';

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

/** What the validators may ask about main's state (ids must exist). */
export interface ValidationContext {
  hasModel(id: string): boolean;
  /** Upright [height, width] of an opened photo; undefined for ids never issued. */
  photoSize(id: string): [number, number] | undefined;
}

export const LIMITS = {
  /** Longest accepted path (Windows long paths are up to 32 767 UTF-16 units). */
  pathLength: 32_767,
  /** Most paths in one addPhotos call. */
  paths: 10_000,
  /** Longest id (ours are UUIDs; job ids are the renderer's). */
  idLength: 128,
  scales: 32,
  /** Largest scale factor. */
  maxScale: 16,
  /** Largest resized photo at one scale, in pixels: bounds the memory of one resize. */
  maxScaledPixels: 400_000_000,
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

export function checkId(v: unknown, what: string): Checked<string> {
  if (typeof v !== 'string') return no(`${what} must be a string, got ${describe(v)}`);
  if (v.length === 0 || v.length > LIMITS.idLength) return no(`${what} must be 1–${LIMITS.idLength} characters, got ${v.length}`);
  if (/[\u0000-\u001f]/.test(v)) return no(`${what} contains control characters`);
  return ok(v);
}

/** An absolute path of a file or folder, as the OS gave it (no NUL, bounded length). */
export function checkPath(v: unknown, what = 'path'): Checked<string> {
  if (typeof v !== 'string') return no(`${what} must be a string, got ${describe(v)}`);
  if (v.length === 0 || v.length > LIMITS.pathLength) return no(`${what} must be 1–${LIMITS.pathLength} characters, got ${v.length}`);
  if (v.includes('\u0000')) return no(`${what} contains a NUL character`);
  if (!path.isAbsolute(v) && !path.win32.isAbsolute(v)) return no(`${what} must be absolute, got "${v.slice(0, 200)}"`);
  return ok(v);
}

export function checkPaths(v: unknown): Checked<string[]> {
  if (!Array.isArray(v)) return no(`paths must be an array of strings, got ${describe(v)}`);
  if (v.length > LIMITS.paths) return no(`at most ${LIMITS.paths} paths at once, got ${v.length}`);
  const out: string[] = [];
  for (let i = 0; i < v.length; i++) {
    const p = checkPath(v[i], `paths[${i}]`);
    if (!p.ok) return p;
    out.push(p.value);
  }
  return ok(out);
}

export function checkLoadModelRequest(v: unknown): Checked<LoadModelRequest> {
  if (!isPlainObject(v)) return no(`load-model request must be an object, got ${describe(v)}`);
  const keys = checkKeys(v, 'load-model request', ['path'], ['preprocess']);
  if (keys) return no(keys);
  let modelPath: string | null = null;
  if (v.path !== null) {
    const p = checkPath(v.path, 'path');
    if (!p.ok) return p;
    modelPath = p.value;
  }
  if (v.preprocess !== undefined && !isPreprocessMode(v.preprocess)) return no(`preprocess must be a preprocessing mode, got ${JSON.stringify(v.preprocess)?.slice(0, 40)}`);
  return ok(v.preprocess === undefined ? { path: modelPath } : { path: modelPath, preprocess: v.preprocess });
}

export function checkSetPreprocessRequest(v: unknown, ctx: ValidationContext): Checked<SetPreprocessRequest> {
  if (!isPlainObject(v)) return no(`set-preprocess request must be an object, got ${describe(v)}`);
  const keys = checkKeys(v, 'set-preprocess request', ['modelId', 'preprocess']);
  if (keys) return no(keys);
  const id = checkId(v.modelId, 'modelId');
  if (!id.ok) return id;
  if (!ctx.hasModel(id.value)) return no(`no loaded model has id "${id.value}"`);
  if (!isPreprocessMode(v.preprocess)) return no(`preprocess must be a preprocessing mode, got ${JSON.stringify(v.preprocess)?.slice(0, 40)}`);
  return ok({ modelId: id.value, preprocess: v.preprocess });
}

export function checkComputeScoresRequest(v: unknown, ctx: ValidationContext): Checked<ComputeScoresRequest> {
  if (!isPlainObject(v)) return no(`compute-scores request must be an object, got ${describe(v)}`);
  const keys = checkKeys(v, 'compute-scores request', ['jobId', 'modelId', 'photoId', 'scales']);
  if (keys) return no(keys);
  const jobId = checkId(v.jobId, 'jobId');
  if (!jobId.ok) return jobId;
  const modelId = checkId(v.modelId, 'modelId');
  if (!modelId.ok) return modelId;
  if (!ctx.hasModel(modelId.value)) return no(`no loaded model has id "${modelId.value}"`);
  const photoId = checkId(v.photoId, 'photoId');
  if (!photoId.ok) return photoId;
  const size = ctx.photoSize(photoId.value);
  if (!size) return no(`no opened photo has id "${photoId.value}"`);
  const scales = v.scales;
  if (!Array.isArray(scales)) return no(`scales must be an array of numbers, got ${describe(scales)}`);
  if (scales.length === 0 || scales.length > LIMITS.scales) return no(`scales must hold 1–${LIMITS.scales} numbers, got ${scales.length}`);
  for (const s of scales) {
    if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0 || s > LIMITS.maxScale) {
      return no(`each scale must be a finite number in (0, ${LIMITS.maxScale}], got ${typeof s === 'number' ? s : describe(s)}`);
    }
    const pixels = Math.round(s * size[0]) * Math.round(s * size[1]);
    if (pixels > LIMITS.maxScaledPixels) {
      return no(`scale ${s} makes the ${size[1]}×${size[0]} photo ${(pixels / 1e6).toFixed(0)} MP, over the limit of ${LIMITS.maxScaledPixels / 1e6} MP`);
    }
  }
  return ok({ jobId: jobId.value, modelId: modelId.value, photoId: photoId.value, scales: [...(scales as number[])] });
}

function none(channel: InvokeChannel, args: unknown[]): Checked<[]> {
  return args.length === 0 ? ok([]) : no(`${channel} takes no arguments, got ${args.length}`);
}

function one<T>(channel: InvokeChannel, args: unknown[], check: (v: unknown) => Checked<T>): Checked<[T]> {
  if (args.length !== 1) return no(`${channel} takes one argument, got ${args.length}`);
  const r = check(args[0]);
  return r.ok ? ok([r.value]) : r;
}

/** Validates the arguments of one invoke; the value is a fresh copy holding only the checked fields. */
export function checkInvokeArgs<C extends InvokeChannel>(channel: C, args: unknown[], ctx: ValidationContext): Checked<InvokeArgs[C]> {
  const result = ((): Checked<InvokeArgs[InvokeChannel]> => {
    switch (channel as InvokeChannel) {
      case 'convmap:backend-info':
      case 'convmap:open-model-dialog':
      case 'convmap:open-photos-dialog':
      case 'convmap:demo-scene':
      case 'convmap:recent':
        return none(channel, args);
      case 'convmap:load-model':
        return one(channel, args, checkLoadModelRequest);
      case 'convmap:set-preprocess':
        return one(channel, args, (v) => checkSetPreprocessRequest(v, ctx));
      case 'convmap:add-photos':
        return one(channel, args, checkPaths);
      case 'convmap:compute-scores':
        return one(channel, args, (v) => checkComputeScoresRequest(v, ctx));
      case 'convmap:cancel':
        return one(channel, args, (v) => checkId(v, 'jobId'));
      default:
        return no(`unknown channel ${String(channel).slice(0, 60)}`);
    }
  })();
  return result as Checked<InvokeArgs[C]>;
}

export function isInvokeChannel(v: unknown): v is InvokeChannel {
  return typeof v === 'string' && (INVOKE_CHANNELS as readonly string[]).includes(v);
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
