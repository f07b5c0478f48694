import { Unzip, UnzipInflate, unzipSync } from 'fflate';
import { formatBytes } from '../io/safe-read';
import { ModelError } from './errors';
import { MAX_COMPRESSION_RATIO, MAX_WEIGHT_BYTES } from './guards';

/**
 * The entries of a `.keras` archive, unpacked with bounds. The zip directory is used for names and
 * for early refusals only (declared sizes over the caps, packed sizes larger than the archive); what
 * bounds memory is counted while streaming: each entry is inflated 16 KB of the archive at a time
 * into at most its declared size, its unpacked bytes may not exceed MAX_COMPRESSION_RATIO times the
 * archive bytes it was read from, and all entries together may not unpack past
 * MAX_ARCHIVE_UNPACKED_BYTES. A directory that lies about sizes gains nothing.
 */

/** Largest total of the unpacked sizes of all entries, in bytes (declared, and counted while inflating). */
export const MAX_ARCHIVE_UNPACKED_BYTES = MAX_WEIGHT_BYTES + 64 * 2 ** 20;
/** Largest inflation ratio (unpacked / packed) of an entry over 1 MiB; real weights barely compress. */
export const MAX_ENTRY_RATIO = MAX_COMPRESSION_RATIO;
const RATIO_FLOOR_BYTES = 2 ** 20;
/** Archive bytes handed to the inflater at once: bounds one step's output to ~1032× this. */
const CHUNK = 16 * 1024;

interface DirectoryEntry {
  name: string;
  size: number;
  originalSize: number;
}

/** The zip's central directory (names, compressed and declared sizes), read without inflating. */
function listEntries(file: string, bytes: Uint8Array): DirectoryEntry[] {
  const entries: DirectoryEntry[] = [];
  try {
    unzipSync(bytes, {
      filter: (f) => {
        entries.push({ name: f.name, size: f.size, originalSize: f.originalSize });
        return false;
      },
    });
  } catch (e) {
    throw new ModelError(file, `is not a readable zip archive (${(e as Error).message}): a truncated .keras file?`);
  }
  return entries;
}

function ratioText(unpacked: number, packed: number): string {
  return `ratio ${Math.round(unpacked / Math.max(1, packed))}, over ${MAX_ENTRY_RATIO}`;
}

/** Refuses archives whose directory declares sizes over the caps or packed sizes it cannot hold, before anything is inflated. */
function checkDeclaredSizes(file: string, entries: DirectoryEntry[], archiveBytes: number): void {
  const total = entries.reduce((n, e) => n + e.originalSize, 0);
  if (total > MAX_ARCHIVE_UNPACKED_BYTES) {
    throw new ModelError(file, `zip entries unpack to ${formatBytes(total)}, over the limit of ${formatBytes(MAX_ARCHIVE_UNPACKED_BYTES)}`);
  }
  for (const e of entries) {
    if (e.size > archiveBytes) {
      throw new ModelError(file, `zip entry "${e.name}" claims ${formatBytes(e.size)} packed in a ${formatBytes(archiveBytes)} archive: its zip directory lies, refused`);
    }
    if (e.originalSize > RATIO_FLOOR_BYTES && e.originalSize > MAX_ENTRY_RATIO * Math.max(1, e.size)) {
      throw new ModelError(file, `zip entry "${e.name}" unpacks ${formatBytes(e.size)} to ${formatBytes(e.originalSize)} (${ratioText(e.originalSize, e.size)}): refused as a zip bomb`);
    }
  }
}

/**
 * Unpacks the entries named in `wanted` (others are never inflated) of a `.keras` zip.
 * @param wanted entry name → the most bytes it may unpack to (config.json is a few KB, the weights
 *   up to MAX_WEIGHT_BYTES); an entry declaring more is refused before inflating.
 * @returns entry name → bytes, for the wanted entries the archive holds.
 * @throws ModelError naming the file when the archive is unreadable, over a cap (declared or
 *   counted), inflates past the ratio, or an entry inflates to a size other than its declared one.
 */
