/**
 * The pure stages of the one pipeline, after the score maps: averaged → class choice → detections.
 * Main (window service, batch, CLI, export) and the renderer call these with the same settings, so
 * the same maps give the same picture and the same boxes everywhere.
 */

import { averageScoreMaps, classMaxima, maxOverClasses, type AveragedMap } from './average';
import { classColourCss, type ColormapName } from './colormap';
import { backgroundIndex, defaultClassChoice, isBackgroundLabel } from './defaults';
import { defaultClasses, detect, seenMaps, type Detection } from './detect';
import type { PreprocessMode } from './model-info';
import { classMapWinners, renderClassMap, renderOverlay } from './overlay';
import type { MapView, Recipe } from './recipe';
import type { ScoreMap } from './scoremap';

/** The class index that stands for "any": per location, the strongest class other than background. */
export const ANY_CLASS = -1;

/**
 * The view shown by default: a model with a background class gets the 'absolute' map of its default
 * class ("any": where is any object); a closed-set classifier names some class everywhere, so one
 * class's map is a wash and the class map (which class wins where) is shown instead.
 */
export function defaultView(labels: readonly string[]): MapView {
  return backgroundIndex(labels) >= 0 ? 'absolute' : 'classes';
}

/** The view a setting means for a model: itself, or {@link defaultView} when null or absent. */
export function viewFor(view: MapView | null | undefined, labels: readonly string[]): MapView {
  return view ?? defaultView(labels);
}

/** The class choice a setting means for a model: itself, or core/defaults defaultClassChoice when null. */
export function classChoiceFor(choice: string | null, labels: readonly string[]): string {
  return choice ?? defaultClassChoice(labels);
}

/**
 * Everything that decides a photo's picture and boxes once the maps are computed: the recipe's
 * picture fields (core/recipe; a null view or class choice is the model's default).
 */
export type PictureSettings = Pick<Recipe, 'mode' | 'view' | 'classChoice' | 'colormap' | 'opacity' | 'threshold' | 'smooth' | 'boxes' | 'legend' | 'detectThreshold'>;

/** A recipe bound to a model ({@link bindRecipe}): nothing left to the model's defaults. */
export type BoundRecipe = Recipe & { model: string; preprocess: PreprocessMode; classChoice: string; view: MapView };

/**
 * A recipe bound to a model: its identity (content hash) and effective preprocessing filled in, and
 * the class choice and view the model's defaults make of null. Two runs whose bound recipes have the
 * same core/recipe recipeKey write the same files: the resume journal and the queue key by it.
 */
export function bindRecipe(recipe: Readonly<Recipe>, model: { hash: string; preprocess: PreprocessMode; labels: readonly string[] }): BoundRecipe {
  return {
    ...recipe,
    scales: Array.isArray(recipe.scales) ? [...recipe.scales] : recipe.scales,
    model: model.hash,
    preprocess: model.preprocess,
    classChoice: classChoiceFor(recipe.classChoice, model.labels),
    view: viewFor(recipe.view, model.labels),
  };
}

/**
 * What "any" is "not", said where it is drawn: a model with a background class shows any class but
 * background; a closed-set classifier has no background, and its cells count only where a class
 * stands out (core/detect SEEN_RULE), so "any" is any class there.
 */
export function anyLabel(labels: readonly string[]): string {
  return backgroundIndex(labels) >= 0 ? 'any (not background)' : 'any (where a class stands out)';
}

/** The display name of a class index ({@link ANY_CLASS} included, see {@link anyLabel}). */
export function classLabel(labels: readonly string[], classIndex: number): string {
  return classIndex === ANY_CLASS ? anyLabel(labels) : (labels[classIndex] ?? `class ${classIndex}`);
}

/**
 * Checks a class choice for a model before a run: 'top', 'any' (something to be "not" exists for
 * every model: its background class, or the cells SEEN_RULE rejects), or a label or index.
 * @throws naming the labels when the class is unknown.
 */
export function checkClassChoice(choice: string | null, labels: readonly string[]): void {
  if (choice === null || choice === 'top' || choice === 'any') return;
  namedClass(choice, labels);
}

