/** Folder scanning, output names and no-clobber writes, the cache file format, BMP decoding. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ConvertedModelInfo } from '../../core/model-info';
import type { ScoreMap } from '../../core/scoremap';
import { decodeBmp } from '../../main/io/bmp';
import { cacheKey, createDiskCache, decodeScoreMap, encodeScoreMap } from '../../main/services/storage/cache';
import { checkNamePattern, outputNames, subfolderIn, writeFileNoClobber } from '../../main/services/export';
import { MemoryBudget, photoMemoryEstimate } from '../../main/services/memory-budget';
import { scanInputs } from '../../main/services/scan';
import { bmpFile } from '../helpers/bmp';
import { tempDir } from '../helpers/temp-dir';

const tmp = tempDir('convmap-units-');

describe('subfolderIn', () => {
  it('puts a photo\'s sub-folder under the output folder and refuses one that would leave it', () => {
    const out = path.join(tmp.path, 'out');
    expect(subfolderIn(out, '')).toBe(out);
    expect(subfolderIn(out, 'a/b')).toBe(path.join(out, 'a', 'b'));
    expect(subfolderIn(out, 'a:b')).toBe(path.join(out, 'a_b'));
    for (const bad of ['..', 'a/../..', '../x', '/etc', 'a//b', './a']) {
      expect(() => subfolderIn(out, bad)).toThrow(`sub-folder "${bad}" is not a relative path inside the output folder`);
    }
  });
});

describe('scanInputs', () => {
  it('keeps image files in natural order, skips and counts the rest, survives a link loop', async () => {
    const root = path.join(tmp.path, 'scan');
    await fs.mkdir(path.join(root, 'sub', 'deeper'), { recursive: true });
    for (const f of ['img10.jpg', 'img2.JPEG', 'a.png', 'b.webp', 'c.tiff', 'd.gif', 'e.bmp', 'f.avif', 'notes.txt', '.hidden.png', 'sub/z.png', 'sub/deeper/y.jpg']) {
      await fs.writeFile(path.join(root, f), 'x');
    }
    await fs.symlink('..', path.join(root, 'sub', 'loop'));
    const flat = await scanInputs([root]);
    expect(flat.photos.map((p) => path.relative(root, p))).toEqual(['a.png', 'b.webp', 'c.tiff', 'd.gif', 'e.bmp', 'f.avif', 'img2.JPEG', 'img10.jpg']);
    expect(flat.skipped.map((s) => [path.basename(s.path), s.reason])).toEqual([
      ['.hidden.png', 'hidden'], ['notes.txt', 'not an image file'], ['sub', 'sub-folder (use --recursive)'],
    ]);
    const deep = await scanInputs([root, path.join(root, 'a.png')], { recursive: true });
    expect(deep.photos.map((p) => path.relative(root, p))).toEqual(['a.png', 'b.webp', 'c.tiff', 'd.gif', 'e.bmp', 'f.avif', 'img2.JPEG', 'img10.jpg', 'sub/deeper/y.jpg', 'sub/z.png']);
    expect(deep.skipped.find((s) => s.path.endsWith('loop'))?.reason).toMatch(/already scanned/);
    // Each photo's folders below the input it was found in (a/b for ROOT/a/b/x.png); '' for a file given by name.
    expect(deep.subfolders).toEqual(['', '', '', '', '', '', '', '', 'sub/deeper', 'sub']);
    const sub = await scanInputs([path.join(root, 'sub', 'z.png'), path.join(root, 'sub')], { recursive: true, exclude: [root] });
    expect(sub.photos.map((p) => path.relative(root, p))).toEqual(['sub/z.png', 'sub/deeper/y.jpg']);
    expect(sub.subfolders).toEqual(['', 'deeper']);
    const excluded = await scanInputs([root], { recursive: true, exclude: [path.join(root, 'sub')] });
    expect(excluded.photos.some((p) => p.includes('sub'))).toBe(false);
  });

  it('keeps a file given by name whatever it is, so the batch reports it', async () => {
    const r = await scanInputs([path.join(tmp.path, 'missing.jpg')]);
    expect(r.photos).toEqual([path.join(tmp.path, 'missing.jpg')]);
  });
});

describe('output names', () => {
  it('expands {name} and {class}, adds .png, refuses separators and unknown placeholders', () => {
    expect(checkNamePattern('{name}-{class}')).toBe('{name}-{class}.png');
    expect(() => checkNamePattern('a/{name}.png')).toThrow(/folder separators/);
    expect(() => checkNamePattern('{nam}.png')).toThrow(/unknown placeholder \{nam\}/);
    expect(outputNames('{name}.heatmap.png', 'IMG_1', 'cat', 1)).toEqual({ png: 'IMG_1.heatmap.png', json: 'IMG_1.scores.json', npy: 'IMG_1.scores.npy' });
    expect(outputNames('{name}.heatmap.png', 'IMG_1', 'cat', 2)).toEqual({ png: 'IMG_1-2.heatmap.png', json: 'IMG_1-2.scores.json', npy: 'IMG_1-2.scores.npy' });
    expect(outputNames('{class}.png', 'IMG_1', 'a/b', 3).png).toBe('a_b-3.png');
  });

  it('writeFileNoClobber never replaces an existing file and leaves no temporary file', async () => {
    const dir = path.join(tmp.path, 'noclobber');
    await fs.mkdir(dir);
    const f = path.join(dir, 'x.png');
    expect(await writeFileNoClobber(f, 'first')).toBe(true);
    expect(await writeFileNoClobber(f, 'second')).toBe(false);
    expect(await fs.readFile(f, 'utf8')).toBe('first');
    expect(await fs.readdir(dir)).toEqual(['x.png']);
  });
});

describe('score cache files', () => {
  const map: ScoreMap = {
    scale: 0.5, imageSize: [10, 12], scaledSize: [5, 6], rows: 2, cols: 3, classes: 2,
    scores: Float32Array.from({ length: 12 }, (_, i) => i / 7), geometry: { window: [4, 4], stride: [1, 1], offset: [0, 0] },
  };
  const parts = { photo: 'p'.repeat(64), model: 'm'.repeat(64), scale: 0.5, preprocess: 'unit' as const };

  it('round-trips a map exactly and rejects another key or a corrupt file', async () => {
    const bytes = Buffer.from(encodeScoreMap(parts, map));
    expect(decodeScoreMap(parts, bytes)).toEqual(map);
    expect(decodeScoreMap({ ...parts, scale: 1 }, bytes)).toBeUndefined();
    expect(decodeScoreMap(parts, bytes.subarray(0, bytes.length - 4))).toBeUndefined();
    expect(cacheKey(parts)).not.toBe(cacheKey({ ...parts, preprocess: 'raw' }));
    const cache = createDiskCache(path.join(tmp.path, 'cache'));
    await cache.put(parts, map);
    expect(await cache.get(parts)).toEqual(map);
    expect(await cache.get({ ...parts, photo: 'q'.repeat(64) })).toBeUndefined();
  });

  it('a cache folder that cannot be written warns once and never throws', async () => {
    const file = path.join(tmp.path, 'not-a-folder');
    await fs.writeFile(file, 'x');
    const warnings: string[] = [];
    const cache = createDiskCache(path.join(file, 'cache'), { onWarning: (m) => warnings.push(m) });
    await cache.put(parts, map);
    await cache.put(parts, map);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/score cache .* is not writable/);
  });
});

describe('BMP', () => {
  it('decodes a bottom-up 24-bit BMP upright, and names a truncated one', () => {
    const bytes = bmpFile(3, 2, (x, y) => [x * 80, y * 200, 7]);
    const img = decodeBmp(bytes, 'x.bmp', 1e8);
    expect([img.width, img.height]).toEqual([3, 2]);
    expect(Array.from(img.data)).toEqual([0, 0, 7, 80, 0, 7, 160, 0, 7, 0, 200, 7, 80, 200, 7, 160, 200, 7]);
    expect(() => decodeBmp(bytes.subarray(0, 60), 'x.bmp', 1e8)).toThrow('x.bmp: not a supported image (BMP pixel data truncated)');
    expect(() => decodeBmp(bytes, 'x.bmp', 5)).toThrow(/x\.bmp: image is 3×2 .* over the limit/);
  });
});

describe('the memory budget of photos in flight', () => {
  it('lets photos start while their estimates fit together, in arrival order, and runs one larger than the whole budget alone', async () => {
    const budget = new MemoryBudget(100);
    const started: string[] = [];
    const a = await budget.acquire(60);
    started.push('a');
    const b = budget.acquire(50).then((n) => { started.push('b'); return n; }); // 60 + 50 > 100: waits
    const c = budget.acquire(30).then((n) => { started.push('c'); return n; }); // would fit, but b came first
    const big = budget.acquire(500).then((n) => { started.push('big'); return n; }); // over the whole budget
    await new Promise((r) => setTimeout(r, 10));
    expect(started).toEqual(['a']);
    budget.release(a);
    const nb = await b;
    const nc = await c;
    expect(started).toEqual(['a', 'b', 'c']);
    budget.release(nb);
    await new Promise((r) => setTimeout(r, 10));
    expect(started).toEqual(['a', 'b', 'c']); // big needs all 100, c still holds 30
    budget.release(nc);
    expect(await big).toBe(100);
    expect(started).toEqual(['a', 'b', 'c', 'big']);
  });

  it('estimates a photo from its pixels, file and cells: 100 MP RGB twice plus float32 maps and grid', () => {
    // 10000×10000: RGB 3e8 bytes twice; one scale of 119×119 cells × 11 classes × 4 bytes; grid adds a coverage byte per cell.
    const cells = 119 * 119;
    expect(photoMemoryEstimate(10_000, 10_000, 30_000, 11, [cells])).toBe(30_000 + 6e8 + cells * 11 * 4 + cells * (11 * 4 + 1));
  });
});

describe('journalKey: what the view shows joins the key (issue 20 item 3)', () => {
  it('differs between views, and a view left to the model is the model\'s default view', async () => {
    const { journalKey, journalRecipe } = await import('../../main/services/batch');
    const { makeRecipe } = await import('../../core/recipe');
    const { digitLabels } = await import('../../main/digits/scene');
    // The key reads the model's source, preprocessing and labels only.
    const info = { source: 'digits', preprocess: 'unit', labels: [...digitLabels] } as unknown as ConvertedModelInfo;
    const key = (view: 'absolute' | 'relative' | 'classes' | null): string =>
      journalKey(journalRecipe({ modelKey: 'm', info, options: { recipe: makeRecipe({ scales: [1], classChoice: 'top', view }) } }));
    expect(new Set([key('absolute'), key('relative'), key('classes')]).size).toBe(3);
    // The built-in digit model has a background class: its default view is 'absolute'.
    expect(key(null)).toBe(key('absolute'));
  });
});
