import { describe, expect, it } from 'vitest';
import {
  BUILTIN_MODEL_NAME, backgroundIndex, cellsAtScale, modelDisplayName, defaultClassChoice, defaultScales, isBackgroundLabel, rankClasses, scalesWithoutCells,
} from '../../core/defaults';

describe('defaultScales', () => {
  it('spans "one window fills the square photo" to "the window covers a quarter of it" in steps of 2^(1/4)', () => {
    // 28-px window on a 28×28 photo: the photo holds one window at scale 1; at scale 2 the photo is
    // 56×56 and the window covers 784 / 3136 = ¼. Between: 2^(1/4), 2^(1/2), 2^(3/4).
    expect(defaultScales([28, 28], [28, 28])).toEqual([1, 1.189, 1.414, 1.682, 2]);
  });

  it('starts where the shorter side holds the window, rounded up so the window fits', () => {
    // 224 window on a 300×451 photo: max(224/300, 224/451) = 0.74667 → 0.747 (300·0.747 = 224.1 ≥ 224).
    // Quarter area: 2·√(224² / (300·451)) = 2·√0.370851 = 1.21795 → 1.218. Ratio 1.6305 needs
    // ⌈log(1.6305) / log(2^(1/4))⌉ = ⌈2.82⌉ = 3 steps of 1.6305^(1/3) = 1.1771: 0.8793, 1.0350.
    const s = defaultScales([224, 224], [300, 451]);
    expect(s).toEqual([0.747, 0.879, 1.035, 1.218]);
    // Every one of them gives at least one cell (stride 32), unlike the digit demo's ½, ⅔.
    expect(scalesWithoutCells({ window: [224, 224], stride: [32, 32] }, [300, 451], s)).toEqual([]);
    expect(scalesWithoutCells({ window: [224, 224], stride: [32, 32] }, [300, 451], [0.5, 2 / 3, 1])).toEqual([0.5, 2 / 3]);
  });

  it('upsizes a photo smaller than the window', () => {
    // 224 window, 100×150 photo: 2.24 (100·2.24 = 224) … 2·√(50176/15000) = 3.658.
    const s = defaultScales([224, 224], [100, 150]);
    expect(s[0]).toBe(2.24);
    expect(s[s.length - 1]).toBe(3.658);
    expect(s.length).toBe(4);
  });

  it('gives a long thin photo the one scale at which it holds a window', () => {
    // 28 window on 100×1000: fits at 0.28; a quarter of the area would be 2·√(784/100000) = 0.177 < 0.28.
    expect(defaultScales([28, 28], [100, 1000])).toEqual([0.28]);
  });

  it('uses a non-square window per axis', () => {
    // 96×128 window on 480×640: both axes fit at 0.2; quarter area 2·√(12288/307200) = 0.4.
    expect(defaultScales([96, 128], [480, 640])).toEqual([0.2, 0.238, 0.283, 0.336, 0.4]);
  });

  it('stays within the scale limits', () => {
    // 32 window on 3000×4000: 0.0107 and 0.0185 are both under 0.05.
    expect(defaultScales([32, 32], [3000, 4000])).toEqual([0.05]);
  });

  it('refuses sizes that are not positive', () => {
    expect(() => defaultScales([0, 28], [10, 10])).toThrow(/positive/);
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
