/**
 * The defaults the CLI, the batch service and the window derive from a model and a photo: which
 * class is shown and which scales are computed (the settings' own defaults are core/recipe
 * DEFAULT_RECIPE). Everything here is pure so that each entry point derives the same picture from
 * the same model and photo.
 */
import { cellCount } from './scoremap';

/**
 * The class shown by default:
 * - 'any': per location the strongest class but background;
 * - 'top': the photo's strongest class but background.
 */
export type DefaultClassChoice = 'any' | 'top';

/** A label that stands for "no object": 'background', '__background__', ' Background ' and the like. */
export function isBackgroundLabel(label: string | undefined): boolean {
  return label !== undefined && /^_*background_*$/i.test(label.trim());
}

/** Index of the first background label, or -1. */
export function backgroundIndex(labels: readonly string[]): number {
  return labels.findIndex((l) => isBackgroundLabel(l));
}

/**
 * The default class rule: 'any' only when the model has a background label (then "strongest class
 * but background" picks out objects); without one every location has a class with score ≥ 1/K, so
 * 'any' would tint the whole photo, and the photo's top class is shown instead.
 */
export function defaultClassChoice(labels: readonly string[]): DefaultClassChoice {
  return backgroundIndex(labels) >= 0 ? 'any' : 'top';
}

/**
 * Orders classes by descending score (lower index first on ties), with background classes after all
 * others whatever their score: a ranking or hover list never leads with "background".
 * @returns a new array; the input is not changed.
 */
export function rankClasses<T extends { classIndex: number; score: number }>(items: readonly T[], labels: readonly string[]): T[] {
  const bg = (k: number): number => (isBackgroundLabel(labels[k]) ? 1 : 0);
  return [...items].sort((a, b) => bg(a.classIndex) - bg(b.classIndex) || b.score - a.score || a.classIndex - b.classIndex);
}

/** Bounds every default scale stays within (the window's scale fields accept the same range). */
export const SCALE_LIMITS: Readonly<{ min: number; max: number }> = Object.freeze({ min: 0.01, max: 8 });

/**
 * What a default scale plan may cost (the time budget, since the work of a pass grows with its pixels):
 * - `pixels`: the scaled photos of all scales together, pixels;
 * - `scales`: most scales in one plan.
 * A plan keeps its first scale even over `pixels` (every photo that can hold a window gets one),
 * never one over {@link MAX_PLAN_SCALED_PIXELS}.
 */
export interface ScaleBudget {
  pixels: number;
  scales: number;
}

/** The default budget: 16 MP of scaled photo over all scales, at most 16 scales. */
export const DEFAULT_SCALE_BUDGET: Readonly<ScaleBudget> = Object.freeze({ pixels: 16_000_000, scales: 16 });

/**
 * Largest resized photo at one scale, pixels (core/scales MAX_SCALED_PIXELS is the same number; it
 * is here so that core/scales may import the limits from this file without a cycle).
 */
export const MAX_PLAN_SCALED_PIXELS = 400_000_000;

/**
 * Smallest object the default plan looks for, as a fraction of the photo's shorter side, unless the
 * model's window at scale 1 is larger (objects smaller than the window are never searched by default:
 * that would enlarge the photo).
 */
export const SMALLEST_OBJECT_FRACTION = 1 / 20;

/** Ratio between consecutive default scales at most: 2^(1/3) ≈ 1.26, within OverFeat's 1.2–1.4. */
export const SCALE_STEP = Math.cbrt(2);

/** A default scale plan and why it is what it is. */
export interface ScalePlan {
  /** Ascending scale factors, rounded to 3 decimals; empty when no scale fits the pixel limit. */
  scales: number[];
  /**
   * Object sizes searched, [largest, smallest], pixels of the photo: the window's longer side divided
   * by the first and the last scale. [0, 0] when `scales` is empty.
   */
  objects: [number, number];
  /** Ratio between consecutive scales (1 for a single scale). */
  step: number;
  /** Why the plan stops short of the smallest objects it aims at, or why it is empty; absent otherwise. */
  limit?: string;
  /** One line saying what was chosen, for logs, the CLI and the window's tooltip. */
  summary: string;
}

const round3Up = (x: number): number => Math.ceil(x * 1000 - 1e-6) / 1000;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const scaledPixels = (photo: readonly [number, number], s: number): number => Math.round(s * photo[0]) * Math.round(s * photo[1]);

/**
 * The default scales for a model's window on a photo (CLI "auto", the window's auto preset, batch
 * "auto"): object sizes from the photo's shorter side down to the larger of the window at scale 1 and
 * {@link SMALLEST_OBJECT_FRACTION} of the shorter side, in geometric steps of at most
 * {@link SCALE_STEP}, within the budget.
 * - First scale: the smallest at which the scaled photo holds one whole window,
 *   max(windowH / photoH, windowW / photoW), rounded up to 3 decimals (an object the size of the photo).
 * - Last scale: min(1, first / fraction), and never below the first (a photo smaller than the window
 *   gets the one scale that fits it).
 * - Scales are clamped to {@link SCALE_LIMITS}; scales whose scaled photo would pass the pixel budget
 *   (all scales together) or the count budget are dropped from the large end (the smallest objects),
 *   and the plan says so; a first scale over {@link MAX_PLAN_SCALED_PIXELS} leaves the plan empty.
 * @param window classifier input [height, width], pixels.
 * @param photo upright photo [height, width], pixels.
 */
