import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type ModelHandle } from '../../main/engine/engine';
import type { OnnxRuntimeEngine } from '../../main/engine/onnx-engine';
import { isAbortError } from '../../main/engine/pool';
import { fixtureGeometry, maxAbsDiff, predictScaled, scoreCountingTiles, testPhoto, toArtifacts, useFixtureModels } from './fcn-fixture';

const photo = Object.freeze(testPhoto(90, 130));

const fx = useFixtureModels();

/** The reference: the FCN run in this process on the same resized, preprocessed photo. */
const direct = (model: tf.LayersModel, scale: number, mode: 'unit' | 'signed' | 'imagenet', channels: 1 | 3, image = photo) =>
  predictScaled(model, image, scale, mode, channels);

describe('ONNX Runtime engine (the default)', () => {
  let engine: Engine;
  let rgb: ModelHandle;
  beforeAll(async () => {
    engine = await createEngine({ workers: 2 });
    rgb = await engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'));
  });
  afterAll(async () => {
    await engine.close();
  });

  it('is what createEngine starts by default: ONNX Runtime with 2 threads, on the CPU here, saying why no GPU provider ran', () => {
    expect(engine.backend).toBe('onnx');
    expect(engine.workers).toBe(2);
    expect(engine.device).toBe('cpu');
    if (process.platform === 'linux') expect(engine.notes[0]).toMatch(/^onnx device cuda: /);
    expect(rgb.classes).toBe(3);
  });

  it('gives, per scale, the scores of the tfjs FCN run directly on the resized, preprocessed photo', async () => {
    const scales = [1, 0.6, 1.3];
    const maps = await engine.scoreMaps(rgb, photo, scales, 'signed');
    for (const [k, scale] of scales.entries()) {
      const ref = await direct(fx.rgbModel, scale, 'signed', 3);
      expect([maps[k].rows, maps[k].cols, maps[k].classes]).toEqual(ref.shape);
      expect(maxAbsDiff(maps[k].scores, ref.scores), `scale ${scale}`).toBeLessThan(1e-5);
    }
  });

  it('with transfer: true takes the weight buffer instead of copying it (the caller\'s is detached) and scores the same', async () => {
    const own = await toArtifacts(fx.rgbModel);
    const size = (own.weightData as ArrayBuffer).byteLength;
    expect(size).toBeGreaterThan(0);
    const moved = await engine.loadModel(own, fixtureGeometry(3, 'unit'), { transfer: true });
    expect((own.weightData as ArrayBuffer).byteLength).toBe(0);
    expect((fx.rgbArtifacts.weightData as ArrayBuffer).byteLength).toBe(size);
    const [map] = await engine.scoreMaps(moved, photo, [1], 'signed');
    const ref = await direct(fx.rgbModel, 1, 'signed', 3);
    expect(maxAbsDiff(map.scores, ref.scores)).toBeLessThan(1e-5);
    engine.releaseModel(moved);
  });

  it('removes the private model files a killed process left behind (stale ones only, not one another process is building from)', async () => {
    const stale = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-onnx-'));
    const fresh = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-onnx-'));
    await fs.writeFile(path.join(stale, 'model.onnx'), 'left by a killed process');
    const hourAgo = new Date(Date.now() - 3600_000);
    await fs.utimes(stale, hourAgo, hourAgo);
    try {
      const h = await engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'));
      engine.releaseModel(h);
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(fresh)).toBe(true);
    } finally {
      await fs.rm(stale, { recursive: true, force: true });
      await fs.rm(fresh, { recursive: true, force: true });
    }
  });

  it('feeds 1-channel models the luminance, and refuses a released model', async () => {
    const grey = await engine.loadModel(fx.greyArtifacts, fixtureGeometry(1, 'imagenet'));
    expect(engine.liveModels()).toBe(2);
    const [map] = await engine.scoreMaps(grey, photo, [0.8]);
    const ref = await direct(fx.greyModel, 0.8, 'imagenet', 1);
    expect(maxAbsDiff(map.scores, ref.scores)).toBeLessThan(1e-5);
    engine.releaseModel(grey);
    expect(engine.liveModels()).toBe(1);
    await expect(engine.scoreMaps(grey, photo, [1])).rejects.toThrow(/not loaded in this engine/);
  });

  it('rejects a model whose channels disagree with the geometry, and names a geometry that does not match the model', async () => {
    await expect(engine.loadModel(fx.rgbArtifacts, fixtureGeometry(1))).rejects.toThrow('the model takes 3 channels, the geometry says 1');
    const wrong = await engine.loadModel(fx.rgbArtifacts, { ...fixtureGeometry(3), stride: [4, 4] });
    await expect(engine.scoreMaps(wrong, photo, [1])).rejects.toThrow(/the geometry does not match the model/);
    engine.releaseModel(wrong);
  });

  it('keeps one session per model and a flat RSS over 200 runs, several photos in flight at once sharing it', async () => {
    const sessions = (): Promise<number> => (engine as OnnxRuntimeEngine).liveSessions();
    expect(await sessions()).toBe(1);
    const small = testPhoto(40, 52);
    const ref = await direct(fx.rgbModel, 1, 'unit', 3, small);
    const rss: number[] = [];
    for (let i = 0; i < 50; i++) {
      const maps = await Promise.all([0, 1, 2, 3].map(() => engine.scoreMaps(rgb, small, [1])));
      for (const [m] of maps) expect(maxAbsDiff(m.scores, ref.scores)).toBeLessThan(1e-5);
      expect(engine.liveModels()).toBe(1);
      rss.push(process.memoryUsage().rss);
    }
    expect(await sessions()).toBe(1);
    // After the first runs warm the allocators, 150 more runs add no more than noise.
    expect(rss[49] - rss[9]).toBeLessThan(64 * 1024 * 1024);
  });

  it('cancels a running photo: it rejects with an AbortError, none of its later tiles run, and the next photo is scored', async () => {
    const tiny = await createEngine({ workers: 2, maxTilePixels: 600 });
    try {
      const handle = await tiny.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'));
      const controller = new AbortController();
      let tilesDone = 0;
      let total = 0;
      const run = tiny.scoreMaps(handle, testPhoto(200, 300), [1, 1.5], undefined, {
        signal: controller.signal,
        onProgress: (done, all) => {
          tilesDone = done;
          total = all;
          if (done === 2) controller.abort();
        },
      });
      const err: unknown = await run.catch((e: unknown) => e);
      expect(isAbortError(err)).toBe(true);
      expect(total).toBeGreaterThan(100);
      const afterAbort = tilesDone;
      const [map] = await tiny.scoreMaps(handle, photo, [1]);
      expect(maxAbsDiff(map.scores, (await direct(fx.rgbModel, 1, 'unit', 3)).scores)).toBeLessThan(1e-5);
      // At most the one tile that was running when the signal fired finished after it.
      expect(afterAbort).toBeLessThanOrEqual(3);
    } finally {
      await tiny.close();
    }
  });

  it('keeps this thread free while a big photo runs: a 10 ms timer never waits long', async () => {
    const big = testPhoto(1200, 1600);
    let last = performance.now();
    let worst = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
    }, 10);
    try {
      await engine.scoreMaps(rgb, big, [1, 0.5]);
    } finally {
      clearInterval(timer);
    }
    // Inference runs on ONNX Runtime's threads; this thread only cuts and preprocesses tiles.
    expect(worst).toBeLessThan(500);
  });
});

