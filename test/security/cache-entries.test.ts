import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ScoreMap } from '../../core/scoremap';
import { cacheKey, createDiskCache, decodeScoreMap, encodeScoreMap } from '../../main/services/storage/cache';
import { tempDir } from '../helpers/temp-dir';
import { mkfifo } from './bad-inputs';

/**
 * Damaged score-cache entries (issue 19, item 9): a file under a key's name whose scores are not
 * finite, or whose header sizes are not whole counts, is a miss and is removed, so the map computed
 * next replaces it instead of blank maps being drawn from it.
 */
const tmp = tempDir('convmap-cache-entries-');

const map: ScoreMap = {
  scale: 1, imageSize: [6, 8], scaledSize: [6, 8], rows: 2, cols: 3, classes: 2,
  scores: Float32Array.from({ length: 12 }, (_, i) => (i + 1) / 13), geometry: { window: [4, 4], stride: [2, 2], offset: [0, 0] },
};
const parts = { photo: 'a'.repeat(64), model: 'b'.repeat(64), scale: 1, preprocess: 'unit' as const };

/** The cache file of `parts` under `root`, found by listing (not by the cache's own path function). */
async function onlyCacheFile(root: string): Promise<string> {
  const base = path.join(root, 'scores-v1');
  const files: string[] = [];
  for (const sub of await fs.readdir(base)) for (const f of await fs.readdir(path.join(base, sub))) files.push(path.join(base, sub, f));
  expect(files).toHaveLength(1);
  expect(path.basename(files[0])).toBe(`${cacheKey(parts)}.cmap`);
  return files[0];
}

describe('damaged score-cache entries', () => {
  it.each([
    ['NaN', NaN],
    ['+Infinity', Infinity],
    ['-Infinity', -Infinity],
  ])('a score overwritten with %s: a miss, the file removed, and a fresh put is a hit again', async (_name, bad) => {
    const root = path.join(tmp.path, `nonfinite-${_name}`);
    const cache = createDiskCache(root);
    await cache.put(parts, map);
    const file = await onlyCacheFile(root);
    const bytes = await fs.readFile(file);
    // The scores are the file's last rows·cols·classes float32s (little-endian); damage the 5th.
    bytes.writeFloatLE(bad, bytes.length - 12 * 4 + 4 * 4);
    await fs.writeFile(file, bytes);
    expect(decodeScoreMap(parts, bytes)).toBeUndefined();
    expect(await cache.get(parts)).toBeUndefined();
    await expect(fs.access(file)).rejects.toThrow(/ENOENT/);
    await cache.put(parts, map);
    expect(await cache.get(parts)).toEqual(map);
  });

  it.each([
    ['a fractional row count', { rows: 1.5, cols: 4 }],
    ['a negative class count', { classes: -2, rows: -1 }],
    ['a string image size', { imageSize: ['6', '8'] }],
    ['a zero stride', { geometry: { window: [4, 4], stride: [0, 2], offset: [0, 0] } }],
    ['no geometry', { geometry: null }],
  ])('a header with %s: a miss, and the file is removed', async (name, change) => {
    const root = path.join(tmp.path, `header-${name.replace(/\W+/g, '-')}`);
    const bytes = Buffer.from(encodeScoreMap(parts, map));
    const n = bytes.readUInt32LE(8);
    const header = { ...(JSON.parse(bytes.toString('utf8', 12, 12 + n)) as object), ...change };
    // Rebuilt by hand with the format's layout (magic, length, JSON, padding to 4, scores).
    const json = Buffer.from(JSON.stringify(header));
    const start = Math.ceil((12 + json.length) / 4) * 4;
    const out = Buffer.alloc(start + 12 * 4);
    out.write('CMAPSC01', 0, 'latin1');
    out.writeUInt32LE(json.length, 8);
    json.copy(out, 12);
    for (let i = 0; i < 12; i++) out.writeFloatLE(map.scores[i], start + 4 * i);
    expect(decodeScoreMap(parts, out)).toBeUndefined();
    const cache = createDiskCache(root);
    await cache.put(parts, map);
    const file = await onlyCacheFile(root);
    await fs.writeFile(file, out);
    expect(await cache.get(parts)).toBeUndefined();
    await expect(fs.access(file)).rejects.toThrow(/ENOENT/);
  });

  it('a FIFO under a key name is a miss without hanging', async () => {
    const root = path.join(tmp.path, 'fifo');
    const cache = createDiskCache(root);
    await cache.put(parts, map);
    const file = await onlyCacheFile(root);
    await fs.rm(file);
    mkfifo(file);
    expect(await cache.get(parts)).toBeUndefined();
  });
});
