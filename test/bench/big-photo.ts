/**
 * Bench case `picture-100mp`: a 10000×10000 one-bit PNG through the batch pipeline (built-in model,
 * default scales, boxes and legend): time per photo and the process's peak RSS (this case runs in
 * its own child process, so maxRSS is the case's alone).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeRecipe } from '../../core/recipe';
import { createEngine } from '../../main/engine/engine';
import { runBatch } from '../../main/services/batch';
import { prepareModel } from '../../main/services/models';
import { writeBigBitonalPng } from '../helpers/big-photo';

export async function picture100mp(runs: number): Promise<Record<string, unknown>> {
  const side = 10_000;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-bench-100mp-'));
  try {
    const photo = path.join(dir, 'big.png');
    await writeBigBitonalPng(photo, side);
    const prepared = await prepareModel(undefined);
    const engine = await createEngine({ workers: 1 });
    const times: number[] = [];
    try {
      const handle = await engine.loadModel(prepared.artifacts, prepared.info);
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        const s = await runBatch({
          engine, handle, info: prepared.info, photos: [photo], outDir: path.join(dir, `out-${i}`),
          options: { recipe: makeRecipe({ scales: 'auto', boxes: true, legend: true, classChoice: 'any' }) },
        });
        if (s.done !== 1) throw new Error(`the 100 MP photo was not done: ${JSON.stringify(s.failed)}`);
        times.push(performance.now() - t0);
      }
    } finally {
      await engine.close();
    }
    return {
      case: 'picture-100mp', photo: `${side}×${side} 1-bit PNG`, backend: engine.backend,
      msPerPhoto: Math.round(times.reduce((a, b) => a + b, 0) / times.length), peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
