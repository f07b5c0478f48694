import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/**
 * Call at the top level of a test file: a temporary folder named from `prefix`, made by the file's
 * first beforeAll and removed after its last test. Read `path` inside hooks and tests only.
 */
export function tempDir(prefix: string): { readonly path: string } {
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
  };
}
