import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePhoto } from '../../main/io/decode';
import { createEngine, type Engine } from '../../main/engine/engine';
import { prepareModel } from '../../main/services/models';
import { useWasm } from '../helpers/models';

/**
 * Every corpus model that converts gives the same scores on the ONNX Runtime engine as on the wasm
 * (tfjs) engine: the same photo, scale and preprocessing, every cell and class.
 */
const repo = path.resolve(import.meta.dirname, '../..');
const corpus = path.resolve(repo, '../shared/corpus');
const present = existsSync(corpus);
if (!present) console.log(`skipped: ${corpus} is absent`);

interface Entry { target: string; expect: { refusal?: string; window?: [number, number] } }
const entries = present ? (JSON.parse(readFileSync(path.join(repo, 'test/corpus/models.json'), 'utf8')) as Entry[]).filter((e) => e.expect.refusal === undefined) : [];

describe.skipIf(!present)('ONNX Runtime engine vs wasm engine on the corpus models', () => {
  let onnx: Engine;
  let wasm: Engine;
  beforeAll(async () => {
    await useWasm();
    onnx = await createEngine({ backend: 'onnx' });
    wasm = await createEngine({ backend: 'wasm', workers: 1 });
  });
  afterAll(async () => {
    await onnx?.close();
    await wasm?.close();
  });

  for (const entry of entries) {
    it(`${entry.target}: scores equal to 1e-4 relative`, async () => {
      const prepared = await prepareModel(path.join(corpus, 'models', entry.target));
      const photo = await decodePhoto(path.join(corpus, 'images', 'skimage_chelsea.png'));
      // A scale at which the photo holds about two windows along its short side.
      const scale = (2 * Math.max(...prepared.info.window)) / Math.min(photo.height, photo.width);
      const [a, b] = await Promise.all([onnx, wasm].map(async (engine) => {
        const handle = await engine.loadModel(prepared.artifacts, prepared.info);
        try {
          const [map] = await engine.scoreMaps(handle, photo, [scale]);
          return map;
        } finally {
          engine.releaseModel(handle);
        }
      }));
      expect([a.rows, a.cols, a.classes]).toEqual([b.rows, b.cols, b.classes]);
      expect(a.rows * a.cols).toBeGreaterThan(1);
      let maxAbs = 0;
      let scale0 = 0;
      for (let i = 0; i < b.scores.length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(a.scores[i] - b.scores[i]));
        scale0 = Math.max(scale0, Math.abs(b.scores[i]));
      }
      expect(scale0).toBeGreaterThan(0);
      expect(maxAbs / scale0).toBeLessThanOrEqual(1e-4);
    });
  }
});