/** A class given by label or index; throws a message listing the labels when there is none such. */
export function namedClass(choice: string, labels: readonly string[]): number {
  const byLabel = labels.indexOf(choice);
  if (byLabel >= 0) return byLabel;
  if (/^\d+$/.test(choice) && Number(choice) < labels.length) return Number(choice);
  throw new Error(`unknown class "${choice}" (labels: ${labels.slice(0, 12).join(', ')}${labels.length > 12 ? ', …' : ''})`);
}

/**
 * Resolves a class choice on one photo's averaged map: 'any' → {@link ANY_CLASS}; 'top' → the class
 * with the highest averaged score among the classes not labelled background (the lower index on
 * ties; class 0 when every class is background); otherwise {@link namedClass}; null: the model's
 * default (core/defaults defaultClassChoice).
 */
export function chooseClass(given: string | null, labels: readonly string[], averaged: AveragedMap): number {
  const choice = classChoiceFor(given, labels);
  if (choice === 'any') return ANY_CLASS;
  if (choice !== 'top') return namedClass(choice, labels);
  const candidates = new Set(defaultClasses(averaged.classes, labels));
  let best = -1;
  let bestScore = -Infinity;
  for (const m of classMaxima(averaged)) {
    if (!candidates.has(m.classIndex)) continue;
    if (m.score > bestScore) {
      best = m.classIndex;
      bestScore = m.score;
    }
  }
  return Math.max(best, 0);
}

/**
 * The classes whose boxes are drawn for a class index: the class itself, or every class but
 * background for {@link ANY_CLASS} and for the class map (view 'classes', which shows every class).
 */
export function drawnClasses(classIndex: number, classes: number, labels: readonly string[], view?: MapView | null): number[] {
  return classIndex === ANY_CLASS || view === 'classes' ? defaultClasses(classes, labels) : [classIndex];
}

/** Boxes drawn per class at most (window and exported PNGs alike), so that a class's detections do not bury the photo. */
export const MAX_DRAWN_PER_CLASS = 8;

/**
 * The detections drawn: those of `dets` whose class is one of `classes`, the strongest
 * {@link MAX_DRAWN_PER_CLASS} a class, in the given order. `dets` are every class's detections after
 * NMS across classes, so where another class is stronger no box of a drawn class is left: that
 * object was detected as the other class (the heatmap still shows the drawn class's scores there).
 * @param dets by descending score (as detect returns them).
 */
export function drawnBoxes<T extends { classIndex: number }>(dets: readonly T[], classes: readonly number[], perClass = MAX_DRAWN_PER_CLASS): T[] {
  const drawn = new Set(classes);
  const seen = new Map<number, number>();
  return dets.filter((d) => {
    if (!drawn.has(d.classIndex)) return false;
    const n = seen.get(d.classIndex) ?? 0;
    seen.set(d.classIndex, n + 1);
    return n < perClass;
  });
}

/** One photo after the pure stages. */
export interface PhotoAnalysis {
  averaged: AveragedMap;
  /** The class drawn; {@link ANY_CLASS} for "any". */
  classIndex: number;
  /** Detections of every class but background (CSV, JSON, counts), by descending score; boxes in original pixels. */
  detections: Detection[];
  /** The boxes drawn on the picture: {@link drawnBoxes} of `detections` for the drawn classes, by descending score. */
  drawn: Detection[];
}

/**
 * The first stage: the maps averaged over the scales (`mode`); for a model without a background
 * class after core/detect seenMaps, so that cells where no class stands out are drawn as nothing
 * (core/detect SEEN_RULE).
 * @param maps per-scale maps of one photo (same imageSize and classes).
 */
export function averageMaps(maps: readonly ScoreMap[], labels: readonly string[], mode: PictureSettings['mode']): AveragedMap {
  return averageScoreMaps(seenMaps(maps, labels), { mode });
}

/**
 * Detections of every class but background from every scale's own map, merged (core/detect: the
 * same whatever the mode), by descending score; none for maps without cells.
 */
export function findDetections(maps: readonly ScoreMap[], labels: readonly string[], threshold: number): Detection[] {
  return maps.every((m) => m.rows === 0 || m.cols === 0) ? [] : detect(maps, { threshold, labels });
}

/**
 * Averages the maps ({@link averageMaps}), chooses the class on that averaged map
 * ({@link chooseClass}), finds the detections ({@link findDetections}) and the boxes drawn
 * ({@link drawnBoxes}): the window's stores call the same stages one by one.
 * @param maps per-scale maps of one photo (same imageSize and classes).
 */
