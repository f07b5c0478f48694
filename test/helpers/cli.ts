import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './temp-dir';

const run = promisify(execFile);
/** The repository root (where bin/convmap.mjs lives). */
export const REPO = path.resolve(import.meta.dirname, '../..');

export interface CliResult { code: number; stdout: string; stderr: string }

function envWith(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  return childEnv;
}

/**
 * Starts `bin/convmap.mjs ARGS` like {@link runConvmap}, handing back the child process (to signal
 * it) and its result once it exits (`code`: the exit status, or 128 + the signal's number when a
 * signal ended it).
 */
export function startConvmap(args: readonly string[], env: Record<string, string | undefined>): { child: ChildProcess; result: Promise<CliResult> } {
  const child = spawn(process.execPath, [path.join(REPO, 'bin/convmap.mjs'), ...args], { cwd: REPO, env: envWith(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 0), stdout, stderr }));
  });
  return { child, result };
}

/**
 * Runs `bin/convmap.mjs ARGS` as a user would, in a child process from the repository root.
 * @param env variables set on top of this process's; a value of undefined removes the variable.
 */
export async function runConvmap(args: readonly string[], env: Record<string, string | undefined>): Promise<CliResult> {
  const childEnv = envWith(env);
  try {
    const { stdout, stderr } = await run(process.execPath, [path.join(REPO, 'bin/convmap.mjs'), ...args], { cwd: REPO, env: childEnv, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** A CLI suite's temporary folder and its way of running convmap in it. */
export interface CliSandbox {
  /** The folder (made by the suite's first beforeAll, removed after its tests). */
  readonly dir: string;
  /** What each run gets on top of this process's environment: the suite's variables and a score cache of its own in `dir`. */
  env(): Record<string, string | undefined>;
  /** Runs `bin/convmap.mjs ARGS` with env(). */
  convmap(...args: string[]): Promise<CliResult>;
}

/**
 * Call at the top level of a CLI test file: registers the hooks that make a temporary folder named
 * from `prefix` and remove it. `vars` go into every run's environment (undefined unsets one).
 */
export function cliSandbox(prefix: string, vars: Record<string, string | undefined> = { CONVMAP_BACKEND: 'wasm' }): CliSandbox {
  const dir = tempDir(prefix);
  const env = (): Record<string, string | undefined> => ({ ...vars, CONVMAP_CACHE_DIR: path.join(dir.path, 'cache') });
  return {
    get dir() {
      return dir.path;
    },
    env,
    convmap: (...args) => runConvmap(args, env()),
  };
}
