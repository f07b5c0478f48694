/**
 * The one scale validator: what a scale factor may be, for the CLI's --scales, the window's scale
 * field and main's check of every IPC request.
 */

import { MAX_PLAN_SCALED_PIXELS, SCALE_LIMITS } from './defaults';

/** Smallest and largest scale factor accepted anywhere (core/defaults' SCALE_LIMITS, which default scales are clamped to too). */
export const MIN_SCALE = SCALE_LIMITS.min;
export const MAX_SCALE = SCALE_LIMITS.max;
/** Most scales in one list. */
export const MAX_SCALES = 32;
/** Largest resized photo at one scale, in pixels: bounds the memory of one resize. */
export const MAX_SCALED_PIXELS = MAX_PLAN_SCALED_PIXELS;

/** Why `s` is not a valid scale, or undefined when it is. */
export function scaleProblem(s: unknown): string | undefined {
  if (typeof s !== 'number' || !Number.isFinite(s) || s < MIN_SCALE || s > MAX_SCALE) {
    return `each scale must be a finite number from ${MIN_SCALE} to ${MAX_SCALE}, got ${typeof s === 'number' ? s : JSON.stringify(s) ?? String(s)}`;
  }
  return undefined;
}

/**
 * Checks a list of scales, and with `size` ([height, width] of the photo) that no scale makes it
 * larger than {@link MAX_SCALED_PIXELS}.
 * @returns undefined when valid, else one sentence naming the first bad entry.
 */
export function scaleListProblem(scales: readonly unknown[], size?: readonly [number, number]): string | undefined {
  if (scales.length === 0 || scales.length > MAX_SCALES) return `scales must hold 1–${MAX_SCALES} numbers, got ${scales.length}`;
  for (const s of scales) {
    const p = scaleProblem(s);
    if (p) return p;
    if (size) {
      const pixels = Math.round((s as number) * size[0]) * Math.round((s as number) * size[1]);
      if (pixels > MAX_SCALED_PIXELS) {
        return `scale ${s as number} makes the ${size[1]}×${size[0]} photo ${(pixels / 1e6).toFixed(0)} MP, over the limit of ${MAX_SCALED_PIXELS / 1e6} MP`;
      }
    }
  }
  return undefined;
}

/**
 * Parses "0.5, 1 1.5" (commas, semicolons or spaces) into distinct scales, in the order given.
 * @returns the scales, or an error naming the bad entry.
 */
export function parseScaleList(text: string): { scales: number[] } | { error: string } {
  const parts = text.split(/[\s,;]+/).filter((p) => p.length > 0);
  if (parts.length === 0) return { error: 'enter at least one scale, e.g. 0.5, 1, 2' };
  const out: number[] = [];
  for (const p of parts) {
    const v = p.trim() === '' ? NaN : Number(p);
    if (scaleProblem(v)) return { error: `"${p}" is not a scale from ${MIN_SCALE} to ${MAX_SCALE}` };
    if (!out.some((s) => Math.abs(s - v) < 1e-9)) out.push(v);
  }
  const tooMany = scaleListProblem(out);
  return tooMany ? { error: tooMany } : { scales: out };
}
