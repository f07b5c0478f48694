import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../main/engine/pool';
import { preprocess } from '../../main/engine/preprocess';
import { buildFcn, maxAbsDiff, predictDirect, testPhoto, toArtifacts } from './fcn-fixture';

describe('WorkerPool', () => {
  let model: tf.LayersModel;
  let pool: WorkerPool;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    model = buildFcn(3);
    pool = await WorkerPool.create({ size: 1, backend: 'wasm' });
    pool.addModel('m', await toArtifacts(model));
  });
  afterAll(async () => {
    model.dispose();
    await pool.close();
  });

  it('runs a preprocessed float tile, transferring its buffer instead of copying it', async () => {
    const img = testPhoto(40, 50);
    const input = preprocess(img, 'unit', 3);
    const ref = predictDirect(model, input.slice(), 40, 50, 3);
    const result = await pool.run('m', { kind: 'float', data: input, shape: [40, 50, 3] });
    expect(input.byteLength).toBe(0); // detached: moved to the worker
    expect(result.shape).toEqual(ref.shape);
    expect(maxAbsDiff(result.output, ref.scores)).toBeLessThan(1e-5);
  });

  it('reports a tile the model cannot take as an error of that job only', async () => {
    await expect(pool.run('m', { kind: 'float', data: new Float32Array(10), shape: [4, 4, 3] })).rejects.toThrow(/10 values, shape 4×4×3 needs 48/);
    await expect(pool.run('nope', { kind: 'float', data: new Float32Array(48), shape: [4, 4, 3] })).rejects.toThrow(/model nope is not loaded/);
    const ok = await pool.run('m', { kind: 'float', data: new Float32Array(16 * 16 * 3), shape: [16, 16, 3] });
    expect(ok.shape).toEqual([1, 1, 3]);
  });

  it('replaces a worker that crashes: its job rejects with the reason, the next job runs on the new worker', async () => {
    await expect(pool.crashForTest()).rejects.toThrow(/inference worker \d stopped: worker was told to crash \(exit code 70\)/);
    const input = preprocess(testPhoto(20, 24), 'unit', 3);
    const ref = predictDirect(model, input.slice(), 20, 24, 3);
    const result = await pool.run('m', { kind: 'float', data: input, shape: [20, 24, 3] });
    expect(maxAbsDiff(result.output, ref.scores)).toBeLessThan(1e-5);
    expect(await pool.memory()).toHaveLength(1);
  });

  it('refuses work once closed', async () => {
    const other = await WorkerPool.create({ size: 1, backend: 'wasm' });
    await other.close();
    await expect(other.memory()).rejects.toThrow(/closed/);
    await expect(other.crashForTest()).rejects.toThrow(/closed/);
  });
});
