// The model cache: a model opened before opens from files (its conversion, ONNX Runtime's optimised
// form), a changed file is converted again, and a converted folder opens from its own model.onnx.
// Scores are checked against the engine's export of the tfjs FCN (the path without a cache).
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveConverted } from '../../main/convert/save';
import { selectBackend } from '../../main/engine/backend';
import { createEngine, type Engine, type OnnxModelFile } from '../../main/engine/engine';
import { exportConverted, saveOnnx } from '../../main/onnx/convert';
import { modelHash } from '../../main/services/storage/cache';
import { CONVERSIONS_DIR, clearModelCache, modelCacheInfo, OPTIMIZED_DIR, storeConversion, trimModelCache } from '../../main/io/model-cache';
import { BUILTIN_MODEL_DIR, prepareModel } from '../../main/services/models';
import { maxAbsDiff, testPhoto } from '../engine/fcn-fixture';
import { tempDir } from '../helpers/temp-dir';

const tmp = tempDir('convmap-model-cache-');
const photo = Object.freeze(testPhoto(70, 90));

/** A copy of the built-in digit classifier (model.json, weights.bin, labels.txt) in its own folder. */
async function digitsCopy(name: string): Promise<string> {
  const dir = path.join(tmp.path, name);
  await fs.cp(BUILTIN_MODEL_DIR, dir, { recursive: true });
  return dir;
}

async function listing(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
}

