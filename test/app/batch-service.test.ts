/**
 * The app's batch over the real services (engine, score cache, export) with the built-in model: a
 * folder with good photos, a truncated JPEG, a text file named .png and other files.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchEvent, ModelSummary, PhotoRef } from '../../core/api';
import { makeRecipe } from '../../core/recipe';
import { averageScoreMaps } from '../../core/average';
import { makeDigitScene } from '../../main/digits/scene';
import { createAppService, type AppService } from '../../main/services/window/app-service';
import { writeNestedPhotos } from '../helpers/nested';

const SCALES = [1, 0.5];

async function scenePng(file: string, seed: number, width = 200, height = 150): Promise<void> {
  const s = makeDigitScene({ width, height, count: 3, sizes: [28, 42], seed });
  await sharp(s.rgb, { raw: { width: s.width, height: s.height, channels: 3 } }).png().toFile(file);
}

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  }
  return out.sort();
}

describe('the app service batch (real engine, built-in model, disk cache)', () => {
  let dir: string;
  let photosDir: string;
  let service: AppService;
  let model: ModelSummary;
  let listed: PhotoRef[];
  const events: BatchEvent[] = [];

  const byName = (name: string): PhotoRef => {
    const p = listed.find((x) => x.name === name);
    if (!p) throw new Error(`${name} is not listed`);
    return p;
  };
  const statuses = (batchId: string, photoId: string): string[] => events
    .filter((e): e is Extract<BatchEvent, { type: 'photo' }> => e.type === 'photo' && e.batchId === batchId && e.photoId === photoId)
    .map((e) => e.status);

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-app-batch-'));
    photosDir = path.join(dir, 'photos');
    await fs.mkdir(path.join(photosDir, 'sub'), { recursive: true });
    for (let i = 1; i <= 4; i++) await scenePng(path.join(photosDir, `scene-${i}.png`), 10 + i);
    await scenePng(path.join(photosDir, 'sub', 'deep.png'), 42);
    const jpeg = await sharp(path.join(photosDir, 'scene-1.png')).jpeg().toBuffer();
    await fs.writeFile(path.join(photosDir, 'truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    await fs.writeFile(path.join(photosDir, 'notes.png'), 'this is text, not a PNG');
    await fs.writeFile(path.join(photosDir, 'readme.txt'), 'hello');
    service = await createAppService({ userDataDir: path.join(dir, 'user'), engine: { backend: 'wasm', workers: 2 } });
    service.onBatch((e) => events.push(e));
    model = await service.loadModel({ path: null });
  });
  afterAll(async () => {
    await service.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('opens a folder: image files join the list by header, a text file named .png is listed with its reason, other entries are counted', async () => {
    const res = await service.addFolders({ paths: [photosDir], recursive: false });
    listed = res.photos;
    expect(res.photos.map((p) => p.name)).toEqual(['scene-1.png', 'scene-2.png', 'scene-3.png', 'scene-4.png', 'truncated.jpg']);
    expect(res.photos[0]).toMatchObject({ width: 200, height: 150, path: path.join(photosDir, 'scene-1.png') });
    expect(res.failed).toEqual([{ path: path.join(photosDir, 'notes.png'), reason: expect.stringMatching(/^notes\.png: not a supported image/) }]);
    // readme.txt and the sub-folder.
    expect(res.skipped).toBe(2);
    expect(res.models).toEqual([]);

    const deep = await service.addFolders({ paths: [photosDir], recursive: true });
    expect(deep.photos.map((p) => p.name)).toContain('deep.png');

    const modelDir = path.join(dir, 'a-model');
    await fs.mkdir(modelDir);
    await fs.writeFile(path.join(modelDir, 'model.json'), '{}');
    const asModel = await service.addFolders({ paths: [modelDir], recursive: false });
    expect(asModel).toEqual({ photos: [], failed: [], skipped: 0, models: [modelDir] });
  });

  it('runs the queue: per-photo statuses, the truncated JPEG failed with its reason, progress with count and time left', async () => {
    const ids = listed.map((p) => p.id);
    const res = await service.runBatch({ batchId: 'q1', modelId: model.id, photoIds: ids, recipe: makeRecipe({ scales: SCALES, mode: 'max' }) });
    expect(res).toMatchObject({ batchId: 'q1', total: 5, done: 4, skipped: 0, cancelled: false, cacheHits: 0, outputs: [] });
    expect(res.failed).toEqual([{ photoId: byName('truncated.jpg').id, reason: expect.stringMatching(/not a supported image/) }]);
    expect(res.statuses).toEqual(['done', 'done', 'done', 'done', 'failed']);
    expect(statuses('q1', byName('scene-1.png').id)).toEqual(['queued', 'running', 'done']);
    expect(statuses('q1', byName('truncated.jpg').id)).toEqual(['queued', 'running', 'failed']);
    const failed = events.find((e) => e.type === 'photo' && e.batchId === 'q1' && e.status === 'failed');
    expect(failed).toMatchObject({ reason: expect.stringMatching(/not a supported image/) });
    expect(failed && 'reason' in failed ? failed.reason : '').not.toMatch(/^truncated\.jpg/);
    const progress = events.filter((e): e is Extract<BatchEvent, { type: 'progress' }> => e.type === 'progress' && e.batchId === 'q1');
    expect(progress.at(-1)).toMatchObject({ total: 5, done: 4, failed: 1, running: 0, etaMs: 0 });
    expect(progress.some((p) => p.etaMs !== null && p.etaMs > 0)).toBe(true);
    const cacheFiles = await listTree(path.join(dir, 'user', 'cache'));
    expect(cacheFiles.filter((f) => f.endsWith('.cmap'))).toHaveLength(4 * SCALES.length);
  });

  it("each done photo's event carries, per class, the highest score of its averaged map: a folder ranks by any class", async () => {
    const good = listed.filter((p) => p.name !== 'truncated.jpg');
    const res = await service.runBatch({ batchId: 'maxima', modelId: model.id, photoIds: good.map((p) => p.id), recipe: makeRecipe({ scales: SCALES, mode: 'mean' }) });
    expect(res.done).toBe(good.length);
    const done = events.filter((e): e is Extract<BatchEvent, { type: 'photo' }> => e.type === 'photo' && e.batchId === 'maxima' && e.status === 'done');
    expect(done).toHaveLength(good.length);
    for (const p of good) {
      const got = done.find((e) => e.photoId === p.id)?.maxima;
      // The same photo's per-scale maps from computeScores, averaged here, and the plain maximum over covered cells.
      const { maps } = await service.computeScores({ jobId: `max-${p.id}`, modelId: model.id, photoId: p.id, scales: SCALES });
      const avg = averageScoreMaps(maps, { mode: 'mean' });
      const want = Array.from({ length: avg.classes }, (_, k) => {
        let best = -Infinity;
        for (let cell = 0; cell < avg.rows * avg.cols; cell++) if (avg.coverage[cell] > 0) best = Math.max(best, avg.scores[cell * avg.classes + k]);
        return best;
      });
      expect(got).toHaveLength(model.info.labels.length);
      expect(got).toEqual(want);
    }
  });

  it('a second run is served from the disk cache; a changed photo is recomputed; computeScores reads the cache too', async () => {
    await scenePng(path.join(photosDir, 'scene-2.png'), 77);
    const ids = listed.filter((p) => p.name !== 'truncated.jpg').map((p) => p.id);
    const res = await service.runBatch({ batchId: 'q2', modelId: model.id, photoIds: ids, recipe: makeRecipe({ scales: SCALES, mode: 'max' }) });
    expect(res).toMatchObject({ done: 4, cacheHits: 3, failed: [] });
    const done = events.filter((e): e is Extract<BatchEvent, { type: 'photo' }> => e.type === 'photo' && e.batchId === 'q2' && e.status === 'done');
    expect(Object.fromEntries(done.map((e) => [listed.find((p) => p.id === e.photoId)?.name, e.cached]))).toEqual({
      'scene-1.png': true, 'scene-2.png': false, 'scene-3.png': true, 'scene-4.png': true,
    });
    const t0 = performance.now();
    const scores = await service.computeScores({ jobId: 'from-cache', modelId: model.id, photoId: byName('scene-3.png').id, scales: SCALES });
    expect(scores.maps.map((m) => m.scale)).toEqual(SCALES);
    expect(scores.maps[0].imageSize).toEqual([150, 200]);
    console.log(`[batch-service] computeScores from the cache: ${(performance.now() - t0).toFixed(0)} ms`);
  });

  it('exports overlay PNGs only into a folder chosen in the dialog; cancel keeps the finished exports, with no partial files', async () => {
    const out = path.join(dir, 'exports');
    const settings = makeRecipe({
      classChoice: 'top', view: 'absolute', colormap: 'viridis', opacity: 0.6, threshold: 0.1, boxes: true, detectThreshold: 0.5,
      legend: true, namePattern: '{name}-{class}', scores: 'summary', csv: true,
    });
    const ids = listed.map((p) => p.id);
    await expect(service.runBatch({ batchId: 'x0', modelId: model.id, photoIds: ids, recipe: { ...settings, scales: SCALES }, export: { outDir: out } })).rejects.toThrow(/not chosen as an export folder/);
    service.allowExportDir(out);

    const off = service.onBatch((e) => {
      if (e.batchId === 'x1' && e.type === 'photo' && e.status === 'done') void service.cancel('x1');
    });
    const many = [...ids, ...ids, ...ids];
    const res = await service.runBatch({ batchId: 'x1', modelId: model.id, photoIds: many, recipe: { ...settings, scales: SCALES, csv: false }, export: { outDir: out } });
    off();
    expect(res.cancelled).toBe(true);
    expect(res.done).toBeGreaterThanOrEqual(1);
    expect(res.done).toBeLessThan(many.length);
    expect(res.done + res.failed.length + res.skipped).toBe(many.length);
    expect(res.statuses.filter((s) => s === 'done')).toHaveLength(res.done);
    expect(res.statuses.filter((s) => s === 'skipped')).toHaveLength(res.skipped);
    const pngs = res.outputs.filter((f) => f.endsWith('.png'));
    expect(pngs).toHaveLength(res.done);
    for (const f of pngs) {
      expect(path.dirname(f)).toBe(out);
      expect(path.basename(f)).toMatch(/^scene-\d(-\d+)?-\d\.png$/);
      const meta = await sharp(f).metadata();
      expect([meta.width, meta.height, meta.format]).toEqual([200, 150, 'png']);
    }
    expect((await listTree(out)).filter((f) => f.includes('.tmp'))).toEqual([]);

    // A full export next to it: never overwrites (suffix), CSVs written.
    const full = await service.runBatch({ batchId: 'x2', modelId: model.id, photoIds: ids, recipe: { ...settings, scales: SCALES }, export: { outDir: out } });
    expect(full).toMatchObject({ done: 4, cancelled: false, cacheHits: 4 });
    expect(full.csv?.summary).toBe(path.join(out, 'summary.csv'));
    for (const f of pngs) expect((await fs.stat(f)).isFile()).toBe(true);
    const files = await listTree(out);
    expect(new Set(files).size).toBe(files.length);
    expect(files.filter((f) => f.endsWith('.scores.json')).length).toBe(res.done + 4);
    const summary = await fs.readFile(path.join(out, 'summary.csv'), 'utf8');
    expect(summary).toMatch(/truncated\.jpg,failed,/);
  });

  it("'auto' scales give each photo its own default scales for the 28×28 window (hand-worked), not one list for all", async () => {
    const out = path.join(dir, 'auto-exports');
    service.allowExportDir(out);
    for (const [name, n] of [['small', 56], ['large', 112]] as const) {
      const grey = Buffer.from(Array.from({ length: n * n * 3 }, (_, i) => (i * 31) % 256));
      await sharp(grey, { raw: { width: n, height: n, channels: 3 } }).png().toFile(path.join(dir, `${name}.png`));
    }
    const { photos } = await service.addPhotos([path.join(dir, 'small.png'), path.join(dir, 'large.png')]);
    const settings = makeRecipe({
      classChoice: 'top', view: 'absolute', colormap: 'viridis', opacity: 0.6, threshold: 0.1, boxes: false, detectThreshold: 0.5,
      legend: false, namePattern: '{name}', scores: 'summary', csv: false,
    });
    const res = await service.runBatch({ batchId: 'auto-1', modelId: model.id, photoIds: photos.map((p) => p.id), recipe: { ...settings, scales: 'auto' }, export: { outDir: out } });
    expect(res).toMatchObject({ done: 2, failed: [] });
    const scalesOf = async (name: string): Promise<number[]> => {
      const json = res.outputs.find((f) => path.basename(f) === `${name}.scores.json`);
      if (!json) throw new Error(`no scores file for ${name} in ${res.outputs.join(', ')}`);
      return (JSON.parse(await fs.readFile(json, 'utf8')) as { scales: { scale: number }[] }).scales.map((s) => s.scale);
    };
    // 56 px: from 28/56 = 0.5 (a 56-px object: one window fits) to 1 (a 28-px object: the window at scale 1),
    // ln 2 / ln 2^(1/3) = 3 steps of 2^(1/3) = 1.2599: 0.62996, 0.7937.
    expect(await scalesOf('small')).toEqual([0.5, 0.63, 0.794, 1]);
    // 112 px: from 0.25 to 1, 6 steps of 4^(1/6) = 2^(1/3): 0.31498, 0.39685, 0.5, 0.62996, 0.7937.
    expect(await scalesOf('large')).toEqual([0.25, 0.315, 0.397, 0.5, 0.63, 0.794, 1]);
  });

  it('an export of a folder opened with its sub-folders mirrors them: same-named photos keep their names, each in its folder', async () => {
    const root = path.join(dir, 'nested');
    await writeNestedPhotos(root, (file, width, height, seed) => scenePng(file, 6 + seed, width, height));
    const { photos } = await service.addFolders({ paths: [root], recursive: true });
    expect(photos).toHaveLength(4);
    const out = path.join(dir, 'nested-out');
    service.allowExportDir(out);
    const settings = makeRecipe({
      classChoice: 'top', view: 'absolute', colormap: 'turbo', opacity: 0.6, threshold: 0.1, boxes: false, detectThreshold: 0.5,
      legend: false, namePattern: '{name}.heatmap', scores: 'none', csv: false,
    });
    const res = await service.runBatch({ batchId: 'nested-1', modelId: model.id, photoIds: photos.map((p) => p.id), recipe: { ...settings, scales: [1] }, export: { outDir: out } });
    expect(res).toMatchObject({ done: 4, failed: [] });
    expect((await listTree(out)).filter((f) => !f.startsWith('.'))).toEqual(['a/x.heatmap.png', 'b/deeper/x.heatmap.png', 'b/x.heatmap.png', 'top.heatmap.png']);
    // Each overlay has its own photo's size, so none was written over another's place.
    const size = async (f: string): Promise<number[]> => {
      const m = await sharp(path.join(out, f)).metadata();
      return [m.width ?? 0, m.height ?? 0];
    };
    expect(await size('a/x.heatmap.png')).toEqual([120, 90]);
    expect(await size('b/x.heatmap.png')).toEqual([90, 120]);
    expect(await size('b/deeper/x.heatmap.png')).toEqual([100, 100]);
  });

  it('an export of same-named photos opened one by one from different folders names their folders instead of adding "-2"', async () => {
    const root = path.join(dir, 'one-by-one');
    const files = [path.join(root, 'trip', 'a', 'cat.png'), path.join(root, 'work', 'a', 'cat.png'), path.join(root, 'work', 'dog.png')];
    for (const [i, f] of files.entries()) {
      await fs.mkdir(path.dirname(f), { recursive: true });
      await scenePng(f, 60 + i, 160 + 10 * i, 120);
    }
    const { photos } = await service.addPhotos(files);
    expect(photos).toHaveLength(3);
    const out = path.join(dir, 'one-by-one-out');
    service.allowExportDir(out);
    const settings = makeRecipe({
      classChoice: 'top', view: 'absolute', colormap: 'turbo', opacity: 0.6, threshold: 0.1, boxes: false, detectThreshold: 0.5,
      legend: false, namePattern: '{name}.heatmap', scores: 'none', csv: false,
    });
    const res = await service.runBatch({ batchId: 'one-by-one-1', modelId: model.id, photoIds: photos.map((p) => p.id), recipe: { ...settings, scales: [1] }, export: { outDir: out } });
    expect(res).toMatchObject({ done: 3, failed: [] });
    // Both cats live in a folder "a": the folder above it tells them apart; the dog's name is its own.
    expect((await listTree(out)).filter((f) => !f.startsWith('.'))).toEqual(['dog.heatmap.png', 'trip/a/cat.heatmap.png', 'work/a/cat.heatmap.png']);
    const width = async (f: string): Promise<number | undefined> => (await sharp(path.join(out, f)).metadata()).width;
    expect([await width('trip/a/cat.heatmap.png'), await width('work/a/cat.heatmap.png')]).toEqual([160, 170]);
  });

  it('pause holds new photos back until resume; the batch then finishes', async () => {
    const ids = listed.filter((p) => p.name !== 'truncated.jpg').map((p) => p.id);
    let paused = false;
    const off = service.onBatch((e) => {
      if (e.batchId === 'p1' && e.type === 'photo' && e.status === 'running' && !paused) {
        paused = true;
        void service.pauseBatch('p1');
      }
    });
    const run = service.runBatch({ batchId: 'p1', modelId: model.id, photoIds: [...ids, ...ids], recipe: makeRecipe({ scales: [0.75], mode: 'max' }) });
    await new Promise((r) => setTimeout(r, 1500));
    const startedWhilePaused = events.filter((e) => e.batchId === 'p1' && e.type === 'photo' && e.status === 'running').length;
    expect(events.some((e) => e.batchId === 'p1' && e.type === 'paused')).toBe(true);
    // Only the photos already in flight (2 lanes) started.
    expect(startedWhilePaused).toBeLessThanOrEqual(2);
    await service.resumeBatch('p1');
    const res = await run;
    off();
    expect(res).toMatchObject({ done: 8, cancelled: false });
    expect(events.some((e) => e.batchId === 'p1' && e.type === 'resumed')).toBe(true);
  });
});
