import { describe, expect, it } from 'vitest';
import {
  BUILTIN_MODEL_NAME, backgroundIndex, cellsAtScale, modelDisplayName, defaultClassChoice, defaultScales, isBackgroundLabel, rankClasses, scalePlan, scalesWithoutCells,
} from '../../core/defaults';
import { scaleListProblem } from '../../core/scales';

describe('scalePlan: objects from the photo\'s shorter side down to the window at scale 1 (or 1/20 of that side)', () => {
  const ratios = (s: readonly number[]): number[] => s.slice(1).map((v, i) => v / s[i]);

  it('covers a 640×480 digit scene from one window per photo down to 28-px digits in steps of at most 2^(1/3)', () => {
    // First: ⌈max(28/480, 28/640)⌉₃ = ⌈0.05833⌉₃ = 0.059 (480·0.059 = 28.3 ≥ 28): a 475-px object.
    // Last: min(1, 0.059·20 = 1.18) = 1, the window at scale 1 (28 px) being larger than 480/20 = 24 px.
    // Steps: ⌈ln(1/0.059) / ln 2^(1/3)⌉ = ⌈2.8302 / 0.23105⌉ = ⌈12.25⌉ = 13, ratio 16.949^(1/13) = 1.2432.
    const plan = scalePlan([28, 28], [480, 640]);
    expect(plan.scales).toHaveLength(14);
    expect(plan.scales[0]).toBe(0.059);
    expect(plan.scales[1]).toBe(0.073); // 0.059·1.2432 = 0.07335
    expect(plan.scales[13]).toBe(1);
    for (const r of ratios(plan.scales)) {
      expect(r).toBeGreaterThan(1.2);
      expect(r).toBeLessThan(1.27);
    }
    expect(plan.objects).toEqual([475, 28]);
    expect(plan.limit).toBeUndefined();
    expect(plan.summary).toBe('14 scales 0.059–1 (×1.24) for objects of 475–28 px');
    // The scene's smallest digits (28 px) fill the window at scale 1, its largest (84 px) at 28/84 = 0.333:
    // the plan has scales within ×1.13 of both.
    for (const want of [1, 28 / 84, 28 / 56]) expect(Math.min(...plan.scales.map((s) => Math.max(s / want, want / s)))).toBeLessThan(1.13);
    expect(defaultScales([28, 28], [480, 640])).toEqual(plan.scales);
  });

  it('starts where the shorter side holds the window, rounded up so the window fits, and ends at scale 1', () => {
    // 224 window on 300×451: ⌈224/300⌉₃ = 0.747 (300·0.747 = 224.1). ln(1/0.747) / ln 2^(1/3) = 1.26 → 2
    // steps of √1.33869 = 1.15702: 0.8643 → 0.864.
    const plan = scalePlan([224, 224], [300, 451]);
    expect(plan.scales).toEqual([0.747, 0.864, 1]);
    expect(plan.objects).toEqual([300, 224]);
    expect(scalesWithoutCells({ window: [224, 224], stride: [32, 32] }, [300, 451], plan.scales)).toEqual([]);
  });

  it('stops at 1/20 of the shorter side when the window at scale 1 is smaller', () => {
    // 28 window on 3000×4000: first ⌈28/3000⌉₃ = ⌈0.009333⌉₃ = 0.01 (a 2800-px object); last min(1, 0.01·20) = 0.2,
    // a 140-px object (3000/20 = 150 px, the first scale's rounding up making it 140). ln 20 / ln 2^(1/3) = 12.97 → 13 steps.
    const plan = scalePlan([28, 28], [3000, 4000]);
    expect(plan.scales[0]).toBe(0.01);
    expect(plan.scales[plan.scales.length - 1]).toBe(0.2);
    expect(plan.scales).toHaveLength(14);
    expect(plan.objects).toEqual([2800, 140]);
    // Pixels: 12 MP·Σ s² ≈ 12e6·0.04/(1 − 1/1.2591²) ≈ 1.3 MP, well within the budget.
    expect(plan.limit).toBeUndefined();
  });

  it('drops the smallest objects first when the scaled photos would pass the pixel budget, and says so', () => {
    // 224 window on 3000×4000: 0.075 (⌈0.074667⌉₃) … 1 in 12 steps of 13.333^(1/12) = 1.2409. Scaled pixels,
    // round(3000s)·round(4000s): 0.075 → 67 500, 0.093 → 103 788, 0.115 → 158 700, 0.143 → 245 388,
    // 0.178 → 380 208, 0.221 → 586 092, 0.274 → 900 912, 0.34 → 1 387 200, 0.422 → 2 137 008,
    // 0.523 → 3 282 348, 0.649 → 5 054 412: 14.30 MP together; 0.806 (2418·3224 = 7.80 MP) would make 22.1 MP > 16 MP.
    const plan = scalePlan([224, 224], [3000, 4000]);
    expect(plan.scales).toEqual([0.075, 0.093, 0.115, 0.143, 0.178, 0.221, 0.274, 0.34, 0.422, 0.523, 0.649]);
    expect(plan.objects).toEqual([2987, 345]);
    expect(plan.limit).toBe('objects smaller than 345 px are not searched: the scaled photos would pass 16 MP together');
    expect(plan.summary).toMatch(/^11 scales 0\.075–0\.649 \(×1\.24\) for objects of 2987–345 px; objects smaller than 345 px/);
    // A larger budget reaches scale 1; a count budget of 4 keeps the four largest objects' scales.
    expect(scalePlan([224, 224], [3000, 4000], { pixels: 100e6, scales: 16 }).scales.at(-1)).toBe(1);
    expect(scalePlan([224, 224], [3000, 4000], { pixels: 100e6, scales: 4 }).scales).toEqual([0.075, 0.093, 0.115, 0.143]);
  });

  it('gives a photo smaller than the window the one scale that fits it', () => {
    // 224 window, 100×150 photo: 2.24 (100·2.24 = 224), and no smaller object than the whole photo.
    expect(scalePlan([224, 224], [100, 150])).toMatchObject({ scales: [2.24], objects: [100, 100], step: 1 });
    expect(defaultScales([28, 28], [28, 28])).toEqual([1]);
  });

  it('never plans a scaled photo over the pixel limit: a 10 × 10 000 000 strip gets no scale and the reason', () => {
    // The strip holds a 28 window only at 28/10 = 2.8, where it would be 28 × 28 000 000 = 784 MP > 400 MP.
    const plan = scalePlan([28, 28], [10, 10_000_000]);
    expect(plan.scales).toEqual([]);
    expect(plan.summary).toBe('no scale: the 10000000×10 photo holds the model\'s 28×28 window only at scale 2.8, where it would be 784 MP, over the limit of 400 MP');
    expect(scaleListProblem([2.8], [10, 10_000_000])).toMatch(/784 MP, over the limit of 400 MP/);
    // Every scale of every plan stays under the limit, and the plans' first scale always fits a window.
    for (const [h, w] of [[10, 100_000], [30, 5_000_000], [20_000, 20_000], [7, 9]] as const) {
      const p = scalePlan([28, 28], [h, w]);
      expect(scaleListProblem(p.scales, [h, w])).toBeUndefined();
      expect(cellsAtScale({ window: [28, 28], stride: [4, 4] }, [h, w], p.scales[0]).every((n) => n >= 1)).toBe(true);
    }
  });

  it('uses a non-square window per axis, objects measured by its longer side', () => {
    // 96×128 window on 480×640: both axes fit at 0.2; last min(1, 4) = 1; ln 5 / ln 2^(1/3) = 6.97 → 7 steps of 1.2585.
    const plan = scalePlan([96, 128], [480, 640]);
    expect(plan.scales).toEqual([0.2, 0.252, 0.317, 0.399, 0.502, 0.631, 0.795, 1]);
    expect(plan.objects).toEqual([640, 128]);
  });

  it('refuses sizes that are not positive', () => {
    expect(() => scalePlan([0, 28], [10, 10])).toThrow(/positive/);
  });
});