export function scalePlan(window: readonly [number, number], photo: readonly [number, number], budget: Readonly<ScaleBudget> = DEFAULT_SCALE_BUDGET): ScalePlan {
  const [wh, ww] = window;
  const [ph, pw] = photo;
  if (!(wh > 0 && ww > 0 && ph > 0 && pw > 0)) throw new Error(`scalePlan: sizes must be positive, got window ${wh}×${ww}, photo ${ph}×${pw}`);
  const clamp = (s: number): number => Math.min(SCALE_LIMITS.max, Math.max(SCALE_LIMITS.min, s));
  const first = clamp(round3Up(Math.max(wh / ph, ww / pw)));
  const side = Math.max(wh, ww);
  const objectAt = (s: number): number => Math.round(side / s);
  if (scaledPixels(photo, first) > MAX_PLAN_SCALED_PIXELS) {
    const mp = (scaledPixels(photo, first) / 1e6).toFixed(0);
    const limit = `the ${pw}×${ph} photo holds the model's ${ww}×${wh} window only at scale ${first}, where it would be ${mp} MP, over the limit of ${MAX_PLAN_SCALED_PIXELS / 1e6} MP`;
    return { scales: [], objects: [0, 0], step: 1, limit, summary: `no scale: ${limit}` };
  }
  const last = clamp(Math.max(first, Math.min(1, first / SMALLEST_OBJECT_FRACTION)));
  const steps = last <= first * 1.001 ? 0 : Math.ceil(Math.log(last / first) / Math.log(SCALE_STEP) - 1e-9);
  const wanted: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const s = i === 0 ? first : i === steps ? round3(last) : round3(first * Math.pow(last / first, i / steps));
    if (!wanted.includes(s)) wanted.push(s);
  }
  const scales: number[] = [];
  let pixels = 0;
  let limit: string | undefined;
  for (const s of wanted) {
    const px = scaledPixels(photo, s);
    if (scales.length > 0 && (pixels + px > budget.pixels || scales.length >= budget.scales)) {
      limit = scales.length >= budget.scales
        ? `objects smaller than ${objectAt(scales[scales.length - 1])} px are not searched: at most ${budget.scales} scales`
        : `objects smaller than ${objectAt(scales[scales.length - 1])} px are not searched: the scaled photos would pass ${budget.pixels / 1e6} MP together`;
      break;
    }
    scales.push(s);
    pixels += px;
  }
  const objects: [number, number] = [objectAt(scales[0]), objectAt(scales[scales.length - 1])];
  const step = scales.length > 1 ? Math.pow(scales[scales.length - 1] / scales[0], 1 / (scales.length - 1)) : 1;
  const range = scales.length > 1 ? `${scales[0]}–${scales[scales.length - 1]} (×${step.toFixed(2)})` : `${scales[0]}`;
  const summary = `${scales.length} ${scales.length === 1 ? 'scale' : 'scales'} ${range} for objects of ${objects[0]}–${objects[1]} px${limit ? `; ${limit}` : ''}`;
  return { scales, objects, step, ...(limit ? { limit } : {}), summary };
}

/** The scales of {@link scalePlan} with the default budget (ascending; empty when none fits the pixel limit). */
export function defaultScales(window: readonly [number, number], photo: readonly [number, number]): number[] {
  return scalePlan(window, photo).scales;
}

/**
 * The cell geometry default-scale checks need: window, stride and offset [y, x], input pixels (a
 * core/scoremap CellGeometry or a ConvertedModelInfo satisfies it; the engine's ModelGeometry adds channels and preprocessing).
 */
export interface GridGeometry {
  window: readonly [number, number];
  stride: readonly [number, number];
  offset?: readonly [number, number];
}

/**
 * Cells the model yields on the photo at one scale, [rows, cols], as the engine sizes the scaled
 * photo (each side rounded to whole pixels) and tiles it (main/engine/tiling.ts). A zero means the
 * scaled photo is smaller than the window along that axis: no cells, nothing to draw.
 * @param photo upright photo [height, width], pixels.
 */
export function cellsAtScale(model: GridGeometry, photo: readonly [number, number], scale: number): [number, number] {
  const [oy, ox] = model.offset ?? [0, 0];
  const h = Math.round(scale * photo[0]);
  const w = Math.round(scale * photo[1]);
  return [cellCount(h - oy, model.window[0], model.stride[0]), cellCount(w - ox, model.window[1], model.stride[1])];
}

/** The scales of `scales` at which the photo yields no cell (a warning per photo names them). */
export function scalesWithoutCells(model: GridGeometry, photo: readonly [number, number], scales: readonly number[]): number[] {
  return scales.filter((s) => {
    const [r, c] = cellsAtScale(model, photo, s);
    return r === 0 || c === 0;
  });
}

/** What the built-in digit model is called wherever a model is named (menus, recents, CLI summaries). */
export const BUILTIN_MODEL_NAME = 'Built-in digits';

/**
 * The name a model is shown by: its folder's name for a tfjs `model.json` (every tfjs model is
 * called model.json) or a converted folder, the file name for a Keras file, {@link BUILTIN_MODEL_NAME}
 * for null (the built-in model). Works on '/' and '\' paths alike.
 */
export function modelDisplayName(modelPath: string | null): string {
  if (modelPath === null) return BUILTIN_MODEL_NAME;
  const parts = modelPath.split(/[\\/]+/).filter((p) => p.length > 0 && p !== '.');
  const last = parts[parts.length - 1] ?? modelPath;
  if (/\.json$/i.test(last) && parts.length > 1) return parts[parts.length - 2];
  return last;
}
