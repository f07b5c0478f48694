/**
 * Run-time choice of the tfjs backend: native TensorFlow (`@tensorflow/tfjs-node`) when it loads,
 * else WebAssembly with SIMD (`@tensorflow/tfjs-backend-wasm`, single thread), else plain JS (`cpu`).
 *
 * Only one tfjs instance may be used per thread: when tfjs-node loads, it brings (and registers its
 * backend into) its own tfjs-core, so callers must take `tf` from {@link getTf} after
 * {@link selectBackend} instead of importing `@tensorflow/tfjs` themselves.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { errorMessage } from '../../core/errors';

/** The tfjs namespace (the same API whether it came from `@tensorflow/tfjs` or tfjs-node). */
export type Tf = typeof import('@tensorflow/tfjs');

/** A backend a caller may ask for; `auto` tries node, then wasm, then cpu. */
export type BackendRequest = 'node' | 'wasm' | 'cpu' | 'auto';
/** A backend that actually runs. */
export type BackendName = 'node' | 'wasm' | 'cpu';

export const BACKEND_REQUESTS: readonly BackendRequest[] = ['node', 'wasm', 'cpu', 'auto'];

export function isBackendRequest(x: unknown): x is BackendRequest {
  return typeof x === 'string' && (BACKEND_REQUESTS as readonly string[]).includes(x);
}

/** The engine that runs: ONNX Runtime, or a tfjs backend in worker threads. */
export type EngineBackend = 'onnx' | BackendName;
/** What a caller may ask for; `auto` tries onnx, then tfjs-node, wasm and cpu. */
export type EngineBackendRequest = 'onnx' | BackendRequest;
export const ENGINE_BACKEND_REQUESTS: readonly EngineBackendRequest[] = ['onnx', 'node', 'wasm', 'cpu', 'auto'];

export function isEngineBackendRequest(x: unknown): x is EngineBackendRequest {
  return typeof x === 'string' && (ENGINE_BACKEND_REQUESTS as readonly string[]).includes(x);
}

/** Environment variable that overrides the requested backend (onnx | node | wasm | cpu | auto). */
export const BACKEND_ENV = 'CONVMAP_BACKEND';

// Not named `require`: bundlers (electron-vite's ESM shim) declare a top-level `require` of their own.
const requireHere = createRequire(import.meta.url);
// Kept in a variable so TypeScript does not try to resolve an optional package that may be absent.
const TFJS_NODE = '@tensorflow/tfjs-node';

let tfInstance: Tf | undefined;
let selected: BackendName | undefined;
let autoFailures: string[] = [];

function isTf(m: unknown): m is Tf {
  return typeof m === 'object' && m !== null && typeof (m as { tensor?: unknown }).tensor === 'function'
    && typeof (m as { setBackend?: unknown }).setBackend === 'function';
}

/**
 * tfjs's production mode: its only effect is that tfjs's own console warnings are off (the cpu
 * backend's "Hi, looks like you are running TensorFlow.js in Node.js…" banner on every run, on
 * stderr); Convmap reports the backend it runs and why, itself.
 */
export function quiet(tf: Pick<Tf, 'enableProdMode'>): void {
  tf.enableProdMode();
}

async function loadNode(): Promise<Tf> {
  const mod: unknown = await import(TFJS_NODE);
  const ns = isTf(mod) ? mod : (mod as { default?: unknown }).default;
  if (!isTf(ns)) throw new Error(`${TFJS_NODE} loaded but does not export the tfjs API`);
  quiet(ns);
  await ns.setBackend('tensorflow');
  await ns.ready();
  return ns;
}

/** Folder holding the tfjs-backend-wasm `.wasm` binaries, resolved from node_modules (any cwd). */
export function wasmDistDir(): string {
  // The package's `main` is dist/tf-backend-wasm.node.js, next to the .wasm files.
  return path.dirname(requireHere.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep;
}

async function loadPlain(): Promise<Tf> {
  const mod: unknown = await import('@tensorflow/tfjs');
  const ns = isTf(mod) ? mod : (mod as { default?: unknown }).default;
  if (!isTf(ns)) throw new Error('@tensorflow/tfjs does not export the tfjs API');
  quiet(ns);
  return ns;
}

async function loadWasm(): Promise<Tf> {
  const tf = await loadPlain();
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // The threaded build needs a browser worker; in Node it never starts. Use the SIMD (or plain) build.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  if (tf.findBackend('wasm') === null || tf.engine().registry.wasm === undefined) {
    // setWasmPaths must run before the backend is first initialised.
    wasm.setWasmPaths(wasmDistDir());
  }
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new Error('the wasm backend failed to initialise');
  await tf.ready();
  return tf;
}

async function loadCpu(): Promise<Tf> {
  const tf = await loadPlain();
  const ok = await tf.setBackend('cpu');
  if (!ok) throw new Error('the cpu backend failed to initialise');
  await tf.ready();
  return tf;
}

const loaders: Record<BackendName, () => Promise<Tf>> = { node: loadNode, wasm: loadWasm, cpu: loadCpu };

/**
 * Select and initialise the tfjs backend of this thread.
 * @param requested what to run; the `CONVMAP_BACKEND` environment variable, when set, overrides it.
 *   `auto` (default) tries node, then wasm, then cpu.
 * @returns the backend that actually runs.
 * @throws when a specific backend was requested and cannot load (the message says why), or when
 *   the environment variable holds an unknown name.
 */
export async function selectBackend(requested: BackendRequest = 'auto'): Promise<BackendName> {
  const fromEnv = process.env[BACKEND_ENV];
  let want: BackendRequest = requested;
  // CONVMAP_BACKEND=onnx picks the engine (see createEngine); tfjs itself then chooses as for auto.
  if (fromEnv !== undefined && fromEnv !== '' && fromEnv !== 'onnx') {
    if (!isBackendRequest(fromEnv)) {
      throw new Error(`${BACKEND_ENV}=${fromEnv} is not a backend; use one of ${BACKEND_REQUESTS.join(', ')}`);
    }
    want = fromEnv;
  }
  if (selected !== undefined && (want === 'auto' || want === selected)) return selected;
  if (want !== 'auto') {
    try {
      tfInstance = await loaders[want]();
    } catch (err) {
      const hint = want === 'node' ? ` (is ${TFJS_NODE} installed with its native library?)` : '';
      throw new Error(`backend '${want}' could not be loaded${hint}: ${errorMessage(err)}`);
    }
    selected = want;
    return want;
  }
  const failures: string[] = [];
  for (const name of ['node', 'wasm', 'cpu'] as const) {
    try {
      tfInstance = await loaders[name]();
      selected = name;
      autoFailures = failures;
      return name;
    } catch (err) {
      failures.push(`${name}: ${errorMessage(err)}`);
    }
  }
  throw new Error(`no tfjs backend could be loaded (${failures.join('; ')})`);
}

/**
 * The tfjs namespace bound to the selected backend.
 * @throws when {@link selectBackend} has not completed in this thread.
 */
export function getTf(): Tf {
  if (tfInstance === undefined) throw new Error('selectBackend() must complete before getTf()');
  return tfInstance;
}

/** Why each backend tried before the selected one failed to load, when `auto` chose it ('node: …'). */
export function backendFailures(): readonly string[] {
  return autoFailures;
}
