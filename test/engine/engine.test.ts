import type * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type ModelHandle } from '../../main/engine/engine';
import { isAbortError } from '../../main/io/abort';
import { tfjsNodeInstalled } from '../helpers/installed';
import { fixtureGeometry, maxAbsDiff, predictScaled, scoreCountingTiles, testPhoto, useFixtureModels } from './fcn-fixture';

/** These cases test the tfjs worker pool (test/engine/onnx-engine.test.ts covers ONNX Runtime, the default). */
const TFJS = tfjsNodeInstalled ? 'node' : 'wasm';

const photo = Object.freeze(testPhoto(90, 130));

const fx = useFixtureModels();

/** The reference: the FCN run in this process on the same resized, preprocessed photo. */
const direct = (model: tf.LayersModel, scale: number, mode: 'unit' | 'signed' | 'imagenet', channels: 1 | 3, image = photo) =>
  predictScaled(model, image, scale, mode, channels);

describe('engine', () => {
  let engine: Engine;
  let rgb: ModelHandle;
  beforeAll(async () => {
    engine = await createEngine({ backend: TFJS, workers: 2 });
    rgb = await engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'));
  });
  afterAll(async () => {
    await engine.close();
  });

  it('reports the backend its workers run (native TensorFlow when installed, else wasm)', () => {
    expect(engine.backend).toBe(tfjsNodeInstalled ? 'node' : 'wasm');
    expect(engine.workers).toBe(2);
    expect(rgb.classes).toBe(3);
  });

  it('gives, per scale, the scores of the FCN run directly on the resized, preprocessed photo', async () => {
    const scales = [1, 0.6, 1.3];
    const maps = await engine.scoreMaps(rgb, photo, scales, 'signed');
    expect(maps.map((m) => m.scale)).toEqual(scales);
    for (const [k, scale] of scales.entries()) {
      const map = maps[k];
      const ref = await direct(fx.rgbModel, scale, 'signed', 3);
      expect(map.imageSize).toEqual([90, 130]);
      expect(map.scaledSize).toEqual([Math.round(scale * 90), Math.round(scale * 130)]);
      expect([map.rows, map.cols, map.classes]).toEqual(ref.shape);
      expect(map.geometry).toEqual({ window: [16, 16], stride: [2, 2], offset: [0, 0] });
      expect(maxAbsDiff(map.scores, ref.scores), `scale ${scale}`).toBeLessThan(1e-5);
    }
  });

  it('uses the model\'s own preprocessing when none is given', async () => {
    const [map] = await engine.scoreMaps(rgb, photo, [1]);
    expect(maxAbsDiff(map.scores, (await direct(fx.rgbModel, 1, 'unit', 3)).scores)).toBeLessThan(1e-5);
  });

  it('feeds 1-channel models the luminance', async () => {
    const grey = await engine.loadModel(fx.greyArtifacts, fixtureGeometry(1, 'imagenet'));
    const [map] = await engine.scoreMaps(grey, photo, [0.8]);
    const ref = await direct(fx.greyModel, 0.8, 'imagenet', 1);
    expect([map.rows, map.cols, map.classes]).toEqual(ref.shape);
    expect(maxAbsDiff(map.scores, ref.scores)).toBeLessThan(1e-5);
    engine.releaseModel(grey);
    await expect(engine.scoreMaps(grey, photo, [1])).rejects.toThrow(/not loaded in this engine/);
  });

  it('gives a map with 0 cells, without throwing, at a scale where the photo is smaller than the window', async () => {
    const maps = await engine.scoreMaps(rgb, photo, [0.1, 0.001]);
    expect(maps[0]).toMatchObject({ scaledSize: [9, 13], rows: 0, cols: 0, classes: 3 });
    expect(maps[0].scores).toHaveLength(0);
    expect(maps[1]).toMatchObject({ scaledSize: [0, 0], rows: 0, cols: 0 });
  });

  it('reports progress tile by tile up to the total over all scales', async () => {
    const calls: [number, number][] = [];
    await engine.scoreMaps(rgb, photo, [1, 0.1, 0.5], undefined, { onProgress: (done, total) => calls.push([done, total]) });
    expect(calls.length).toBeGreaterThan(0);
    const total = calls[0][1];
    expect(calls.map((c) => c[0])).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(calls.every((c) => c[1] === total)).toBe(true);
  });

  it('does not leak tensors in the workers across runs', async () => {
    await engine.scoreMaps(rgb, photo, [1, 0.7]);
    const before = await engine.workerTensors();
    for (let i = 0; i < 3; i++) await engine.scoreMaps(rgb, photo, [1, 0.7, 1.2]);
    expect(await engine.workerTensors()).toEqual(before);
  });

  it('rejects a model whose channels disagree with the geometry, and bad geometry', async () => {
    await expect(engine.loadModel(fx.rgbArtifacts, fixtureGeometry(1))).rejects.toThrow('the model takes 3 channels, the geometry says 1');
    await expect(engine.loadModel(fx.rgbArtifacts, { ...fixtureGeometry(3), stride: [0, 2] })).rejects.toThrow(/stride must be a pair of positive integers/);
  });

  it('names a geometry that does not match the model instead of returning misplaced cells', async () => {
    const wrong = await engine.loadModel(fx.rgbArtifacts, { ...fixtureGeometry(3), stride: [4, 4] });
    await expect(engine.scoreMaps(wrong, photo, [1])).rejects.toThrow(/the geometry does not match the model/);
    engine.releaseModel(wrong);
  });

  it('cancels: an aborted call rejects with an AbortError and the engine keeps working', async () => {
    const controller = new AbortController();
    const big = testPhoto(400, 600);
    const run = engine.scoreMaps(rgb, big, [1, 1.5, 2], undefined, {
      signal: controller.signal,
      onProgress: (done) => { if (done === 1) controller.abort(); },
    });
    const err: unknown = await run.catch((e: unknown) => e);
    expect(isAbortError(err)).toBe(true);
    const already = new AbortController();
    already.abort();
    await expect(engine.scoreMaps(rgb, photo, [1], undefined, { signal: already.signal })).rejects.toMatchObject({ name: 'AbortError' });
    const [map] = await engine.scoreMaps(rgb, photo, [1]);
    expect(maxAbsDiff(map.scores, (await direct(fx.rgbModel, 1, 'unit', 3)).scores)).toBeLessThan(1e-5);
  });
});

