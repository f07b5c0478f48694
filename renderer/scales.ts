/** Scale presets and parsing of custom scale lists. */
import { SCALE_LIMITS } from '../core/defaults';

export interface ScalePreset {
  id: string;
  label: string;
  scales: number[];
}

/** The preset whose scales come from the model's window and the photo's size (core/defaults defaultScales). */
export const AUTO_PRESET_ID = 'auto';

export const SCALE_PRESETS: readonly ScalePreset[] = [
  { id: AUTO_PRESET_ID, label: 'auto', scales: [] },
  { id: 'one', label: '1', scales: [1] },
  // The demo scene's digits are 28, 42 and 56 px for a 28 px window: scales 1, ⅔ and ½ fit them.
  { id: 'down', label: '½ · ⅔ · 1', scales: [0.5, 2 / 3, 1] },
  { id: 'up', label: '1 · 1.5 · 2', scales: [1, 1.5, 2] },
  { id: 'wide', label: '0.5 … 3', scales: [0.5, 0.75, 1, 1.5, 2, 3] },
];

export const DEFAULT_PRESET_ID = AUTO_PRESET_ID;
/** The built-in demo scene's preset: its digits are 28, 42 and 56 px for a 28-px window. */
export const DEMO_PRESET_ID = 'down';

export const MIN_SCALE = SCALE_LIMITS.min;
export const MAX_SCALE = SCALE_LIMITS.max;

/** Short display of a scale factor: 1, 1.5, 0.667. */
export function formatScale(s: number): string {
  return String(Number(s.toFixed(3)));
}

/**
 * Parses "0.5, 1 1.5" (commas or spaces) into sorted distinct scales.
 * @returns the scales, or an error message naming the bad entry.
 */
export function parseScales(text: string): { scales: number[] } | { error: string } {
  const parts = text.split(/[\s,;]+/).filter((p) => p.length > 0);
  if (parts.length === 0) return { error: 'enter at least one scale, e.g. 0.5, 1, 2' };
  const out: number[] = [];
  for (const p of parts) {
    const v = Number(p);
    if (!Number.isFinite(v) || v < MIN_SCALE || v > MAX_SCALE) return { error: `"${p}" is not a scale between ${MIN_SCALE} and ${MAX_SCALE}` };
    if (!out.some((s) => Math.abs(s - v) < 1e-9)) out.push(v);
  }
  return { scales: out.sort((a, b) => a - b) };
}
