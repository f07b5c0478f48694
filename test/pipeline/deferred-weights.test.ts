// A converted folder opened for ONNX Runtime (prepareModel's deferWeights, as `convmap heatmap` and the
// window ask) does not read its weights.bin: ONNX Runtime runs its model.onnx. What that means for a
// folder whose weights.bin is missing or damaged, and for one whose model.onnx is damaged, is checked
// here against the scores of the folder opened the old way (weights read) and against tfjs.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveConverted } from '../../main/convert/save';
import { selectBackend } from '../../main/engine/backend';
import { createEngine, type Engine } from '../../main/engine/engine';
import { exportConverted, saveOnnx } from '../../main/onnx/convert';
import { BUILTIN_MODEL_DIR, prepareModel, type PreparedModel } from '../../main/services/models';
import { openSession } from '../../main/services/session';
import { onnxModelHash } from '../../main/services/storage/cache';
import { maxAbsDiff, testPhoto } from '../engine/fcn-fixture';
import { tempDir } from '../helpers/temp-dir';

const tmp = tempDir('convmap-deferred-weights-');
const photo = Object.freeze(testPhoto(70, 90));
const scales = [1, 0.8];

describe('a converted folder opened without reading its weights', () => {
  let folder: string;
  let ort: Engine;
  let tfjs: Engine;
  /** Scores of the intact folder opened the old way (weights read, ONNX Runtime on its model.onnx). */
  let reference: Float32Array[];

  /** A copy of the intact converted folder, to damage. */
  const copy = async (name: string): Promise<string> => {
    const dir = path.join(tmp.path, name);
    await fs.cp(folder, dir, { recursive: true });
    return dir;
  };
  const scoresOf = async (engine: Engine, dir: string, prepared: PreparedModel): Promise<Float32Array[]> => {
    const { handle } = await openSession(engine, dir, prepared);
    try {
      return (await engine.scoreMaps(handle, photo, scales)).map((m) => m.scores);
    } finally {
      engine.releaseModel(handle);
    }
  };

  beforeAll(async () => {
    await selectBackend('auto');
    const prepared = await prepareModel(undefined);
    folder = path.join(tmp.path, 'converted');
    const { bytes } = await exportConverted(prepared.artifacts, prepared.info, BUILTIN_MODEL_DIR);
    await saveConverted(folder, prepared.artifacts, prepared.info);
    await saveOnnx(folder, bytes);
    ort = await createEngine({ backend: 'onnx', workers: 1 });
    tfjs = await createEngine({ backend: 'wasm', workers: 1 });
    reference = await scoresOf(ort, folder, await prepareModel(folder));
  });
  afterAll(async () => {
    await ort?.close();
    await tfjs?.close();
  });

  it('reads no weights for ONNX Runtime, keys its scores by model.onnx, and gives the weights to a tfjs engine', async () => {
    const deferred = await prepareModel(folder, { deferWeights: true });
    expect(deferred.artifacts.weightData).toBeUndefined();
    expect(deferred.weightsFrom).toBe(folder);
    expect(deferred.modelKey).toBe(onnxModelHash(createHash('sha256').update(await fs.readFile(path.join(folder, 'model.onnx'))).digest('hex'), deferred.info));
    expect(await scoresOf(ort, folder, deferred)).toEqual(reference);
    // tfjs runs the Keras graph from weights.bin: read now, the same scores within float error.
    const forTfjs = await prepareModel(folder, { deferWeights: true });
    const viaTfjs = await scoresOf(tfjs, folder, forTfjs);
    expect((forTfjs.artifacts.weightData as ArrayBuffer).byteLength).toBe((await fs.stat(path.join(folder, 'weights.bin'))).size);
    for (const [k, map] of viaTfjs.entries()) expect(maxAbsDiff(map, reference[k])).toBeLessThan(1e-4);
  });

  it('a missing or damaged weights.bin: ONNX Runtime runs model.onnx as before; tfjs, which needs it, refuses it in one line naming the file', async () => {
    const missing = await copy('no-weights');
    await fs.rm(path.join(missing, 'weights.bin'));
    expect(await scoresOf(ort, missing, await prepareModel(missing, { deferWeights: true }))).toEqual(reference);
    const noWeights = scoresOf(tfjs, missing, await prepareModel(missing, { deferWeights: true }));
    await expect(noWeights).rejects.toThrow(`${path.join(missing, 'model.json')}: weight file "weights.bin" is missing (expected at ${path.join(missing, 'weights.bin')})`);

    const damaged = await copy('nan-weights');
    const weights = await fs.readFile(path.join(damaged, 'weights.bin'));
    weights.writeFloatLE(Number.NaN, 0);
    await fs.writeFile(path.join(damaged, 'weights.bin'), weights);
    expect(await scoresOf(ort, damaged, await prepareModel(damaged, { deferWeights: true }))).toEqual(reference);
    const refused = await scoresOf(tfjs, damaged, await prepareModel(damaged, { deferWeights: true })).then(() => undefined, (err: unknown) => err as Error);
    expect(refused?.message).toMatch(new RegExp(`^${escape(path.join(damaged, 'model.json'))}: .*(NaN|not finite|non-finite)`, 'i'));
    expect(refused?.message).not.toContain('\n');
  });

  it('a damaged model.onnx is refused in one line naming the file', async () => {
    const dir = await copy('bad-onnx');
    const file = path.join(dir, 'model.onnx');
    const bytes = await fs.readFile(file);
    await fs.writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const opened = scoresOf(ort, dir, await prepareModel(dir, { deferWeights: true })).then(() => undefined, (err: unknown) => err as Error);
    const err = await opened;
    expect(err?.message).toMatch(new RegExp(`^${escape(dir)}: .*${escape(file)}`));
    expect(err?.message).not.toContain('\n');
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
