import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * Whether a process runs: what tells a temporary file or folder named after its process (a killed
 * batch's, a killed engine's, a killed command's) from one in use.
 * @returns true for this process, and for one that runs as another user (EPERM).
 */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the folders in `dir` named `<prefix><pid>-…` whose process no longer runs (killed with
 * SIGKILL, by the system out of memory, before its own cleanup): this user's only; a folder of a
 * process that runs stays.
 */
export async function removeFoldersOfEndedProcesses(dir: string, prefix: string): Promise<void> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const uid = process.getuid?.();
  const named = new RegExp(`^${prefix}(\\d+)-`);
  await Promise.all(names.map(async (n) => {
    const pid = named.exec(n)?.[1];
    if (pid === undefined || processAlive(Number(pid))) return;
    const folder = path.join(dir, n);
    const st = await fs.lstat(folder).catch(() => null);
    if (!st?.isDirectory() || (uid !== undefined && st.uid !== uid)) return;
    await fs.rm(folder, { recursive: true, force: true }).catch(() => undefined);
  }));
}
