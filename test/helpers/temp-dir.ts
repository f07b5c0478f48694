import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/** A test file's temporary folder. */
export interface TempDir {
  /** Its path (set once the file's first beforeAll has run). */
  readonly path: string;
  /** Writes `files` (name → content) into the sub-folder `name`, made as needed; returns the sub-folder's path. */
  folder(name: string, files: Record<string, string | Uint8Array>): Promise<string>;
}

/**
 * Call at the top level of a test file: a temporary folder named from `prefix`, made by the file's
 * first beforeAll and removed after its last test. Use it inside hooks and tests only.
 */
export function tempDir(prefix: string): TempDir {
  let dir = '';
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });
  return {
    get path() {
      return dir;
    },
    async folder(name, files) {
      const sub = path.join(dir, name);
      await fs.mkdir(sub, { recursive: true });
      for (const [file, content] of Object.entries(files)) await fs.writeFile(path.join(sub, file), content);
      return sub;
    },
  };
}
