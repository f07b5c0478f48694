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
import type { DeviceRequest } from '../ort/devices';
import { createSession, loadOrt, runNhwc, runTensor, type DeviceName, type OnnxSession } from '../ort/runtime';
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
/** Per model opened with `open`: its folder and file, to reopen it on the CPU when the device fails on it. */
const openedFrom = new Map<string, { dir: string; file?: string }>();
/** Models the device failed on: they run on the CPU from then on. */
const onCpu = new Set<string>();
let init: OnnxHostInit | undefined;

/**
 * Test hook, as there is no GPU where the tests run: `CONVMAP_TEST_DEVICE_FAILS=cuda:open` (or `:run`)
 * makes the probe report that device, whose sessions are CPU sessions that fail on every model's
 * open (or on every pass), so that the fallback to the CPU is exercised end to end.
 */
const standIn = ((v) => {
  const m = /^(cuda|dml|coreml|webgpu):(open|run)$/.exec(v ?? '');
  return m ? { device: m[1] as DeviceName, at: m[2] as 'open' | 'run' } : undefined;
})(process.env.CONVMAP_TEST_DEVICE_FAILS);

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What opening a model's session tells the engine. */
interface Opened {
  openMs: number;
  inputShape: (number | null)[];
  outputShape: (number | null)[];
  optimizedFromCache: boolean;
  /** Why the device could not open the model, which the CPU then opened. */
  fallback?: string;
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
  openedFrom.set(modelId, { dir, ...(file !== undefined ? { file } : {}) });
  // Only the CPU writes the optimised form: where it is, this model fell back before a restart.
  if (init.device !== 'cpu' && (await exists(path.join(dir, MODEL_FILES.optimized)))) onCpu.add(modelId);
  const device = onCpu.has(modelId) ? 'cpu' : init.device;
  if (device === 'cpu') return openOn('cpu', modelId, dir, spinning, file);
  try {
    return await openOn(device, modelId, dir, spinning, file);
  } catch (err) {
    // The provider loaded for the probe but not for this model (an operator it lacks, its memory).
    onCpu.add(modelId);
    const fallback = `${device} could not open the model (${message(err)}): it runs on the CPU`;
    return { ...(await openOn('cpu', modelId, dir, spinning, file)), fallback };
  }
}

/** {@link open} on one device. */
async function openOn(device: DeviceRequest | DeviceName, modelId: string, dir: string, spinning?: boolean, file?: string): Promise<Opened> {
  if (init === undefined) throw new Error('the ONNX Runtime process was not initialised');
  const base = { device: standIn && device !== 'cpu' ? 'cpu' as const : device, threads: init.threads, spinning };
  if (standIn?.at === 'open' && device !== 'cpu') throw new Error(`test hook: ${device} fails on every model`);
  const optimized = path.join(dir, MODEL_FILES.optimized);
  const plain = file ?? path.join(dir, MODEL_FILES.onnx);
  const t0 = performance.now();
  let session: OnnxSession | undefined;
  let optimizedFromCache = false;
  if (await exists(optimized)) {
    session = await createSession(optimized, { ...base, optimized: true });
  } else if (device === 'cpu') {
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
    if (standIn !== undefined) session = { ...session, device: standIn.device };
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
  let opened: Opened | undefined;
  if (shapes.inputShape.length === 4 && shapes.outputShape.length === 4) {
    opened = await open(msg.modelId, msg.dir, msg.spinning);
    collectGarbage();
  }
  return { type: 'loaded', jobId: msg.jobId, ...shapes, optimizedFromCache: opened?.optimizedFromCache ?? false, ...(opened?.fallback !== undefined ? { fallback: opened.fallback } : {}) };
}

/**
 * `run` on a model's session; when a device other than the CPU fails on it (out of its memory on a
 * big tile, a kernel that fails), the model is reopened on the CPU, where this and every later pass
 * of it run. A model opened with `openOneOff` has no file to reopen: its failure stands.
 */
async function onCpuIfFails<T>(modelId: string, s: OnnxSession, run: (on: OnnxSession) => Promise<T>): Promise<{ value: T; fallback?: string }> {
  try {
    if (standIn?.at === 'run' && s.device === standIn.device) throw new Error(`test hook: ${s.device} fails on every pass`);
    return { value: await run(s) };
  } catch (err) {
    const from = openedFrom.get(modelId);
    if (s.device === 'cpu' || from === undefined) throw err;
    const failed = `${s.device} failed on a pass of the model (${message(err)})`;
    const fallback = `${failed}: it runs on the CPU`;
    onCpu.add(modelId);
    try {
      await open(modelId, from.dir, spinningOf.get(modelId), from.file);
    } catch (again) {
      throw new Error(`${failed}, and the CPU could not open it: ${message(again)}`);
    }
    const cpu = sessions.get(modelId);
    if (cpu === undefined) throw err;
    try {
      return { value: await run(cpu), fallback };
    } catch (again) {
      throw new Error(`${message(again)} (on the CPU, after ${failed})`);
    }
  }
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
      openedFrom.delete(msg.modelId);
      onCpu.delete(msg.modelId);
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
        const { value: res, fallback } = await onCpuIfFails(msg.modelId, s, (on) => runNhwc(on.session, input, [region.y1 - region.y0, region.x1 - region.x0, msg.channels]));
        post({ type: 'result', jobId: msg.jobId, output: res.output, shape: res.shape, ...(fallback !== undefined ? { fallback } : {}) });
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
    const device = standIn !== undefined && (given.device === 'auto' || given.device === standIn.device) ? standIn.device : probe.device;
    init = { ...given, device };
    post({ type: 'ready', device, fallbacks: probe.fallbacks });
    return true as const;
  } catch (err) {
    post({ type: 'fatal', message: message(err) });
    return undefined;
  }
});

serveInOrder<true, ToOnnxHost>((fn) => link.subscribe((msg) => (msg.type === 'init' ? received(msg) : fn(msg))), started, (_ready, msg) => handle(msg));
