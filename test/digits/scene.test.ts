import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DIGIT_PIXELS, loadDigits } from '../../main/digits/mnist-data';
import { DIGIT_MODEL_DIR, digitLabels, loadDigitModelFiles, makeDigitScene, resizeBilinear, type DigitSceneOptions } from '../../main/digits/scene';

const options: DigitSceneOptions = { width: 320, height: 240, count: 8, sizes: [28, 42, 56], seed: 7, split: 'heldout' };

describe('digit data split', () => {
  it('holds out about a fifth of every class, disjoint from training', () => {
    const train = loadDigits('train');
    const held = loadDigits('heldout');
    expect(train.count + held.count).toBe(10000);
    expect(held.count / 10000).toBeGreaterThan(0.19);
    expect(held.count / 10000).toBeLessThan(0.21);
    for (let d = 0; d < 10; d++) expect(held.labels.filter((l) => l === d).length).toBeGreaterThan(150);
    // No held-out image is a training image (compare a cheap fingerprint).
    const key = (images: Float32Array, k: number): string => Array.from(images.subarray(k * DIGIT_PIXELS, (k + 1) * DIGIT_PIXELS)).join(',');
    const trainKeys = new Set(Array.from({ length: train.count }, (_, k) => key(train.images, k)));
    let shared = 0;
    for (let k = 0; k < held.count; k++) if (trainKeys.has(key(held.images, k))) shared++;
    expect(shared).toBeLessThanOrEqual(2); // MNIST itself has a few duplicate images
  });
});

describe('makeDigitScene', () => {
  it('is deterministic per seed', () => {
    const a = makeDigitScene(options);
    const b = makeDigitScene(options);
    const c = makeDigitScene({ ...options, seed: 8 });
    expect(Buffer.from(a.rgb).equals(Buffer.from(b.rgb))).toBe(true);
    expect(a.truth).toEqual(b.truth);
    expect(Buffer.from(a.rgb).equals(Buffer.from(c.rgb))).toBe(false);
  });

  it('places every digit inside the canvas, at the requested sizes, without overlap', () => {
    for (let seed = 0; seed < 20; seed++) {
      const scene = makeDigitScene({ ...options, seed });
      expect(scene.rgb.length).toBe(scene.width * scene.height * 3);
      expect(scene.truth).toHaveLength(options.count);
      const sizes = new Set(scene.truth.map((t) => t.box[2] - t.box[0]));
      expect([...sizes].sort((x, y) => x - y)).toEqual([28, 42, 56]);
      for (const [i, t] of scene.truth.entries()) {
        const [y0, x0, y1, x1] = t.box;
        expect(y0).toBeGreaterThanOrEqual(0);
        expect(x0).toBeGreaterThanOrEqual(0);
        expect(y1).toBeLessThanOrEqual(scene.height);
        expect(x1).toBeLessThanOrEqual(scene.width);
        expect(y1 - y0).toBe(x1 - x0);
        expect(t.label).toBe(digitLabels[t.classIndex]);
        expect(t.classIndex).toBeLessThan(10);
        for (const u of scene.truth.slice(i + 1)) {
          const apart = t.box[2] + 8 <= u.box[0] || u.box[2] + 8 <= t.box[0] || t.box[3] + 8 <= u.box[1] || u.box[3] + 8 <= t.box[1];
          expect(apart).toBe(true);
        }
      }
    }
  });

  it('draws white digits on black: pixels in truth boxes are brighter than outside', () => {
    const scene = makeDigitScene(options);
    const inside = new Uint8Array(scene.width * scene.height);
    for (const { box: [y0, x0, y1, x1] } of scene.truth) {
      for (let y = y0; y < y1; y++) inside.fill(1, y * scene.width + x0, y * scene.width + x1);
    }
    let sumIn = 0, nIn = 0, sumOut = 0, nOut = 0;
    for (let p = 0; p < inside.length; p++) {
      const [r, g, b] = [scene.rgb[3 * p], scene.rgb[3 * p + 1], scene.rgb[3 * p + 2]];
      expect(r === g && g === b).toBe(true);
      if (inside[p]) { sumIn += r; nIn++; } else { sumOut += r; nOut++; }
    }
    expect(sumOut / nOut).toBe(0);
    expect(sumIn / nIn).toBeGreaterThan(20);
    for (const { box: [y0, x0, y1, x1] } of scene.truth) {
      let max = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) max = Math.max(max, scene.rgb[(y * scene.width + x) * 3]);
      expect(max).toBeGreaterThan(200);
    }
  });

  it('draws 28-px digits pixel for pixel from the held-out split', () => {
    const held = loadDigits('heldout');
    const scene = makeDigitScene({ ...options, sizes: [28], count: 6 });
    for (const t of scene.truth) {
      const [y0, x0] = t.box;
      const patch = Array.from({ length: DIGIT_PIXELS }, (_, k) => scene.rgb[((y0 + Math.floor(k / 28)) * scene.width + x0 + (k % 28)) * 3]);
      let found = -1;
      for (let i = 0; i < held.count && found < 0; i++) {
        const img = held.images.subarray(i * DIGIT_PIXELS, (i + 1) * DIGIT_PIXELS);
        if (patch.every((v, k) => v === Math.round(img[k] * 255))) found = i;
      }
      expect(found).toBeGreaterThanOrEqual(0);
      expect(held.labels[found]).toBe(t.classIndex);
    }
  });

  it('refuses what cannot fit, with a clear message', () => {
    expect(() => makeDigitScene({ ...options, width: 100, height: 100, count: 20 })).toThrow(/cannot place 20 digits/);
    expect(() => makeDigitScene({ ...options, sizes: [] })).toThrow(/sizes/);
    expect(() => makeDigitScene({ ...options, sizes: [300] })).toThrow(/does not fit/);
  });
});

describe('resizeBilinear', () => {
  it('is the identity at the same size and keeps a constant image constant', () => {
    const src = Float32Array.from({ length: 784 }, (_, k) => (k % 17) / 16);
    expect(Array.from(resizeBilinear(src, 28, 28))).toEqual(Array.from(src));
    const flat = resizeBilinear(new Float32Array(784).fill(0.5), 28, 45);
    expect(flat.length).toBe(45 * 45);
    for (const v of flat) expect(v).toBeCloseTo(0.5, 6);
  });
});

describe('digit model files', () => {
  it('are committed next to the code, with the labels in output order', async () => {
    const files = await loadDigitModelFiles();
    expect(files.dir).toBe(DIGIT_MODEL_DIR);
    for (const f of [files.modelJson, files.weights, files.labels]) expect(existsSync(f)).toBe(true);
    expect(readFileSync(files.labels, 'utf8').trim().split('\n')).toEqual([...digitLabels]);
  });
});
