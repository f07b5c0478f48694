/**
 * A `heatmap` run from a converted folder opens its model.onnx in ONNX Runtime and never loads
 * TensorFlow.js (a few hundred milliseconds of start-up a run does not need; a static import of a
 * module that pulls tfjs in costs every run that time). Oracle: the CommonJS module cache of every
 * process of the run, printed at its exit by a script preloaded with NODE_OPTIONS; the same run on
 * the classifier itself (which converts) shows that the probe sees tfjs where it loads.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { cliSandbox, REPO, runConvmap } from '../helpers/cli';

const cli = cliSandbox('convmap-lean-', { CONVMAP_BACKEND: undefined });
const ONNX = path.join(REPO, 'test/onnx/fixtures/fixed_batch4.onnx');

/** The counts of tfjs modules each process of a run reported at its exit. */
function tfjsCounts(stderr: string): number[] {
  return [...stderr.matchAll(/^TFJS_MODULES (\d+)$/gm)].map((m) => Number(m[1]));
}

describe('a heatmap run from a converted folder', () => {
  it('loads no TensorFlow.js module in any of its processes; converting the classifier does', async () => {
    const probe = path.join(cli.dir, 'probe.cjs');
    await fs.writeFile(probe, "process.on('exit', () => process.stderr.write(`TFJS_MODULES ${Object.keys(require.cache).filter((k) => k.includes('@tensorflow')).length}\\n`));\n");
    const photo = path.join(cli.dir, 'photo.png');
    await sharp({ create: { width: 48, height: 40, channels: 3, background: '#406080' } }).png().toFile(photo);
    const folder = path.join(cli.dir, 'converted');
    const converted = await cli.convmap('convert', ONNX, '-o', folder);
    expect(converted.code).toBe(0);
    const env = { ...cli.env(), NODE_OPTIONS: `--require ${probe}` };
    const lean = await runConvmap(['heatmap', folder, photo, '--out', path.join(cli.dir, 'out-lean'), '--quiet'], env);
    expect(lean.code).toBe(0);
    const counts = tfjsCounts(lean.stderr);
    expect(counts.length).toBeGreaterThan(0);
    expect(counts).toEqual(counts.map(() => 0));
    const converting = await runConvmap(['heatmap', ONNX, photo, '--out', path.join(cli.dir, 'out-convert'), '--quiet', '--no-cache'], env);
    expect(converting.code).toBe(0);
    expect(Math.max(...tfjsCounts(converting.stderr))).toBeGreaterThan(0);
  }, 120_000);
});
