import { afterAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../main/engine/engine';
import { modelHash } from '../../main/services/storage/cache';
import { prepareModel } from '../../main/services/models';
import { modelKeyOf, openSession } from '../../main/services/session';

let engine: Engine | undefined;
const theEngine = async (): Promise<Engine> => (engine ??= await createEngine({ backend: 'onnx', workers: 1 }));
afterAll(async () => {
  await engine?.close();
});

describe('openSession (the window, heatmap and demo open a prepared model this one way)', () => {
  it('keys the model by its weights before handing them to the engine, and loads it', async () => {
    const prepared = await prepareModel(undefined);
    // The oracle: the hash of the weights while the prepared model still holds them.
    const expected = modelHash(prepared.artifacts, prepared.info);
    const session = await openSession(await theEngine(), undefined, prepared);
    expect(session.modelKey).toBe(expected);
    expect(session.handle.classes).toBe(prepared.info.labels.length);
    // The weights went to the engine; the key kept on the prepared model is still the one of its weights.
    expect(modelKeyOf(prepared)).toBe(expected);
    const spent = prepared.artifacts.weightData;
    expect((Array.isArray(spent) ? spent : [spent]).every((b) => b === undefined || b.byteLength === 0)).toBe(true);
  });

  it('names the model in a load failure', async () => {
    const prepared = await prepareModel(undefined);
    const broken = { ...prepared, onnx: undefined, artifacts: { ...prepared.artifacts, weightData: new ArrayBuffer(8) } };
    await expect(openSession(await theEngine(), '/models/broken.json', broken)).rejects.toThrow(/^\/models\/broken\.json: /);
  });
});
