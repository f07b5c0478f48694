import { promises as fs } from 'node:fs';
import path from 'node:path';
import { processAlive } from './pid';

let counter = 0;

/** What a file is written from: text, bytes, or a function giving its chunks in order (streamed, for big outputs). */
export type FileData = string | Uint8Array | (() => Iterable<Uint8Array> | AsyncIterable<Uint8Array>);

/** Temporary names are ".<name>.<pid>.<n>.tmp" next to the file; {@link removeStaleTemps} knows this shape. */
export const TEMP_NAME = /^\..+\.(\d+)\.\d+\.tmp$/;

/** Longest file name, in bytes, on the file systems Convmap writes to (NAME_MAX of ext4, APFS, NTFS in UTF-8, tmpfs). */
export const NAME_MAX_BYTES = 255;

/** The longest start of `s` (whole characters) that is at most `bytes` bytes in UTF-8. */
function utf8Prefix(s: string, bytes: number): string {
  let used = 0;
  let out = '';
  for (const ch of s) {
    used += Buffer.byteLength(ch, 'utf8');
    if (used > bytes) break;
    out += ch;
  }
  return out;
}

/**
 * A fresh temporary name in the folder of `file`, of the {@link TEMP_NAME} shape, never longer than
 * {@link NAME_MAX_BYTES}: the final name is cut inside the temporary one when it would not fit, so
 * any name that can exist can be written through a temporary file.
 */
export function tempName(file: string): string {
  const tail = `.${process.pid}.${++counter}.tmp`;
  const room = NAME_MAX_BYTES - 1 - Buffer.byteLength(tail, 'utf8');
  return path.join(path.dirname(file), `.${utf8Prefix(path.basename(file), room)}${tail}`);
}

/** Writes `data` to `file` (created or truncated), chunk by chunk when it is a function. */
export async function writeData(file: string, data: FileData, flag = 'w'): Promise<void> {
  await fs.writeFile(file, typeof data === 'function' ? data() : data, { flag });
}

/**
 * Writes a file to a temporary name in the same folder and renames it into place, so a crash or a
 * full disk never leaves a half-written file under the final name.
 */
export async function writeFileAtomic(file: string, data: FileData): Promise<void> {
  const tmp = tempName(file);
  try {
    await writeData(tmp, data, 'wx');
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Removes temporary files ({@link TEMP_NAME}) left in `dir` by a process that no longer runs (a
 * killed batch); those of live processes (another batch writing there now) are kept.
 * @returns the names removed.
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    await fs.rm(path.join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * mkdir -p that fails instead of looping: Node's recursive mkdir never returns on paths such as
 * /proc/self/x. Walks up to the nearest existing folder, then creates each missing component once.
 * @throws the first mkdir error (ENOENT, EACCES, ENOTDIR, EEXIST when a component is a file).
 */
export async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  let at = path.resolve(dir);
  for (;;) {
    const st = await fs.stat(at).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : Promise.reject(e)));
    if (st) {
      if (!st.isDirectory()) throw Object.assign(new Error(`ENOTDIR: ${at} is not a folder`), { code: 'ENOTDIR', path: at });
      break;
    }
    missing.push(at);
    const up = path.dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const d of missing.reverse()) {
    await fs.mkdir(d).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    const st = await fs.stat(d);
    if (!st.isDirectory()) throw Object.assign(new Error(`ENOTDIR: ${d} is not a folder`), { code: 'ENOTDIR', path: d });
  }
}

/** Error codes of a write the file system refused (no room, a size limit, no permission), as opposed to a bug or bad data. */
const WRITE_FAILURES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EACCES', 'EPERM', 'EROFS']);

/** True when `e` is a write the file system refused ({@link WRITE_FAILURES}): a full disk, a file size limit, a read-only folder. */
export function isWriteFailure(e: unknown): boolean {
  return WRITE_FAILURES.has((e as NodeJS.ErrnoException | undefined)?.code ?? '');
}

/** Error writing into the output folder; the message names the file and the reason. */
export class OutputError extends Error {
  constructor(readonly file: string, cause: unknown) {
    const e = cause as NodeJS.ErrnoException;
    const why = e?.code === 'EACCES' || e?.code === 'EPERM' || e?.code === 'EROFS' ? 'the output folder is not writable'
      : e?.code === 'ENOSPC' || e?.code === 'EDQUOT' ? 'the disk is full'
        : e?.code === 'EFBIG' ? 'the file is over the size limit of this process or file system'
          : e?.code === 'ENAMETOOLONG' ? 'the file name is too long for the file system'
        : e?.code === 'ENOTDIR' ? 'a path component is not a folder'
          : e?.code === 'ENOENT' ? 'the folder cannot be created there'
          : 'write failed';
    super(`cannot write ${file}: ${why} (${e instanceof Error ? e.message : String(cause)})`, { cause });
    this.name = 'OutputError';
  }
}

/**
 * Checks that files can be created in the output folder (creating it if needed) by writing and
 * removing a probe file.
 * @throws OutputError naming the folder: "cannot write <dir>: the output folder is not writable (…)".
 */
export async function checkOutputFolder(outDir: string): Promise<void> {
  try {
    await makeDirs(outDir);
    const probe = tempName(path.join(outDir, 'convmap-write-check'));
    await fs.writeFile(probe, '');
    await fs.rm(probe, { force: true });
  } catch (err) {
    throw new OutputError(outDir, err);
  }
}

/**
 * Gives the file `tmp` the name `file` unless that name is taken: a hard link (atomic), or on file
 * systems without hard links a check and a rename.
 * @returns false when the name is taken.
 */
export async function linkNoClobber(tmp: string, file: string): Promise<boolean> {
  try {
    await fs.link(tmp, file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS' && code !== 'EXDEV') throw err;
    if (await fs.lstat(file).then(() => true, () => false)) return false;
    await fs.rename(tmp, file);
    return true;
  }
}
