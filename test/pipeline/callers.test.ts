/**
 * One pipeline behind every entry point: the same photos through the window's service (addPhotos +
 * an export batch, pictures rendered in worker threads), the batch queue called directly, and the
 * `convmap heatmap` command give byte-identical pictures and the same detections for the same
 * settings, in every supported format (BMP 8/24/32-bit, PNG, JPEG, WebP, TIFF, GIF).
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRecipe } from '../../core/recipe';
import { makeDigitScene } from '../../main/digits/scene';
import { createEngine, type Engine } from '../../main/engine/engine';
import { createAppService, type AppService } from '../../main/services/window/app-service';
import { JOURNAL_FILE, runBatch } from '../../main/services/batch';
import { modelHash } from '../../main/services/storage/cache';
import { prepareModel } from '../../main/services/models';
import { bmpFile } from '../helpers/bmp';

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../..');
const W = 160;
const H = 120;
const SCALES = [1, 0.75];


let tmp: string;
let scene: ReturnType<typeof makeDigitScene>;
/** Photo files by format name; the lossless ones hold exactly the scene's pixels. */
const files: Record<string, string> = {};
const LOSSLESS = ['png', 'bmp8', 'bmp24', 'bmp32', 'tiff', 'webp'];

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-callers-'));
  const photos = path.join(tmp, 'photos');
  await fs.mkdir(photos);
  scene = makeDigitScene({ width: W, height: H, count: 3, sizes: [28, 42], seed: 5 });
  // The scene is grey (r = g = b), so an 8-bit BMP with a grey palette holds it exactly.
  for (let i = 0; i < scene.rgb.length; i += 3) expect(scene.rgb[i]).toBe(scene.rgb[i + 1]);
  const img = () => sharp(scene.rgb, { raw: { width: W, height: H, channels: 3 } });
  const write = async (name: string, file: string, data: Buffer | Promise<Buffer>) => {
    files[name] = path.join(photos, file);
    await fs.writeFile(files[name], await data);
  };
  await write('png', 's-png.png', img().png().toBuffer());
  const sceneAt = (x: number, y: number): Uint8Array => scene.rgb.subarray((y * W + x) * 3, (y * W + x) * 3 + 3);
  await write('bmp8', 's-bmp8.bmp', bmpFile(W, H, sceneAt, 8));
  await write('bmp24', 's-bmp24.bmp', bmpFile(W, H, sceneAt, 24));
  await write('bmp32', 's-bmp32.bmp', bmpFile(W, H, sceneAt, 32));
  await write('tiff', 's-tiff.tif', img().tiff({ compression: 'lzw' }).toBuffer());
  await write('webp', 's-webp.webp', img().webp({ lossless: true }).toBuffer());
  await write('jpeg', 's-jpeg.jpg', img().jpeg({ quality: 90 }).toBuffer());
  await write('gif', 's-gif.gif', img().gif().toBuffer());
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const settings = makeRecipe({
  scales: SCALES, mode: 'max', classChoice: 'any', view: 'absolute', colormap: 'turbo', opacity: 0.65, threshold: 0.2, boxes: true, detectThreshold: 0.5, legend: true,
  namePattern: '{name}.heatmap.png', scores: 'summary', csv: false,
});

interface Outputs {
  png: Buffer;
  detections: unknown;
}

async function outputsOf(dir: string, name: string): Promise<Outputs> {
  const base = path.basename(name, path.extname(name));
  const json = JSON.parse(await fs.readFile(path.join(dir, `${base}.scores.json`), 'utf8')) as { detections: unknown };
  return { png: await fs.readFile(path.join(dir, `${base}.heatmap.png`)), detections: json.detections };
}

