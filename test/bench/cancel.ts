/**
 * Bench cases `cancel-onnx` and `cancel-vgg16`: what Cancel costs on ONNX Runtime. A tile cannot be
 * interrupted inside onnxruntime-node 1.30, so the engine kills its process when the tile's rest
 * would take longer than a restart, and reopens the model from its file (main/engine/onnx-engine.ts).
 * Each run, in the same process: one tile's time, a small job alone, then a photo cancelled a
 * quarter into its tile: the acknowledgement, and the small job started right after it. Without the
 * kill the small job would wait for the tile's other three quarters (`waitWithoutKillMs`).
 */
import * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../../main/io/decode';
import { createEngine, type ModelGeometry } from '../../main/engine/engine';
import type { OnnxRuntimeEngine } from '../../main/engine/onnx-engine';
import { median } from './timing';

/** A seeded pattern photo of h × w RGB pixels. */
function photo(h: number, w: number): RgbImage {
  const data = new Uint8Array(h * w * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  return { data, width: w, height: h, channels: 3 };
}

const time = async (f: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
};

/**
 * Cancels a one-tile photo of `bigSide`² a quarter into its tile, `runs` times.
 * @param artifacts the FCN; its geometry `geometry`; `smallSide` the small job's photo side.
 */
export async function measureCancel(name: string, artifacts: tf.io.ModelArtifacts, geometry: ModelGeometry, bigSide: number, smallSide: number, runs: number): Promise<Record<string, unknown>> {
  const engine = await createEngine({ backend: 'onnx', maxTilePixels: bigSide * bigSide }) as OnnxRuntimeEngine;
  try {
    const handle = await engine.loadModel(artifacts, geometry, { transfer: true });
    const big = photo(bigSide, bigSide);
    const small = photo(smallSide, smallSide);
    await engine.scoreMaps(handle, small, [1]);
    const rows: { tileMs: number; smallAloneMs: number; ackMs: number; smallAfterCancelMs: number; restarted: number }[] = [];
    for (let r = 0; r < runs; r++) {
      const tileMs = await time(() => engine.scoreMaps(handle, big, [1]));
      const smallAloneMs = await time(() => engine.scoreMaps(handle, small, [1]));
      const { pid } = await engine.hostState();
      const c = new AbortController();
      const cancelled = engine.scoreMaps(handle, big, [1], undefined, { signal: c.signal }).catch((e: unknown) => e);
      await new Promise((res) => setTimeout(res, tileMs / 4));
      const ackMs = await time(async () => {
        c.abort();
        await cancelled;
      });
      const smallAfterCancelMs = await time(() => engine.scoreMaps(handle, small, [1]));
      rows.push({ tileMs, smallAloneMs, ackMs, smallAfterCancelMs, restarted: (await engine.hostState()).pid !== pid ? 1 : 0 });
    }
    const med = (k: keyof (typeof rows)[number]): number => median(rows.map((x) => x[k]));
    return {
      case: name, backend: engine.backend, threads: engine.workers, photo: `${bigSide}×${bigSide}, one tile`, runs,
      restartedRuns: rows.reduce((a, x) => a + x.restarted, 0),
      tileMs: Math.round(med('tileMs')), ackMs: +med('ackMs').toFixed(2), smallJobAloneMs: Math.round(med('smallAloneMs')),
      smallJobAfterCancelMs: Math.round(med('smallAfterCancelMs')),
      waitWithoutKillMs: Math.round(0.75 * med('tileMs')),
      nextJobWaitPerTile: +((med('smallAfterCancelMs') - med('smallAloneMs')) / med('tileMs')).toFixed(2),
    };
  } finally {
    await engine.close();
  }
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
  return measureCancel('cancel-onnx', artifacts, { window: [16, 16], stride: [1, 1], offset: [0, 0], channels: 3, preprocess: 'unit' }, 700, 40, runs);
}
