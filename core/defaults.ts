/**
 * The one set of defaults the CLI, the batch service and the window share: how the heatmap is drawn,
 * which class is shown, and which scales are computed for a model and a photo. Everything here is
 * pure so that each entry point derives the same picture from the same model and photo.
 */
import type { CombineMode } from './average';
import type { ColormapName } from './colormap';
import { cellCount } from './scoremap';

/** How the heatmap is drawn unless the user says otherwise (CLI flags, window controls). */
export interface DrawDefaults {
  /** Scores below this are transparent, 0–1. */
  threshold: number;
  /** Overlay opacity, 0–1. */
  opacity: number;
  /** How the scales are combined: 'max', because an object matches the window at one scale and a mean over the others dilutes it. */
  mode: CombineMode;
  colormap: ColormapName;
  /** Draw detection boxes on the view and on exported PNGs. */
  boxes: boolean;
  /** Peaks at or above this score become detections, 0–1. */
  detectThreshold: number;
}

/** The shared drawing defaults; frozen so that no caller edits them for everybody. */
export const DRAW_DEFAULTS: Readonly<DrawDefaults> = Object.freeze({
  threshold: 0.2,
  opacity: 0.65,
  mode: 'max',
  colormap: 'turbo',
  boxes: false,
  detectThreshold: 0.5,
});

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
export const SCALE_LIMITS: Readonly<{ min: number; max: number }> = Object.freeze({ min: 0.05, max: 8 });

/** At most this many default scales; consecutive ones differ by a factor of at most 2^(1/4) ≈ 1.19. */
export const MAX_DEFAULT_SCALES = 5;

const round3Up = (x: number): number => Math.ceil(x * 1000 - 1e-6) / 1000;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * Default scales for a model window on a photo, ascending, rounded to 3 decimals:
 * - from the smallest scale at which the scaled photo holds one whole window
 *   (max(windowH / photoH, windowW / photoW), rounded up so the window fits),
 * - to the scale at which the window covers about a quarter of the scaled photo's area
 *   (2·√(windowH·windowW / (photoH·photoW))),
 * - with geometric steps between them no larger than 2^(1/4), at most {@link MAX_DEFAULT_SCALES} scales.
 * A long thin photo whose quarter-area scale is below its first fitting scale gets that one scale.
 * Scales are clamped to {@link SCALE_LIMITS}.
 * @param window classifier input [height, width], pixels.
 * @param photo upright photo [height, width], pixels.
 */
export function defaultScales(window: readonly [number, number], photo: readonly [number, number]): number[] {
  const [wh, ww] = window;
  const [ph, pw] = photo;
  if (!(wh > 0 && ww > 0 && ph > 0 && pw > 0)) throw new Error(`defaultScales: sizes must be positive, got window ${wh}×${ww}, photo ${ph}×${pw}`);
  const clamp = (s: number): number => Math.min(SCALE_LIMITS.max, Math.max(SCALE_LIMITS.min, s));
  const lo = clamp(round3Up(Math.max(wh / ph, ww / pw)));
  const hi = clamp(round3(2 * Math.sqrt((wh * ww) / (ph * pw))));
  if (hi <= lo * 1.05) return [lo];
  const steps = Math.min(MAX_DEFAULT_SCALES - 1, Math.ceil(Math.log(hi / lo) / (Math.LN2 / 4) - 1e-9));
  const out: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const s = i === 0 ? lo : i === steps ? hi : round3(lo * Math.pow(hi / lo, i / steps));
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

/** The cell geometry default-scale checks need: window, stride and offset [y, x], input pixels. */
export interface ModelGeometry {
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
export function cellsAtScale(model: ModelGeometry, photo: readonly [number, number], scale: number): [number, number] {
  const [oy, ox] = model.offset ?? [0, 0];
  const h = Math.round(scale * photo[0]);
  const w = Math.round(scale * photo[1]);
  return [cellCount(h - oy, model.window[0], model.stride[0]), cellCount(w - ox, model.window[1], model.stride[1])];
}

/** The scales of `scales` at which the photo yields no cell (a warning per photo names them). */
export function scalesWithoutCells(model: ModelGeometry, photo: readonly [number, number], scales: readonly number[]): number[] {
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