export function analyseMaps(maps: readonly ScoreMap[], labels: readonly string[], settings: Pick<PictureSettings, 'mode' | 'classChoice' | 'detectThreshold'> & { view?: MapView | null }): PhotoAnalysis {
  const averaged = averageMaps(maps, labels, settings.mode);
  const classIndex = chooseClass(settings.classChoice, labels, averaged);
  const detections = findDetections(maps, labels, settings.detectThreshold);
  const drawn = drawnBoxes(detections, drawnClasses(classIndex, averaged.classes, labels, viewFor(settings.view, labels)));
  return { averaged, classIndex, detections, drawn };
}

/** How the overlay of one photo is painted: a one-class map on a colour scale, or the class map. */
export type ViewSource =
  | {
    kind: 'scale';
    /** A one-class map (the "any" map for ANY_CLASS) and its class index. */
    map: AveragedMap;
    classIndex: number;
    /** Scores at the colormap's ends: [0, 1], or this photo's [min, max] for 'relative'. */
    range: [number, number];
    /** Scores below this are clear (for 'relative': min + threshold · (max − min)). */
    threshold: number;
  }
  | {
    kind: 'classes';
    map: AveragedMap;
    /** Per grid cell the winning class drawn, -1 for clear (core/overlay classMapWinners). */
    winners: Int32Array;
    clear: Uint8Array;
    threshold: number;
  };

/** The drawing settings a view source needs (a view absent or null: the model's default). */
export type ViewStyle = Partial<Pick<PictureSettings, 'view'>> & Pick<PictureSettings, 'threshold'>;

/**
 * Where the overlay's colours come from for a photo's averaged map, the drawn class and the view:
 * computed once a photo (the window's canvas and the exported picture both paint from it).
 * 'relative' maps the class's lowest and highest score over the covered cells not rejected (some
 * class above 0) to the colormap's ends
 * (a flat map, max = min, paints nothing above a positive threshold) and applies the threshold to the
 * normalised score, as pytorch-grad-cam's per-image normalisation would.
 * @param rejected per grid cell, 1 where the cell is rejected (drawn clear in the class map).
 */
export function viewSource(averaged: AveragedMap, classIndex: number, labels: readonly string[], style: ViewStyle, rejected?: Uint8Array): ViewSource {
  const view = viewFor(style.view, labels);
  if (view === 'classes') {
    const clear = new Uint8Array(averaged.classes);
    for (let k = 0; k < averaged.classes; k++) clear[k] = isBackgroundLabel(labels[k]) ? 1 : 0;
    const winners = classMapWinners(averaged, { threshold: style.threshold, clear, rejected });
    return { kind: 'classes', map: averaged, winners, clear, threshold: style.threshold };
  }
  const any = classIndex === ANY_CLASS;
  const map = any ? maxOverClasses(averaged, drawnClasses(ANY_CLASS, averaged.classes, labels)) : averaged;
  const k = any ? 0 : classIndex;
  if (view === 'absolute') return { kind: 'scale', map, classIndex: k, range: [0, 1], threshold: style.threshold };
  let lo = Infinity;
  let hi = -Infinity;
  for (let cell = 0; cell < map.rows * map.cols; cell++) {
    if (map.coverage[cell] === 0 || !shown(averaged, cell)) continue;
    const v = map.scores[cell * map.classes + k];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi >= lo)) [lo, hi] = [0, 1];
  // A flat map: every cell is the photo's minimum, normalised 0 (as (x − min) / (max − min + ε)).
  const span = hi > lo ? hi - lo : 1e-6;
  return { kind: 'scale', map, classIndex: k, range: [lo, lo + span], threshold: lo + style.threshold * span };
}

/** Whether a covered cell shows anything: some class scores above 0 (core/detect seenMaps zeroes every class of a rejected cell). */
function shown(averaged: AveragedMap, cell: number): boolean {
  for (let k = 0; k < averaged.classes; k++) if (averaged.scores[cell * averaged.classes + k] > 0) return true;
  return false;
}

/**
 * Paints a view source as straight RGBA (core/overlay renderOverlay or renderClassMap).
 * @param opts output size, the band of rows, opacity, colormap and smooth (ignored by the class map).
 */
