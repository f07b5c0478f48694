/**
 * The one way Convmap starts a worker thread (the engine's pool, model conversion, picture rendering)
 * and finds a child process's entry (ONNX Runtime's process).
 * Compiled JavaScript runs as is; TypeScript sources (tests, the CLI) get tsx's loader registered
 * inside the worker first. (`execArgv: ['--import', 'tsx']` does not reach a worker's entry module in
 * Node 20, so a small bootstrap registers tsx and then imports it.)
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

type ExportTarget = string | { import?: string | { default?: string } };

/**
 * file: URL of one of tsx's entry points, resolved from node_modules through the package's exports
 * map: './esm/api' (register inside a worker) or '.' (the loader for a child process's `--import`).
 */
export function tsxApiUrl(subpath: './esm/api' | '.' = './esm/api'): string {
  const require = createRequire(import.meta.url);
  const pkgFile = require.resolve('tsx/package.json');
  const pkg = require(pkgFile) as { exports?: Record<string, ExportTarget> };
  const target = pkg.exports?.[subpath];
  const imp = typeof target === 'string' ? target : target?.import;
  const rel = (typeof imp === 'string' ? imp : imp?.default) ?? (subpath === '.' ? './dist/loader.mjs' : './dist/esm/api/index.mjs');
  return pathToFileURL(path.join(path.dirname(pkgFile), rel)).href;
}

/**
 * The entry `<entry>.ts` / `<entry>.js` next to the calling module, and the Node flags a child
 * process needs to run it: tsx's loader for TypeScript sources (tests, the CLI from source).
 * @param callerUrl the caller's import.meta.url (see {@link startWorker}).
 */
export function processEntry(callerUrl: string, entry: string): { file: URL; execArgv: string[] } {
  const fromSource = callerUrl.endsWith('.ts');
  const file = new URL(`./${entry}${fromSource ? '.ts' : '.js'}`, callerUrl);
  return { file, execArgv: fromSource ? [...workerExecArgv(), '--import', tsxApiUrl('.')] : workerExecArgv() };
}

/**
 * Starts the worker entry `<entry>.ts` / `<entry>.js` that sits next to the calling module.
 * @param callerUrl the caller's import.meta.url: a .ts caller starts the .ts entry through tsx, a
 *   bundled .js caller the .js entry written next to it.
 * @param entry the entry's file name without extension, e.g. 'picture-worker'.
 */
export function startWorker(callerUrl: string, entry: string, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  const fromSource = callerUrl.endsWith('.ts');
  const file = new URL(`./${entry}${fromSource ? '.ts' : '.js'}`, callerUrl);
  const opts: WorkerOptions = { execArgv: workerExecArgv(), ...options };
  if (!fromSource) return new Worker(file, opts);
  const bootstrap = `import(${JSON.stringify(tsxApiUrl())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(file.href)}); });`;
  return new Worker(bootstrap, { ...opts, eval: true });
}

/**
 * The parent's Node flags less those that only make sense for the parent's own entry: a worker or
 * child process inherits process.execArgv, and `node --input-type=module -e …` (how scripts and
 * tests embed the CLI) would make every worker that loads a file fail to start, and a forked child
 * run the parent's inline script instead of its entry (which forks again: a chain of processes).
 */
export function workerExecArgv(parent: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const a = parent[i];
    if (a === '--input-type' || EVAL_FLAGS.has(a)) { i++; continue; }
    if (a.startsWith('--input-type=') || a.startsWith('--eval=') || a.startsWith('--print=')) continue;
    out.push(a);
  }
  return out;
}

/** Flags whose next argument is the parent's inline script (`-pe` is -p with -e). */
const EVAL_FLAGS = new Set(['-e', '--eval', '-p', '--print', '-pe']);
