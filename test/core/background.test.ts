/**
 * One definition of "background" (issue 18): torchvision-style labels ('__background__') are
 * background for the class rule, the class list, "top", "any" and detect() alike, so the window and
 * an exported picture choose the same class and draw the same boxes.
 */
import { describe, expect, it } from 'vitest';
import { averageScoreMaps } from '../../core/average';
import { defaultClassChoice, isBackgroundLabel, rankClasses } from '../../core/defaults';
import { defaultClasses, detect } from '../../core/detect';
import { ANY_CLASS, analyseMaps, chooseClass, drawnClasses } from '../../core/pipeline';
import type { ScoreMap } from '../../core/scoremap';

const LABELS = ['__background__', 'cat', 'dog'];

/** 8×8 cells of a 32-px window at stride 16: background 0.9 everywhere, cat 0.9 at (2, 2), background 0.99 at (6, 6). */
function map(): ScoreMap {
  const rows = 8;
  const cols = 8;
  const scores = new Float32Array(rows * cols * 3);
  for (let cell = 0; cell < rows * cols; cell++) scores.set([0.9, 0.05, 0.05], cell * 3);
  scores.set([0.05, 0.9, 0.05], (2 * cols + 2) * 3);
  scores.set([0.99, 0.005, 0.005], (6 * cols + 6) * 3);
  return { scale: 1, imageSize: [144, 144], scaledSize: [144, 144], rows, cols, classes: 3, scores, geometry: { window: [32, 32], stride: [16, 16], offset: [0, 0] } };
}

describe('"__background__" is background everywhere', () => {
  it('in the label rule and the class lists', () => {
    expect(LABELS.map(isBackgroundLabel)).toEqual([true, false, false]);
    expect(defaultClassChoice(LABELS)).toBe('any');
    expect(defaultClasses(3, LABELS)).toEqual([1, 2]);
    expect(drawnClasses(ANY_CLASS, 3, LABELS)).toEqual([1, 2]);
  });

  it('"top" is the same class for the window\'s ranking and the export\'s choice, and it is not background', () => {
    const avg = averageScoreMaps([map()], { mode: 'max' });
    const exported = chooseClass('top', LABELS, avg);
    // The window ranks the classes by their strongest score, background last (renderer/stores/scores ranking).
    const windowTop = rankClasses([0.99, 0.9, 0.05].map((score, classIndex) => ({ classIndex, score })), LABELS)[0].classIndex;
    expect(exported).toBe(1);
    expect(windowTop).toBe(exported);
  });

  it('detect() returns no __background__ box, and the cat is found', () => {
    const dets = detect([map()], { threshold: 0.5, labels: LABELS });
    expect(dets.map((d) => d.label)).not.toContain('__background__');
    expect(dets.some((d) => d.label === 'cat')).toBe(true);
    const a = analyseMaps([map()], LABELS, { mode: 'max', classChoice: 'any', detectThreshold: 0.5 });
    expect(a.drawn.every((d) => d.classIndex !== 0)).toBe(true);
  });
});
