/**
 * Issue 19, hole 5: a 29 KB PNG of 10 × 10 000 000 px made the default scale plan pick 2.8, a 784 MP
 * scaled photo. The pixel limit applies to every scaled image: the plan leaves such a photo without a
 * scale and the photo fails with that reason, before anything is decoded or resized. (Given scales go
 * through the same check, core/scales scaleListProblem, tested in test/core/defaults.test.ts.)
 */
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './bad-inputs';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([head, body, crc]);
}

/** A black 1-bit greyscale PNG of width × height, written by hand (12.5 MB of zero rows deflate to a few KB). */
function blackPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale, deflate, filter 0, no interlace
  const raw = Buffer.alloc(height * (1 + Math.ceil(width / 8))); // filter byte 0 and zero pixels per row
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([png, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

let root = '';
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-strip-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('a 10 × 10 000 000 px PNG with the default scales', () => {
  it('fails that photo in one line naming the 784 MP it would take, the batch goes on, exit 1, nothing enlarged', async () => {
    const photos = path.join(root, 'photos');
    await fs.mkdir(photos);
    const strip = path.join(photos, 'strip.png');
    await fs.writeFile(strip, blackPng(10_000_000, 10));
    expect((await fs.stat(strip)).size).toBeLessThan(100_000);
    // A second, ordinary photo after it: the batch goes on.
    await fs.writeFile(path.join(photos, 'zz-small.png'), blackPng(64, 48));
    const out = path.join(root, 'out');
    const r = await runCli(['heatmap', '--model', 'builtin', photos, '--out', out, '--no-cache', '--workers', '1'], { timeoutS: 60, timeFile: path.join(root, 'time.txt') });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^1 of 2 photos done/m);
    const failed = r.stdout.split('\n').filter((l) => l.includes('strip.png:'));
    expect(failed).toEqual([`  ${strip}: no scale: the 10000000×10 photo holds the model's 28×28 window only at scale 2.8, where it would be 784 MP, over the limit of 400 MP`]);
    expect(existsSync(path.join(out, 'strip.heatmap.png'))).toBe(false);
    expect(existsSync(path.join(out, 'zz-small.heatmap.png'))).toBe(true);
    // The CLI's own footprint (tfjs, sharp, the built-in model) is about 330 MB here; decoding the strip
    // alone would add 300 MB of RGB, and its 784 MP enlargement gigabytes: under 600 MB, neither happened.
    if (r.maxRssKiB !== null) expect(r.maxRssKiB).toBeLessThan(600 * 1024);
  }, 90_000);
});
