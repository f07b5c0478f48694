import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { checkEquivalence } from '../../main/convert/equivalence';
import { loadClassifier } from '../../main/model/load';
import { useWasm } from '../helpers/models';
import { tempDir } from '../helpers/temp-dir';

/**
 * Real topologies from public repositories (../shared/corpus/topologies) whose weight files are
 * too big to store: tools/synth_weights.py writes deterministic weights of the real names, shapes
 * and dtypes, and the folder must load and convert. The crops through the original model are the
 * oracle; with synthetic weights only the structure is tested, not accuracy.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shared = path.resolve(repoRoot, '../shared/corpus');
const synth = path.join(shared, 'tools/synth_weights.py');

function whyNot(): string | null {
  if (!existsSync(synth)) return `${synth} is absent`;
  const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) return 'python3 with numpy is not available (synth_weights.py needs it)';
  return null;
}
const skip = whyNot();
if (skip) console.warn(`topology tests skipped: ${skip}`);

beforeAll(useWasm);
const root = tempDir('convmap-topologies-');

/** Copies the topology's model.json with synthetic shards into a temp folder; returns the folder. */
function synthesise(name: string, seed: number): string {
  const out = path.join(root.path, name);
  const run = spawnSync('python3', [synth, path.join(shared, 'topologies', name, 'model.json'), '--seed', String(seed), '--out', out], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`synth_weights.py failed: ${run.stderr}`);
  return out;
}

describe.skipIf(skip !== null)('real topologies with synthetic weights (../shared/corpus/topologies)', () => {
  it('Keras 3.8 MobileNetV2 α 1.0 nested as a sub-model (DepthwiseConv2D weights named "kernel" by Keras 3) loads and converts (224 window, stride 64 with its MaxPool, 10 classes); graded close or approximate against its crops', async () => {
    const dir = synthesise('mobilenetv2_100_keras38_nested_lukaskrisna', 1);
    const loaded = await loadClassifier(dir);
    try {
      const c = convertClassifier(loaded.model, loaded.file);
      try {
        expect({ window: c.window, stride: c.stride, classes: c.classes, boundary: c.boundary.shape }).toEqual({ window: [224, 224], stride: [64, 64], classes: 10, boundary: [3, 3, 128] });
        const report = await checkEquivalence(loaded.model, c, loaded.file, { cellsPerAxis: 3, preprocess: 'signed' });
        expect(report.cellsChecked).toBe(9);
        expect(report.grade === 'close' || report.grade === 'approximate').toBe(true);
      } finally {
        c.fcn.dispose();
      }
    } finally {
      loaded.model.dispose();
    }
  });
});
