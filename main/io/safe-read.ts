import { constants, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';

/**
 * Reading files named by strangers (a model's weight paths, photos given by name) without being led
 * outside the folder the user chose, hung by a FIFO, or flooded by `/dev/zero`:
 * - `resolveInside` / `resolveRealInside` keep a path written in a file inside its folder;
 * - `openRegularFile` opens without blocking and checks the opened descriptor (fstat) is a regular
 *   file before a byte is read, so the check and the read are about the same file;
 * - `readRegularFile` reads with a size cap that also holds when the file grows while being read.
 * Every refusal is an `UnsafeFileError` whose message is one line naming the file.
 */

/** Why a file was refused: outside the folder, not a regular file, over a cap, the wrong size, or unreadable. */
export type UnsafeFileReason = 'outside' | 'not-regular' | 'too-large' | 'wrong-size' | 'unreadable';

/** A refused file: `message` is `<file>: <detail>`, one line. */
export class UnsafeFileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: UnsafeFileReason,
    readonly detail: string,
  ) {
    super(`${file}: ${detail}`);
    this.name = 'UnsafeFileError';
  }
}

/** Opening never waits for a FIFO's writer; on a regular file O_NONBLOCK changes nothing. */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/** What a non-regular file is, in words: "a folder", "a FIFO (named pipe)", "a character device"… */
export function fileTypeName(stats: Stats): string {
  if (stats.isFile()) return 'a regular file';
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** A byte count for messages: "1 048 576 bytes (1.0 MiB)". */
export function formatBytes(n: number): string {
  const mib = n / 2 ** 20;
  return mib >= 0.1 ? `${n} bytes (${mib.toFixed(1)} MiB)` : `${n} bytes`;
}

function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return !path.isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${path.sep}`);
}

/**
 * Resolves `relative` (a path as written inside a file, already URL-decoded) against the folder
 * `root`, lexically: `a/b.bin` → `<root>/a/b.bin`. Throws an UnsafeFileError (reason `outside`)
 * naming the path when the result is not inside `root`: `..` segments that climb out, absolute
 * paths, Windows drive or UNC paths, NUL bytes. `root` itself is not a valid result.
 * @returns the absolute, normalised path inside `root`.
 */
export function resolveInside(root: string, relative: string): string {
  const base = path.resolve(root);
  if (relative.includes('\0')) throw new UnsafeFileError(relative, 'outside', `is not a valid path inside ${base} (it holds a NUL byte)`);
  if (path.isAbsolute(relative) || path.win32.isAbsolute(relative) || /^[a-zA-Z]:/.test(relative)) {
    throw new UnsafeFileError(relative, 'outside', `is an absolute path: only paths inside ${base} are allowed`);
  }
  const target = path.resolve(base, relative);
  if (target === base || !isInside(base, target)) {
    throw new UnsafeFileError(relative, 'outside', `points outside ${base}`);
  }
  return target;
}

/**
 * `resolveInside`, then the same check after following symbolic links (of `root` and of the
 * result), so a link planted in the folder cannot lead out of it. The target must exist.
 * @param rootReal `root`'s real path when the caller resolved it already (one realpath for many files).
 * @returns the lexical path inside `root` (as `resolveInside` returns it), checked.
 */
export async function resolveRealInside(root: string, relative: string, rootReal?: string): Promise<string> {
  const target = resolveInside(root, relative);
  let realRoot: string;
  let realTarget: string;
  try {
    realRoot = rootReal ?? (await fs.realpath(root));
    realTarget = await fs.realpath(target);
  } catch (e) {
    throw new UnsafeFileError(target, 'unreadable', `cannot be read (${errCode(e)})`);
  }
  if (realTarget === realRoot || !isInside(realRoot, realTarget)) {
    throw new UnsafeFileError(target, 'outside', `is a link to ${realTarget}, outside ${path.resolve(root)}`);
  }
  return target;
}

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message.split('\n')[0] : String(e));
}

/**
 * Checks that `file` is a regular file (following symbolic links), without opening it: refuses
 * folders, FIFOs, sockets and devices. For libraries that open files by path themselves (h5wasm);
 * when reading the bytes here, use `openRegularFile`/`readRegularFile`, which check the descriptor.
 * @returns the file's stats (size in bytes).
 */
export async function assertRegularFile(file: string): Promise<Stats> {
  let stats: Stats;
  try {
    stats = await fs.stat(file);
  } catch (e) {
    throw new UnsafeFileError(file, 'unreadable', `cannot be read (${errCode(e)})`);
  }
  if (!stats.isFile()) throw new UnsafeFileError(file, 'not-regular', `is ${fileTypeName(stats)}, not a regular file`);
  return stats;
}

/**
 * Opens `file` for reading without blocking (a FIFO never hangs the open) and checks with fstat
 * that what was opened is a regular file. The caller closes the handle.
 * @returns the open handle and its stats (size in bytes at open time).
 */
export async function openRegularFile(file: string): Promise<{ handle: fs.FileHandle; stats: Stats }> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, OPEN_FLAGS);
  } catch (e) {
    const code = errCode(e);
    // Opening a Unix socket fails with ENXIO: say what it is rather than the errno.
    const what = code === 'ENXIO' ? await fs.stat(file).then(fileTypeName, () => null) : null;
    if (what) throw new UnsafeFileError(file, 'not-regular', `is ${what}, not a regular file`);
    throw new UnsafeFileError(file, 'unreadable', `cannot be read (${code})`);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new UnsafeFileError(file, 'not-regular', `is ${fileTypeName(stats)}, not a regular file`);
    return { handle, stats };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/**
 * Which file a descriptor was open on, as fstat gives it: device, inode, size and modification time
 * (nanoseconds since the epoch). Two reads with the same identity read the same file's same version.
 */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
}

/** Limits for readRegularFile. */
export interface ReadLimits {
  /**
   * Told the identity of the descriptor the bytes were read from (fstat after the read), so that a
   * caller checks the file it read, not whatever the path names by then.
   */
  onIdentity?(identity: FileIdentity): void;
  /** Refuse files larger than this many bytes (checked before allocating, and again while reading). */
  maxBytes: number;
  /** When set, the file must hold exactly this many bytes (a weight shard of known length). */
  exactBytes?: number;
  /** How the cap is named in the refusal, e.g. "the model.json limit"; defaults to "the limit". */
  capName?: string;
  /**
   * Hands the bytes over in order, in pieces of at most {@link CHUNK_BYTES} read into one reused
   * buffer (each piece valid only during the call), instead of returning them as one new buffer (the
   * result is then empty): a caller that copies them elsewhere (weight shards joined into one buffer)
   * leaves no file-sized buffer to the garbage collector.
   */
  onChunk?(bytes: Buffer): void;
}

/** Largest piece {@link ReadLimits.onChunk} is given, bytes. */
export const CHUNK_BYTES = 16 * 2 ** 20;

/**
 * Reads a whole regular file (see `openRegularFile`) of at most `maxBytes` bytes. The size is
 * checked from fstat before allocating; the read is bounded by that size, and a file that grew or
 * shrank while being read is refused rather than returned in part.
 * @returns the file's bytes.
 */
export async function readRegularFile(file: string, limits: ReadLimits): Promise<Buffer> {
  const { handle, stats } = await openRegularFile(file);
  return readOpened(file, handle, stats, limits);
}

/** Reads and closes an opened regular file (see readRegularFile). */
async function readOpened(file: string, handle: fs.FileHandle, stats: Stats, limits: ReadLimits): Promise<Buffer> {
  try {
    const size = stats.size;
    const capName = limits.capName ?? 'the limit';
    if (size > limits.maxBytes) {
      throw new UnsafeFileError(file, 'too-large', `is ${formatBytes(size)}, over ${capName} of ${formatBytes(limits.maxBytes)}`);
    }
    if (limits.exactBytes !== undefined && size !== limits.exactBytes) {
      throw new UnsafeFileError(file, 'wrong-size', `holds ${size} bytes, expected exactly ${limits.exactBytes}`);
    }
    const chunked = limits.onChunk !== undefined;
    const buf = Buffer.allocUnsafe(chunked ? Math.min(size, CHUNK_BYTES) : size);
    let at = 0;
    while (at < size) {
      if (chunked) {
        const want = Math.min(buf.byteLength, size - at);
        let got = 0;
        while (got < want) {
          const { bytesRead } = await handle.read(buf, got, want - got, at + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        if (got > 0) limits.onChunk?.(buf.subarray(0, got));
        at += got;
        if (got < want) break;
        continue;
      }
      const { bytesRead } = await handle.read(buf, at, size - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    const probe = Buffer.alloc(1);
    const { bytesRead: extra } = await handle.read(probe, 0, 1, size);
    if (at !== size || extra !== 0) {
      throw new UnsafeFileError(file, 'wrong-size', `changed size while being read (${size} bytes at open, ${at === size ? 'more' : at} after)`);
    }
    if (limits.onIdentity) {
      const st = await handle.stat({ bigint: true });
      limits.onIdentity({ dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs });
    }
    return chunked ? Buffer.alloc(0) : buf;
  } catch (e) {
    if (e instanceof UnsafeFileError) throw e;
    throw new UnsafeFileError(file, 'unreadable', `cannot be read (${errCode(e)})`);
  } finally {
    await handle.close();
  }
}

/**
 * A file named inside a folder (a model's side file or weight shard), opened first and checked on
 * the descriptor that is read: the path is resolved inside `root` (lexically), opened without
 * blocking, fstat says it is a regular file within `limits`, and the file the path leads to after
 * following links (realpath) must be inside `root` and be the very file opened (same device and
 * inode). A link out of the folder, or one swapped between the check and the open, is refused.
 * @param rootReal `root`'s real path when the caller resolved it already (one realpath for many files).
 * @returns the file's bytes and its path inside `root`.
 * @throws UnsafeFileError naming the file: `outside`, `not-regular`, `too-large`, `wrong-size`, `unreadable`.
 */
export async function readInside(root: string, relative: string, limits: ReadLimits & { rootReal?: string }): Promise<{ file: string; bytes: Buffer }> {
  const file = resolveInside(root, relative);
  const { handle, stats } = await openRegularFile(file);
  try {
    let realRoot: string;
    let realFile: string;
    let named: Stats;
    try {
      realRoot = limits.rootReal ?? (await fs.realpath(root));
      realFile = await fs.realpath(file);
      named = await fs.stat(realFile);
    } catch (e) {
      throw new UnsafeFileError(file, 'unreadable', `cannot be read (${errCode(e)})`);
    }
    if (realFile === realRoot || !isInside(realRoot, realFile)) {
      throw new UnsafeFileError(file, 'outside', `is a link to ${realFile}, outside ${path.resolve(root)}`);
    }
    if (named.dev !== stats.dev || named.ino !== stats.ino) {
      throw new UnsafeFileError(file, 'outside', 'was replaced while being opened (it is not the file its path now leads to)');
    }
  } catch (e) {
    await handle.close();
    throw e;
  }
  return { file, bytes: await readOpened(file, handle, stats, limits) };
}

/**
 * The first `length` bytes of a regular file (fewer when it is shorter), for telling formats apart
 * by their signature. Refuses what `openRegularFile` refuses.
 */
export async function readFileHead(file: string, length: number): Promise<Buffer> {
  const { handle } = await openRegularFile(file);
  try {
    const head = Buffer.alloc(length);
    const { bytesRead } = await handle.read(head, 0, length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
