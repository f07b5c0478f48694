/**
 * Score outputs: the per-class summary JSON (size independent of the photo) and the full grid as a
 * .npy file that NumPy (/usr/bin/python3) loads directly, in float32 and float16; the score cache
 * bounded by bytes, least recently used first, with `convmap cache info|clear`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRecipe } from '../../core/recipe';
import type { ScoreMap } from '../../core/scoremap';
import { createEngine, type Engine } from '../../main/engine/engine';
import { runBatch } from '../../main/services/batch';
import { cacheInfo, createDiskCache, parseByteSize } from '../../main/services/storage/cache';
import { prepareModel } from '../../main/services/models';
import { npyHeader, toFloat16Bits } from '../../main/services/scores-file';
import { writeScene } from '../batch/fixtures';

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../..');
const python = '/usr/bin/python3';
const hasNumpy = existsSync(python) && (() => {
  try {
    execFileSync(python, ['-c', 'import numpy']);
    return true;
  } catch {
    return false;
  }
})();
if (!hasNumpy) console.log('skipping the NumPy checks: /usr/bin/python3 with numpy is absent');

let tmp: string;
let engine: Engine;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-scores-'));
});
afterAll(async () => {
  await engine?.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

interface Summary {
  averaged: { rows: number; cols: number; classes: number; cellSize: [number, number]; file?: string; dtype?: string };
  perClass: { label: string; maxScore: number; y: number; x: number; top: { score: number; y: number; x: number }[] }[];
}

describe('the summary JSON and the .npy grid', () => {
  const photo = () => path.join(tmp, 'scene.png');
  beforeAll(async () => {
    await writeScene(photo(), 9, 240, 180);
    const prepared = await prepareModel(undefined);
    engine = await createEngine({ backend: 'wasm', workers: 1 });
    const handle = await engine.loadModel(prepared.artifacts, prepared.info);
    for (const dtype of ['float32', 'float16'] as const) {
      await runBatch({
        engine, handle, info: prepared.info, photos: [photo()], outDir: path.join(tmp, dtype),
        options: { recipe: makeRecipe({ scales: [1, 0.75], mode: 'max', classChoice: 'any', colormap: 'turbo', opacity: 0.65, threshold: 0.2, boxes: false, legend: false, detectThreshold: 0.5, scores: 'full', npyDtype: dtype }) },
      });
    }
  }, 60_000);

  it.skipIf(!hasNumpy)('NumPy loads the grid with the shape the JSON states, and its per-class maxima and top cells are the JSON\'s', async () => {
    for (const dtype of ['float32', 'float16']) {
      const dir = path.join(tmp, dtype);
      const json = JSON.parse(await fs.readFile(path.join(dir, 'scene.scores.json'), 'utf8')) as Summary;
      expect(json.averaged).toMatchObject({ file: 'scene.scores.npy', dtype });
      const script = [
        'import json, sys, numpy as np',
        'a = np.load(sys.argv[1])',
        'flat = a.reshape(-1, a.shape[2])',
        'top = [[int(i) for i in np.argsort(-flat[:, k].astype(np.float64), kind="stable")[:5]] for k in range(a.shape[2])]',
        'print(json.dumps({"dtype": str(a.dtype), "shape": list(a.shape), "max": [float(v) for v in flat.max(axis=0)], "top": top}))',
      ].join('\n');
      const { stdout } = await run(python, ['-c', script, path.join(dir, 'scene.scores.npy')]);
      const np = JSON.parse(stdout) as { dtype: string; shape: number[]; max: number[]; top: number[][] };
      expect(np.dtype).toBe(dtype);
      expect(np.shape).toEqual([json.averaged.rows, json.averaged.cols, json.averaged.classes]);
      const tol = dtype === 'float16' ? 1e-3 : 1e-6;
      json.perClass.forEach((c, k) => {
        expect(Math.abs(np.max[k] - c.maxScore)).toBeLessThanOrEqual(tol);
        // The JSON's best cell (a cell centre in original pixels) is one of NumPy's strongest cells.
        const cell = Math.floor(c.y / json.averaged.cellSize[0]) * json.averaged.cols + Math.floor(c.x / json.averaged.cellSize[1]);
        if (dtype === 'float32' && c.maxScore > 0) expect(np.top[k]).toContain(cell);
        expect(c.top[0].score).toBe(c.maxScore);
      });
    }
  });

  it('writes float16 bits by IEEE 754 rounding (hand-worked values) and a 64-byte-aligned .npy header', () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(0.5)).toBe(0x3800);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(1e6)).toBe(0x7c00);
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001);
    // 1 + 2^-11 is halfway between 1 and the next float16: ties go to even (1).
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    const h = npyHeader([2, 3, 4], 'float16');
    expect(h.length % 64).toBe(0);
    expect(Buffer.from(h.subarray(0, 8)).toString('latin1')).toBe('\x93NUMPY\x01\x00');
    expect(Buffer.from(h.subarray(10)).toString('latin1')).toMatch(/^\{'descr': '<f2', 'fortran_order': False, 'shape': \(2, 3, 4\), \} *\n$/);
  });

  it('--scores none writes no score file, summary (the default) no grid', async () => {
    const prepared = await prepareModel(undefined);
    const handle = await engine.loadModel(prepared.artifacts, prepared.info);
    const recipe = makeRecipe({ scales: [1], mode: 'max', classChoice: 'any', colormap: 'turbo', opacity: 0.65, threshold: 0.2, boxes: false, legend: false, detectThreshold: 0.5 });
    await runBatch({ engine, handle, info: prepared.info, photos: [photo()], outDir: path.join(tmp, 'none'), options: { recipe: { ...recipe, scores: 'none' } } });
    await runBatch({ engine, handle, info: prepared.info, photos: [photo()], outDir: path.join(tmp, 'summary'), options: { recipe } });
    expect((await fs.readdir(path.join(tmp, 'none'))).filter((f) => !f.startsWith('.'))).toEqual(['scene.heatmap.png']);
    expect((await fs.readdir(path.join(tmp, 'summary'))).filter((f) => !f.startsWith('.')).sort()).toEqual(['scene.heatmap.png', 'scene.scores.json']);
  });
});

describe('the score cache bounded by bytes', () => {
  const map = (n: number): ScoreMap => ({
    scale: 1, imageSize: [10, 10], scaledSize: [10, 10], rows: n, cols: n, classes: 1, scores: new Float32Array(n * n).fill(0.5),
    geometry: { window: [2, 2], stride: [1, 1], offset: [0, 0] },
  });
  const key = (photo: string) => ({ photo, model: 'm', scale: 1, preprocess: 'unit' as const });

  it('keeps the folder under its bound by removing the least recently used maps', async () => {
    const dir = path.join(tmp, 'cache');
    // Each map: 100×100 float32 = 40 000 bytes plus a header of under 1 kB; room for two.
    const cache = createDiskCache(dir, { maxBytes: 90_000 });
    await cache.put(key('a'), map(100));
    await new Promise((r) => setTimeout(r, 20));
    await cache.put(key('b'), map(100));
    await new Promise((r) => setTimeout(r, 20));
    expect(await cache.get(key('a'))).toBeDefined(); // a is now the most recently used
    await new Promise((r) => setTimeout(r, 20));
    await cache.put(key('c'), map(100));
    expect(await cache.get(key('b'))).toBeUndefined();
    expect(await cache.get(key('a'))).toBeDefined();
    expect(await cache.get(key('c'))).toBeDefined();
    const info = await cacheInfo(dir);
    expect(info.files).toBe(2);
    expect(info.bytes).toBeLessThanOrEqual(90_000);
  });

  it('parses sizes as people write them', () => {
    expect(parseByteSize('1GB')).toBe(1e9);
    expect(parseByteSize('500 MB')).toBe(5e8);
    expect(parseByteSize('64MiB')).toBe(64 * 2 ** 20);
    expect(parseByteSize('1000')).toBe(1000);
    expect(() => parseByteSize('lots')).toThrow('"lots" is not a size (e.g. 500MB, 2GB)');
  });

  it('convmap cache info counts the maps, clear removes them', async () => {
    // A cache of its own (not what another test left): two maps of 40 000 bytes of scores and a small header each.
    const dir = path.join(tmp, 'cache-cli');
    const cache = createDiskCache(dir, { maxBytes: 1e9 });
    await cache.put(key('x'), map(100));
    await cache.put(key('y'), map(100));
    const cli = (...args: string[]) => run(process.execPath, [path.join(repo, 'bin/convmap.mjs'), 'cache', ...args, '--cache-dir', dir], { cwd: repo });
    expect((await cli('info')).stdout).toMatch(/^files {7}2 score maps, 81 kB/m);
    expect((await cli('clear')).stdout).toMatch(/^cleared {5}2 score maps/m);
    expect(await cacheInfo(dir)).toMatchObject({ files: 0, bytes: 0 });
  });
});
