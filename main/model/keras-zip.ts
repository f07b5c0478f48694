import { Unzip, UnzipInflate, unzipSync } from 'fflate';
import { formatBytes } from '../io/safe-read';
import { ModelError } from './errors';
import { MAX_WEIGHT_BYTES } from './guards';

/**
 * The entries of a `.keras` archive, unpacked with bounds: a zip bomb (a few MB that inflate to
 * gigabytes) is refused from its directory's declared sizes before anything is inflated, and an
 * entry that inflates past its declared size is stopped there, so memory stays within the caps
 * whatever the archive claims.
 */

/** Largest total of the declared uncompressed sizes of all entries, in bytes. */
export const MAX_ARCHIVE_UNPACKED_BYTES = MAX_WEIGHT_BYTES + 64 * 2 ** 20;
/** Largest inflation ratio (uncompressed / compressed) of an entry over 1 MiB; real weights barely compress. */
export const MAX_ENTRY_RATIO = 200;
const RATIO_FLOOR_BYTES = 2 ** 20;
/** Compressed bytes handed to the inflater at once: bounds one step's output to ~1032× this. */
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

/** Refuses archives whose declared sizes exceed the caps, before anything is inflated. */
function checkDeclaredSizes(file: string, entries: DirectoryEntry[]): void {
  let total = 0;
  for (const e of entries) {
    total += e.originalSize;
    if (e.originalSize > RATIO_FLOOR_BYTES && e.originalSize > MAX_ENTRY_RATIO * Math.max(1, e.size)) {
      throw new ModelError(
        file,
        `zip entry "${e.name}" unpacks ${formatBytes(e.size)} to ${formatBytes(e.originalSize)} (ratio ${Math.round(e.originalSize / Math.max(1, e.size))}, over ${MAX_ENTRY_RATIO}): refused as a zip bomb`,
      );
    }
  }
  if (total > MAX_ARCHIVE_UNPACKED_BYTES) {
    throw new ModelError(file, `zip entries unpack to ${formatBytes(total)}, over the limit of ${formatBytes(MAX_ARCHIVE_UNPACKED_BYTES)}`);
  }
}

/**
 * Unpacks the entries named in `wanted` (others are never inflated) of a `.keras` zip.
 * @returns entry name → bytes, for the wanted entries the archive holds.
 * @throws ModelError naming the file when the archive is unreadable, over a cap, or an entry
 *   inflates to a size other than its declared one.
 */
export function unzipKerasEntries(file: string, bytes: Uint8Array, wanted: readonly string[]): Record<string, Uint8Array> {
  const entries = listEntries(file, bytes);
  checkDeclaredSizes(file, entries);
  const declared = new Map(entries.map((e) => [e.name, e.originalSize]));
  const out: Record<string, Uint8Array> = {};
  const state: { failure: ModelError | null } = { failure: null };
  const unzip = new Unzip((entry) => {
    const size = declared.get(entry.name);
    if (!wanted.includes(entry.name) || size === undefined || entry.name in out) return;
    const buf = new Uint8Array(size);
    let at = 0;
    entry.ondata = (err, chunk, final) => {
      if (state.failure !== null) return;
      if (err) {
        state.failure = new ModelError(file, `zip entry "${entry.name}" cannot be unpacked (${err.message})`);
        return;
      }
      if (at + chunk.length > size) {
        state.failure = new ModelError(file, `zip entry "${entry.name}" unpacks to more than the ${formatBytes(size)} its zip directory declares: refused`);
        entry.terminate();
        return;
      }
      buf.set(chunk, at);
      at += chunk.length;
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
      unzip.push(bytes.subarray(i, Math.min(bytes.length, i + CHUNK)), i + CHUNK >= bytes.length);
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
