/**
 * The recipe: every setting that changes a picture, a score file or a resume key, in one object.
 * The CLI parses its flags into one, the window's view store holds one, batch and export requests
 * carry one, and the resume journal and the score cache derive their keys from {@link recipeKey}.
 * Adding a setting is one edit here: a field of {@link Recipe}, its default in
 * {@link DEFAULT_RECIPE} and its check in {@link RECIPE_CHECKS} (the type system asks for all three),
 * and the key follows because it is made of the whole object.
 */
import type { CombineMode } from './average';
import { COLORMAPS, isColormapName, type ColormapName } from './colormap';
import { isPreprocessMode, NORMALIZE_SYNTAX, PREPROCESS_MODES, type PreprocessMode } from './model-info';
import { scaleListProblem } from './scales';

/**
 * What the overlay shows:
 * - 'absolute': the drawn class's scores on a fixed 0–1 colour scale (comparable across photos);
 * - 'relative': the same scores min–max normalised over this photo's covered cells, as
 *   pytorch-grad-cam normalises a CAM per image (where the class is stronger than elsewhere here);
 * - 'classes': the class map, each cell in the colour of its winning class (FCN-style argmax),
 *   background, rejected and below-threshold cells clear.
 */
export type MapView = 'absolute' | 'relative' | 'classes';
export const MAP_VIEWS: readonly MapView[] = ['absolute', 'relative', 'classes'];

export function isMapView(x: unknown): x is MapView {
  return typeof x === 'string' && (MAP_VIEWS as readonly string[]).includes(x);
}

/** Score files per photo: 'summary' (<name>.scores.json), 'full' (also <name>.scores.npy) or 'none'. */
export type ScoresOutput = 'none' | 'summary' | 'full';
export const SCORES_OUTPUTS: readonly ScoresOutput[] = ['none', 'summary', 'full'];
/**
 * How pictures are written: 'png' (lossless), 'jpeg' or 'webp' (quality 90; a tenth of a photo
 * PNG's bytes or less, and JPEG encodes several times faster).
 */
export type PictureFormat = 'png' | 'jpeg' | 'webp';
export const PICTURE_FORMATS: readonly PictureFormat[] = ['png', 'jpeg', 'webp'];
/** The file extension a picture of each format gets. */
export const PICTURE_EXTENSIONS: Readonly<Record<PictureFormat, string>> = Object.freeze({ png: '.png', jpeg: '.jpg', webp: '.webp' });
/** Element type of the .npy grid. */
export type NpyDtype = 'float16' | 'float32';
export const NPY_DTYPES: readonly NpyDtype[] = ['float16', 'float32'];
export const COMBINE_MODES: readonly CombineMode[] = ['max', 'mean'];

/** Bounds of the finer-stride rewrite (à trous): cells this many input pixels apart. */
export const STRIDE_LIMITS: Readonly<{ min: number; max: number }> = Object.freeze({ min: 1, max: 1024 });

/** Longest class choice and name pattern accepted (a label is at most this long anyway). */
const MAX_TEXT = 200;

