import { describe, expect, it } from 'vitest';
import { PREPROCESS_MODES } from '../../core/model-info';
import type { RgbImage } from '../../main/io/decode';
import { preprocessValue } from '../../core/preprocess';
import { cropRgb, preprocess, preprocessRegion } from '../../main/engine/preprocess';
import { testPhoto } from './fcn-fixture';

/** 1×2 image: pixel (0,0) = (0, 128, 255), pixel (0,1) = (10, 20, 30). */
const img: RgbImage = Object.freeze({ data: Uint8Array.from([0, 128, 255, 10, 20, 30]), width: 2, height: 1, channels: 3 });

describe('preprocess', () => {
  it('maps RGB to each mode\'s documented values, layout [height, width, channels]', () => {
    const expected: Record<string, number[]> = {
      raw: [0, 128, 255, 10, 20, 30],
      unit: [0, 128 / 255, 1, 10 / 255, 20 / 255, 30 / 255],
      signed: [-1, 128 / 127.5 - 1, 1, 10 / 127.5 - 1, 20 / 127.5 - 1, 30 / 127.5 - 1],
      inverted: [1, 1 - 128 / 255, 0, 1 - 10 / 255, 1 - 20 / 255, 1 - 30 / 255],
      // One value at a time `ink` is the model's own convention; a photo's inversion is core/preprocess photoPreprocess.
      ink: [0, 128 / 255, 1, 10 / 255, 20 / 255, 30 / 255],
      imagenet: [(0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (1 - 0.406) / 0.225,
        (10 / 255 - 0.485) / 0.229, (20 / 255 - 0.456) / 0.224, (30 / 255 - 0.406) / 0.225],
      // Channels B, G, R, each minus Caffe's mean (103.939, 116.779, 123.68).
      caffe: [255 - 103.939, 128 - 116.779, 0 - 123.68, 30 - 103.939, 20 - 116.779, 10 - 123.68],
    };
    for (const mode of PREPROCESS_MODES) {
      const out = preprocess(img, mode, 3);
      expect(out).toBeInstanceOf(Float32Array);
      expect(out).toHaveLength(6);
      out.forEach((v, i) => expect(v, `${mode}[${i}]`).toBeCloseTo(expected[mode][i], 5));
    }
  });

  it('gives 1-channel models the luminance 0.299 R + 0.587 G + 0.114 B', () => {
    const l0 = 0.299 * 0 + 0.587 * 128 + 0.114 * 255;
    const l1 = 0.299 * 10 + 0.587 * 20 + 0.114 * 30;
    expect(Array.from(preprocess(img, 'raw', 1))).toEqual([Math.fround(l0), Math.fround(l1)]);
    const inv = preprocess(img, 'inverted', 1);
    expect(inv[0]).toBeCloseTo(1 - l0 / 255, 6);
    const mean = 0.299 * 0.485 + 0.587 * 0.456 + 0.114 * 0.406;
    const std = 0.299 * 0.229 + 0.587 * 0.224 + 0.114 * 0.225;
    expect(preprocess(img, 'imagenet', 1)[1]).toBeCloseTo((l1 / 255 - mean) / std, 5);
    expect(preprocessValue(255, 'signed', 'luma')).toBe(1);
  });

  it('takes a region, with 0 where it reaches outside the image', () => {
    const out = preprocessRegion(img, { y0: -1, x0: 1, y1: 1, x1: 3 }, 'raw', 3);
    // rows: y=-1 (outside), y=0; columns: x=1, x=2 (outside)
    expect(Array.from(out)).toEqual([0, 0, 0, 0, 0, 0, 10, 20, 30, 0, 0, 0]);
  });

  it('a crop sent to a worker preprocesses to the same values as the region of the whole image', () => {
    const photo = testPhoto(20, 30);
    for (const region of [{ y0: 3, x0: 4, y1: 15, x1: 29 }, { y0: -2, x0: -3, y1: 22, x1: 31 }, { y0: 18, x0: 25, y1: 25, x1: 40 }]) {
      const crop = cropRgb(photo, region);
      expect(crop.image.data.length).toBe(crop.image.width * crop.image.height * 3);
      for (const channels of [1, 3] as const) {
        expect(preprocessRegion(crop.image, crop.region, 'signed', channels)).toEqual(preprocessRegion(photo, region, 'signed', channels));
      }
    }
  });

  it('a whole photo gives every sample its mode\'s value, channels in the mode\'s order', () => {
    const photo = testPhoto(23, 31);
    for (const mode of PREPROCESS_MODES) {
      const out = preprocess(photo, mode, 3);
      const order = mode === 'caffe' ? [2, 1, 0] : [0, 1, 2];
      const want = new Float32Array(out.length);
      for (let p = 0; p < photo.width * photo.height; p++) {
        for (let c = 0; c < 3; c++) want[p * 3 + c] = preprocessValue(photo.data[p * 3 + order[c]], mode, c as 0 | 1 | 2);
      }
      expect(out, mode).toEqual(want);
    }
  });

  it('a crop of the whole image is a copy, unless asked as-is for a message that copies it anyway', () => {
    const photo = testPhoto(20, 30);
    const whole = { y0: 0, x0: 0, y1: 20, x1: 30 };
    const copied = cropRgb(photo, whole);
    expect(copied.image.data).not.toBe(photo.data);
    expect(copied.image.data).toEqual(photo.data);
    expect(cropRgb(photo, whole, { whole: 'as-is' }).image).toBe(photo);
    // A part, or a view into a larger buffer, is still cut out.
    expect(cropRgb(photo, { y0: 0, x0: 0, y1: 20, x1: 29 }, { whole: 'as-is' }).image.data.buffer).not.toBe(photo.data.buffer);
    const view = { ...photo, data: new Uint8Array(Uint8Array.from([1, 2, 3, ...photo.data]).buffer, 3) };
    const cut = cropRgb(view, whole, { whole: 'as-is' });
    expect(cut.image.data.buffer).not.toBe(view.data.buffer);
    expect(cut.image.data).toEqual(photo.data);
  });

  it('refuses channel counts other than 1 and 3', () => {
    expect(() => preprocess(img, 'raw', 2 as 3)).toThrow(/1 or 3 channels/);
  });
});