describe('the model cache', () => {
  let model: string;
  let cache: { dir: string };
  const engines: Engine[] = [];
  beforeAll(async () => {
    await selectBackend('auto');
    model = await digitsCopy('digits');
    cache = { dir: path.join(tmp.path, 'cache') };
  });
  afterAll(async () => {
    for (const e of engines) await e.close();
  });

  it('a second open of the same files takes the conversion from the cache, without loading or checking the classifier', async () => {
    const first = await prepareModel(model, { cache });
    expect(first.fromCache).toBeUndefined();
    expect(first.conversion).toBeDefined();
    expect(await listing(path.join(cache.dir, CONVERSIONS_DIR))).toHaveLength(1);
    expect(first.onnx && existsSync(first.onnx.file)).toBe(true);
    const stages: string[] = [];
    const second = await prepareModel(model, { cache, onStage: (s) => stages.push(s) });
    expect(second.fromCache).toBe(true);
    expect(second.conversion).toBeUndefined();
    expect(stages).toEqual([]);
    expect(second.info).toEqual(first.info);
    expect(second.onnx).toEqual(first.onnx);
    // The score cache's key: maps computed on the first open are found on the second.
    expect(modelHash(second.artifacts, second.info)).toBe(modelHash(first.artifacts, first.info));
    expect(new Uint8Array(second.artifacts.weightData as ArrayBuffer)).toEqual(new Uint8Array(first.artifacts.weightData as ArrayBuffer));
    // Other options are another conversion.
    const signed = await prepareModel(model, { cache, preprocess: 'signed' });
    expect(signed.fromCache).toBeUndefined();
    expect(signed.info.preprocess).toBe('signed');
  });

  it('a changed weight file is converted again: its own entry, its own weights', async () => {
    const changed = await digitsCopy('digits-changed');
    const own = { dir: path.join(tmp.path, 'cache-changed') };
    const before = await prepareModel(changed, { cache: own });
    const weights = path.join(changed, 'weights.bin');
    const bytes = await fs.readFile(weights);
    bytes.writeFloatLE(bytes.readFloatLE(0) + 0.5, 0);
    await fs.writeFile(weights, bytes);
    const after = await prepareModel(changed, { cache: own });
    expect(after.fromCache).toBeUndefined();
    expect(after.conversion).toBeDefined();
    expect(await listing(path.join(own.dir, CONVERSIONS_DIR))).toHaveLength(2);
    expect(maxAbsDiff(new Float32Array(after.artifacts.weightData as ArrayBuffer), new Float32Array(before.artifacts.weightData as ArrayBuffer))).toBeCloseTo(0.5, 5);
    expect((await prepareModel(changed, { cache: own })).fromCache).toBe(true);
  });

  it('ONNX Runtime opens the cached model.onnx as is, with the scores of the model exported from tfjs; a second engine takes the optimised file from the cache', async () => {
    const own = { dir: path.join(tmp.path, 'cache-engine') };
    const prepared = await prepareModel(model, { cache: own });
    expect(prepared.onnx?.file.startsWith(path.join(own.dir, CONVERSIONS_DIR))).toBe(true);
    const scales = [1, 0.7];
    const scoresOf = async (e: Engine, onnx: OnnxModelFile | undefined): Promise<{ maps: Float32Array[]; loaded: unknown }> => {
      const handle = await e.loadModel(prepared.artifacts, prepared.info, { onnx });
      return { maps: (await e.scoreMaps(handle, photo, scales)).map((m) => m.scores), loaded: handle.loaded };
    };
    // The reference: the engine's own export of the tfjs FCN, without the cache.
    const plain = await createEngine({ backend: 'onnx', workers: 1 });
    engines.push(plain);
    const exported = await scoresOf(plain, undefined);
    expect(exported.loaded).toEqual({ from: 'export', optimizedFromCache: false });

    // The model's own file is only read: linking it would change its change time, and with it the
    // remembered digest the optimised form is found by.
    const onnxFile = prepared.onnx!.file;
    const before = await fs.stat(onnxFile, { bigint: true });
    const bytes = await fs.readFile(onnxFile);
    const a = await createEngine({ backend: 'onnx', workers: 1, modelCache: own });
    engines.push(a);
    const first = await scoresOf(a, prepared.onnx);
    expect(first.loaded).toEqual({ from: 'onnx-file', optimizedFromCache: false });
    expect(first.maps.map((m) => m.length)).toEqual(exported.maps.map((m) => m.length));
    for (const [k, m] of first.maps.entries()) expect(maxAbsDiff(m, exported.maps[k])).toBeLessThan(1e-5);
    expect(await listing(path.join(own.dir, OPTIMIZED_DIR))).toHaveLength(1);

    const b = await createEngine({ backend: 'onnx', workers: 1, modelCache: own });
    engines.push(b);
    const second = await scoresOf(b, prepared.onnx);
    expect(second.loaded).toEqual({ from: 'onnx-file', optimizedFromCache: true });
    expect(second.maps).toEqual(first.maps);
    const after = await fs.stat(onnxFile, { bigint: true });
    expect([after.ino, after.nlink, after.ctimeNs, after.mtimeNs]).toEqual([before.ino, before.nlink, before.ctimeNs, before.mtimeNs]);
    expect((await fs.readFile(onnxFile)).equals(bytes)).toBe(true);
  });

  it('a folder written by convert -o opens from its model.onnx; with a stride rewrite or an older sidecar it does not', async () => {
    const prepared = await prepareModel(model);
    const dir = path.join(tmp.path, 'converted');
    const { bytes } = await exportConverted(prepared.artifacts, prepared.info, model);
    await saveConverted(dir, prepared.artifacts, prepared.info);
    await saveOnnx(dir, bytes);
    const opened = await prepareModel(dir);
    expect(opened.onnx).toEqual({ file: path.join(dir, 'model.onnx'), bytesPerPixel: prepared.info.activationBytesPerPixel });
    expect(prepared.info.activationBytesPerPixel).toBeGreaterThan(0);
    // Its score maps are keyed by the file that computes them: another model.onnx, another key; the
    // same bytes elsewhere, the same key.
    const copy = path.join(tmp.path, 'converted-copy');
    await fs.cp(dir, copy, { recursive: true });
    expect((await prepareModel(copy)).modelKey).toBe(opened.modelKey);
    const onnxBytes = await fs.readFile(path.join(copy, 'model.onnx'));
    onnxBytes[onnxBytes.length - 8] ^= 1;
    await fs.writeFile(path.join(copy, 'model.onnx'), onnxBytes);
    const changed = (await prepareModel(copy)).modelKey;
    expect(changed).toMatch(/^[0-9a-f]{64}$/);
    expect(changed).not.toBe(opened.modelKey);
    const finer = await prepareModel(dir, { stride: 2 });
    expect(finer.onnx).toBeUndefined();
    expect(finer.info.activationBytesPerPixel).toBeUndefined();
    const sidecar = path.join(dir, 'convmap.json');
    const { activationBytesPerPixel: _dropped, ...older } = JSON.parse(await fs.readFile(sidecar, 'utf8')) as Record<string, unknown>;
    await fs.writeFile(sidecar, JSON.stringify(older));
    expect((await prepareModel(dir)).onnx).toBeUndefined();
  });

  const externalModel = path.resolve(import.meta.dirname, '../../../shared/corpus/models/onnx_pytorch_external_data_mnist_zuramai');
  it.skipIf(!existsSync(externalModel))('an ONNX file\'s external data is part of the key: a changed .data file is converted again, with its weights', async () => {
    const dir = path.join(tmp.path, 'external');
    await fs.cp(externalModel, dir, { recursive: true });
    await fs.chmod(path.join(dir, 'mnist.onnx.data'), 0o644);
    const file = path.join(dir, 'mnist.onnx');
    const own = { dir: path.join(tmp.path, 'cache-external') };
    const before = await prepareModel(file, { cache: own });
    expect(before.fromCache).toBeUndefined();
    expect((await prepareModel(file, { cache: own })).fromCache).toBe(true);
    // The first weight of the data file (PyTorch writes float32 tensors one after another) moves by 0.5.
    const data = path.join(dir, 'mnist.onnx.data');
    const bytes = await fs.readFile(data);
    bytes.writeFloatLE(bytes.readFloatLE(0) + 0.5, 0);
    await fs.writeFile(data, bytes);
    const after = await prepareModel(file, { cache: own });
    expect(after.fromCache).toBeUndefined();
    expect(await listing(path.join(own.dir, CONVERSIONS_DIR))).toHaveLength(2);
    const weights = (p: typeof after): Float32Array => new Float32Array(p.artifacts.weightData as ArrayBuffer);
    expect(maxAbsDiff(weights(after), weights(before))).toBeCloseTo(0.5, 5);
    expect((await prepareModel(file, { cache: own })).fromCache).toBe(true);
  }, 60_000);

  it('is bounded (least recently used first) and cleared', async () => {
    const own = path.join(tmp.path, 'cache-bound');
    const store = (key: string): Promise<string> => storeConversion(own, key, (d) => fs.writeFile(path.join(d, 'f'), new Uint8Array(1000)), 2500);
    const a = await store('a');
    await fs.utimes(a, new Date(1000), new Date(1000));
    await store('b');
    // A third entry would make 3000 bytes: the oldest goes.
    await store('c');
    expect(await listing(path.join(own, CONVERSIONS_DIR))).toEqual(['b', 'c']);
    // An entry alone over the bound stays: its caller opens it next.
    expect(await trimModelCache(own, 500, path.join(own, CONVERSIONS_DIR, 'c'))).toBe(1000);
    expect(await modelCacheInfo(own)).toMatchObject({ conversions: 1, optimized: 0, bytes: 1000 });
    expect(await clearModelCache(own)).toMatchObject({ conversions: 1, bytes: 1000 });
    expect(await modelCacheInfo(own)).toMatchObject({ conversions: 0, optimized: 0, bytes: 0 });
  });
});
