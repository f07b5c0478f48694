import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelSummary, PhotoRef, ProgressEvent } from '../../core/api';
import { detect, matchDetections } from '../../core/detect';
import { cellBox } from '../../core/scoremap';
import { DIGIT_BACKGROUND_CLASS, makeDigitScene } from '../../main/digits/scene';
import { DEMO_SCENE } from '../../main/digits/demo-scene';
import { createAppService, type AppService } from '../../main/services/window/app-service';

function overlaps(a: number[], b: number[]): boolean {
  return a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
}

describe('the app service (real engine, built-in model)', () => {
  let dir: string;
  let service: AppService;
  let model: ModelSummary;
  let demo: PhotoRef;
  const progress: ProgressEvent[] = [];

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-app-'));
    service = await createAppService({ userDataDir: path.join(dir, 'user'), engine: { backend: 'wasm', workers: 2 } });
    service.onProgress((e) => progress.push(e));
    model = await service.loadModel({ path: null });
    demo = await service.demoScene();
  });
  afterAll(async () => {
    await service.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('loads the built-in model in a conversion worker and reports its conversion', async () => {
    expect(model.path).toBeNull();
    expect(model.info.labels[DIGIT_BACKGROUND_CLASS]).toBe('background');
    expect(model.info.equivalence.exact).toBe(true);
    expect(progress.some((e) => e.jobId.startsWith('load-model:') && e.stage === 'converting')).toBe(true);
    expect(await service.backendInfo()).toEqual({ backend: 'wasm', workers: 2, device: 'cpu', notes: [] });
  });

  it('loads a model at a finer stride (the window\'s detail): cells every 2 pixels of a stride-4 network, still exact', async () => {
    const fine = await service.loadModel({ path: null, stride: 2 });
    try {
      expect(fine.info.stride).toEqual([2, 2]);
      expect(fine.info.networkStride).toEqual([4, 4]);
      expect(fine.info.equivalence.exact).toBe(true);
      const photo = await service.demoScene();
      const [map] = (await service.computeScores({ jobId: 'fine-1', modelId: fine.id, photoId: photo.id, scales: [0.5] })).maps;
      expect(map.geometry.stride).toEqual([2, 2]);
      // Cells every 2 px of the scaled photo: floor((n − 28) / 2) + 1 per axis.
      expect([map.rows, map.cols]).toEqual(map.scaledSize.map((n) => Math.floor((n - 28) / 2) + 1));
    } finally {
      // The newest load of a path replaces the older one: give the other tests the network-stride model back.
      model = await service.loadModel({ path: null });
    }
  });

  it('a conversion cancelled while the engine opens it ends in an AbortError, says nothing more and leaves the model in use', async () => {
    const stop = service.onProgress((e) => {
      if (e.jobId === 'late-cancel' && e.stage === 'starting workers') void service.cancel('late-cancel');
    });
    try {
      await expect(service.loadModel({ jobId: 'late-cancel', path: null, stride: 2 })).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      stop();
    }
    const stages = progress.filter((e) => e.jobId === 'late-cancel').map((e) => e.stage);
    expect(stages).toContain('starting workers');
    expect(stages).not.toContain('ready');
    // The built-in model loaded before is still the one in use (same path: a finished load would have replaced it).
    const [map] = (await service.computeScores({ jobId: 'after-cancel', modelId: model.id, photoId: demo.id, scales: [0.5] })).maps;
    expect(map.geometry.stride).toEqual([4, 4]);
  });

  it('opens the demo scene as a photo served by id through the photo scheme', async () => {
    expect(demo).toMatchObject({ width: DEMO_SCENE.width, height: DEMO_SCENE.height, name: 'digit-scene.png' });
    expect(demo.url).toBe(`convmap-photo://photo/${demo.id}`);
    expect(service.photoFile(demo.id)).toBe(demo.path);
    const served = await service.photoBytes(demo.id);
    expect(served?.mimeType).toBe('image/png');
    const meta = await sharp(served?.bytes).metadata();
    expect([meta.width, meta.height]).toEqual([DEMO_SCENE.width, DEMO_SCENE.height]);
  });

  it('computes per-scale maps of the demo scene that are hot where the digits are and cold elsewhere', async () => {
    const scales = [1, 2 / 3, 1 / 2];
    const res = await service.computeScores({ jobId: 'demo-1', modelId: model.id, photoId: demo.id, scales });
    expect(res.maps.map((m) => m.scale)).toEqual(scales);
    expect(res.maps[0].imageSize).toEqual([DEMO_SCENE.height, DEMO_SCENE.width]);
    expect(progress.filter((e) => e.jobId === 'demo-1').at(-1)).toMatchObject({ done: expect.any(Number) });

    const truth = makeDigitScene({ ...DEMO_SCENE, sizes: [...DEMO_SCENE.sizes] }).truth;
    const dets = detect(res.maps, { threshold: 0.5, labels: model.info.labels });
    const match = matchDetections(dets, truth, 0.5);
    expect(match.recall).toBeGreaterThanOrEqual(0.8);

    // Far from every digit, the model says background.
    const m = res.maps[0];
    let far = 0;
    let cold = 0;
    for (let i = 0; i < m.rows; i++) {
      for (let j = 0; j < m.cols; j++) {
        const box = cellBox(m, i, j);
        if (truth.some((t) => overlaps(box, t.box))) continue;
        far++;
        const base = (i * m.cols + j) * m.classes;
        let best = 0;
        for (let k = 0; k < DIGIT_BACKGROUND_CLASS; k++) best = Math.max(best, m.scores[base + k]);
        if (best < 0.5) cold++;
      }
    }
    expect(far).toBeGreaterThan(100);
    expect(cold / far).toBeGreaterThan(0.95);
  });

  it('cancel() makes a running computeScores reject with an AbortError, mid-inference', async () => {
    const seen: ProgressEvent[] = [];
    const off = service.onProgress((e) => {
      if (e.jobId !== 'cancel-me' || e.done === 0) return;
      seen.push(e);
      if (seen.length === 1) void service.cancel('cancel-me');
    });
    const job = service.computeScores({ jobId: 'cancel-me', modelId: model.id, photoId: demo.id, scales: [3, 2.5, 2, 1.5] });
    await expect(job).rejects.toMatchObject({ name: 'AbortError' });
    off();
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)?.done).toBeLessThan(seen[0].total);
    // The job id is free again, and the engine still works.
    const again = await service.computeScores({ jobId: 'cancel-me', modelId: model.id, photoId: demo.id, scales: [0.5] });
    expect(again.maps).toHaveLength(1);
  });

  it('cancel() before any work also rejects with an AbortError', async () => {
    const job = service.computeScores({ jobId: 'cancel-early', modelId: model.id, photoId: demo.id, scales: [1] });
    await service.cancel('cancel-early');
    await expect(job).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('lists a photo that is not an image in `failed` with a reason naming the file, and opens the others', async () => {
    const bad = path.join(dir, 'not-a-photo.jpg');
    await fs.writeFile(bad, 'this is text, not a JPEG');
    const missing = path.join(dir, 'missing.png');
    const res = await service.addPhotos([demo.path, bad, missing]);
    expect(res.photos.map((p) => p.path)).toEqual([demo.path]);
    expect(res.failed.map((f) => f.path)).toEqual([bad, missing]);
    expect(res.failed[0].reason).toMatch(/not-a-photo\.jpg: not a supported image/);
    expect(res.failed[1].reason).toMatch(/missing\.png/);
  });

  it('serves an EXIF-rotated JPEG upright', async () => {
    const file = path.join(dir, 'rotated.jpg');
    // 40 wide × 20 high stored, orientation 6 (rotate 90° clockwise to view): upright 20 × 40.
    await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 200, g: 10, b: 10 } } })
      .jpeg().withMetadata({ orientation: 6 }).toFile(file);
    const { photos } = await service.addPhotos([file]);
    expect([photos[0].width, photos[0].height]).toEqual([20, 40]);
    const served = await service.photoBytes(photos[0].id);
    expect(served?.mimeType).toBe('image/jpeg');
    const meta = await sharp(served?.bytes).metadata();
    expect([meta.width, meta.height, meta.orientation ?? 1]).toEqual([20, 40, 1]);
  });

  it('serves an upright JPEG byte for byte, without re-encoding', async () => {
    const file = path.join(dir, 'upright.jpg');
    await sharp({ create: { width: 30, height: 10, channels: 3, background: { r: 0, g: 90, b: 200 } } }).jpeg().toFile(file);
    const { photos } = await service.addPhotos([file]);
    const served = await service.photoBytes(photos[0].id);
    expect(served?.mimeType).toBe('image/jpeg');
    expect(Buffer.from(served?.bytes ?? []).equals(await fs.readFile(file))).toBe(true);
  });

  it('refuses photo ids it never issued', async () => {
    expect(service.photoFile('../../etc/passwd')).toBeUndefined();
    expect(service.photoFile('00000000-0000-0000-0000-000000000000')).toBeUndefined();
    expect(await service.photoBytes('nope')).toBeUndefined();
    expect(service.hasPhoto(demo.id)).toBe(true);
    expect(service.hasPhoto('nope')).toBe(false);
  });

  it('remembers opened photos in recents (newest first) and preprocessing per model', async () => {
    const recent = await service.recent();
    expect(recent.photos[0]).toMatch(/upright\.jpg$/);
    expect(recent.photos[1]).toMatch(/rotated\.jpg$/);
    expect(recent.photos).toContain(demo.path);
    expect(recent.photos).not.toContain(path.join(dir, 'not-a-photo.jpg'));

    const changed = await service.setPreprocess({ modelId: model.id, preprocess: 'inverted' });
    expect(changed.info.preprocess).toBe('inverted');
    const saved = JSON.parse(await fs.readFile(path.join(dir, 'user', 'preprocess.json'), 'utf8')) as Record<string, string>;
    expect(Object.values(saved)).toEqual(['inverted']);
    const reloaded = await service.loadModel({ path: null });
    expect(reloaded.info.preprocess).toBe('inverted');
    expect(service.hasModel(model.id)).toBe(false);
    model = await service.loadModel({ path: null, preprocess: 'unit' });
    expect(model.info.preprocess).toBe('unit');
  });

  it('rejects a model that is not a model with an error naming the file', async () => {
    const file = path.join(dir, 'model.json');
    await fs.writeFile(file, '{"not": "a model"}');
    await expect(service.loadModel({ path: file })).rejects.toThrow(/model\.json/);
    expect((await service.recent()).models).toEqual([]);
  });
});
