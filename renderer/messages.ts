import type { BackendInfo } from '../core/api';

/** Refusals as a person reads them: Node's error codes ("ENOENT: no such file or directory, stat '…'") in plain words. */

const CODES: Readonly<Record<string, string>> = {
  ENOENT: 'not found',
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  EEXIST: 'already exists',
  ENOSPC: 'the disk is full',
  EROFS: 'the disk is read-only',
  EMFILE: 'too many open files',
  EBUSY: 'in use by another program',
};

/**
 * "ENOENT: no such file or directory, stat '/a/b.png'" → "/a/b.png: not found"; a message that
 * carries such a tail after its own words keeps its words: "x.png: cannot read (EACCES: …, open 'x.png')"
 * → "x.png: cannot read (permission denied)". Anything else is returned as is.
 */
export function plainError(message: string): string {
  const whole = /^(?:Error: )?(E[A-Z]+): [^,]*, \w+ '([^']*)'(?: -> '[^']*')?$/.exec(message.trim());
  if (whole && CODES[whole[1]]) return `${whole[2]}: ${CODES[whole[1]]}`;
  return message.replace(/\((E[A-Z]+): [^()]*\)/g, (all, code: string) => (CODES[code] ? `(${CODES[code]})` : all));
}

/** What runs the model, in a few words: "ONNX Runtime on cpu · 2 threads", "wasm · 2 workers", "…" before it is known. */
export function backendPhrase(backend: BackendInfo | null): string {
  if (!backend) return '…';
  if (backend.backend === 'onnx') {
    const device = backend.deviceFallbacks?.length ? `cpu (${backend.device ?? 'the device'} failed)` : backend.device ?? 'cpu';
    return `ONNX Runtime on ${device} · ${backend.workers} thread${backend.workers === 1 ? '' : 's'}`;
  }
  return `${backend.backend} · ${backend.workers} worker${backend.workers === 1 ? '' : 's'}`;
}

/** Why faster backends or devices were passed over, as a tooltip; undefined when nothing was. */
export function backendNotes(backend: BackendInfo | null): string | undefined {
  const lines = [...(backend?.deviceFallbacks ?? []), ...(backend?.notes?.length ? [`not used: ${backend.notes.join('; ')}`] : [])];
  return lines.length ? lines.join('\n') : undefined;
}