describe('ONNX Runtime engine: closing', () => {
  it('closes while a tile runs on ONNX Runtime\'s thread: waits for that tile instead of stopping the thread mid-run (which aborts the process)', async () => {
    // Heavy enough that a tile of 200×200 pixels takes a good while on two threads.
    const heavy = tf.sequential();
    heavy.add(tf.layers.conv2d({ inputShape: [null, null, 3] as unknown as number[], filters: 64, kernelSize: 3, activation: 'relu' }));
    heavy.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
    heavy.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
    heavy.add(tf.layers.conv2d({ filters: 3, kernelSize: 10, activation: 'softmax' }));
    const artifacts = await toArtifacts(heavy);
    heavy.dispose();
    const engine = await createEngine({ backend: 'onnx', workers: 2, maxTilePixels: 200 * 200 });
    const handle = await engine.loadModel(artifacts, { window: [16, 16], stride: [1, 1], offset: [0, 0], channels: 3, preprocess: 'unit' });
    let closing: Promise<void> | undefined;
    const run = engine.scoreMaps(handle, testPhoto(380, 380), [1], undefined, {
      // The first tile's reply came back: the second is sent to the thread now and runs there.
      onProgress: (done) => {
        if (done === 1) setTimeout(() => (closing ??= engine.close()), 20);
      },
    });
    const err: unknown = await run.catch((e: unknown) => e);
    expect(String(err)).toBe('Error: the ONNX Runtime engine was closed');
    expect(closing).toBeDefined();
    await closing;
    await expect(engine.scoreMaps(handle, photo, [1])).rejects.toThrow('the ONNX Runtime engine is closed');
  });
});

