// The window's process reads the MNIST digits in a worker (preloadDigits); the digits must be the
// same as the package's files say, split 80/20 per class as the training split documents.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { DIGIT_PIXELS, digitImage, loadDigits, preloadDigits } from '../../main/digits/mnist-data';

const require = createRequire(import.meta.url);

describe('preloadDigits', () => {
  it('fills the digit cache from a worker with exactly the held-out digits of the mnist package', async () => {
    await Promise.all([preloadDigits(), preloadDigits()]);
    const held = loadDigits('heldout');
    expect(loadDigits('heldout')).toBe(held);
    let k = 0;
    for (let d = 0; d < 10; d++) {
      const data = (JSON.parse(await readFile(require.resolve(`mnist/src/digits/${d}.json`), 'utf8')) as { data: number[] }).data;
      const n = data.length / DIGIT_PIXELS;
      const first = Math.floor(n * 0.8);
      for (let i = first; i < n; i++, k++) {
        expect(held.labels[k]).toBe(d);
        if (i === first || i === n - 1) expect(Array.from(digitImage(held, k))).toEqual(Array.from(Float32Array.from(data.slice(i * DIGIT_PIXELS, (i + 1) * DIGIT_PIXELS))));
      }
    }
    expect(held.count).toBe(k);
  });
});
