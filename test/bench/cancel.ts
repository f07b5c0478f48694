/**
 * Bench case `cancel-onnx`: what Cancel costs on ONNX Runtime. The engine acknowledges at once, but
 * the tile already on ONNX Runtime's thread runs to its end (onnxruntime-node 1.30 cannot stop it:
 * see main/engine/onnx-engine.ts), so the next job waits for that tile's rest. Reports one tile's
 * time, the acknowledgement, and a small job's time alone and right after a cancel a quarter into
 * the tile, all in the same run.
 */
import * as tf from '@tensorflow/tfjs';
import { createEngine } from '../../main/engine/engine';
import type { RgbImage } from '../../main/engine/decode';

/** A seeded pattern photo of h × w RGB pixels. */
function photo(h: number, w: number): RgbImage {
  const data = new Uint8Array(h * w * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  return { data, width: w, height: h, channels: 3 };
}

export async function cancelOnnx(runs: number): Promise<Record<string, unknown>> {
  await tf.setBackend('cpu');
  // Four valid 3×3 convolutions of 64 filters and an 8×8 head: window 16, stride 1.
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [null, null, 3] as unknown as number[], filters: 64, kernelSize: 3, activation: 'relu' }));
  for (let i = 0; i < 3; i++) m.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
  m.add(tf.layers.conv2d({ filters: 3, kernelSize: 8, activation: 'softmax' }));
  let artifacts: tf.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  m.dispose();
  if (!artifacts) throw new Error('model.save did not call the handler');
  const engine = await createEngine({ backend: 'onnx' });
  try {
    const handle = await engine.loadModel(artifacts, { window: [16, 16], stride: [1, 1], offset: [0, 0], channels: 3, preprocess: 'unit' });
    const big = photo(700, 700);
    const small = photo(40, 40);
    const time = async (f: () => Promise<unknown>): Promise<number> => {
      const t0 = performance.now();
      await f();
      return performance.now() - t0;
    };
    await engine.scoreMaps(handle, small, [1]);
    const rows: { tileMs: number; smallAloneMs: number; ackMs: number; smallAfterCancelMs: number }[] = [];
    for (let r = 0; r < runs; r++) {
      const tileMs = await time(() => engine.scoreMaps(handle, big, [1]));
      const smallAloneMs = await time(() => engine.scoreMaps(handle, small, [1]));
      const c = new AbortController();
      const cancelled = engine.scoreMaps(handle, big, [1], undefined, { signal: c.signal }).catch((e: unknown) => e);
      await new Promise((res) => setTimeout(res, tileMs / 4));
      const ackMs = await time(async () => {
        c.abort();
        await cancelled;
      });
      const smallAfterCancelMs = await time(() => engine.scoreMaps(handle, small, [1]));
      rows.push({ tileMs, smallAloneMs, ackMs, smallAfterCancelMs });
    }
    const med = (k: keyof (typeof rows)[number]): number => [...rows.map((x) => x[k])].sort((a, b) => a - b)[Math.floor(rows.length / 2)];
    return {
      case: 'cancel-onnx', backend: engine.backend, threads: engine.workers, photo: '700×700, one tile', runs,
      tileMs: Math.round(med('tileMs')), ackMs: +med('ackMs').toFixed(2), smallJobAloneMs: Math.round(med('smallAloneMs')),
      smallJobAfterCancelMs: Math.round(med('smallAfterCancelMs')),
      // ≈ 0.75: the next job waits for the three quarters of the cancelled tile that were left.
      nextJobWaitPerTile: +((med('smallAfterCancelMs') - med('smallAloneMs')) / med('tileMs')).toFixed(2),
    };
  } finally {
    await engine.close();
  }
}
