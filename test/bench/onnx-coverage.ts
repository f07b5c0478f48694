/**
 * Which torchvision architectures convert (issue 22): every .onnx file in the folders given,
 * converted by Convmap with its crop check against the ORIGINAL file in ONNX Runtime; one line of
 * JSON per file (grade, differences, time, or the refusal). Files come from
 * `scripts/onnx_fixtures.py torchvision DIR NAME SIZE OPSET [dynamic]` (random weights); the table
 * in docs/models.md is this output.
 *
 *   node bin/run-ts.mjs test/bench/onnx-coverage.ts DIR...
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { selectBackend } from '../../main/engine/backend';
import { prepareModel } from '../../main/services/models';

/** Converts one file and says how it went. */
export async function coverage(file: string): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  try {
    const prepared = await prepareModel(file, { preprocess: 'imagenet' });
    const e = prepared.info.equivalence;
    return {
      file, grade: e.grade, maxRelDiff: +e.maxRelDiff.toExponential(2), meanRelDiff: e.meanRelDiff === undefined ? null : +e.meanRelDiff.toExponential(2),
      topClassMismatch: e.topClassMismatch, cells: e.cellsChecked, window: prepared.info.window, stride: prepared.info.stride,
      padding: prepared.info.padding, ms: Math.round(performance.now() - t0),
    };
  } catch (err) {
    return { file, refused: (err as Error).message, ms: Math.round(performance.now() - t0) };
  }
}

async function main(dirs: string[]): Promise<void> {
  await selectBackend('auto');
  for (const dir of dirs) {
    for (const name of (await fs.readdir(dir)).filter((f) => f.endsWith('.onnx')).sort()) {
      console.log(JSON.stringify(await coverage(path.join(dir, name))));
    }
  }
}

if (process.argv[1]?.endsWith('onnx-coverage.ts')) await main(process.argv.slice(2));
