/**
 * Memory stays bounded for a photo at the pixel limit: a 10000×10000 one-bit PNG (100 MP, 30 KB on
 * disk) through `convmap heatmap` with the built-in model, boxes and legend, its peak RSS measured by
 * the child process itself (process.resourceUsage().maxRSS at exit, worker threads included).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { writeBigBitonalPng } from '../helpers/big-photo';
import { tempDir } from '../helpers/temp-dir';

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../..');
const SIDE = 10_000;
/**
 * The bound: the decoded photo (RGB, 300 MB) is the one full-size raster held (the overlay is
 * blended into it band by band, boxes and legend layer by layer, the averaged grid is accumulated
 * band by band), plus the engine's and tfjs's own few hundred MB, which grow with the largest scaled
 * image: the default plan (objects down to 1/20 of the side) computes 14 scales up to 0.2, a
 * 2000×2000 image. Measured here (compiled CLI): about 730 MB at one scale of 0.05, 940–1070 MB with
 * the default plan; before banding, in-place blending and per-layer drawing (old plan, largest scale
 * 0.0056): 1.04 GB without boxes, 1.1 GB with. A second full-size copy would add 300 MB more.
 */
const MAX_RSS_MB = 1250;

const tmp = tempDir('convmap-big-');

describe('a 100 MP photo', () => {
  it(`finishes with the built-in model under ${MAX_RSS_MB} MB of RSS, its picture at full size`, async () => {
    const photo = path.join(tmp.path, 'big.png');
    await writeBigBitonalPng(photo, SIDE);
    expect((await sharp(photo, { limitInputPixels: false }).metadata()).bitsPerSample).toBe(1);
    const out = path.join(tmp.path, 'out');
    const child = [
      "process.on('exit', () => process.stderr.write(`maxrss-kb ${process.resourceUsage().maxRSS}\\n`));",
      `process.argv = [process.argv[0], 'convmap', 'heatmap', '--model', 'builtin', ${JSON.stringify(photo)}, '--out', ${JSON.stringify(out)}, '--no-cache', '--workers', '1', '--boxes', '--legend'];`,
      `await import(${JSON.stringify(path.join(repo, 'bin/convmap.mjs'))});`,
    ].join('\n');
    const { stderr } = await run(process.execPath, ['--input-type=module', '-e', child], {
      cwd: repo, env: { ...process.env, CONVMAP_BACKEND: 'wasm' }, maxBuffer: 16 << 20,
    });
    const rssMb = Number(/maxrss-kb (\d+)/.exec(stderr)?.[1]) / 1024;
    console.log(`100 MP photo: peak RSS ${rssMb.toFixed(0)} MB`);
    expect(rssMb).toBeGreaterThan(300); // the photo was really decoded
    expect(rssMb).toBeLessThan(MAX_RSS_MB);
    const meta = await sharp(path.join(out, 'big.heatmap.png'), { limitInputPixels: false }).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([SIDE, SIDE, 3]);
  }, 180_000);
});
