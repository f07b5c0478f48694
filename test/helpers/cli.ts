import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** The repository root (where bin/convmap.mjs lives). */
export const REPO = path.resolve(import.meta.dirname, '../..');

export interface CliResult { code: number; stdout: string; stderr: string }

/**
 * Runs `bin/convmap.mjs ARGS` as a user would, in a child process from the repository root.
 * @param env variables set on top of this process's; a value of undefined removes the variable.
 */
export async function runConvmap(args: readonly string[], env: Record<string, string | undefined>): Promise<CliResult> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  try {
    const { stdout, stderr } = await run(process.execPath, [path.join(REPO, 'bin/convmap.mjs'), ...args], { cwd: REPO, env: childEnv, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}
