/**
 * Files handed to the app by the OS: on the command line of the first launch, in the argv of a
 * second launch (single-instance lock), or through macOS's open-file event.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

export interface ArgvOptions {
  /** Directory relative arguments are resolved against (a second launch's working directory). */
  cwd: string;
  /**
   * True in a packaged app, where argv is [exe, ...args]; false under `electron .`, where argv is
   * [electron, appPath, ...args].
   */
  packaged: boolean;
  /** Whether a path exists (default: fs.stat succeeds). */
  exists?(p: string): boolean | Promise<boolean>;
}

function existsOnDisk(p: string): Promise<boolean> {
  return fs.stat(p).then(() => true, () => false);
}

/** The files and folders named on a command line: flags and the executable (and app path) skipped, only paths that exist. */
export async function filesFromArgv(argv: readonly string[], opts: ArgvOptions): Promise<string[]> {
  const exists = opts.exists ?? existsOnDisk;
  const args = argv.slice(opts.packaged ? 1 : 2);
  const out: string[] = [];
  let afterDashes = false;
  for (const a of args) {
    if (!afterDashes && a === '--') {
      afterDashes = true;
      continue;
    }
    if (!afterDashes && a.startsWith('-')) continue;
    if (a.length === 0 || a.includes('\u0000')) continue;
    const abs = path.resolve(opts.cwd, a);
    if (!out.includes(abs) && (await exists(abs))) out.push(abs);
  }
  return out;
}

/**
 * Holds files until the window can take them (its page has loaded), then delivers them at once.
 */
export class OpenFilesQueue {
  private pending: string[] = [];
  private deliver: ((paths: string[]) => void) | undefined;

  push(paths: readonly string[]): void {
    if (paths.length === 0) return;
    if (this.deliver) this.deliver([...paths]);
    else this.pending.push(...paths.filter((p) => !this.pending.includes(p)));
  }

  /** The window is ready: flush what waited, then deliver directly. */
  attach(deliver: (paths: string[]) => void): void {
    this.deliver = deliver;
    if (this.pending.length > 0) {
      const p = this.pending;
      this.pending = [];
      deliver(p);
    }
  }

  /** The window is gone or reloading: queue again. */
  detach(): void {
    this.deliver = undefined;
  }
}
