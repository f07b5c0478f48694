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
