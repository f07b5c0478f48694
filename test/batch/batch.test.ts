/**
 * runBatch with the real engine (worker threads, tfjs wasm/node) and the built-in digit model, on
 * real files: good scenes, bad files of every kind, a 20000×14000 photo, an EXIF-rotated photo.
 */
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { colormapLut } from '../../core/colormap';
import { decodePhoto } from '../../main/io/decode';
import { createEngine, type Engine, type ModelHandle } from '../../main/engine/engine';
import type { OnnxRuntimeEngine } from '../../main/engine/onnx-engine';
import { makeRecipe, type Recipe } from '../../core/recipe';
import { BatchController, runBatch, type BatchOptions, type RunBatchArgs, type RunEvent, type RunOptions } from '../../main/services/batch';
import { createDiskCache, modelHash, type ScoreCache } from '../../main/services/storage/cache';
import { legendLayer } from '../../main/services/legend';
import { prepareModel, type PreparedModel } from '../../main/services/models';
import { scanInputs } from '../../main/services/scan';
import { countingEngine, tempFiles, writeBadFiles, writeScene } from './fixtures';

const corpusExif = path.resolve(import.meta.dirname, '../../../shared/corpus/images/exif_Landscape_6.jpg');

let tmp: string;
let engine: Engine;
let handle: ModelHandle;
let prepared: PreparedModel;
let modelKey: string;
/** Folder with 3 good scenes, bad files, a huge PNG, an EXIF-6 photo and a non-image. */
let mixed: string;
/** Folder with 6 good scenes only. */
let good: string;

const style: Recipe = makeRecipe({ scales: [1, 0.75], colormap: 'turbo', opacity: 0.5, threshold: 0, mode: 'mean', boxes: false, legend: false, classChoice: 'top', detectThreshold: 0.5 });
/** The batch's options: `style` with `changes`, and run options. */
const opt = (changes: Partial<Recipe>, run: RunOptions = {}): BatchOptions => ({ recipe: { ...style, ...changes }, ...run });

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-batch-'));
  mixed = path.join(tmp, 'mixed');
  good = path.join(tmp, 'good');
  await fs.mkdir(mixed);
  await fs.mkdir(good);
  for (let i = 0; i < 6; i++) await writeScene(path.join(good, `scene${i}.jpg`), 10 + i);
  await writeScene(path.join(mixed, 'a-scene.jpg'), 1);
  await writeScene(path.join(mixed, 'b-scene.png'), 2);
  await writeBadFiles(mixed, path.join(mixed, 'a-scene.jpg'));
  // 20000×14000 solid grey: a 280-megapixel PNG of a few hundred kilobytes (a decompression bomb).
  await sharp({ create: { width: 20000, height: 14000, channels: 3, background: '#808080' }, limitInputPixels: false })
    .png({ compressionLevel: 9 }).toFile(path.join(mixed, 'f-huge.png'));
  // EXIF orientation 6: stored 240×180 landscape, shown 180×240 portrait.
  const stored = path.join(tmp, 'stored.jpg');
  await writeScene(stored, 3);
  await sharp(stored).withMetadata({ orientation: 6 }).toFile(path.join(mixed, 'g-rotated.jpg'));
  await writeScene(path.join(mixed, 'h-scene.jpg'), 4);
  await fs.writeFile(path.join(mixed, 'notes.txt'), 'not an image');

  prepared = await prepareModel(undefined);
  modelKey = modelHash(prepared.artifacts, prepared.info);
  engine = await createEngine({ workers: 2 });
  handle = await engine.loadModel(prepared.artifacts, prepared.info);
}, 120_000);

