/**
 * The ONNX Runtime process. onnxruntime-node's `run` computes on the thread that calls it (its
 * promise only defers the call), so the sessions live here, one per model, and the engine's process
 * (Electron's main process, the CLI) stays free; a run can be stopped only by ending this process
 * (see ./onnx-host). ONNX Runtime's own pool runs each pass on every core. Messages are handled one
 * at a time, in order (see ./onnx-protocol). It runs under child_process.fork (process.send) or
 * Electron's utilityProcess (process.parentPort) and ends when its parent goes away.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { createSession, loadOrt, runNhwc, runTensor, type OnnxSession } from '../ort/runtime';
import { oneOffFileSession } from '../onnx/one-off-session';
import { fileDigest, linkOrCopy, optimizedFile, optimizedKey, trimModelCache } from '../io/model-cache';
import { MODEL_FILES, type FromOnnxHost, type OnnxHostInit, type ToOnnxHost } from './onnx-protocol';
import { dieWithParent } from '../io/parent-watch';
import { preprocessRegion } from './preprocess';
import { collectGarbage, serveInOrder } from './worker-loop';

/** Electron's process.parentPort in a utility process. */
interface ParentPort {
  postMessage(msg: unknown): void;
  on(event: 'message', fn: (e: { data: unknown }) => void): void;
}

/** The link to the engine: Electron's parentPort, or Node's IPC channel. */
function parentLink(): { post(msg: FromOnnxHost): void; subscribe(fn: (msg: ToOnnxHost) => void): void } {
  const port = (process as { parentPort?: ParentPort }).parentPort;
  if (port !== undefined) {
    return { post: (msg) => port.postMessage(msg), subscribe: (fn) => port.on('message', (e) => fn(e.data as ToOnnxHost)) };
  }
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('main/engine/onnx-process must run as a child process (child_process.fork or Electron\'s utilityProcess)');
  // Orphaned (the engine's process was killed): nothing would ever be asked of this process again.
  process.on('disconnect', () => process.exit(0));
  return { post: (msg) => void send(msg, undefined, undefined, () => undefined), subscribe: (fn) => process.on('message', (m) => fn(m as ToOnnxHost)) };
}

const link = parentLink();
// A run blocks this thread for as long as a tile takes: a worker thread ends the process when the engine's process dies.
dieWithParent();
// ONNX Runtime's library loads while the engine's init is on its way (the CLI starts this process before
// it has read the model); a failure is met again, and reported, by the probe.
loadOrt().catch(() => undefined);
const post = link.post;
const sessions = new Map<string, OnnxSession>();
/** Per model: whether its session was opened with spinning threads (ONNX Runtime's default). */
const spinningOf = new Map<string, boolean>();
let init: OnnxHostInit | undefined;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What opening a model's session tells the engine. */
interface Opened {
  openMs: number;
  inputShape: (number | null)[];
  outputShape: (number | null)[];
  optimizedFromCache: boolean;
}

/** A tensor's shape as ONNX Runtime reads it from the model, null for free (symbolic) dimensions. */
function shapeOf(meta: InferenceSession.ValueMetadata | undefined): (number | null)[] {
  if (meta === undefined || !meta.isTensor) return [];
  return meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : null));
}

/** The model cache's file for ONNX Runtime's optimised form of `plain` on the CPU, when there is a cache. */
async function cachedOptimized(plain: string): Promise<string | undefined> {
  const cache = init?.modelCache;
  if (cache === undefined) return undefined;
  const ort = await loadOrt();
  return optimizedFile(cache.dir, optimizedKey(await fileDigest(plain, cache.dir), ort.env.versions.node ?? ort.env.versions.common, 'cpu'));
}

/**
 * Opens a model's session from its folder, or from `file` (a converted model's own ONNX file, only
 * read: its digest, remembered in the model cache, is the optimised form's key). On the CPU the first open also saves ONNX Runtime's
 * optimised model, which then replaces model.onnx (atomically, so a kill at any point leaves one
 * whole file to reopen), and later opens use it. With a model cache, the optimised form is taken
 * from it when the same model was optimised before (by content), and put there when it was not.
 */
async function open(modelId: string, dir: string, spinning?: boolean, file?: string): Promise<Opened> {
  if (init === undefined) throw new Error('the ONNX Runtime process was not initialised');
  const base = { device: init.device, threads: init.threads, spinning };
  const optimized = path.join(dir, MODEL_FILES.optimized);
  const plain = file ?? path.join(dir, MODEL_FILES.onnx);
  const t0 = performance.now();
  let session: OnnxSession | undefined;
  let optimizedFromCache = false;
  if (await exists(optimized)) {
    session = await createSession(optimized, { ...base, optimized: true });
  } else if (init.device === 'cpu') {
    const cached = await cachedOptimized(plain).catch(() => undefined);
    if (cached !== undefined && (await exists(cached))) {
      try {
        await linkOrCopy(cached, optimized);
        session = await createSession(optimized, { ...base, optimized: true });
        optimizedFromCache = true;
        const now = new Date();
        await fs.utimes(cached, now, now).catch(() => undefined);
      } catch {
        // A damaged cache file: optimised again from the model, and replaced.
        await fs.rm(optimized, { force: true });
        await fs.rm(cached, { force: true });
      }
    }
    if (session === undefined) {
      const part = `${optimized}.part`;
      session = await createSession(plain, { ...base, saveOptimizedTo: part });
      await fs.rename(part, optimized);
      if (cached !== undefined && init.modelCache !== undefined) {
        const { dir: cacheDir, maxBytes } = init.modelCache;
        // A cache that cannot be written only costs the next open its optimisation.
        await linkOrCopy(optimized, cached).then(() => trimModelCache(cacheDir, maxBytes, cached)).catch(() => undefined);
      }
    }
    if (file === undefined) await fs.rm(plain, { force: true });
  } else {
    session = await createSession(plain, base);
  }
  // Reopened (another spinning setting): the session it replaces is released.
  const replaced = sessions.get(modelId);
  sessions.set(modelId, session);
  spinningOf.set(modelId, spinning ?? true);
  await replaced?.session.release().catch(() => undefined);
  const { inputMetadata, outputMetadata } = session.session;
  return { openMs: performance.now() - t0, inputShape: shapeOf(inputMetadata[0]), outputShape: shapeOf(outputMetadata[0]), optimizedFromCache };
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(() => true, () => false);
}

