/**
 * Picture formats (issue 21 item 2): a batch with recipe format 'jpeg' or 'webp' writes
 * <name>.heatmap.jpg / .webp whose bytes start with the format's signature and whose pixels, decoded
 * by sharp (libjpeg, libwebp), are the PNG's within lossy-coding error; the name pattern's extension
 * follows the format; a WebP beyond its 16383-pixel side is refused in one line.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRecipe, type PictureFormat } from '../../core/recipe';
import { recipeFromFlags } from '../../main/cli/heatmap';
import { createEngine, type Engine, type ModelHandle } from '../../main/engine/engine';
import { runBatch } from '../../main/services/batch';
import { checkNamePattern, outputNames } from '../../main/services/export';
import { prepareModel, type PreparedModel } from '../../main/services/models';
import { encodePicture } from '../../main/services/picture';
import { writeScene } from './fixtures';

let tmp: string;
let engine: Engine;
let handle: ModelHandle;
let prepared: PreparedModel;
let photos: string[];

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-format-'));
  photos = [path.join(tmp, 'a.jpg'), path.join(tmp, 'b.png')];
  await writeScene(photos[0], 21, 320, 240);
  await writeScene(photos[1], 22, 200, 260);
  prepared = await prepareModel(undefined);
  engine = await createEngine({ workers: 2 });
  handle = await engine.loadModel(prepared.artifacts, prepared.info);
}, 120_000);

afterAll(async () => {
  await engine?.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

/** The batch's outputs in `format`, in their own folder: the picture files, by photo. */
async function exportAs(format: PictureFormat): Promise<string[]> {
  const outDir = path.join(tmp, format);
  await fs.mkdir(outDir);
  const recipe = makeRecipe({ scales: [1, 0.75], threshold: 0, opacity: 0.6, legend: true, boxes: true, scores: 'none', format });
  const summary = await runBatch({ engine, handle, info: prepared.info, options: { recipe }, photos, outDir });
  expect(summary.failed).toEqual([]);
  return (await fs.readdir(outDir)).filter((f) => !f.startsWith('.')).sort().map((f) => path.join(outDir, f));
}

/** Mean and 99.5th percentile of |a − b| over all bytes. */
function difference(a: Buffer, b: Buffer): { mean: number; p995: number } {
  const d = new Uint8Array(a.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    d[i] = Math.abs(a[i] - b[i]);
    sum += d[i];
  }
  d.sort();
  return { mean: sum / a.length, p995: d[Math.floor(d.length * 0.995)] };
}

describe('picture formats', () => {
  it('JPEG and WebP files carry their signatures and the PNG\'s pixels within lossy error', async () => {
    const png = await exportAs('png');
    expect(png.map((f) => path.basename(f))).toEqual(['a.heatmap.png', 'b.heatmap.png']);
    const signatures: Record<PictureFormat, (b: Buffer) => boolean> = {
      png: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
      jpeg: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
      webp: (b) => b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP',
    };
    for (const f of png) expect(signatures.png(await fs.readFile(f))).toBe(true);
    for (const [format, ext] of [['jpeg', '.jpg'], ['webp', '.webp']] as const) {
      const files = await exportAs(format);
      expect(files.map((f) => path.basename(f))).toEqual([`a.heatmap${ext}`, `b.heatmap${ext}`]);
      for (const [i, file] of files.entries()) {
        const bytes = await fs.readFile(file);
        expect(signatures[format](bytes), file).toBe(true);
        expect(signatures.png(bytes)).toBe(false);
        const want = await sharp(png[i]).raw().toBuffer({ resolveWithObject: true });
        const got = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
        expect([got.info.width, got.info.height, got.info.channels]).toEqual([want.info.width, want.info.height, 3]);
        const d = difference(got.data, want.data);
        expect(d.mean, `${format} ${file}`).toBeLessThan(2.5);
        expect(d.p995, `${format} ${file}`).toBeLessThan(40);
      }
    }
  }, 120_000);

  it('--format sets the recipe\'s format, and another value is refused naming the flag', () => {
    expect(recipeFromFlags({ format: 'webp' }).format).toBe('webp');
    expect(recipeFromFlags({}).format).toBe('png');
    expect(() => recipeFromFlags({ format: 'gif' })).toThrow(/^--format must be one of png, jpeg, webp, got "gif"$/);
  });

  it('the name pattern takes the format\'s extension', () => {
    expect(checkNamePattern('{name}.heatmap.png', 'jpeg')).toBe('{name}.heatmap.jpg');
    expect(checkNamePattern('{name}.heatmap.JPEG', 'webp')).toBe('{name}.heatmap.webp');
    expect(checkNamePattern('{class}-{name}', 'webp')).toBe('{class}-{name}.webp');
    expect(checkNamePattern('{name}.v2', 'png')).toBe('{name}.v2.png');
    expect(outputNames(checkNamePattern('{class}', 'jpeg'), 'cat', 'dog', 2).png).toBe('dog-2.jpg');
  });

  it('refuses a WebP over 16383 pixels a side, naming the size', async () => {
    const w = 16384;
    await expect(encodePicture(new Uint8Array(w * 3), w, 1, 'webp')).rejects.toThrow(/^a WebP picture is at most 16383 pixels a side, this one is 16384×1: use png or jpeg$/);
    const jpeg = await encodePicture(new Uint8Array(w * 3), w, 1, 'jpeg');
    expect((await sharp(jpeg).metadata()).width).toBe(w);
  });
});
