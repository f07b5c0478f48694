import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePhoto, resizeRgb, type RgbImage } from '../../main/io/decode';
import { bmpFile } from '../helpers/bmp';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const exifPhoto = path.resolve(repo, '../shared/corpus/images/exif_Landscape_6.jpg');
const corpusMissing = !existsSync(exifPhoto);
if (corpusMissing) console.warn(`skipping the EXIF-orientation test: ${exifPhoto} is absent (the shared corpus is not checked out)`);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'convmap-decode-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function pixel(img: RgbImage, y: number, x: number): number[] {
  const i = (y * img.width + x) * 3;
  return Array.from(img.data.subarray(i, i + 3));
}

describe('decodePhoto', () => {
  it.skipIf(corpusMissing)('applies EXIF orientation 6: a 1200×1800 stored JPEG comes out 1800 wide, 1200 high', async () => {
    const meta = await sharp(exifPhoto).metadata();
    expect([meta.width, meta.height, meta.orientation]).toEqual([1200, 1800, 6]);
    const img = await decodePhoto(exifPhoto);
    expect([img.width, img.height, img.channels, img.data.length]).toEqual([1800, 1200, 3, 1800 * 1200 * 3]);
  });

  it('applies EXIF orientation to a generated JPEG: the marked corner moves where a viewer shows it', async () => {
    // Stored 40 wide × 20 high, red block at the stored top-left; orientation 6 = rotate 90° clockwise.
    const raw = new Uint8Array(20 * 40 * 3).fill(0);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) raw[(y * 40 + x) * 3] = 255;
    const jpg = await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } }).withMetadata({ orientation: 6 }).jpeg({ quality: 100 }).toBuffer();
    const img = await decodePhoto(jpg, { name: 'rotated.jpg' });
    expect([img.width, img.height]).toEqual([20, 40]);
    // The stored top-left ends up top-right after a clockwise quarter turn.
    expect(pixel(img, 2, 17)[0]).toBeGreaterThan(200);
    expect(pixel(img, 2, 2)[0]).toBeLessThan(50);
  });

  it('turns a greyscale PNG into RGB with equal channels', async () => {
    const png = await sharp(Buffer.alloc(6 * 4, 100), { raw: { width: 6, height: 4, channels: 1 } }).toColourspace('b-w').png().toBuffer();
    expect((await sharp(png).metadata()).channels).toBe(1);
    const img = await decodePhoto(png, { name: 'grey.png' });
    expect([img.width, img.height, img.data.length]).toEqual([6, 4, 6 * 4 * 3]);
    expect(pixel(img, 3, 5)).toEqual([100, 100, 100]);
  });

  it('converts a CMYK JPEG to sRGB', async () => {
    const jpg = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 50, b: 10 } } })
      .toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
    const meta = await sharp(jpg).metadata();
    expect([meta.space, meta.channels]).toEqual(['cmyk', 4]);
    const img = await decodePhoto(jpg, { name: 'cmyk.jpg' });
    expect(img.data.length).toBe(8 * 8 * 3);
    const [r, g, b] = pixel(img, 4, 4);
    expect(Math.abs(r - 200)).toBeLessThan(20);
    expect(Math.abs(g - 50)).toBeLessThan(20);
    expect(Math.abs(b - 10)).toBeLessThan(20);
  });

  it('reduces a 16-bit PNG to 8 bits per channel', async () => {
    const samples = new Uint16Array(5 * 3 * 3);
    for (let i = 0; i < samples.length; i++) samples[i] = [65535, 32896, 0][i % 3];
    const png = await sharp(samples, { raw: { width: 5, height: 3, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(png).metadata()).depth).toBe('ushort');
    const img = await decodePhoto(png, { name: 'deep.png' });
    expect(img.data.length).toBe(5 * 3 * 3);
    expect(pixel(img, 2, 4)).toEqual([255, 128, 0]);
  });

  it('flattens transparency onto white by default, or the given background', async () => {
    const png = await sharp({ create: { width: 3, height: 3, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    expect(pixel(await decodePhoto(png), 1, 1)).toEqual([255, 255, 255]);
    expect(pixel(await decodePhoto(png, { background: [0, 0, 0] }), 1, 1)).toEqual([0, 0, 0]);
  });

  it('names the file when a JPEG is truncated', async () => {
    const jpg = await sharp({ create: { width: 64, height: 48, channels: 3, background: 'red' } }).jpeg().toBuffer();
    const file = path.join(dir, 'photo.jpg');
    await writeFile(file, jpg.subarray(0, Math.floor(jpg.length / 2)));
    await expect(decodePhoto(file)).rejects.toThrow(/^photo\.jpg: not a supported image \(.+\)$/);
  });

  it('names the file when a text file is called .png', async () => {
    const file = path.join(dir, 'notes.png');
    await writeFile(file, 'these are my notes, not a picture\n');
    await expect(decodePhoto(file)).rejects.toThrow(/^notes\.png: not a supported image \(.+\)$/);
  });

  it('names a missing file', async () => {
    await expect(decodePhoto(path.join(dir, 'gone.jpg'))).rejects.toThrow('gone.jpg: file not found');
  });

  it('refuses a photo over the pixel limit, naming the file and its size', async () => {
    const file = path.join(dir, 'big.png');
    await sharp({ create: { width: 300, height: 200, channels: 3, background: 'blue' } }).png().toFile(file);
    await expect(decodePhoto(file, { maxPixels: 50_000 })).rejects.toThrow('big.png: image is 300×200 (60000 pixels), over the limit of 50000 pixels');
    await expect(decodePhoto(file, { maxPixels: 60_000 })).resolves.toMatchObject({ width: 300, height: 200 });
  });
});

describe('resizeRgb', () => {
  it('resizes to exactly height × width', async () => {
    const img = await decodePhoto(await sharp({ create: { width: 50, height: 30, channels: 3, background: 'green' } }).png().toBuffer());
    const out = await resizeRgb(img, 17, 41);
    expect([out.height, out.width, out.data.length]).toEqual([17, 41, 17 * 41 * 3]);
    expect(await resizeRgb(img, 30, 50)).toBe(img);
    await expect(resizeRgb(img, 0, 10)).rejects.toThrow(RangeError);
  });

  it('antialiases when shrinking: a 1-pixel checkerboard becomes mid grey', async () => {
    const n = 64;
    const data = new Uint8Array(n * n * 3);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) data.fill((x + y) % 2 === 0 ? 255 : 0, (y * n + x) * 3, (y * n + x) * 3 + 3);
    const out = await resizeRgb({ data, width: n, height: n, channels: 3 }, 16, 16);
    for (let y = 2; y < 14; y++) for (let x = 2; x < 14; x++) expect(Math.abs(pixel(out, y, x)[0] - 128)).toBeLessThan(12);
  });
});

describe('BMP through decodePhoto', () => {
  it('decodes a big BMP (over 4 MP, in a worker thread) upright with every pixel in place, and names a truncated one', async () => {
    const [w, h] = [2100, 2000];
    const bytes = bmpFile(w, h, (x, y) => [x % 256, y % 256, (x + y) % 256]);
    const img = await decodePhoto(bytes, { name: 'big.bmp' });
    expect([img.width, img.height]).toEqual([w, h]);
    for (const [x, y] of [[0, 0], [w - 1, 0], [0, h - 1], [1234, 987], [w - 1, h - 1]]) expect(pixel(img, y, x)).toEqual([x % 256, y % 256, (x + y) % 256]);
    await expect(decodePhoto(bytes.subarray(0, bytes.length - 10), { name: 'cut.bmp' })).rejects.toThrow('cut.bmp: not a supported image (BMP pixel data truncated)');
    await expect(decodePhoto(bytes, { name: 'big.bmp', maxPixels: w * h - 1 })).rejects.toThrow(/^big\.bmp: image is 2100×2000 \(4\.2 MP\), over the limit of 4\.2 MP$/);
  });
});
