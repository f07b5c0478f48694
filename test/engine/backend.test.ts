import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BACKEND_ENV, getTf, selectBackend, wasmDistDir } from '../../main/engine/backend';
import { tfjsNodeInstalled } from '../helpers/installed';

afterEach(() => {
  delete process.env[BACKEND_ENV];
});

describe('selectBackend', () => {
  it('finds the wasm binaries in node_modules whatever the working directory', () => {
    expect(existsSync(path.join(wasmDistDir(), 'tfjs-backend-wasm-simd.wasm'))).toBe(true);
  });

  it.skipIf(tfjsNodeInstalled)('says clearly that a requested node backend cannot load when tfjs-node is absent', async () => {
    await expect(selectBackend('node')).rejects.toThrow(/backend 'node' could not be loaded \(is @tensorflow\/tfjs-node installed/);
  });

  it('runs the requested backend and returns its name, with a working tf', async () => {
    expect(await selectBackend('cpu')).toBe('cpu');
    expect(getTf().getBackend()).toBe('cpu');
    expect(await selectBackend('wasm')).toBe('wasm');
    const tf = getTf();
    expect(tf.getBackend()).toBe('wasm');
    const y = tf.tensor1d([1, 2, 3]).square();
    expect(Array.from(await y.data())).toEqual([1, 4, 9]);
    tf.dispose(y);
  });

  it('auto keeps the backend already running in this thread (a fresh thread: see engine.test.ts)', async () => {
    expect(await selectBackend('auto')).toBe('wasm');
  });

  it('lets CONVMAP_BACKEND override the request, and rejects an unknown name', async () => {
    process.env[BACKEND_ENV] = 'cpu';
    expect(await selectBackend('wasm')).toBe('cpu');
    process.env[BACKEND_ENV] = 'gpu';
    await expect(selectBackend('auto')).rejects.toThrow(`${BACKEND_ENV}=gpu is not a backend; use one of node, wasm, cpu, auto`);
  });
});
