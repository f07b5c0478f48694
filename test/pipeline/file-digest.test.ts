/**
 * Digests of big model files remembered in the cache folder (main/io/model-cache fileDigest with a
 * memo folder, issue 21): a second run finds a big model's conversion without reading the model
 * again, and any change to the file gives its new digest. The oracle is Python's hashlib.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clearModelCache, DIGESTS_DIR, fileDigest } from '../../main/io/model-cache';

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-digest-'));
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

function pythonSha256(file: string): string {
  return execFileSync('python3', ['-c', 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())', file], { encoding: 'utf8' }).trim();
}

async function memos(cache: string): Promise<string[]> {
  return fs.readdir(path.join(cache, DIGESTS_DIR)).catch(() => []);
}

describe('remembered file digests', () => {
  it('a big file settled for 2 s is remembered, the memo answers, and a rewrite of the same size is hashed again', async () => {
    const file = path.join(dir, 'weights.bin');
    const cache = path.join(dir, 'cache');
    await fs.writeFile(file, randomBytes(17 << 20));
    // Not remembered while it may still be written within the same timestamp.
    expect(await fileDigest(file, cache)).toBe(pythonSha256(file));
    expect(await memos(cache)).toEqual([]);
    await new Promise((r) => setTimeout(r, 2100));
    expect(await fileDigest(file, cache)).toBe(pythonSha256(file));
    const [memo] = await memos(cache);
    expect(memo).toMatch(/^[0-9a-f]{64}$/);
    // The memo answers without the file being read: a planted digest comes back.
    await fs.writeFile(path.join(cache, DIGESTS_DIR, memo), 'a'.repeat(64));
    expect(await fileDigest(file, cache)).toBe('a'.repeat(64));
    // A memo that is not a digest is not believed.
    await fs.writeFile(path.join(cache, DIGESTS_DIR, memo), 'not a digest');
    expect(await fileDigest(file, cache)).toBe(pythonSha256(file));
    // Same size, other bytes: its times changed, so it is read and hashed again.
    await fs.writeFile(path.join(cache, DIGESTS_DIR, memo), 'a'.repeat(64));
    await fs.writeFile(file, randomBytes(17 << 20));
    expect(await fileDigest(file, cache)).toBe(pythonSha256(file));
    // `convmap cache clear` forgets them with the models.
    await clearModelCache(cache);
    expect(existsSync(path.join(cache, DIGESTS_DIR))).toBe(false);
  });

  it('small files and calls without a cache folder remember nothing', async () => {
    const small = path.join(dir, 'model.json');
    await fs.writeFile(small, '{"format": "layers-model"}');
    const cache = path.join(dir, 'cache-small');
    expect(await fileDigest(small, cache)).toBe(pythonSha256(small));
    expect(existsSync(path.join(cache, DIGESTS_DIR))).toBe(false);
    expect(await fileDigest(small)).toBe(pythonSha256(small));
  });
});
