/**
 * The files and folders the user chose, the only paths the renderer may hand back to main
 * (issue 13): main's own dialogs, drops (the path the preload resolved for a dropped File), the
 * command line, the OS's open-file events, recent items, and what main itself found inside a chosen
 * folder (a folder holding a model). Kept by the Electron glue so the services stay Electron-free.
 */
import path from 'node:path';

/** How a path came to be chosen (kept with it, for whoever inspects the registry). */
export type ChosenBy = 'dialog' | 'drop' | 'command line' | 'open-file' | 'recent' | 'chosen folder';

export class ChosenPaths {
  private readonly paths = new Map<string, ChosenBy>();

  /** Accepts `paths` (absolute; relative ones are ignored) from now on. */
  grant(paths: readonly string[], by: ChosenBy): void {
    for (const p of paths) {
      if (typeof p !== 'string' || p.length === 0 || p.includes('\u0000') || !path.isAbsolute(p)) continue;
      const key = path.resolve(p);
      if (!this.paths.has(key)) this.paths.set(key, by);
    }
  }

  /** True for a path granted before (compared after path.resolve, so `/a/../b` is `/b`). */
  has(p: string): boolean {
    return this.paths.has(path.resolve(p));
  }
}
