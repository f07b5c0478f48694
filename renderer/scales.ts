/** Scale presets and parsing of custom scale lists. */
import { parseScaleList } from '../core/scales';

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

export { MIN_SCALE, MAX_SCALE } from '../core/scales';

/** Short display of a scale factor: 1, 1.5, 0.667. */
export function formatScale(s: number): string {
  return String(Number(s.toFixed(3)));
}

/**
 * Parses "0.5, 1 1.5" (commas or spaces) into sorted distinct scales (core's one scale validator).
 * @returns the scales, or an error message naming the bad entry.
 */
export function parseScales(text: string): { scales: number[] } | { error: string } {
  const parsed = parseScaleList(text);
  return 'error' in parsed ? parsed : { scales: [...parsed.scales].sort((a, b) => a - b) };
}