describe('engine with tiny tiles', () => {
  it('gives the same scores when every photo is cut into many tiles', async () => {
    const engine = await createEngine({ backend: TFJS, workers: 2, maxTilePixels: 600 });
    try {
      const handle = await engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'));
      const { maps, tiles } = await scoreCountingTiles(engine, handle, photo, [1, 0.75]);
      expect(tiles).toBeGreaterThan(20);
      for (const [k, scale] of [1, 0.75].entries()) {
        expect(maxAbsDiff(maps[k].scores, (await direct(fx.rgbModel, scale, 'unit', 3)).scores)).toBeLessThan(1e-5);
      }
    } finally {
      await engine.close();
    }
  });
});

describe('engine tiles and padding', () => {
  it('splits a valid-padding photo between workers but keeps a same-padding one whole (tile borders would change its scores)', async () => {
    const engine = await createEngine({ backend: TFJS, workers: 2 });
    try {
      const valid = await engine.loadModel(fx.rgbArtifacts, { ...fixtureGeometry(3, 'unit'), padding: 'valid' });
      const same = await engine.loadModel(fx.rgbArtifacts, { ...fixtureGeometry(3, 'unit'), padding: 'same' });
      const tilesOf = async (handle: ModelHandle): Promise<number> => (await scoreCountingTiles(engine, handle, photo, [1])).tiles;
      expect(await tilesOf(valid)).toBe(2);
      expect(await tilesOf(same)).toBe(1);
    } finally {
      await engine.close();
    }
  });
});

describe('engine lifecycle', () => {
  it('close() stops every worker: pending and later calls reject, and nothing keeps the process alive', async () => {
    const engine = await createEngine({ workers: 1, backend: 'cpu' });
    expect(engine.backend).toBe('cpu');
    const handle = await engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3));
    const pending = engine.scoreMaps(handle, testPhoto(300, 300), [1, 2]).catch((e: unknown) => e);
    await engine.close();
    expect(await pending).toMatchObject({ message: expect.stringMatching(/closed/) });
    await expect(engine.scoreMaps(handle, photo, [1])).rejects.toThrow(/closed/);
    await engine.close();
  });

  it.skipIf(tfjsNodeInstalled)('fails to start with a clear message when the requested backend cannot load', async () => {
    await expect(createEngine({ workers: 1, backend: 'node' })).rejects.toThrow(/inference worker failed to start: backend 'node' could not be loaded/);
  });
});