describe('cellsAtScale', () => {
  it('counts cells as the engine sizes the scaled photo', () => {
    // The case: 224 window, stride 32, 300×451 photo. ½ → 150×226 (round(225.5) = 226): 0×1; ⅔ → 200×301: 0×3.
    expect(cellsAtScale({ window: [224, 224], stride: [32, 32] }, [300, 451], 0.5)).toEqual([0, 1]);
    expect(cellsAtScale({ window: [224, 224], stride: [32, 32] }, [300, 451], 2 / 3)).toEqual([0, 3]);
    // Scale 1: (300−224)/32 → 3 rows, (451−224)/32 = 7.09 → 8 cols.
    expect(cellsAtScale({ window: [224, 224], stride: [32, 32] }, [300, 451], 1)).toEqual([3, 8]);
    // An offset shortens the usable side: 28 window, stride 4, offset 2 on 40×40 → (38−28)/4 + 1 = 3.
    expect(cellsAtScale({ window: [28, 28], stride: [4, 4], offset: [2, 2] }, [40, 40], 1)).toEqual([3, 3]);
  });
});

describe('the default class', () => {
  it('is "any" only for a model with a background label', () => {
    expect(defaultClassChoice(['background', '0', '1'])).toBe('any');
    expect(defaultClassChoice(['cat', '__background__'])).toBe('any');
    expect(defaultClassChoice(['Battery', 'Biological', 'Cardboard'])).toBe('top');
    expect(defaultClassChoice([])).toBe('top');
  });

  it('recognises background labels and nothing else', () => {
    expect(isBackgroundLabel(' Background ')).toBe(true);
    expect(isBackgroundLabel('_background_')).toBe(true);
    expect(isBackgroundLabel('background noise')).toBe(false);
    expect(isBackgroundLabel('bag')).toBe(false);
    expect(isBackgroundLabel(undefined)).toBe(false);
    expect(backgroundIndex(['a', 'b', 'BACKGROUND'])).toBe(2);
    expect(backgroundIndex(['a', 'b'])).toBe(-1);
  });

  it('ranks classes by score with background never first', () => {
    const labels = ['background', 'cat', 'dog'];
    const ranked = rankClasses([
      { classIndex: 0, score: 0.9 }, { classIndex: 1, score: 0.04 }, { classIndex: 2, score: 0.06 },
    ], labels);
    expect(ranked.map((r) => r.classIndex)).toEqual([2, 1, 0]);
    // Ties: lower index first.
    expect(rankClasses([{ classIndex: 2, score: 0.5 }, { classIndex: 1, score: 0.5 }], labels).map((r) => r.classIndex)).toEqual([1, 2]);
  });
});

describe('modelDisplayName', () => {
  it('names a tfjs model by its folder, a Keras file by its file, the built-in model by name', () => {
    expect(modelDisplayName('/m/waste_classifier/model.json')).toBe('waste_classifier');
    expect(modelDisplayName('C:\\models\\symbols\\model.json')).toBe('symbols');
    expect(modelDisplayName('/m/waste_classifier/')).toBe('waste_classifier');
    expect(modelDisplayName('/m/keras/net.h5')).toBe('net.h5');
    expect(modelDisplayName('model.json')).toBe('model.json');
    expect(modelDisplayName(null)).toBe(BUILTIN_MODEL_NAME);
  });
});
