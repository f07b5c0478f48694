/**
 * A GPU provider that loads (its probe session opens) but fails on the real model: the model runs on
 * the CPU, with the provider's reason kept in engine.deviceFallbacks. There is no GPU here, so the
 * ONNX Runtime process's test hook (CONVMAP_TEST_DEVICE_FAILS) lets the CPU stand in for 'cuda' and
 * makes that stand-in fail; the fallback itself, and the scores, are the real thing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type ModelHandle } from '../../main/engine/engine';
import { forkOnnxHostWith } from '../../main/engine/onnx-host';
import { fixtureGeometry, maxAbsDiff, predictScaled, testPhoto, useFixtureModels } from './fcn-fixture';

const photo = Object.freeze(testPhoto(70, 90));
const other = Object.freeze(testPhoto(50, 64));
const fx = useFixtureModels();

function engineWhose(device: 'cuda' | 'dml', fails: 'open' | 'run'): Promise<Engine> {
  return createEngine({ backend: 'onnx', workers: 1, spawnOnnxHost: forkOnnxHostWith({ ...process.env, CONVMAP_TEST_DEVICE_FAILS: `${device}:${fails}` }) });
}

describe.each([
  { fails: 'open' as const, line: /^cuda could not open the model \(.*test hook: cuda fails on every model\): it runs on the CPU$/ },
  { fails: 'run' as const, line: /^cuda failed on a pass of the model \(test hook: cuda fails on every pass\): it runs on the CPU$/ },
])('a device that fails on the model ($fails)', ({ fails, line }) => {
  let engine: Engine;
  let handle: ModelHandle;
  beforeAll(async () => {
    engine = await engineWhose('cuda', fails);
    handle = await engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'));
  });
  afterAll(async () => {
    await engine.close();
  });

  it('the model runs on the CPU: the scores of the tfjs FCN run directly, photo after photo, and the reason is said once', async () => {
    expect(engine.device).toBe('cuda');
    expect(engine.deviceFallbacks ?? []).toHaveLength(fails === 'open' ? 1 : 0);
    for (const [image, scales] of [[photo, [1, 0.7]], [other, [1]], [photo, [1.2]]] as const) {
      const maps = await engine.scoreMaps(handle, image, scales, 'signed');
      for (const [k, scale] of scales.entries()) {
        const ref = await predictScaled(fx.rgbModel, image, scale, 'signed', 3);
        expect([maps[k].rows, maps[k].cols, maps[k].classes]).toEqual(ref.shape);
        expect(maxAbsDiff(maps[k].scores, ref.scores), `scale ${scale}`).toBeLessThan(1e-5);
      }
    }
    expect(engine.deviceFallbacks).toHaveLength(1);
    expect(engine.deviceFallbacks?.[0]).toMatch(line);
  });

  it('a second model falls back on its own, with its own line only if the reason differs', async () => {
    const second = await engine.loadModel(fx.greyArtifacts, fixtureGeometry(1, 'unit'));
    const [map] = await engine.scoreMaps(second, photo, [1], 'unit');
    const ref = await predictScaled(fx.greyModel, photo, 1, 'unit', 1);
    expect(maxAbsDiff(map.scores, ref.scores)).toBeLessThan(1e-5);
    // The same hook's reason for both models: one line.
    expect(engine.deviceFallbacks).toHaveLength(1);
    engine.releaseModel(second);
  });
});

describe('a device that works', () => {
  it('leaves deviceFallbacks empty (the CPU here, nothing stood in)', async () => {
    const engine = await createEngine({ backend: 'onnx', workers: 1 });
    try {
      const handle = await engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'));
      await engine.scoreMaps(handle, photo, [1]);
      expect(engine.device).toBe('cpu');
      expect(engine.deviceFallbacks).toEqual([]);
    } finally {
      await engine.close();
    }
  });
});