describe('ONNX Runtime engine: tiles from a memory budget', () => {
  it('cuts a photo into stride-aligned tiles when the activations exceed the budget, with the scores of one pass', async () => {
    const engine = await createEngine({ backend: 'onnx', workers: 1, memoryBudget: 400_000 });
    try {
      const handle = await engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'));
      const { maps, tiles } = await scoreCountingTiles(engine, handle, photo, [1, 1.5]);
      expect(tiles).toBeGreaterThan(2);
      for (const [k, scale] of [1, 1.5].entries()) {
        expect(maxAbsDiff(maps[k].scores, (await direct(fx.rgbModel, scale, 'unit', 3)).scores)).toBeLessThan(1e-5);
      }
    } finally {
      await engine.close();
    }
  });
});

describe('ONNX Runtime devices', () => {
  it("falls back to the CPU with the reason when a GPU provider does not load ('auto')", async () => {
    const engine = await createEngine({ backend: 'onnx', device: 'auto', gpuProviders: ['dml', 'cuda'], workers: 1 });
    try {
      expect(engine.device).toBe('cpu');
      expect(engine.notes).toHaveLength(2);
      expect(engine.notes[0]).toMatch(/^onnx device dml: .+/);
      expect(engine.notes[1]).toMatch(/^onnx device cuda: .+/);
      const handle = await engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'));
      const [map] = await engine.scoreMaps(handle, photo, [1]);
      expect(maxAbsDiff(map.scores, (await direct(fx.rgbModel, 1, 'unit', 3)).scores)).toBeLessThan(1e-5);
    } finally {
      await engine.close();
    }
  });

  it.skipIf(process.platform !== 'linux')('fails with the reason when a device that does not load is asked for by name', async () => {
    await expect(createEngine({ backend: 'onnx', device: 'cuda' })).rejects.toThrow(/^ONNX Runtime device 'cuda' could not run the model: .+/);
  });

  it('webgpu, asked for by name: refused with the adapter\'s reason where there is no WebGPU adapter, else the same scores as the CPU', async () => {
    let engine: Engine;
    try {
      engine = await createEngine({ backend: 'onnx', device: 'webgpu', workers: 1 });
    } catch (err) {
      // This machine: Dawn finds no Vulkan adapter it supports (lavapipe lacks a feature it needs).
      expect(String(err)).toMatch(/ONNX Runtime device 'webgpu' could not run the model: .*adapter/i);
      return;
    }
    try {
      expect(engine.device).toBe('webgpu');
      const handle = await engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'));
      const [map] = await engine.scoreMaps(handle, photo, [1]);
      expect(maxAbsDiff(map.scores, (await direct(fx.rgbModel, 1, 'unit', 3)).scores)).toBeLessThan(1e-4);
    } finally {
      await engine.close();
    }
  });

  it('CONVMAP_BACKEND overrides the request, and an unknown name is refused', async () => {
    const saved = process.env.CONVMAP_BACKEND;
    try {
      process.env.CONVMAP_BACKEND = 'onnx';
      const engine = await createEngine({ backend: 'wasm', workers: 1 });
      expect(engine.backend).toBe('onnx');
      await engine.close();
      process.env.CONVMAP_BACKEND = 'gpu';
      await expect(createEngine({})).rejects.toThrow('CONVMAP_BACKEND=gpu is not a backend; use one of onnx, node, wasm, cpu, auto');
    } finally {
      if (saved === undefined) delete process.env.CONVMAP_BACKEND;
      else process.env.CONVMAP_BACKEND = saved;
    }
  });
});
