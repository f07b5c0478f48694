import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detect, matchDetections } from '../../core/detect';
import { selectBackend } from '../../main/engine/backend';
import { createEngine, type Engine, type ModelHandle } from '../../main/engine/engine';
import { makeDigitScene } from '../../main/digits/scene';
import { prepareModel, type PreparedModel } from '../../main/services/models';

describe('dense detection with the built-in digit model', () => {
  let engine: Engine;
  let handle: ModelHandle;
  let prepared: PreparedModel;
  beforeAll(async () => {
    await selectBackend('wasm');
    prepared = await prepareModel(undefined);
    engine = await createEngine({ backend: 'wasm', workers: 2 });
    handle = await engine.loadModel(prepared.artifacts, prepared.info);
  });
  afterAll(async () => {
    await engine.close();
  });

  it('converts exactly (valid padding) and remembers its preprocessing', () => {
    expect(prepared.info.padding).toBe('valid');
    expect(prepared.info.equivalence.exact).toBe(true);
    expect(prepared.info.preprocess).toBe('unit');
    expect(prepared.info.labels[10]).toBe('background');
  });

  it('finds held-out digits at 28, 42 and 56 px with F1 ≥ 0.96 at IoU 0.5 (every scale\'s peaks at 1, 2/3, 1/2 → merged across scales → NMS)', async () => {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let s = 0; s < 4; s++) {
      const scene = makeDigitScene({ width: 480, height: 360, count: 10, sizes: [28, 42, 56], seed: 500 + s });
      const maps = await engine.scoreMaps(handle, { data: scene.rgb, width: scene.width, height: scene.height, channels: 3 }, [1, 2 / 3, 1 / 2]);
      const dets = detect(maps, { threshold: 0.5, labels: prepared.info.labels });
      const m = matchDetections(dets, scene.truth, 0.5);
      tp += m.tp;
      fp += m.fp;
      fn += m.fn;
    }
    const precision = tp / (tp + fp);
    const recall = tp / (tp + fn);
    const f1 = (2 * precision * recall) / (precision + recall);
    console.log(`digit scenes: ${tp} TP, ${fp} FP, ${fn} FN, F1 ${f1.toFixed(3)}`);
    expect(f1).toBeGreaterThanOrEqual(0.96);
  });
});