async function load(msg: ToOnnxHost & { type: 'load' }): Promise<FromOnnxHost> {
  // tfjs and the exporter load only here: a restarted process reopens files without them.
  const { exportModelFile } = await import('./onnx-export-file');
  const shapes = await exportModelFile(msg);
  let optimizedFromCache = false;
  if (shapes.inputShape.length === 4 && shapes.outputShape.length === 4) {
    optimizedFromCache = (await open(msg.modelId, msg.dir, msg.spinning)).optimizedFromCache;
    collectGarbage();
  }
  return { type: 'loaded', jobId: msg.jobId, ...shapes, optimizedFromCache };
}

async function handle(msg: ToOnnxHost): Promise<void> {
  switch (msg.type) {
    case 'init':
      return;
    case 'load':
    case 'open': {
      try {
        post(msg.type === 'load' ? await load(msg) : { type: 'opened', jobId: msg.jobId, ...(await open(msg.modelId, msg.dir, msg.spinning, msg.file)) });
      } catch (err) {
        post({ type: 'error', jobId: msg.jobId, message: message(err) });
      }
      return;
    }
    case 'openOneOff': {
      try {
        if (init === undefined) throw new Error('the ONNX Runtime process was not initialised');
        const t0 = performance.now();
        const session = await oneOffFileSession(msg.file, { device: init.device, threads: init.threads, spinning: false });
        sessions.set(msg.modelId, session);
        spinningOf.set(msg.modelId, false);
        const { inputMetadata, outputMetadata } = session.session;
        post({ type: 'opened', jobId: msg.jobId, openMs: performance.now() - t0, inputShape: shapeOf(inputMetadata[0]), outputShape: shapeOf(outputMetadata[0]), optimizedFromCache: false });
      } catch (err) {
        post({ type: 'error', jobId: msg.jobId, message: message(err) });
      }
      return;
    }
    case 'runTensor': {
      try {
        const s = sessions.get(msg.modelId);
        if (s === undefined) throw new Error('the model was released');
        post({ type: 'tensor', jobId: msg.jobId, ...(await runTensor(s.session, msg.input, msg.dims)) });
      } catch (err) {
        post({ type: 'error', jobId: msg.jobId, message: message(err) });
      }
      return;
    }
    case 'release': {
      const s = sessions.get(msg.modelId);
      sessions.delete(msg.modelId);
      spinningOf.delete(msg.modelId);
      await s?.session.release().catch(() => undefined);
      return;
    }
    case 'run': {
      try {
        const s = sessions.get(msg.modelId);
        if (s === undefined) throw new Error('the model was released');
        const { region } = msg;
        const image = { data: msg.data, width: msg.width, height: msg.height, channels: 3 as const };
        const input = preprocessRegion(image, region, msg.preprocess, msg.channels);
        const res = await runNhwc(s.session, input, [region.y1 - region.y0, region.x1 - region.x0, msg.channels]);
        post({ type: 'result', jobId: msg.jobId, output: res.output, shape: res.shape });
      } catch (err) {
        post({ type: 'error', jobId: msg.jobId, message: message(err) });
      }
      return;
    }
    case 'state':
      post({ type: 'state', jobId: msg.jobId, sessions: sessions.size, spinning: Object.fromEntries(spinningOf), pid: process.pid, peakRssBytes: process.resourceUsage().maxRSS * 1024 });
  }
}

let received!: (init: OnnxHostInit) => void;
const initMessage = new Promise<OnnxHostInit>((resolve) => (received = resolve));

// On failure the engine hears why and ends this process.
const started: Promise<true | undefined> = initMessage.then(async (given) => {
  try {
    const probe = await createSession(given.probe, { device: given.device, threads: 1, gpuProviders: given.gpuProviders });
    await probe.session.release();
    // Every model's session uses the provider that loaded for the probe.
    init = { ...given, device: probe.device };
    post({ type: 'ready', device: probe.device, fallbacks: probe.fallbacks });
    return true as const;
  } catch (err) {
    post({ type: 'fatal', message: message(err) });
    return undefined;
  }
});

serveInOrder<true, ToOnnxHost>((fn) => link.subscribe((msg) => (msg.type === 'init' ? received(msg) : fn(msg))), started, (_ready, msg) => handle(msg));
