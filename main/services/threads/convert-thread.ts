/**
 * Model conversion off the calling thread: prepareModel (load, convert, verify against crops) runs in
 * a worker thread of its own, so the Electron main process's event loop never stalls on tfjs work.
 * One worker per conversion; it exits when done (conversions are rare, workers are cheap next to them).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PreprocessMode } from '../../../core/model-info';
import type { BackendRequest } from '../../engine/backend';
import { abortError } from '../../io/abort';
import { startWorker } from '../../io/start-worker';
import type { ModelCacheOptions, PreparedModel } from '../models';

/** What the worker is asked to prepare (the arguments of prepareModel). */
export interface ConvertRequest {
  /** Model file or folder; undefined for the built-in digit model. */
  target?: string;
  preprocess?: PreprocessMode;
  /** Cells this many pixels apart (prepareModel's `stride`). */
  stride?: number;
  builtinDir?: string;
  /** Output of a multi-output classifier to convert; default: its first class-score output. */
  output?: string;
  /** Label file replacing the model's labels. */
  labelsFile?: string;
  /** Input size of a classifier saved without one (prepareModel's `window`). */
  window?: number;
  /**
   * tfjs backend of the conversion and its crop check (default 'auto': the fastest that loads, as the
   * CLI chooses; CONVMAP_BACKEND overrides it). A worker thread starts on tfjs's plain-JS backend
   * otherwise, 9× slower than WebAssembly on a Teachable Machine model's check.
   */
  backend?: BackendRequest;
  /** Model cache where conversions are kept by content (prepareModel's `cache`). */
  cache?: ModelCacheOptions;
}

export type ConvertReply =
  | { type: 'stage'; stage: string }
  | { type: 'done'; prepared: PreparedModel }
  | { type: 'error'; name: string; message: string };

/**
 * prepareModel in a worker thread.
 * @throws the worker's error (same name and message: ModelError names the file and the layer),
 *   AbortError when `signal` fires, or an error saying the worker died.
 */
export async function prepareModelInWorker(
  req: ConvertRequest,
  opts: { onStage?: (stage: string) => void; signal?: AbortSignal } = {},
): Promise<PreparedModel> {
  if (opts.signal?.aborted === true) throw abortError(opts.signal);
  // The worker's temporary files (the check's ONNX file) go in a folder of this conversion's own, removed
  // once the worker is gone: a cancel terminates it, and no `finally` of its own runs then.
  const tempRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-convert-'));
  return new Promise<PreparedModel>((resolve, reject) => {
    if (opts.signal?.aborted === true) {
      void fs.rm(tempRoot, { recursive: true, force: true });
      reject(abortError(opts.signal));
      return;
    }
    const worker = startWorker(import.meta.url, 'convert-worker', { workerData: req, env: { ...process.env, TMPDIR: tempRoot, TMP: tempRoot, TEMP: tempRoot } });
    let settled = false;
    const finish = (err: Error | undefined, prepared?: PreparedModel): void => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      void worker.terminate().then(() => fs.rm(tempRoot, { recursive: true, force: true })).catch(() => undefined);
      if (err) reject(err);
      else resolve(prepared as PreparedModel);
    };
    const onAbort = (): void => finish(abortError(opts.signal));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (reply: ConvertReply) => {
      // Messages queued before a cancel terminated the worker are not reported.
      if (settled) return;
      if (reply.type === 'stage') opts.onStage?.(reply.stage);
      else if (reply.type === 'done') finish(undefined, reply.prepared);
      else {
        const err = new Error(reply.message);
        err.name = reply.name;
        finish(err);
      }
    });
    worker.on('error', (err) => finish(err));
    worker.on('exit', (code) => finish(new Error(`the model conversion worker exited (code ${code}) before it finished`)));
  });
}
