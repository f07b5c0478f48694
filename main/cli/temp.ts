/**
 * The command's temporary files in a folder of its own, removed when the process exits, a signal
 * included: a conversion's check writes the model's ONNX file to a temporary folder (a VGG's is half a
 * gigabyte), and Ctrl-C ended the process before the conversion's own cleanup ran.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeFoldersOfEndedProcesses } from '../io/pid';

const PREFIX = 'convmap-run-';

/**
 * Makes a folder `convmap-run-<pid>-…` under the system's temporary folder and points TMPDIR, TMP
 * and TEMP at it (what os.tmpdir() reads, in this process and in the children and worker threads it
 * starts from now on); the folder goes on exit. SIGINT, SIGTERM and SIGHUP end the process through
 * process.exit (status 128 + the signal's number) unless the command handles them itself, so the exit
 * hook runs. Folders of earlier runs whose process is gone (killed with SIGKILL, by the system out of
 * memory) are removed first.
 * @returns the folder
 */
export async function ownTempDir(): Promise<string> {
  const tmp = os.tmpdir();
  await removeFoldersOfEndedProcesses(tmp, PREFIX);
  const dir = mkdtempSync(path.join(tmp, `${PREFIX}${process.pid}-`));
  for (const name of ['TMPDIR', 'TMP', 'TEMP']) process.env[name] = dir;
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
  for (const [signal, n] of Object.entries(numbers) as [NodeJS.Signals, number][]) {
    process.on(signal, () => {
      // A command with a handler of its own (heatmap's cancel) decides when to exit.
      if (process.listenerCount(signal) === 1) process.exit(128 + n);
    });
  }
  return dir;
}
