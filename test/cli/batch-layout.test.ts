// `convmap heatmap` on nested folders and after a stopped run: where the outputs and the CSV files go.
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { cliSandbox, runConvmap, startConvmap } from '../helpers/cli';
import { writeScene } from '../batch/fixtures';
import { writeNestedPhotos } from '../helpers/nested';

const cli = cliSandbox('convmap-layout-');
const { convmap, env } = cli;

/** A PNG of width × height with a seeded pattern (any content will do: the model's cells just need pixels). */
async function writePhoto(file: string, width: number, height: number, seed: number): Promise<void> {
  const px = new Uint8Array(width * height * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 31 + seed * 97 + ((i / 3) % width) * 5) % 256;
  await sharp(px, { raw: { width, height, channels: 3 } }).png().toFile(file);
}

/** Data rows of a CSV file (the header dropped), split on commas (these rows quote nothing). */
async function csvRows(file: string): Promise<string[][]> {
  return (await fs.readFile(file, 'utf8')).trim().split('\n').slice(1).map((l) => l.split(','));
}

describe('convmap heatmap --recursive: the output folder mirrors the input\'s sub-folders', () => {
  it('writes DIR/a/x.png and DIR/b/x.png to OUT/a/x.heatmap.png and OUT/b/x.heatmap.png, each from its own photo, and names both in the CSV', async () => {
    const dir = path.join(cli.dir, 'nested');
    await writeNestedPhotos(dir, writePhoto);
    const out = path.join(cli.dir, 'nested-out');
    const r = await convmap('heatmap', '--model', 'builtin', dir, '--recursive', '--out', out, '--scales', '1', '--csv', '--no-cache');
    expect(r.code).toBe(0);
    const listing = (await fs.readdir(out, { recursive: true })).filter((f) => !path.basename(f).startsWith('.')).map((f) => f.split(path.sep).join('/')).sort();
    expect(listing).toEqual([
      'a', 'a/x.heatmap.png', 'a/x.scores.json',
      'b', 'b/deeper', 'b/deeper/x.heatmap.png', 'b/deeper/x.scores.json', 'b/x.heatmap.png', 'b/x.scores.json',
      'detections.csv', 'summary.csv', 'top.heatmap.png', 'top.scores.json',
    ]);
    const size = async (f: string): Promise<[number | undefined, number | undefined]> => {
      const m = await sharp(path.join(out, f)).metadata();
      return [m.width, m.height];
    };
    expect(await size('a/x.heatmap.png')).toEqual([120, 90]);
    expect(await size('b/x.heatmap.png')).toEqual([90, 120]);
    expect(await size('b/deeper/x.heatmap.png')).toEqual([100, 100]);
    // photo, status, reason, output, …, width, height: each row names its photo's relative path and its own output.
    const rows = await csvRows(path.join(out, 'summary.csv'));
    const row = (rel: string): string[] | undefined => rows.find((c) => c[0] === path.join(dir, rel));
    expect(row('a/x.png')?.slice(1, 4)).toEqual(['done', '', path.join(out, 'a', 'x.heatmap.png')]);
    expect(row('b/x.png')?.slice(1, 4)).toEqual(['done', '', path.join(out, 'b', 'x.heatmap.png')]);
    expect(row('b/deeper/x.png')?.[3]).toBe(path.join(out, 'b', 'deeper', 'x.heatmap.png'));
    expect(row('top.png')?.[3]).toBe(path.join(out, 'top.heatmap.png'));
    expect([row('a/x.png')?.[5], row('a/x.png')?.[6]]).toEqual(['120', '90']);
    expect([row('b/x.png')?.[5], row('b/x.png')?.[6]]).toEqual(['90', '120']);
    // The scores JSON of each names its own photo.
    const scored = JSON.parse(await fs.readFile(path.join(out, 'b', 'x.scores.json'), 'utf8')) as { image: string };
    expect(scored.image).toBe(path.join(dir, 'b', 'x.png'));
  });

  it('without --recursive, a folder\'s own photos go into OUT itself', async () => {
    const dir = path.join(cli.dir, 'flat');
    await fs.mkdir(path.join(dir, 'sub'), { recursive: true });
    await writePhoto(path.join(dir, 'y.png'), 64, 64, 5);
    await writePhoto(path.join(dir, 'sub', 'z.png'), 64, 64, 6);
    const out = path.join(cli.dir, 'flat-out');
    const r = await convmap('heatmap', '--model', 'builtin', dir, '--out', out, '--scales', '1', '--scores', 'none', '--no-cache');
    expect(r.code).toBe(0);
    expect((await fs.readdir(out)).filter((f) => !f.startsWith('.'))).toEqual(['y.heatmap.png']);
  });
});

describe('convmap heatmap stopped before its first photo finished, then run again', () => {
  it('the rerun writes the one summary.csv and detections.csv (no summary-2.csv)', async () => {
    const dir = path.join(cli.dir, 'slow');
    await fs.mkdir(dir);
    // A photo that keeps the built-in model busy for a while at scale 1: 2000×1500 px, 494×369 cells.
    await writeScene(path.join(dir, 'big.png'), 7, 2000, 1500);
    const out = path.join(cli.dir, 'slow-out');
    const args = ['heatmap', '--model', 'builtin', dir, '--out', out, '--scales', '1', '--csv', '--no-cache', '--workers', '1'];
    // The default engine, ONNX Runtime: the signal comes while its thread runs the photo's tile.
    const onnx = { ...env(), CONVMAP_BACKEND: 'onnx' };
    const first = startConvmap(args, onnx);
    // The batch has begun (its summary.csv is being written under a temporary name): stop it.
    for (let i = 0; i < 3000; i++) {
      const names = await fs.readdir(out).catch(() => [] as string[]);
      if (names.some((n) => n.startsWith('.summary.csv.') && n.endsWith('.tmp'))) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    first.child.kill('SIGTERM');
    const stopped = await first.result;
    expect(stopped.code).toBe(1);
    expect(stopped.stdout).toMatch(/^0 of 1 photos done .* — cancelled$/m);
    expect((await fs.readdir(out)).filter((f) => !f.startsWith('.')).sort()).toEqual(['detections.csv', 'summary.csv']);
    expect((await csvRows(path.join(out, 'summary.csv'))).map((c) => c.slice(0, 2))).toEqual([[path.join(dir, 'big.png'), 'skipped']]);

    const again = await runConvmap(args, onnx);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^1 of 1 photos done/m);
    expect((await fs.readdir(out)).filter((f) => !f.startsWith('.')).sort()).toEqual(['big.heatmap.png', 'big.scores.json', 'detections.csv', 'summary.csv']);
    expect(existsSync(path.join(out, 'summary-2.csv'))).toBe(false);
    expect((await csvRows(path.join(out, 'summary.csv'))).map((c) => c.slice(0, 4))).toEqual([[path.join(dir, 'big.png'), 'done', '', path.join(out, 'big.heatmap.png')]]);
    expect(again.stdout).toMatch(new RegExp(`^csv: ${path.join(out, 'summary.csv').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, `, 'm'));
  }, 120_000);
});
