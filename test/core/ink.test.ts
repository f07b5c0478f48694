// `ink` preprocessing: which photos it inverts, worked by hand (Rec. 601 luma; the tail that reaches further from the median, else a median over 127.5).
import { describe, expect, it } from 'vitest';
import { isPreprocessMode, readPreprocessMode } from '../../core/model-info';
import { photoPreprocess, preprocessValue } from '../../core/preprocess';

/** A photo of `pixels` RGB triples, one row. */
const photo = (pixels: [number, number, number][]): { data: Uint8Array; width: number; height: number } => ({ data: Uint8Array.from(pixels.flat()), width: pixels.length, height: 1 });

describe('ink preprocessing', () => {
  it('is a preset the readers accept, and one value at a time it is x / 255 (the model\'s own convention)', () => {
    expect(isPreprocessMode('ink')).toBe(true);
    expect(readPreprocessMode('ink')).toEqual({ ok: true, mode: 'ink' });
    expect(preprocessValue(51, 'ink', 'luma')).toBeCloseTo(0.2, 12);
    expect(preprocessValue(255, 'ink', 0)).toBe(1);
  });

  it('inverts a photo whose median luma is over 127.5, not one at or under it', () => {
    // Luma of grey (v, v, v) is v: 128 is over the line, 127 is not.
    expect(photoPreprocess('ink', photo([[128, 128, 128]]))).toBe('inverted');
    expect(photoPreprocess('ink', photo([[127, 127, 127]]))).toBe('unit');
    // Three light pixels of five: the median is light.
    expect(photoPreprocess('ink', photo([[250, 250, 250], [240, 240, 240], [200, 200, 200], [0, 0, 0], [10, 10, 10]]))).toBe('inverted');
    // Two of four: the median lies between a dark and a light pixel, so not over the line.
    expect(photoPreprocess('ink', photo([[250, 250, 250], [240, 240, 240], [0, 0, 0], [10, 10, 10]]))).toBe('unit');
  });

  it('takes the ink from the tail that reaches further from the median, on a ground lighter or darker than mid-grey', () => {
    const grounds = (ground: number, ink: number, inkPixels: number): [number, number, number][] =>
      Array.from({ length: 100 }, (_, i): [number, number, number] => (i < inkPixels ? [ink, ink, ink] : [ground, ground, ground]));
    // Chalk 255 on a board of 150 (median over 127.5): the light tail reaches 105 levels, the dark none: not inverted.
    expect(photoPreprocess('ink', photo(grounds(150, 255, 3)))).toBe('unit');
    // Pencil 10 on grey paper of 110 (median under 127.5): the dark tail reaches 100 levels: inverted.
    expect(photoPreprocess('ink', photo(grounds(110, 10, 3)))).toBe('inverted');
    // One ink pixel in 100 still sets the 0.5 % quantile (the first level whose count reaches half a pixel).
    expect(photoPreprocess('ink', photo(grounds(110, 10, 1)))).toBe('inverted');
    // Tails 31 and 0 levels apart (under the 32-level margin): the median decides (150: inverted).
    expect(photoPreprocess('ink', photo(grounds(150, 181, 3)))).toBe('inverted');
    // 32 apart: the light tail decides.
    expect(photoPreprocess('ink', photo(grounds(150, 182, 3)))).toBe('unit');
  });

  it('judges colour by its luma: pure yellow is light (226), pure blue dark (29), pure red dark (76)', () => {
    expect(photoPreprocess('ink', photo([[255, 255, 0]]))).toBe('inverted');
    expect(photoPreprocess('ink', photo([[0, 0, 255]]))).toBe('unit');
    expect(photoPreprocess('ink', photo([[255, 0, 0]]))).toBe('unit');
  });

  it('judges a photo over 2^20 pixels on a regular subsample that still sees its halves', () => {
    // 1500 × 1000: the top 600 rows white, the rest black (60 % light).
    const width = 1500;
    const height = 1000;
    const data = new Uint8Array(width * height * 3);
    data.fill(255, 0, width * 600 * 3);
    expect(photoPreprocess('ink', { data, width, height })).toBe('inverted');
    // The top 400 rows white (40 % light).
    data.fill(0).fill(255, 0, width * 400 * 3);
    expect(photoPreprocess('ink', { data, width, height })).toBe('unit');
  });

  it('leaves every other mode as it is, on any photo', () => {
    const white = photo([[255, 255, 255]]);
    for (const mode of ['raw', 'unit', 'signed', 'inverted', 'imagenet', 'caffe', 'normalize:0.1307/0.3081'] as const) {
      expect(photoPreprocess(mode, white)).toBe(mode);
    }
  });

  it('treats an empty photo as dark (nothing to invert)', () => {
    expect(photoPreprocess('ink', { data: new Uint8Array(0), width: 0, height: 0 })).toBe('unit');
  });
});