/** Every setting from the model to the written files. JSON-safe: it travels over IPC and the queue. */
export interface Recipe {
  /** Content hash of the prepared model (main's modelHash); null before a model is chosen, or for a recipe not yet bound to one. */
  model: string | null;
  /** Input preprocessing; null: the model's own (its convmap.json, or what the loader inferred). */
  preprocess: PreprocessMode | null;
  /** Cells this many input pixels apart (à trous rewrite, a divisor of the network's stride); null: the network's stride. */
  stride: number | null;
  /** Scale factors (the ones switched on), or 'auto': each photo its own plan (core/defaults scalePlan). */
  scales: number[] | 'auto';
  /** How the scales are combined: 'max', because an object matches the window at one scale and a mean over the others dilutes it. */
  mode: CombineMode;
  /** A label, a class index (as text), 'top' (the photo's strongest class but background) or 'any'; null: the model's default (core/defaults defaultClassChoice). */
  classChoice: string | null;
  /** What the overlay shows; null: the model's default view (core/pipeline defaultView). */
  view: MapView | null;
  /** Perceptually uniform by default (viridis): equal steps of score look like equal steps of colour. */
  colormap: ColormapName;
  /** Overlay opacity, 0–1. */
  opacity: number;
  /** Scores below this are transparent, 0–1. */
  threshold: number;
  /** true: bilinear between cell centres with a faded edge; false: each cell one flat colour. */
  smooth: boolean;
  /** Draw detection boxes. */
  boxes: boolean;
  /** Peaks at or above this score become detections, 0–1. */
  detectThreshold: number;
  /** Draw the legend (what is drawn: its colour scale or its classes). */
  legend: boolean;
  /** File name with {name} and {class}; the format's extension is added when missing (one of .png, .jpg, .jpeg, .webp it ends with is replaced). */
  namePattern: string;
  /** How the picture is encoded. */
  format: PictureFormat;
  /** Score files written per photo. */
  scores: ScoresOutput;
  /** Element type of the .npy grid ('full' scores). */
  npyDtype: NpyDtype;
  /** Write summary.csv and detections.csv. */
  csv: boolean;
}

/** The one set of defaults the CLI, the batch, the queue and the window start from; frozen. */
export const DEFAULT_RECIPE: Readonly<Recipe> = Object.freeze({
  model: null,
  preprocess: null,
  stride: null,
  scales: 'auto',
  mode: 'max',
  classChoice: null,
  view: null,
  colormap: 'viridis',
  opacity: 0.65,
  threshold: 0.2,
  smooth: true,
  boxes: false,
  detectThreshold: 0.5,
  legend: true,
  namePattern: '{name}.heatmap.png',
  format: 'png',
  scores: 'summary',
  npyDtype: 'float32',
  csv: false,
});

const unit = (name: string) => (v: unknown): string | undefined =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1 ? undefined : `${name} must be a number from 0 to 1, got ${show(v)}`;
const bool = (name: string) => (v: unknown): string | undefined => (typeof v === 'boolean' ? undefined : `${name} must be true or false, got ${show(v)}`);
const oneOf = <T extends string>(name: string, values: readonly T[]) => (v: unknown): string | undefined =>
  typeof v === 'string' && (values as readonly string[]).includes(v) ? undefined : `${name} must be one of ${values.join(', ')}, got ${show(v)}`;
const text = (name: string, nullable: boolean) => (v: unknown): string | undefined =>
  (nullable && v === null) || (typeof v === 'string' && v.length > 0 && v.length <= MAX_TEXT) ? undefined : `${name} must be ${nullable ? 'null or ' : ''}a text of 1–${MAX_TEXT} characters, got ${show(v)}`;

/** Why a file name pattern is not usable (folder separators, placeholders other than {name} and {class}), or undefined. */
export function namePatternProblem(pattern: string): string | undefined {
  if (pattern.trim() === '') return 'namePattern is empty';
  if (/[/\\\u0000]/.test(pattern)) return `namePattern ${show(pattern)} must not contain folder separators`;
  const unknown = pattern.match(/\{[^}]*\}/g)?.find((p) => p !== '{name}' && p !== '{class}');
  return unknown === undefined ? undefined : `namePattern: unknown placeholder ${unknown.slice(0, 40)} (use {name} and {class})`;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return v === null ? 'null' : typeof v === 'object' ? 'an object' : String(v);
}

