/**
 * Which file each photo id stands for, by identity rather than by name (issue 13): device, inode,
 * size and modification time, taken when the photo is opened and checked again each time the
 * convmap-photo: protocol serves it. Swapping the file for another (or for a symlink to another)
 * after it was opened makes the protocol refuse it instead of serving the new target.
 */
import { promises as fs } from 'node:fs';
import type { FileIdentity } from '../io/safe-read';

/** Identity of a regular file (stat follows symlinks: a symlink's identity is its target's). */
export type { FileIdentity };

/** The identity of `file`, or a reason it has none (missing, unreadable, not a regular file). */
export async function identityOf(file: string): Promise<FileIdentity | string> {
  let st;
  try {
    st = await fs.stat(file, { bigint: true });
  } catch (err) {
    return `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  }
  if (!st.isFile()) return 'is not a regular file';
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs };
}

export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;
}

/** What changed between two identities, for the log. */
function difference(was: FileIdentity, now: FileIdentity): string {
  if (was.dev !== now.dev || was.ino !== now.ino) return 'is now another file';
  if (was.size !== now.size) return `changed size (${was.size} → ${now.size} bytes)`;
  return 'was modified';
}

/** Identities of the photos opened this session, by photo id. */
export class PhotoIdentities {
  private readonly byId = new Map<string, FileIdentity | string>();

  /**
   * Records the identity of an opened photo. `before` is the identity taken just before the service
   * read the file, when known: if the file changed while being opened, the photo gets no identity
   * (and will not be served).
   */
  async record(id: string, file: string, before?: FileIdentity | string): Promise<void> {
    const now = await identityOf(file);
    if (typeof before === 'object' && typeof now === 'object' && !sameIdentity(before, now)) {
      this.byId.set(id, `it ${difference(before, now)} while it was being opened`);
    } else {
      this.byId.set(id, typeof now === 'string' ? `it ${now} when it was opened` : now);
    }
  }

  /**
   * Why bytes read through a descriptor of identity `read` must not be served as the photo `id`, as
   * a clause; undefined when they were read from the file that was opened. The check on the bytes
   * themselves: a file swapped between {@link refusal}'s stat and the read is caught here.
   */
  refusalOfRead(id: string, read: FileIdentity | undefined): string | undefined {
    const was = this.byId.get(id);
    if (was === undefined) return 'no identity was recorded when it was opened';
    if (typeof was === 'string') return was;
    if (read === undefined) return 'the file it was read from is not known';
    if (sameIdentity(was, read)) return undefined;
    return was.dev !== read.dev || was.ino !== read.ino ? 'its bytes were read from another file' : `it ${difference(was, read)}`;
  }

  /** Why the photo `id` (the file `file`) must not be served now, as a clause; undefined when it is the file that was opened. */
  async refusal(id: string, file: string): Promise<string | undefined> {
    const was = this.byId.get(id);
    if (was === undefined) return 'no identity was recorded when it was opened';
    if (typeof was === 'string') return was;
    const now = await identityOf(file);
    if (typeof now === 'string') return `it ${now}`;
    return sameIdentity(was, now) ? undefined : `it ${difference(was, now)}`;
  }
}
