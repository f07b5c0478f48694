import { promises as fs } from 'node:fs';
import path from 'node:path';

let counter = 0;

/**
 * Writes a file to a temporary name in the same folder and renames it into place, so a crash or a
 * full disk never leaves a half-written file under the final name.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${++counter}.tmp`);
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}
