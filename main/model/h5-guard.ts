import path from 'node:path';
import type { Group as H5Group } from 'h5wasm';

/**
 * HDF5 files can point outside themselves: external links (an object in another file), external
 * storage (a dataset whose bytes are another file, e.g. /etc/passwd) and virtual datasets. h5wasm's
 * Node build reads the host file system directly, so any of these would read foreign bytes into a
 * model's weights. While a model file is open, `confineH5` lets h5wasm open only that file; the
 * paths it tried are kept so the refusal can name them. `externalLinkOn` names a link explicitly.
 */

type H5Module = typeof import('h5wasm/node');

interface EmscriptenFs {
  open(p: string, flags: unknown, mode?: unknown): unknown;
  ErrnoError: new (errno: number) => Error;
}

const allowed = new Map<string, number>();
const refused: string[] = [];
let installed = false;

/** Emscripten's EACCES. */
const EACCES = 2;
/** Emscripten's (musl's) O_CREAT | O_EXCL. */
const O_CREAT_EXCL = 0o100 | 0o200;

/** A file C's tmpfile() creates (a fresh name, created exclusively): never an existing file's bytes. */
function isNewTmpfile(abs: string, flags: unknown): boolean {
  return /^\/tmp\/tmpfile_[A-Za-z0-9]+$/.test(abs) && typeof flags === 'number' && (flags & O_CREAT_EXCL) === O_CREAT_EXCL;
}

function install(mod: H5Module): void {
  if (installed) return;
  const fs = (mod as unknown as { FS: EmscriptenFs | null }).FS;
  if (fs === null) return;
  const open = fs.open.bind(fs);
  fs.open = (p, flags, mode) => {
    const abs = path.resolve(String(p));
    // Only while a model is open: the same module also writes files for tests and tools. HDF5's
    // error handler writes its message through C's tmpfile(), a new file it creates: refusing that
    // turned every damaged file's one-line refusal into a wasm trap and a raw HDF5 trace on stderr.
    if (allowed.size > 0 && !allowed.has(abs) && !isNewTmpfile(abs, flags)) {
      refused.push(abs);
      throw new fs.ErrnoError(EACCES);
    }
    return open(p, flags, mode);
  };
  installed = true;
}

/** A confinement of h5wasm to one file; `release` when the file is closed. */
export interface H5Confinement {
  /** Files h5wasm tried to open outside the model file since this confinement began. */
  refusedPaths(): string[];
  release(): void;
}

/** From now until `release`, h5wasm may open `diskPath` (and other confined model files) only. */
export function confineH5(mod: H5Module, diskPath: string): H5Confinement {
  install(mod);
  const abs = path.resolve(diskPath);
  allowed.set(abs, (allowed.get(abs) ?? 0) + 1);
  const start = refused.length;
  let released = false;
  return {
    refusedPaths: () => refused.slice(start),
    release: () => {
      if (released) return;
      released = true;
      const n = (allowed.get(abs) ?? 1) - 1;
      if (n <= 0) allowed.delete(abs);
      else allowed.set(abs, n);
      if (allowed.size === 0) refused.length = 0;
    },
  };
}

/** A refused HDF5 external link: the message names the link and what it points to. */
export class H5ExternalLinkError extends Error {
  constructor(readonly link: string, readonly target: string) {
    super(`"${link}" is an external link to ${target}: objects in other files are refused`);
    this.name = 'H5ExternalLinkError';
  }
}

/**
 * Throws H5ExternalLinkError when `name` under `group`, or any group on the way to it, is an
 * external link. Links are checked without being followed.
 */
export function assertNoExternalLink(group: H5Group, name: string): void {
  const base = name.startsWith('/') ? '' : group.path === '/' ? '' : group.path;
  const parts = `${base}/${name}`.split('/').filter((p) => p.length > 0);
  let at = '';
  for (const part of parts) {
    at = `${at}/${part}`;
    let link: { filename?: string; obj_path?: string };
    try {
      link = group.get_external_link(at) as { filename?: string; obj_path?: string };
    } catch {
      return; // the path does not exist: the caller reports it as missing
    }
    if (link && typeof link.filename === 'string') throw new H5ExternalLinkError(at, `${link.filename}:${link.obj_path ?? '/'}`);
  }
}