export function unzipKerasEntries(file: string, bytes: Uint8Array, wanted: Readonly<Record<string, number>>): Record<string, Uint8Array> {
  const entries = listEntries(file, bytes);
  checkDeclaredSizes(file, entries, bytes.length);
  for (const e of entries) {
    const cap = Object.hasOwn(wanted, e.name) ? wanted[e.name] : undefined;
    if (cap !== undefined && e.originalSize > cap) {
      throw new ModelError(file, `zip entry "${e.name}" declares ${formatBytes(e.originalSize)}, over the limit of ${formatBytes(cap)} for it`);
    }
  }
  const declared = new Map(entries.map((e) => [e.name, e.originalSize]));
  const out: Record<string, Uint8Array> = {};
  const started = new Set<string>();
  // `chunkStart`: where the chunk being pushed begins; an entry announced during that push has its
  // data there or later, so `pushed - from` bounds the archive bytes its output came from.
  const state: { failure: ModelError | null; chunkStart: number; pushed: number; unpacked: number } = { failure: null, chunkStart: 0, pushed: 0, unpacked: 0 };
  const unzip = new Unzip((entry) => {
    const size = declared.get(entry.name);
    if (!Object.hasOwn(wanted, entry.name) || size === undefined || started.has(entry.name)) return;
    started.add(entry.name);
    const from = state.chunkStart;
    // At most min(cap, 200 × archive) by checkDeclaredSizes; untouched pages cost nothing.
    const buf = new Uint8Array(size);
    let at = 0;
    const stop = (failure: ModelError): void => {
      state.failure = failure;
      entry.terminate();
    };
    entry.ondata = (err, chunk, final) => {
      if (state.failure !== null) return;
      if (err) {
        state.failure = new ModelError(file, `zip entry "${entry.name}" cannot be unpacked (${err.message})`);
        return;
      }
      const unpacked = at + chunk.length;
      const packed = state.pushed - from;
      if (unpacked > size) return stop(new ModelError(file, `zip entry "${entry.name}" unpacks to more than the ${formatBytes(size)} its zip directory declares: refused`));
      if (unpacked > RATIO_FLOOR_BYTES && unpacked > MAX_ENTRY_RATIO * packed) {
        return stop(new ModelError(file, `zip entry "${entry.name}" unpacked ${formatBytes(unpacked)} from at most ${formatBytes(packed)} of the archive (${ratioText(unpacked, packed)}): refused as a zip bomb`));
      }
      state.unpacked += chunk.length;
      if (state.unpacked > MAX_ARCHIVE_UNPACKED_BYTES) {
        return stop(new ModelError(file, `zip entries unpack to more than the limit of ${formatBytes(MAX_ARCHIVE_UNPACKED_BYTES)}: refused`));
      }
      buf.set(chunk, at);
      at = unpacked;
      if (final) {
        if (at !== size) state.failure = new ModelError(file, `zip entry "${entry.name}" unpacks to ${at} bytes, its zip directory declares ${size} (a damaged .keras file?)`);
        else out[entry.name] = buf;
      }
    };
    entry.start();
  });
  unzip.register(UnzipInflate);
  try {
    for (let i = 0; i < bytes.length && state.failure === null; i += CHUNK) {
      state.chunkStart = i;
      state.pushed = Math.min(bytes.length, i + CHUNK);
      unzip.push(bytes.subarray(i, state.pushed), state.pushed >= bytes.length);
    }
  } catch (e) {
    throw new ModelError(file, `is not a readable zip archive (${(e as Error).message}): a truncated .keras file?`);
  }
  if (state.failure !== null) throw state.failure;
  return out;
}

/** Names of all entries in the archive's directory (for messages), without inflating anything. */
export function kerasEntryNames(file: string, bytes: Uint8Array): string[] {
  return listEntries(file, bytes).map((e) => e.name);
}