describe('the window, the batch and the CLI through one pipeline', () => {
  const outs = { window: '', batch: '', cli: '' };
  let service: AppService;
  let engine: Engine;

  beforeAll(async () => {
    outs.window = path.join(tmp, 'out-window');
    outs.batch = path.join(tmp, 'out-batch');
    outs.cli = path.join(tmp, 'out-cli');
    const all = Object.values(files);

    // The window's service: photos opened, an export batch into the folder "chosen" in the dialog.
    service = await createAppService({ userDataDir: path.join(tmp, 'user'), engine: { backend: 'wasm', workers: 2 }, cacheDir: null });
    const model = await service.loadModel({ path: null });
    const added = await service.addPhotos(all);
    expect(added.failed).toEqual([]);
    await fs.mkdir(outs.window);
    service.allowExportDir(outs.window);
    const res = await service.runBatch({
      batchId: 'b', modelId: model.id, photoIds: added.photos.map((p) => p.id), recipe: settings, export: { outDir: outs.window },
    });
    expect(res.failed).toEqual([]);
    expect(res.done).toBe(all.length);

    // The batch queue called directly.
    const prepared = await prepareModel(undefined);
    engine = await createEngine({ backend: 'wasm', workers: 2 });
    const handle = await engine.loadModel(prepared.artifacts, prepared.info);
    const s = await runBatch({
      engine, handle, info: prepared.info, photos: all, outDir: outs.batch, modelKey: modelHash(prepared.artifacts, prepared.info),
      options: { recipe: settings },
    });
    expect(s.failed).toEqual([]);

    // The command line.
    await run(process.execPath, [
      path.join(repo, 'bin/convmap.mjs'), 'heatmap', '--model', 'builtin', ...all, '--out', outs.cli, '--scales', SCALES.join(','), '--mode', 'max',
      '--class', 'any', '--colormap', 'turbo', '--opacity', '0.65', '--threshold', '0.2', '--boxes', '--legend', '--detect-threshold', '0.5',
      '--workers', '2', '--no-cache',
    ], { cwd: repo, env: { ...process.env, CONVMAP_BACKEND: 'wasm' }, maxBuffer: 16 << 20 });
  }, 240_000);
  afterAll(async () => {
    await service?.close();
    await engine?.close();
  });

  it.each(['png', 'bmp8', 'bmp24', 'bmp32', 'tiff', 'webp', 'jpeg', 'gif'])('gives byte-identical pictures and the same detections for %s', async (format) => {
    const name = path.basename(files[format]);
    const w = await outputsOf(outs.window, name);
    const b = await outputsOf(outs.batch, name);
    const c = await outputsOf(outs.cli, name);
    expect(Buffer.compare(w.png, b.png)).toBe(0);
    expect(Buffer.compare(c.png, b.png)).toBe(0);
    expect(w.detections).toEqual(b.detections);
    expect(c.detections).toEqual(b.detections);
    const meta = await sharp(b.png).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([W, H, 3]);
  });

  it('keys their journals alike: one recipe (core/recipe) from the window\'s request, runBatch\'s options and the CLI\'s flags', async () => {
    const keys = async (dir: string): Promise<string[]> => [...new Set((await fs.readFile(path.join(dir, JOURNAL_FILE), 'utf8')).trim().split('\n')
      .map((l) => (JSON.parse(l) as { key: string }).key))];
    const batch = await keys(outs.batch);
    expect(batch).toHaveLength(1);
    expect(batch[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(await keys(outs.window)).toEqual(batch);
    expect(await keys(outs.cli)).toEqual(batch);
  });

  it('decodes every lossless format to the same pixels: their pictures equal the PNG\'s, byte for byte', async () => {
    const png = await outputsOf(outs.batch, path.basename(files.png));
    expect((png.detections as unknown[]).length).toBeGreaterThan(0);
    for (const f of LOSSLESS) {
      const o = await outputsOf(outs.batch, path.basename(files[f]));
      expect({ f, same: Buffer.compare(o.png, png.png) === 0 }).toEqual({ f, same: true });
    }
  });

  it('serves every format to the window upright as the scene\'s pixels (BMP and TIFF re-encoded as PNG)', async () => {
    const added = await service.addPhotos(LOSSLESS.map((f) => files[f]));
    for (const [i, ref] of added.photos.entries()) {
      const served = await service.photoBytes(ref.id);
      expect(served).toBeDefined();
      const { data, info } = await sharp(served?.bytes).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      expect([LOSSLESS[i], info.width, info.height]).toEqual([LOSSLESS[i], W, H]);
      expect({ f: LOSSLESS[i], same: Buffer.compare(data, Buffer.from(scene.rgb)) === 0 }).toEqual({ f: LOSSLESS[i], same: true });
    }
    const bmpServed = await service.photoBytes(added.photos[LOSSLESS.indexOf('bmp24')].id);
    expect(bmpServed?.mimeType).toBe('image/png');
  });
});