afterAll(async () => {
  await engine?.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

function args(over: Partial<RunBatchArgs> & Pick<RunBatchArgs, 'photos' | 'outDir'>): RunBatchArgs {
  return { engine, handle, info: prepared.info, options: { recipe: style }, ...over };
}

describe('runBatch on a folder with bad files', () => {
  let summary: Awaited<ReturnType<typeof runBatch>>;
  let events: RunEvent[];
  let out: string;
  let photos: string[];
  beforeAll(async () => {
    const scan = await scanInputs([mixed]);
    photos = scan.photos;
    expect(scan.skipped.map((s) => path.basename(s.path))).toEqual(['notes.txt']);
    out = path.join(tmp, 'out-mixed');
    events = [];
    summary = await runBatch(args({ photos, outDir: out, options: opt({ csv: true }), onEvent: (e) => events.push(e) }));
  });

  it('gives each bad file its specific message and completes the rest', () => {
    const reasons = Object.fromEntries(summary.failed.map((f) => [path.basename(f.photo), f.reason]));
    // libvips reports the truncation itself, or its warning about it (failOn 'warning'), depending on where decoding stops.
    expect(reasons['c-truncated.jpg']).toMatch(/^not a supported image \(.*(premature end|truncated|corrupt|warning treated as error)/i);
    expect(reasons['d-empty.png']).toBe('empty file (0 bytes), not an image');
    expect(reasons['e-text.png']).toMatch(/^not a supported image \(.*unsupported image format/);
    expect(reasons['f-huge.png']).toBe('image is 20000×14000 (280.0 MP), over the limit of 100.0 MP');
    expect(summary.failed).toHaveLength(4);
    expect(summary.done).toBe(4);
    expect(summary.skipped).toEqual([]);
    for (const n of ['a-scene', 'b-scene', 'g-rotated', 'h-scene']) {
      expect(existsSync(path.join(out, `${n}.heatmap.png`))).toBe(true);
      expect(existsSync(path.join(out, `${n}.scores.json`))).toBe(true);
    }
  });

  it('reports per-photo status in order queued → running → done | failed, and progress with count and ETA', () => {
    const statuses = (i: number) => events.filter((e) => e.type === 'photo' && e.index === i).map((e) => (e as { status: string }).status);
    photos.forEach((p, i) => {
      const s = statuses(i);
      expect(s.slice(0, 2)).toEqual(['queued', 'running']);
      expect(s).toHaveLength(3);
      expect(['done', 'failed']).toContain(s[2]);
    });
    const progress = events.filter((e) => e.type === 'progress');
    const last = progress[progress.length - 1] as Extract<RunEvent, { type: 'progress' }>;
    expect(last).toMatchObject({ total: 8, done: 4, failed: 4, skipped: 0, running: 0, etaMs: 0 });
    expect(progress.some((p) => p.type === 'progress' && p.etaMs !== null && p.etaMs > 0)).toBe(true);
  });

  it('writes the EXIF-6 photo upright at full size', async () => {
    const meta = await sharp(path.join(out, 'g-rotated.heatmap.png')).metadata();
    expect([meta.width, meta.height]).toEqual([180, 240]);
  });

  it('writes summary.csv and detections.csv with a row per photo, failures with their reason', async () => {
    const csv = (await fs.readFile(path.join(out, 'summary.csv'), 'utf8')).trim().split('\n');
    expect(csv[0]).toMatch(/^photo,status,reason,output,class,width,height,detections,max:0,.*,max:background$/);
    expect(csv).toHaveLength(9);
    expect(csv[1]).toMatch(/a-scene\.jpg,done,,.*a-scene\.heatmap\.png,\d,240,180,\d+,/);
    expect(csv.find((l) => l.includes('d-empty.png'))).toMatch(/,failed,"empty file \(0 bytes\), not an image"/);
    const det = (await fs.readFile(path.join(out, 'detections.csv'), 'utf8')).trim().split('\n');
    expect(det[0]).toBe('photo,label,score,y0,x0,y1,x1');
    expect(det.length).toBeGreaterThan(1);
  });

  it('leaves no temporary or partial files', async () => {
    expect(await tempFiles(out)).toEqual([]);
    for (const f of (await fs.readdir(out)).filter((x) => x.endsWith('.png'))) {
      await expect(sharp(path.join(out, f)).stats()).resolves.toBeTruthy();
    }
  });
});

describe('runBatch with the corpus EXIF photo', () => {
  it.skipIf(!existsSync(corpusExif))('exports exif_Landscape_6.jpg upright at 1800×1200', async () => {
    const out = path.join(tmp, 'out-corpus');
    const s = await runBatch(args({ photos: [corpusExif], outDir: out, options: opt({ scales: [0.1] }) }));
    expect(s.done).toBe(1);
    const meta = await sharp(path.join(out, 'exif_Landscape_6.heatmap.png')).metadata();
    expect([meta.width, meta.height]).toEqual([1800, 1200]);
  });
  if (!existsSync(corpusExif)) console.log(`skipping the corpus EXIF test: ${corpusExif} is absent`);
});

describe('output folder that cannot be written', () => {
  it('rejects at once with one message naming the folder, before any photo is computed', async () => {
    const file = path.join(tmp, 'a-file');
    await fs.writeFile(file, 'x');
    const outDir = path.join(file, 'sub');
    const counting = countingEngine(engine);
    const events: RunEvent[] = [];
    await expect(runBatch(args({ engine: counting, photos: [path.join(good, 'scene0.jpg')], outDir, onEvent: (e) => events.push(e) })))
      .rejects.toThrow(`cannot write ${outDir}: a path component is not a folder`);
    expect(counting.calls).toHaveLength(0);
    expect(events).toEqual([]);
  });

  it('names a read-only folder (skipped as root, where permissions do not stop writes)', async (ctx) => {
    const ro = path.join(tmp, 'read-only');
    await fs.mkdir(ro);
    await fs.writeFile(path.join(ro, 'earlier.png'), 'earlier result');
    await fs.chmod(ro, 0o555);
    try {
      if (process.getuid?.() === 0) {
        console.log('skipping the chmod read-only assertion: running as root, chmod 555 does not stop writes (the ENOTDIR case above covers the message)');
        ctx.skip();
        return;
      }
      await expect(runBatch(args({ photos: [path.join(good, 'scene0.jpg')], outDir: ro }))).rejects.toThrow(`cannot write ${ro}: the output folder is not writable`);
      expect(await fs.readFile(path.join(ro, 'earlier.png'), 'utf8')).toBe('earlier result');
    } finally {
      await fs.chmod(ro, 0o755);
    }
  });
});

describe('engine crash mid-photo', () => {
  it("marks that photo failed with the reason when ONNX Runtime's process is killed (as the system does when out of memory); the batch goes on", async () => {
    const photos = ['scene0', 'scene1', 'scene2', 'scene3'].map((n) => path.join(good, `${n}.jpg`));
    const onnx = await createEngine({ backend: 'onnx', workers: 2, maxTilePixels: 2e5 }) as OnnxRuntimeEngine;
    try {
      const h = await onnx.loadModel(prepared.artifacts, prepared.info);
      const { pid } = await onnx.hostState();
      // The second photo's engine call has its first tile done and its second sent when its process is killed from outside.
      const counting = countingEngine(onnx, (call) => (call !== 2 ? undefined : onnx.scoreMaps(h, { data: new Uint8Array(1200 * 1600 * 3), width: 1600, height: 1200, channels: 3 }, [1], undefined, {
        onProgress: (done) => {
          if (done === 1) process.kill(pid, 'SIGKILL');
        },
      })));
      const out = path.join(tmp, 'out-crash');
      const s = await runBatch(args({ engine: counting, handle: h, photos, outDir: out, jobs: 1 }));
      expect(s.failed).toEqual([{ photo: photos[1], reason: 'the ONNX Runtime process was killed (SIGKILL: the system may have run out of memory)' }]);
      expect(s.done).toBe(3);
      expect(existsSync(path.join(out, 'scene3.heatmap.png'))).toBe(true);
      expect((await onnx.hostState()).pid).not.toBe(pid);
    } finally {
      await onnx.close();
    }
  });
});

describe('cancel and pause', () => {
  it('cancelling mid-batch keeps finished exports intact, writes nothing partial and skips the rest', async () => {
    const photos = (await scanInputs([good])).photos;
    const out = path.join(tmp, 'out-cancel');
    const abort = new AbortController();
    const done: string[] = [];
    const s = await runBatch(args({
      photos, outDir: out, jobs: 2, signal: abort.signal, options: opt({ csv: true }),
      onEvent: (e) => {
        if (e.type === 'photo' && e.status === 'done' && e.outcome) {
          if (e.outcome.png) done.push(e.outcome.png);
          if (done.length === 2) abort.abort();
        }
      },
    }));
    expect(s.cancelled).toBe(true);
    expect(s.done).toBeGreaterThanOrEqual(2);
    expect(s.done + s.skipped.length).toBe(photos.length);
    expect(s.skipped.length).toBeGreaterThan(0);
    expect(s.skipped.every((k) => k.reason === 'cancelled')).toBe(true);
    for (const png of done) expect((await sharp(png).metadata()).width).toBe(240);
    const pngs = (await fs.readdir(out)).filter((f) => f.endsWith('.png'));
    expect(pngs).toHaveLength(s.done);
    expect(await tempFiles(out)).toEqual([]);
    const csv = (await fs.readFile(path.join(out, 'summary.csv'), 'utf8')).trim().split('\n');
    expect(csv.filter((l) => l.includes(',done,'))).toHaveLength(s.done);
  });

  it('pause stops new photos from starting until resume', async () => {
    const photos = (await scanInputs([good])).photos;
    const controller = new BatchController();
    const events: RunEvent[] = [];
    let pausedAt = -1;
    let onPaused = (): void => undefined;
    const paused = new Promise<void>((resolve) => { onPaused = resolve; });
    const p = runBatch(args({
      photos, outDir: path.join(tmp, 'out-pause'), jobs: 1, controller,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'photo' && e.status === 'done' && pausedAt < 0) {
          controller.pause();
          pausedAt = events.length;
          onPaused();
        }
      },
    }));
    // However slow the machine, the first photo finishes before anything is asserted; then a while
    // paused, in which no photo may start (a loaded machine only makes the check weaker, never false).
    await paused;
    await new Promise((r) => setTimeout(r, 300));
    const running = events.filter((e) => e.type === 'photo' && e.status === 'running').length;
    expect(running).toBe(1);
    expect(events.some((e) => e.type === 'paused')).toBe(true);
    controller.resume();
    const s = await p;
    expect(s.done).toBe(photos.length);
    expect(events.some((e) => e.type === 'resumed')).toBe(true);
  });
});

describe('score cache', () => {
  let cache: ScoreCache;
  let folder: string;
  beforeAll(async () => {
    cache = createDiskCache(path.join(tmp, 'cache'));
    folder = path.join(tmp, 'cached-photos');
    await fs.mkdir(folder);
    for (let i = 0; i < 3; i++) await writeScene(path.join(folder, `p${i}.jpg`), 30 + i);
  });

  it('second run takes every photo from the cache (no engine call) and gives the same scores', async () => {
    const photos = (await scanInputs([folder])).photos;
    const first = countingEngine(engine);
    const s1 = await runBatch(args({ engine: first, photos, outDir: path.join(tmp, 'out-c1'), cache, modelKey }));
    expect(s1.done).toBe(3);
    expect(first.calls).toHaveLength(3);
    const second = countingEngine(engine);
    const s2 = await runBatch(args({ engine: second, photos, outDir: path.join(tmp, 'out-c2'), cache, modelKey }));
    expect(second.calls).toHaveLength(0);
    expect(s2.cacheHits).toBe(3);
    const a = JSON.parse(await fs.readFile(path.join(tmp, 'out-c1', 'p1.scores.json'), 'utf8')) as { averaged: { scores: number[] } };
    const b = JSON.parse(await fs.readFile(path.join(tmp, 'out-c2', 'p1.scores.json'), 'utf8')) as { averaged: { scores: number[] } };
    expect(b.averaged.scores).toEqual(a.averaged.scores);
  });

  it('recomputes a changed photo only, and only the scales not cached', async () => {
    await writeScene(path.join(folder, 'p1.jpg'), 99);
    const photos = (await scanInputs([folder])).photos;
    const third = countingEngine(engine);
    await runBatch(args({ engine: third, photos, outDir: path.join(tmp, 'out-c3'), cache, modelKey }));
    expect(third.calls).toEqual([{ width: 240, height: 180, scales: [1, 0.75] }]);
    const fourth = countingEngine(engine);
    await runBatch(args({ engine: fourth, photos: [photos[0]], options: opt({ scales: [1, 0.5] }), outDir: path.join(tmp, 'out-c4'), cache, modelKey }));
    expect(fourth.calls).toEqual([{ width: 240, height: 180, scales: [0.5] }]);
  });

  it('a different model or preprocessing misses the cache', async () => {
    const photos = (await scanInputs([folder])).photos.slice(0, 1);
    const other = countingEngine(engine);
    await runBatch(args({ engine: other, photos, outDir: path.join(tmp, 'out-c5'), cache, modelKey: `${modelKey}x` }));
    expect(other.calls).toHaveLength(1);
    const pre = countingEngine(engine);
    await runBatch(args({ engine: pre, photos, info: { ...prepared.info, preprocess: 'inverted' }, outDir: path.join(tmp, 'out-c6'), cache, modelKey }));
    expect(pre.calls).toHaveLength(1);
  });
});

describe('overlay PNG pixels', () => {
  let photo: string;
  let upright: Awaited<ReturnType<typeof decodePhoto>>;
  beforeAll(async () => {
    photo = path.join(good, 'scene2.jpg');
    upright = await decodePhoto(photo);
  });
  async function exportOne(outDir: string, options: Partial<Recipe>) {
    const s = await runBatch(args({ photos: [photo], outDir, options: opt(options) }));
    expect(s.done).toBe(1);
    const png = path.join(outDir, 'scene2.heatmap.png');
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const json = JSON.parse(await fs.readFile(path.join(outDir, 'scene2.scores.json'), 'utf8')) as {
      class: { index: number }; perClass: { maxScore: number; y: number; x: number }[]; detections: { label: string; box: number[] }[];
    };
    const px = (y: number, x: number) => Array.from(data.subarray((Math.floor(y) * info.width + Math.floor(x)) * 3, (Math.floor(y) * info.width + Math.floor(x)) * 3 + 3));
    return { data, info, json, px };
  }
  const photoPx = (y: number, x: number) => Array.from(upright.data.subarray((Math.floor(y) * upright.width + Math.floor(x)) * 3, (Math.floor(y) * upright.width + Math.floor(x)) * 3 + 3));

  it('paints the colormap colour under the hottest cell and leaves the photo as is where nothing is painted', async () => {
    const { json, px, info } = await exportOne(path.join(tmp, 'out-px'), { opacity: 1, threshold: 0.5, colormap: 'viridis' });
    expect([info.width, info.height]).toEqual([240, 180]);
    const hot = json.perClass[json.class.index];
    expect(hot.maxScore).toBeGreaterThan(0.5);
    // The map is steep around a peak, so the pixel's smoothed score is near, not equal to, the cell's:
    // its colour must be the colormap's colour of some score at or above the threshold.
    const lut = colormapLut('viridis');
    const got = px(hot.y, hot.x);
    const dist = Array.from({ length: 128 }, (_, d) => 128 + d)
      .map((i) => Math.abs(lut[i * 3] - got[0]) + Math.abs(lut[i * 3 + 1] - got[1]) + Math.abs(lut[i * 3 + 2] - got[2]));
    expect(Math.min(...dist)).toBeLessThanOrEqual(3);
    expect(info.channels).toBe(3);
    expect(got).not.toEqual(photoPx(hot.y, hot.x));
    // The top-left corner is background for the drawn class (score < 0.5): the photo shows through.
    expect(px(1, 1)).toEqual(photoPx(1, 1));
  });

  it('draws the legend in the bottom-left corner when asked', async () => {
    const without = await exportOne(path.join(tmp, 'out-nolegend'), { opacity: 0 });
    const withLegend = await exportOne(path.join(tmp, 'out-legend'), { opacity: 0, legend: true });
    const l = legendLayer(240, 180, { kind: 'scale', title: 'x', colormap: 'turbo', range: [0, 1], threshold: 0 });
    expect(l).toBeDefined();
    const { left, top, width, height } = l as NonNullable<typeof l>;
    // The scale bar (font·1.5 to font·2.3 below the legend's top, pad = font/2 from its sides) is painted over the photo.
    const font = height / 3.6;
    let differ = 0;
    let n = 0;
    for (let y = Math.ceil(top + font * 1.6); y < top + font * 2.2; y++) {
      for (let x = Math.ceil(left + font * 0.5) + 1; x < left + width - font * 0.5 - 1; x++, n++) if (withLegend.px(y, x).join() !== without.px(y, x).join()) differ++;
    }
    expect(n).toBeGreaterThan(100);
    expect(differ / n).toBeGreaterThan(0.95);
    // Outside the legend nothing changed.
    expect(withLegend.px(2, 200)).toEqual(without.px(2, 200));
    // The scale bar's right end is the colormap's top colour (dark red for turbo).
    const right = withLegend.px(top + font * 1.9, left + width - font * 0.5 - 3);
    expect(right[0]).toBeGreaterThan(right[2]);
  });

  it('draws detection boxes when asked', async () => {
    const plain = await exportOne(path.join(tmp, 'out-plain'), { opacity: 0, classChoice: 'any', detectThreshold: 0.5 });
    const boxed = await exportOne(path.join(tmp, 'out-boxes'), { opacity: 0, classChoice: 'any', boxes: true, detectThreshold: 0.5 });
    expect(boxed.json.detections.length).toBeGreaterThan(0);
    const [y0, x0, y1] = boxed.json.detections[0].box;
    const y = Math.floor((y0 + y1) / 2);
    const x = Math.max(0, Math.floor(x0)) + 1;
    expect(plain.px(y, x)).toEqual(photoPx(y, x));
    const edge = boxed.px(y, x);
    expect(Math.min(...edge)).toBeGreaterThan(200);
    expect(edge).not.toEqual(plain.px(y, x));
  });
});

describe('names', () => {
  it('follows the name pattern and never overwrites: a second run adds -2, --overwrite replaces', async () => {
    const photos = [path.join(good, 'scene4.jpg')];
    const out = path.join(tmp, 'out-names');
    const s1 = await runBatch(args({ photos, outDir: out, options: opt({ namePattern: '{class}_{name}', classChoice: '3' }) }));
    expect(s1.done).toBe(1);
    const first = path.join(out, '3_scene4.png');
    const before = await fs.readFile(first);
    const events: RunEvent[] = [];
    await runBatch(args({ photos, outDir: out, options: opt({ namePattern: '{class}_{name}', classChoice: '3', opacity: 1 }), onEvent: (e) => events.push(e) }));
    const done = events.find((e) => e.type === 'photo' && e.status === 'done') as Extract<RunEvent, { type: 'photo' }>;
    expect(done.outcome?.png).toBe(path.join(out, '3_scene4-2.png'));
    expect(done.outcome?.json).toBe(path.join(out, 'scene4-2.scores.json'));
    expect((await fs.readFile(first)).equals(before)).toBe(true);
    await runBatch(args({ photos, outDir: out, options: opt({ namePattern: '{class}_{name}', classChoice: '3', opacity: 1 }, { overwrite: true }) }));
    expect((await fs.readFile(first)).equals(before)).toBe(false);
    expect((await fs.readdir(out)).filter((f) => !f.startsWith('.')).sort()).toEqual(['3_scene4-2.png', '3_scene4.png', 'scene4-2.scores.json', 'scene4.scores.json']);
  });

  it('two photos with the same name in one batch get distinct outputs', async () => {
    const other = path.join(tmp, 'other');
    await fs.mkdir(other, { recursive: true });
    await writeScene(path.join(other, 'scene0.jpg'), 77);
    const out = path.join(tmp, 'out-dupes');
    const s = await runBatch(args({ photos: [path.join(good, 'scene0.jpg'), path.join(other, 'scene0.jpg')], outDir: out }));
    expect(s.done).toBe(2);
    expect((await fs.readdir(out)).filter((f) => !f.startsWith('.')).sort()).toEqual(['scene0-2.heatmap.png', 'scene0-2.scores.json', 'scene0.heatmap.png', 'scene0.scores.json']);
  });

  it('refuses an unknown class label before any work', async () => {
    await expect(runBatch(args({ photos: [path.join(good, 'scene0.jpg')], outDir: path.join(tmp, 'out-badclass'), options: opt({ classChoice: 'cat' }) })))
      .rejects.toThrow(/unknown class "cat"/);
  });
});