export function paintView(source: ViewSource, opts: { width: number; height: number; rows?: [number, number]; opacity: number; colormap: ColormapName; smooth: boolean }): Uint8ClampedArray {
  if (source.kind === 'classes') {
    return renderClassMap(source.map, { width: opts.width, height: opts.height, rows: opts.rows, opacity: opts.opacity, threshold: source.threshold, clear: source.clear }, source.winners);
  }
  return renderOverlay(source.map, source.classIndex, { ...opts, threshold: source.threshold, range: source.range });
}

/** A corner of the photo the legend is drawn in. */
export type LegendCorner = 'bottom-left' | 'bottom-right' | 'top-left' | 'top-right';

/** In this order of preference where the overlay under them is equal (bottom-left first, as before). */
export const LEGEND_CORNERS: readonly LegendCorner[] = ['bottom-left', 'bottom-right', 'top-left', 'top-right'];

/** The region a corner's legend is judged by, as fractions of the photo's width and height (about a legend's size). */
export const LEGEND_PROBE: { width: number; height: number } = { width: 0.35, height: 0.3 };

/**
 * The corner where the legend covers least of the overlay: the view painted at most 64 pixels on its
 * long side (opacity 1, smooth, as exports paint it), its alpha summed over a LEGEND_PROBE region in
 * each corner; the least wins, ties in LEGEND_CORNERS order. The window and exported pictures call it
 * with the same source and photo size, so they put the legend in the same corner.
 * @param width the photo's width in pixels
 * @param height the photo's height in pixels
 */
export function legendCorner(source: ViewSource, width: number, height: number): LegendCorner {
  const f = Math.min(1, 64 / Math.max(1, width, height));
  const w = Math.max(1, Math.round(width * f));
  const h = Math.max(1, Math.round(height * f));
  const rgba = paintView(source, { width: w, height: h, opacity: 1, colormap: 'viridis', smooth: true });
  const pw = Math.max(1, Math.round(w * LEGEND_PROBE.width));
  const ph = Math.max(1, Math.round(h * LEGEND_PROBE.height));
  let best: LegendCorner = LEGEND_CORNERS[0];
  let least = Infinity;
  for (const corner of LEGEND_CORNERS) {
    const x0 = corner.endsWith('left') ? 0 : w - pw;
    const y0 = corner.startsWith('top') ? 0 : h - ph;
    let sum = 0;
    for (let y = y0; y < y0 + ph; y++) for (let x = x0; x < x0 + pw; x++) sum += rgba[(y * w + x) * 4 + 3];
    if (sum < least) {
      least = sum;
      best = corner;
    }
  }
  return best;
}

/** A class map legend row. */
export interface LegendEntry {
  classIndex: number;
  label: string;
  /** '#rrggbb'. */
  colour: string;
  /** Grid cells it wins. */
  cells: number;
}

/** What a legend shows, for the window and exported pictures alike. */
export type LegendSpec =
  | { kind: 'scale'; title: string; colormap: ColormapName; range: [number, number]; threshold: number; note?: string }
  | { kind: 'classes'; title: string; entries: LegendEntry[]; more: number };

/** Class-map legend rows at most; the rest are counted in `more`. */
export const LEGEND_MAX_ENTRIES = 8;

/**
 * The legend of a view source: for a colour scale, the title says the class (and "relative to this
 * photo" with this photo's score range for 'relative'); for the class map, the classes that win a
 * cell, by cells won (most first), with their colours.
 */
export function legendSpec(source: ViewSource, labels: readonly string[], classIndex: number, style: ViewStyle & Pick<PictureSettings, 'colormap'>): LegendSpec {
  if (source.kind === 'classes') {
    const counts = new Map<number, number>();
    for (const k of source.winners) if (k >= 0) counts.set(k, (counts.get(k) ?? 0) + 1);
    const all = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const entries = all.slice(0, LEGEND_MAX_ENTRIES).map(([k, cells]) => ({ classIndex: k, label: labels[k] ?? `class ${k}`, colour: classColourCss(k), cells }));
    return { kind: 'classes', title: 'class map: winning class per cell', entries, more: all.length - entries.length };
  }
  const name = classLabel(labels, classIndex);
  if (viewFor(style.view, labels) === 'relative') {
    return { kind: 'scale', title: `${name} — relative to this photo`, colormap: style.colormap, range: source.range, threshold: source.threshold, note: 'min–max of this photo' };
  }
  return { kind: 'scale', title: name, colormap: style.colormap, range: source.range, threshold: style.threshold };
}
