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
    expect(prepared.info.preprocess).toBe('ink');
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

  it('reads dark ink on light paper as it reads white ink on black (its `ink` preprocessing inverts a light photo); `unit` finds next to nothing there', async () => {
    const counts = { ink: { tp: 0, fp: 0, fn: 0 }, unit: { tp: 0, fp: 0, fn: 0 } };
    for (let s = 0; s < 3; s++) {
      const scene = makeDigitScene({ width: 480, height: 360, count: 10, sizes: [28, 42, 56], seed: 700 + s });
      // Ink 31 on paper 235, as a scan or a photo of a page has them.
      const paper = Uint8Array.from(scene.rgb, (v) => 235 - Math.round(0.8 * v));
      const image = { data: paper, width: scene.width, height: scene.height, channels: 3 as const };
      for (const mode of ['ink', 'unit'] as const) {
        const maps = await engine.scoreMaps(handle, image, [1, 2 / 3, 1 / 2], mode === 'ink' ? undefined : 'unit');
        const m = matchDetections(detect(maps, { threshold: 0.5, labels: prepared.info.labels }), scene.truth, 0.5);
        for (const k of ['tp', 'fp', 'fn'] as const) counts[mode][k] += m[k];
      }
      if (s === 0) {
        // Oracle for the inversion: the photo inverted here by hand, under `unit`, gives the same cells.
        const flipped = { ...image, data: Uint8Array.from(paper, (v) => 255 - v) };
        const [ink] = await engine.scoreMaps(handle, image, [1]);
        const [byHand] = await engine.scoreMaps(handle, flipped, [1], 'unit');
        expect(ink.scores.length).toBe(byHand.scores.length);
        let worst = 0;
        for (let i = 0; i < ink.scores.length; i++) worst = Math.max(worst, Math.abs(ink.scores[i] - byHand.scores[i]));
        expect(worst).toBeLessThan(1e-5);
      }
    }
    const f1 = ({ tp, fp, fn }: { tp: number; fp: number; fn: number }): number => (2 * tp) / Math.max(1, 2 * tp + fp + fn);
    console.log(`paper scenes: ink ${JSON.stringify(counts.ink)} F1 ${f1(counts.ink).toFixed(3)}; unit ${JSON.stringify(counts.unit)} F1 ${f1(counts.unit).toFixed(3)}`);
    expect(f1(counts.ink)).toBeGreaterThanOrEqual(0.9);
    expect(f1(counts.unit)).toBeLessThan(0.3);
  });
});
