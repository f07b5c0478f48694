/**
 * The preprocessing guessed for a Keras model that scales its own input in its first layer: the range
 * its scale fits (a standardised span of about 3), worked from each case's constants.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { prepareModel } from '../../main/services/models';
import { type Json, k3Dense, k3Layer, k3Sequential, writeKerasArchive } from '../helpers/keras';
import { useWasm } from '../helpers/models';
import { tempDir } from '../helpers/temp-dir';

beforeAll(useWasm);
const root = tempDir('convmap-scaling-guess-');
const [H, W, C, CLASSES] = [4, 4, 3, 2];

/** A .keras file: `first`, Flatten, Dense; its weights seeded (the guess reads only the first layer). */
async function model(name: string, first: Json, vars: Record<string, { shape: number[]; values: Float32Array }[]> = {}): Promise<string> {
  const file = path.join(root.path, `${name}.keras`);
  const config = k3Sequential(name, [null, H, W, C], [first, k3Layer('Flatten', 'flat', { data_format: 'channels_last' }), k3Layer('Dense', 'out', k3Dense(CLASSES, 'linear'))]);
  const kernel = Float32Array.from({ length: H * W * C * CLASSES }, (_, i) => Math.sin(i));
  await writeKerasArchive(file, config, { ...vars, 'layers/dense': [{ shape: [H * W * C, CLASSES], values: kernel }, { shape: [CLASSES], values: new Float32Array(CLASSES) }] });
  return file;
}

describe('a Keras model that scales its own input', () => {
  it('Normalization adapted on 0–255 pixels (std ≈ 60: scale 1/60, span 4.3 on 0–255) → raw', async () => {
    const file = await model('norm255', k3Layer('Normalization', 'n', { axis: -1, mean: null, variance: null, invert: false }), {
      'layers/normalization': [{ shape: [C], values: Float32Array.from([124, 116, 104]) }, { shape: [C], values: Float32Array.from([3600, 3500, 3700]) }],
    });
    const prepared = await prepareModel(file);
    expect(prepared.info.preprocess).toBe('raw');
    expect(prepared.info.preprocessGuess?.why).toBe('guessed: the model normalises its input itself');
  }, 60_000);

  it('Normalization adapted on 0–1 pixels (std ≈ 0.23: scale 4.4) → unit', async () => {
    const file = await model('norm1', k3Layer('Normalization', 'n', { axis: -1, mean: [0.485, 0.456, 0.406], variance: [0.052, 0.05, 0.051], invert: false }));
    const prepared = await prepareModel(file);
    expect(prepared.info.preprocess).toBe('unit');
    expect(prepared.info.preprocessGuess?.why).toBe('guessed: the model normalises its input itself, from pixel values in 0–1');
  }, 60_000);

  it('an augmentation layer first (read as Rescaling(1, 0)) scales nothing: the default guess, not raw', async () => {
    const prepared = await prepareModel(await model('flip', k3Layer('RandomFlip', 'flip', { mode: 'horizontal', seed: null })));
    expect(prepared.info.preprocess).toBe('unit');
    expect(prepared.info.preprocessGuess?.why).toBe('guessed: the default, nothing in the model says otherwise');
  }, 60_000);

  it('Rescaling by 1/255 → raw; Rescaling by 2, offset −1 ([0, 1] to [−1, 1]) → unit', async () => {
    expect((await prepareModel(await model('r255', k3Layer('Rescaling', 'rs', { scale: 1 / 255, offset: 0 })))).info.preprocess).toBe('raw');
    expect((await prepareModel(await model('r2', k3Layer('Rescaling', 'rs', { scale: 2, offset: -1 })))).info.preprocess).toBe('unit');
  }, 60_000);
});
