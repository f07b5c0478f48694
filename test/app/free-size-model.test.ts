import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FREE_INPUT_SIZE } from '../../core/model-info';
import { createAppService, type AppService } from '../../main/services/window/app-service';
import { k3Conv, k3Dense, k3Layer, k3Sequential, writeKerasArchive } from '../helpers/keras';

/**
 * A classifier saved without a fixed input size ([null, null, 3], a Keras 3 `.keras`: Conv2D 3×3 →
 * GlobalAveragePooling2D → Dense) through the window's service (issue 23): refused in one line
 * naming the file while no size is given, opened at the size the load request names (the window's
 * "Trained at" field), converted and checked against its crops. Conversions run on the calling
 * thread here to keep the test quick; the conversion worker forwards `window` as it is (convert-worker.ts).
 */

function seeded(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7919 + i * 104729.123) * 0.5);
}

describe('the app service opens a model without a fixed input size at the window the request gives', () => {
  let dir: string;
  let service: AppService;
  let file: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-free-size-'));
    file = path.join(dir, 'free_size.keras');
    await writeKerasArchive(file, k3Sequential('free', [null, null, null, 3], [
      k3Layer('Conv2D', 'c', k3Conv(4, 3, 'relu')),
      k3Layer('GlobalAveragePooling2D', 'gap', { data_format: 'channels_last', keepdims: false }),
      k3Layer('Dense', 'out', k3Dense(3, 'softmax')),
    ]), {
      'layers/conv2d': [{ shape: [3, 3, 3, 4], values: seeded(108, 1) }, { shape: [4], values: seeded(4, 2) }],
      'layers/dense': [{ shape: [4, 3], values: seeded(12, 3) }, { shape: [3], values: seeded(3, 4) }],
    });
    service = await createAppService({ userDataDir: path.join(dir, 'user'), engine: { backend: 'wasm', workers: 1 }, cacheDir: null, convertInWorker: false });
  });
  afterAll(async () => {
    await service.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('refuses it without a size, in one line naming the file and saying what to give', async () => {
    const err = await service.loadModel({ path: file }).then(() => null, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect(err?.message).toContain(`${file}: ${FREE_INPUT_SIZE} ([null, null, null, 3]): give the size it was trained at`);
    expect(err?.message).not.toContain('\n');
  });

  it('opens it with window 64: a 64×64 window, every checked cell equal to its crop', async () => {
    const summary = await service.loadModel({ path: file, window: 64 });
    expect(summary.info.window).toEqual([64, 64]);
    expect(summary.info.stride).toEqual([1, 1]);
    expect(summary.info.equivalence.cellsChecked).toBeGreaterThanOrEqual(9);
    expect(summary.info.equivalence.exact).toBe(true);
  });
});
