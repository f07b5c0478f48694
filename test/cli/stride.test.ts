import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliSandbox, REPO } from '../helpers/cli';

const repo = REPO;
const corpus = path.resolve(repo, '../shared/corpus');
const hasCorpus = existsSync(corpus);
if (!hasCorpus) console.log(`skipping --stride CLI tests: ${corpus} is absent`);
const detexify = path.join(corpus, 'models/detexify369_yuhuishishishi');

const cli = cliSandbox('convmap-stride-');
const { convmap } = cli;

describe.skipIf(!hasCorpus)('--stride (detexify: valid padding, window 32, network stride 4)', () => {
  it('convert --stride 2 reports stride 2 of a stride-4 network, exact against crops every 2 pixels', async () => {
    const r = await convmap('convert', detexify, '--stride', '2', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { stride: number[]; networkStride: number[]; strideRewrite: string[]; equivalence: { exact: boolean; inputSize: number[]; cellsChecked: number } };
    expect(j.stride).toEqual([2, 2]);
    expect(j.networkStride).toEqual([4, 4]);
    expect(j.strideRewrite.length).toBeGreaterThan(0);
    // Crops every 2 pixels: window 32 + 5·2, 6 × 6 cells (a small model gets the check's most).
    expect(j.equivalence.inputSize).toEqual([42, 42]);
    expect(j.equivalence.cellsChecked).toBe(36);
    expect(j.equivalence.exact).toBe(true);
  });

  it('refuses a stride that does not divide the network\'s in one line listing the possible ones', async () => {
    const r = await convmap('convert', detexify, '--stride', '3');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([
      `convmap: ${path.join(detexify, 'model.json')}: stride 3 is not possible (it does not divide the network's stride 4); possible strides: 4, 2, 1`,
    ]);
  });

  it('remembers the stride in the saved sidecar; heatmap refines a saved model further and refuses a coarser one', async () => {
    const out = path.join(cli.dir, 'fcn2');
    expect((await convmap('convert', detexify, '--stride', '2', '-o', out)).code).toBe(0);
    const sidecar = JSON.parse(await fs.readFile(path.join(out, 'convmap.json'), 'utf8')) as { stride: number[]; networkStride: number[] };
    expect(sidecar.stride).toEqual([2, 2]);
    expect(sidecar.networkStride).toEqual([4, 4]);

    const photo = path.join(corpus, 'images/skimage_chelsea.png');
    const hm = path.join(cli.dir, 'hm');
    const saved = await convmap('heatmap', out, photo, '--scales', '0.2', '--out', hm, '--no-cache');
    expect(saved.code).toBe(0);
    // skimage's chelsea is 300×451: at 0.2, 60×90 px: (60 − 32) / 2 + 1 = 15 rows, (90 − 32) / 2 + 1 = 30 columns.
    expect(saved.stdout).toMatch(/0\.2: 15×30 cells/);
    const finer = await convmap('heatmap', out, photo, '--scales', '0.2', '--out', hm, '--no-cache', '--stride', '1', '--overwrite');
    expect(finer.code).toBe(0);
    expect(finer.stdout).toMatch(/0\.2: 29×59 cells/);
    const coarser = await convmap('heatmap', out, photo, '--out', hm, '--stride', '4');
    expect(coarser.code).not.toBe(0);
    expect(coarser.stderr).toMatch(/stride 4 is not possible .*possible strides: 2, 1 \(saved at stride 2×2 of a network of stride 4×4; convert the classifier again for a coarser one\)/);
  });
});