/** Per field, why a value is not valid (undefined when it is): the one validator of every recipe field. */
export const RECIPE_CHECKS: { readonly [K in keyof Recipe]-?: (v: unknown) => string | undefined } = Object.freeze({
  model: (v: unknown) => (v === null || (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)) ? undefined : `model must be null or 64 hex digits, got ${show(v)}`),
  preprocess: (v: unknown) => (v === null || isPreprocessMode(v) ? undefined : `preprocess must be null, one of ${PREPROCESS_MODES.join(', ')} or ${NORMALIZE_SYNTAX} in canonical form, got ${show(v)}`),
  stride: (v: unknown) => (v === null || (typeof v === 'number' && Number.isInteger(v) && v >= STRIDE_LIMITS.min && v <= STRIDE_LIMITS.max)
    ? undefined : `stride must be null or a whole number from ${STRIDE_LIMITS.min} to ${STRIDE_LIMITS.max}, got ${show(v)}`),
  scales: (v: unknown) => (v === 'auto' ? undefined : Array.isArray(v) ? scaleListProblem(v) : `scales must be "auto" or a list of numbers, got ${show(v)}`),
  mode: oneOf('mode', COMBINE_MODES),
  classChoice: text('classChoice', true),
  view: (v: unknown) => (v === null || isMapView(v) ? undefined : `view must be null or one of ${MAP_VIEWS.join(', ')}, got ${show(v)}`),
  colormap: (v: unknown) => (isColormapName(v) ? undefined : `colormap must be one of ${COLORMAPS.join(', ')}, got ${show(v)}`),
  opacity: unit('opacity'),
  threshold: unit('threshold'),
  smooth: bool('smooth'),
  boxes: bool('boxes'),
  detectThreshold: unit('detectThreshold'),
  legend: bool('legend'),
  namePattern: (v: unknown) => text('namePattern', false)(v) ?? namePatternProblem(v as string),
  format: oneOf('format', PICTURE_FORMATS),
  scores: oneOf('scores', SCORES_OUTPUTS),
  npyDtype: oneOf('npyDtype', NPY_DTYPES),
  csv: bool('csv'),
});

const RECIPE_FIELDS = Object.keys(DEFAULT_RECIPE) as (keyof Recipe)[];

/**
 * Checks an untrusted recipe (IPC, a queue job, a saved file): a plain object with exactly the
 * recipe's fields, each valid.
 * @returns the recipe (a fresh copy) or one sentence naming the first bad field.
 */
export function checkRecipe(v: unknown): { ok: true; recipe: Recipe } | { ok: false; reason: string } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, reason: `a recipe must be an object, got ${show(v)}` };
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return { ok: false, reason: 'a recipe must be a plain object' };
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).find((k) => !(RECIPE_FIELDS as string[]).includes(k));
  if (extra !== undefined) return { ok: false, reason: `unknown recipe field ${show(extra)}` };
  for (const k of RECIPE_FIELDS) {
    if (!Object.prototype.hasOwnProperty.call(o, k)) return { ok: false, reason: `recipe field ${k} is missing` };
    const problem = RECIPE_CHECKS[k](o[k]);
    if (problem !== undefined) return { ok: false, reason: problem };
  }
  const recipe = Object.fromEntries(RECIPE_FIELDS.map((k) => [k, o[k]])) as unknown as Recipe;
  if (Array.isArray(recipe.scales)) recipe.scales = [...recipe.scales];
  return { ok: true, recipe };
}

/** The default recipe with `changes` applied (a fresh object; not checked: pass it to checkRecipe when untrusted). */
export function makeRecipe(changes: Partial<Recipe> = {}): Recipe {
  const r: Recipe = { ...DEFAULT_RECIPE, ...changes };
  if (Array.isArray(r.scales)) r.scales = [...r.scales];
  return r;
}

/**
 * The recipe's stable key: its fields in a fixed (sorted) order as JSON. Two recipes have the same
 * key exactly when every field is equal, whatever order the object was built in; a field added to
 * {@link Recipe} joins the key by itself. Main hashes it for file names and journal entries.
 */
export function recipeKey(r: Readonly<Recipe>): string {
  return JSON.stringify([...RECIPE_FIELDS].sort().map((k) => [k, r[k]]));
}
