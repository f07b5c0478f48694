import { spawnSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type ModelGeometry, type ModelHandle } from '../../main/engine/engine';
import { shouldStopRunningTile, type OnnxRuntimeEngine } from '../../main/engine/onnx-engine';
import { forkOnnxHost, prestartOnnxHost, type OnnxHost, type SpawnOnnxHost } from '../../main/engine/onnx-host';
import { isAbortError } from '../../main/io/abort';
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

  it("keeps a loaded model as ONNX Runtime's optimised CPU model in a private folder (mode 0700) named after this process, without the weights or the plain model, and removes it on release", async () => {
    const h = await engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'));
    const mine = (await fs.readdir(os.tmpdir())).filter((n) => n.startsWith(`convmap-onnx-${process.pid}-`));
    const folders = await Promise.all(mine.map(async (n) => path.join(os.tmpdir(), n, h.id)));
    const dir = folders.find((d) => existsSync(d));
    expect(dir).toBeDefined();
    expect((await fs.stat(path.dirname(dir as string))).mode & 0o777).toBe(0o700);
    expect(await fs.readdir(dir as string)).toEqual(['model.cpu.onnx']);
    engine.releaseModel(h);
    await expect.poll(() => existsSync(dir as string)).toBe(false);
  });

  it("removes the model folders of engine processes that are gone, and keeps a running one's", async () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    const stale = await fs.mkdtemp(path.join(os.tmpdir(), `convmap-onnx-${gone}-`));
    const live = await fs.mkdtemp(path.join(os.tmpdir(), `convmap-onnx-${process.pid}-`));
    await fs.writeFile(path.join(stale, 'model.onnx'), 'left by a killed process');
    const other = await createEngine({ backend: 'onnx', workers: 1 });
    try {
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(live)).toBe(true);
    } finally {
      await other.close();
      await fs.rm(stale, { recursive: true, force: true });
      await fs.rm(live, { recursive: true, force: true });
    }
  });

  it('loadModel calls onRequested once, when the model\'s opening is under way in the process and before it resolves', async () => {
    const calls: string[] = [];
    const handle = await engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'), { onRequested: () => calls.push('requested') });
    calls.push('loaded');
    expect(calls).toEqual(['requested', 'loaded']);
    engine.releaseModel(handle);
  });

  it('setSpinning reopens a loaded model with its threads sleeping or spinning: one session, the same scores', async () => {
    const onnx = engine as OnnxRuntimeEngine;
    const own = await engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'));
    const before = await onnx.hostState();
    expect(before.spinning[own.id]).toBe(true);
    const [spun] = await engine.scoreMaps(own, photo, [1], 'signed');
    await engine.setSpinning?.(own, false);
    const asleep = await onnx.hostState();
    expect(asleep.spinning[own.id]).toBe(false);
    expect(asleep.sessions).toBe(before.sessions);
    const [slept] = await engine.scoreMaps(own, photo, [1], 'signed');
    expect(slept.scores).toEqual(spun.scores);
    await engine.setSpinning?.(own, true);
    expect((await onnx.hostState()).spinning[own.id]).toBe(true);
    engine.releaseModel(own);
    await expect(engine.setSpinning?.(own, false)).rejects.toThrow(/not loaded/);
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
    const sessions = async (): Promise<number> => (await (engine as OnnxRuntimeEngine).hostState()).sessions;
    expect(await sessions()).toBe(1);
    const small = testPhoto(40, 52);
    const ref = await direct(fx.rgbModel, 1, 'unit', 3, small);
    const rss: number[] = [];
    const hostPeak: number[] = [];
    for (let i = 0; i < 50; i++) {
      const maps = await Promise.all([0, 1, 2, 3].map(() => engine.scoreMaps(rgb, small, [1])));
      for (const [m] of maps) expect(maxAbsDiff(m.scores, ref.scores)).toBeLessThan(1e-5);
      expect(engine.liveModels()).toBe(1);
      rss.push(process.memoryUsage().rss);
      hostPeak.push((await (engine as OnnxRuntimeEngine).hostState()).peakRssBytes);
    }
    expect(await sessions()).toBe(1);
    // After the first runs warm the allocators, 150 more runs add no more than noise, here and in ONNX Runtime's process.
    expect(rss[49] - rss[9]).toBeLessThan(64 * 1024 * 1024);
    expect(hostPeak[49] - hostPeak[9]).toBeLessThan(64 * 1024 * 1024);
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

describe('ONNX Runtime engine: stopping the running tile', () => {
  const heavyGeometry: ModelGeometry = { window: [16, 16], stride: [1, 1], offset: [0, 0], channels: 3, preprocess: 'unit' };
  let heavy: tf.io.ModelArtifacts;
  beforeAll(async () => {
    // Heavy enough that one 600×600 tile takes a second or more on two threads.
    const m = tf.sequential();
    m.add(tf.layers.conv2d({ inputShape: [null, null, 3] as unknown as number[], filters: 64, kernelSize: 3, activation: 'relu' }));
    m.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
    m.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
    m.add(tf.layers.conv2d({ filters: 3, kernelSize: 10, activation: 'softmax' }));
    heavy = await toArtifacts(m);
    m.dispose();
  });
  const gone = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  };
  const host = (e: Engine): Promise<{ pid: number; sessions: number }> => (e as OnnxRuntimeEngine).hostState();

  it('cancel kills the process inside the tile, and a new one reopens every model: a load that waited behind the tile and the next photo are right', async () => {
    const engine = await createEngine({ backend: 'onnx', workers: 2, maxTilePixels: 1e6 });
    try {
      const handle = await engine.loadModel(heavy, heavyGeometry);
      const before = await host(engine);
      const controller = new AbortController();
      const run = engine.scoreMaps(handle, testPhoto(600, 600), [1], undefined, { signal: controller.signal });
      await new Promise((r) => setTimeout(r, 300));
      // Posted now, it waits in the process behind the running tile; the restart sends it again.
      const loading = engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'));
      controller.abort();
      expect(isAbortError(await run.catch((e: unknown) => e))).toBe(true);
      await expect.poll(() => gone(before.pid)).toBe(true);
      const rgb = await loading;
      const [map] = await engine.scoreMaps(rgb, photo, [1]);
      expect(maxAbsDiff(map.scores, (await direct(fx.rgbModel, 1, 'unit', 3)).scores)).toBeLessThan(1e-5);
      const after = await host(engine);
      expect(after.pid).not.toBe(before.pid);
      expect(after.sessions).toBe(2);
      const small = testPhoto(40, 40);
      const [again] = await engine.scoreMaps(handle, small, [1]);
      const model = await tf.loadLayersModel(tf.io.fromMemory(heavy));
      expect(maxAbsDiff(again.scores, (await predictScaled(model, small, 1, 'unit', 3)).scores)).toBeLessThan(1e-5);
      model.dispose();
    } finally {
      await engine.close();
    }
  });

  it('a process that dies (killed from outside) fails the photo it was running with the reason, and the next photo gets a new one', async () => {
    const engine = await createEngine({ backend: 'onnx', workers: 2, maxTilePixels: 1e5 });
    try {
      const handle = await engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'));
      const { pid } = await host(engine);
      // Killed with the first tile done and the next one sent (tiles of one scale: no resize between them).
      const run = engine.scoreMaps(handle, testPhoto(600, 800), [1], undefined, {
        onProgress: (done) => {
          if (done === 1) process.kill(pid, 'SIGKILL');
        },
      });
      await expect(run).rejects.toThrow('the ONNX Runtime process was killed (SIGKILL: the system may have run out of memory)');
      const [map] = await engine.scoreMaps(handle, photo, [1]);
      expect(maxAbsDiff(map.scores, (await direct(fx.rgbModel, 1, 'unit', 3)).scores)).toBeLessThan(1e-5);
      expect((await host(engine)).pid).not.toBe(pid);
    } finally {
      await engine.close();
    }
  });

  it('close during a tile ends the process at once and removes the model folder; later calls are refused', async () => {
    const engine = await createEngine({ backend: 'onnx', workers: 2, maxTilePixels: 1e6 });
    const handle = await engine.loadModel(heavy, heavyGeometry);
    const { pid } = await host(engine);
    const mine = async (): Promise<string[]> => (await fs.readdir(os.tmpdir())).filter((n) => n.startsWith(`convmap-onnx-${process.pid}-`) && existsSync(path.join(os.tmpdir(), n, handle.id)));
    const [folder] = await mine();
    expect(folder).toBeDefined();
    const run = engine.scoreMaps(handle, testPhoto(600, 600), [1]).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    await engine.close();
    expect(String(await run)).toBe('Error: the ONNX Runtime engine was closed');
    expect(gone(pid)).toBe(true);
    expect(existsSync(path.join(os.tmpdir(), folder))).toBe(false);
    await expect(engine.scoreMaps(handle, photo, [1])).rejects.toThrow('the ONNX Runtime engine is closed');
  });

  it('close right after a cancel that restarts the process: the photo queued behind is refused, not left waiting, and the model folder goes', async () => {
    const engine = await createEngine({ backend: 'onnx', workers: 2, maxTilePixels: 1e6 });
    const handle = await engine.loadModel(heavy, heavyGeometry);
    const mine = async (): Promise<string[]> => (await fs.readdir(os.tmpdir())).filter((n) => n.startsWith(`convmap-onnx-${process.pid}-`) && existsSync(path.join(os.tmpdir(), n, handle.id)));
    const [folder] = await mine();
    const controller = new AbortController();
    const first = engine.scoreMaps(handle, testPhoto(600, 600), [1], undefined, { signal: controller.signal }).catch((e: unknown) => e);
    const queued = engine.scoreMaps(handle, testPhoto(600, 600), [1]).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    await engine.close();
    expect(isAbortError(await first)).toBe(true);
    expect(String(await queued)).toMatch(/^Error: the ONNX Runtime engine (is|was) closed$/);
    expect(existsSync(path.join(os.tmpdir(), folder))).toBe(false);
  });

  it('stops a tile only when its expected rest is longer than a restart (stopped where either is not known yet)', () => {
    // A 4 s tile 1 s in, 2.5 s to restart: 3 s left → stop. 3.5 s in: 0.5 s left → let it finish.
    expect(shouldStopRunningTile(4000, 1000, 2500)).toBe(true);
    expect(shouldStopRunningTile(4000, 3500, 2500)).toBe(false);
    expect(shouldStopRunningTile(4000, 1500, 2500)).toBe(false);
    expect(shouldStopRunningTile(undefined, 0, 2500)).toBe(true);
    expect(shouldStopRunningTile(4000, 3900, undefined)).toBe(true);
  });
});

describe('ONNX Runtime engine: a process started ahead (prestartOnnxHost)', () => {
  /** forkOnnxHost, counting its starts and keeping each process's handle and how it ended. */
  const recording = (): { spawn: SpawnOnnxHost; hosts: OnnxHost[]; ends: (NodeJS.Signals | null | undefined)[] } => {
    const hosts: OnnxHost[] = [];
    const ends: (NodeJS.Signals | null | undefined)[] = [];
    const spawn: SpawnOnnxHost = (file, execArgv, events) => {
      const host = forkOnnxHost(file, execArgv, { message: events.message, exit: (code, signal) => {
        ends.push(signal);
        events.exit(code, signal);
      } });
      hosts.push(host);
      return host;
    };
    return { spawn, hosts, ends };
  };

  it('the engine takes the process over instead of starting one, scores as the model does, and a restart starts a new one', async () => {
    const rec = recording();
    const early = prestartOnnxHost(rec.spawn);
    expect(rec.hosts).toHaveLength(1);
    const engine = await createEngine({ backend: 'onnx', workers: 2, spawnOnnxHost: early.spawn });
    try {
      expect(rec.hosts).toHaveLength(1);
      // Taken: dispose leaves the engine's process alone.
      early.dispose();
      const handle = await engine.loadModel(fx.rgbArtifacts, fixtureGeometry(3, 'unit'));
      const [map] = await engine.scoreMaps(handle, photo, [1]);
      expect(maxAbsDiff(map.scores, (await direct(fx.rgbModel, 1, 'unit', 3)).scores)).toBeLessThan(1e-5);
      process.kill((await (engine as OnnxRuntimeEngine).hostState()).pid, 'SIGKILL');
      await expect.poll(() => rec.ends.length).toBe(1);
      // The end was heard: the engine is already starting another process, which this photo waits for.
      const [again] = await engine.scoreMaps(handle, photo, [1]);
      expect(maxAbsDiff(again.scores, map.scores)).toBe(0);
      expect(rec.hosts).toHaveLength(2);
    } finally {
      await engine.close();
    }
  });

  it('dispose kills a process that no engine took', async () => {
    const rec = recording();
    const early = prestartOnnxHost(rec.spawn);
    early.dispose();
    await expect.poll(() => rec.ends).toEqual(['SIGKILL']);
  });

  it('a process that ended before the engine took it fails the engine\'s start (told, not waited for forever)', async () => {
    const rec = recording();
    const early = prestartOnnxHost(rec.spawn);
    rec.hosts[0].kill();
    await expect.poll(() => rec.ends).toEqual(['SIGKILL']);
    await expect(createEngine({ backend: 'onnx', workers: 1, spawnOnnxHost: early.spawn })).rejects.toThrow('the ONNX Runtime process failed to start (exit code null)');
    expect(rec.hosts).toHaveLength(1);
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
