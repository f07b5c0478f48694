/** `normalize:MEAN/STD` modes: how they are read, written and refused, and the values they give (worked by hand). */
import { describe, expect, it } from 'vitest';
import { isPreprocessMode, parseNormalize, readPreprocessMode } from '../../core/model-info';
import { preprocessValue } from '../../core/preprocess';

describe('normalize:MEAN/STD', () => {
  it('gives (x / 255 − mean) / std per channel, and the luma-weighted mean and std for a grey input', () => {
    // MNIST's statistics: white ink (255) → (1 − 0.1307) / 0.3081 = 2.821486…; black → −0.424213…
    expect(preprocessValue(255, 'normalize:0.1307/0.3081', 'luma')).toBeCloseTo(2.8214865, 6);
    expect(preprocessValue(0, 'normalize:0.1307/0.3081', 'luma')).toBeCloseTo(-0.4242129, 6);
    const rgb = 'normalize:0.4914,0.4822,0.4465/0.247,0.2435,0.2616' as const;
    // 51 / 255 = 0.2: G → (0.2 − 0.4822) / 0.2435 = −1.158932…
    expect(preprocessValue(51, rgb, 1)).toBeCloseTo(-1.1589322, 6);
    expect(preprocessValue(51, rgb, 2)).toBeCloseTo((0.2 - 0.4465) / 0.2616, 9);
    // Grey input: mean 0.299·0.4914 + 0.587·0.4822 + 0.114·0.4465 = 0.480881, std 0.299·0.247 + 0.587·0.2435 + 0.114·0.2616 = 0.2466099.
    expect(preprocessValue(51, rgb, 'luma')).toBeCloseTo((0.2 - 0.480881) / 0.2466099, 6);
    // The same statistics as ImageNet's preset give the preset's values.
    const imagenet = 'normalize:0.485,0.456,0.406/0.229,0.224,0.225' as const;
    for (const c of [0, 1, 2, 'luma'] as const) for (const v of [0, 77, 255]) expect(preprocessValue(v, imagenet, c)).toBeCloseTo(preprocessValue(v, 'imagenet', c), 9);
  });

  it('is written one way: spacing, zeros and three equal values are read to one canonical text', () => {
    expect(readPreprocessMode(' normalize: 0.50 / .5 ')).toEqual({ ok: true, mode: 'normalize:0.5/0.5' });
    expect(readPreprocessMode('normalize:0.5,0.5,0.5/1e-1,0.2,0.3')).toEqual({ ok: true, mode: 'normalize:0.5/0.1,0.2,0.3' });
    expect(readPreprocessMode('unit')).toEqual({ ok: true, mode: 'unit' });
    expect(isPreprocessMode('normalize:0.5/0.5')).toBe(true);
    expect(isPreprocessMode('normalize:0.50/0.5')).toBe(false);
    expect(isPreprocessMode('normalize: 0.5/0.5')).toBe(false);
  });

  it('refuses what is not a normalisation, saying why and what is accepted', () => {
    const why = (t: string): string => {
      const r = parseNormalize(t);
      return r.ok ? 'accepted' : r.reason;
    };
    expect(why('normalize:0.5/0')).toBe('"normalize:0.5/0": a std outside 0.000001–1000; expected normalize:MEAN/STD (of x / 255, one value or three R,G,B values each)');
    expect(why('normalize:0.5,0.4/0.2')).toMatch(/^"normalize:0.5,0.4\/0.2": the mean has 2 values, not 1 or 3; expected normalize:MEAN\/STD/);
    expect(why('normalize:a/0.2')).toMatch(/: the mean is not a list of numbers;/);
    expect(why('normalize:0.5/NaN')).toMatch(/: the std is not a list of numbers;/);
    expect(why('normalize:0.5/-0.2')).toMatch(/: a std outside/);
    expect(why('normalize:5000/1')).toMatch(/: a mean beyond ±1000;/);
    expect(why('normalize:0.5')).toMatch(/: not normalize:MEAN\/STD;/);
    expect(why(`normalize:${'1,'.repeat(150)}1/1`)).toMatch(/…": longer than 200 characters;/);
    const unknown = readPreprocessMode('sepia');
    expect(unknown.ok ? 'accepted' : unknown.reason).toBe('unknown preprocessing "sepia": expected one of raw, unit, signed, inverted, ink, imagenet, caffe or normalize:MEAN/STD (of x / 255, one value or three R,G,B values each)');
  });
});
