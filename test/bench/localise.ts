/**
 * `npm run bench -- --case localise`: does Convmap answer "where is each digit?" with its DEFAULT
 * settings? Digit scenes of several sizes and densities (held-out MNIST digits, makeDigitScene), on
 * black and on backgrounds made here (a gradient, noise, crops of the corpus photos), and dark ink on
 * light paper (by kind only, outside the headline figures), run through the
 * CLI's stages with the CLI's defaults: the default scale plan (core/defaults scalePlan), the engine,
 * then core/pipeline analyseMaps with DEFAULT_RECIPE and the default class choice. Precision, recall
 * and F1 at IoU 0.5 (the same digit), per model and scene kind, for the built-in model and every
 * third-party digit classifier of ../shared/corpus/models (a model that does not open is reported
 * with its reason), and the median F1 over the third-party models that open. For models whose default
 * view is the class map (closed-set ones), also what it paints (paintOf): the share of the scenes
 * painted, of the paint stray from every digit, and of the digits painted in their own class.
 * Set LOCALISE_DUMP=DIR to also write each scene's maps for offline study. Set LOCALISE_MODELS to a
 * comma-separated list of model paths (and `builtin`) to measure those instead, e.g. your own digit
 * classifiers (test/bench/tutorial_digits.py makes five): each must name digits 0–9 in label order.
 * LOCALISE_STRIDE=PX converts every model at that stride (the window's detail), defaults otherwise;
 * LOCALISE_PREPROCESS=MODE gives the third-party models that preprocessing instead of their guess.
 */
import { existsSync, promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { defaultClassChoice, scalePlan } from '../../core/defaults';
import { readPreprocessMode } from '../../core/model-info';
import { DEFAULT_RECIPE } from '../../core/recipe';
import { matchDetections } from '../../core/detect';
import { analyseMaps, defaultView, type PhotoAnalysis } from '../../core/pipeline';
import { isBackgroundLabel } from '../../core/defaults';
import { classMapWinners } from '../../core/overlay';
import type { ScoreMap } from '../../core/scoremap';
import { selectBackend } from '../../main/engine/backend';
import { createEngine } from '../../main/engine/engine';
import { seededRandom } from '../../core/random';
import { makeDigitScene, type DigitScene, type DigitTruth } from '../../main/digits/scene';
import { prepareModel } from '../../main/services/models';
import { REPO } from '../helpers/cli';

const corpus = path.resolve(REPO, '../shared/corpus');

/**
 * Third-party MNIST digit classifiers of the corpus (../shared/corpus/SOURCES.md): ten classes 0–9
 * in label order. Keep this list to digit models: fashion_mnist is not one.
 */
export const THIRD_PARTY_DIGIT_MODELS = [
  'models/keras3_prefix_mnist_fenix900',
  'models/oldformat_multigroup_mnist_shabab991',
  'models/onnx_mnist8_cntk_emclab/mnist-8.onnx',
  'models/onnx_keras2onnx_mlp_mnist_frenz86/mnist.onnx',
  'models/onnx_pytorch_external_data_mnist_zuramai/mnist.onnx',
];

/** Photos whose crops serve as backgrounds. */
const PHOTO_BACKGROUNDS = ['images/skimage_camera.png', 'images/skimage_coffee.png', 'images/skimage_astronaut.png', 'images/skimage_chelsea.png'];

type Background = 'black' | 'gradient' | 'noise' | 'photo' | 'paper' | 'chalk' | 'pencil';

/**
 * Kinds reported by kind only, outside the headline figures (which stay those of the light-ink
 * scenes): dark ink on light paper, which a white-on-black model reads only when its preprocessing
 * inverts the photo (`ink`, `inverted`); white chalk on a board lighter than mid-grey (150), which it
 * must not invert; pencil (10) on paper darker than mid-grey (110), which it must.
 */
const EXTRA_KINDS: ReadonlySet<Background> = new Set(['paper', 'chalk', 'pencil']);

interface SceneSpec {
  kind: Background;
  width: number;
  height: number;
  count: number;
  sizes: number[];
  seed: number;
}

/** Sizes × densities on black, and each made background at the middle size; `full` draws each twice (other seeds). */
export function sceneSpecs(full: boolean): SceneSpec[] {
  const specs: SceneSpec[] = [];
  const per = full ? 2 : 1;
  for (let i = 0; i < per; i++) {
    specs.push({ kind: 'black', width: 640, height: 480, count: 12, sizes: [28, 42, 56, 84], seed: 100 + i });
    specs.push({ kind: 'black', width: 320, height: 240, count: 4, sizes: [28, 40, 56], seed: 200 + i });
    specs.push({ kind: 'black', width: 800, height: 600, count: 30, sizes: [28, 36, 48], seed: 300 + i });
    specs.push({ kind: 'black', width: 1024, height: 768, count: 6, sizes: [48, 96, 160], seed: 400 + i });
    for (const kind of ['gradient', 'noise', 'photo'] as const) specs.push({ kind, width: 640, height: 480, count: 12, sizes: [28, 42, 56, 84], seed: 500 + 10 * i + kind.length });
    specs.push({ kind: 'paper', width: 640, height: 480, count: 12, sizes: [28, 42, 56, 84], seed: 600 + i });
    specs.push({ kind: 'chalk', width: 640, height: 480, count: 12, sizes: [28, 42, 56, 84], seed: 700 + i });
    specs.push({ kind: 'pencil', width: 640, height: 480, count: 12, sizes: [28, 42, 56, 84], seed: 800 + i });
  }
  return specs;
}

/**
 * The background's grey level per pixel, 0–255: a diagonal gradient 0 → 160; uniform noise 0–110;
 * or a grey crop of a corpus photo at 60 % brightness.
 */
async function background(spec: SceneSpec): Promise<Uint8Array> {
  const { width, height, seed } = spec;
  const out = new Uint8Array(width * height);
  if (spec.kind === 'gradient') {
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = Math.round((160 * (x / width + y / height)) / 2);
  } else if (spec.kind === 'noise') {
    const rand = seededRandom(seed);
    for (let i = 0; i < out.length; i++) out[i] = Math.floor(rand() * 111);
  } else if (spec.kind === 'photo') {
    const file = path.join(corpus, PHOTO_BACKGROUNDS[seed % PHOTO_BACKGROUNDS.length]);
    const grey = await sharp(file).greyscale().resize(width, height, { fit: 'cover' }).raw().toBuffer();
    for (let i = 0; i < out.length; i++) out[i] = Math.round(grey[i] * 0.6);
  }
  return out;
}

/** A scene on its background: each pixel max(background, digit ink), so the white strokes stay white. */
async function makeScene(spec: SceneSpec): Promise<DigitScene> {
  const scene = makeDigitScene({ width: spec.width, height: spec.height, count: spec.count, sizes: spec.sizes, seed: spec.seed });
  if (spec.kind === 'black') return scene;
  if (spec.kind === 'paper') {
    // Ink 31 on paper 235 (a scan's or a photo's greys, not pure black on white).
    const rgb = new Uint8Array(scene.rgb.length);
    for (let i = 0; i < rgb.length; i++) rgb[i] = 235 - Math.round(0.8 * scene.rgb[i]);
    return { ...scene, rgb };
  }
  if (spec.kind === 'chalk' || spec.kind === 'pencil') {
    // Chalk: strokes 255 over a board of 150. Pencil: strokes down to 10 on paper of 110.
    const rgb = new Uint8Array(scene.rgb.length);
    for (let i = 0; i < rgb.length; i++) rgb[i] = spec.kind === 'chalk' ? Math.max(150, scene.rgb[i]) : 110 - Math.round((100 / 255) * scene.rgb[i]);
    return { ...scene, rgb };
  }
  const bg = await background(spec);
  const rgb = new Uint8Array(scene.rgb.length);
  for (let i = 0; i < bg.length; i++) rgb.fill(Math.max(bg[i], scene.rgb[i * 3]), i * 3, i * 3 + 3);
  return { ...scene, rgb };
}

interface Counts { tp: number; fp: number; fn: number }

/**
 * What the class map paints on a scene, in grid cells: all, those stray from every digit, the digits it
 * names right, and the painted cells centred on a digit (inside its box) and of those the ones in its class.
 */
interface Paint { painted: number; stray: number; found: number; cells: number; onDigit: number; onDigitRight: number }

/**
 * The class map (every model's, background cells clear, DEFAULT_RECIPE's threshold) against the
 * truth: a painted cell is stray when its centre lies outside every digit's box grown to twice its
 * side about its centre; a digit is found when a cell of its own class is painted with its centre
 * inside the digit's box.
 */
export function paintOf(averaged: PhotoAnalysis['averaged'], labels: readonly string[], truth: readonly DigitTruth[], digitOf: (k: number) => number): Paint {
  const clear = Uint8Array.from(labels, (l) => (isBackgroundLabel(l) ? 1 : 0));
  const winners = classMapWinners(averaged, { threshold: DEFAULT_RECIPE.threshold, clear });
  const [ch, cw] = averaged.cellSize;
  const found = new Set<number>();
  let painted = 0;
  let stray = 0;
  let onDigit = 0;
  let onDigitRight = 0;
  for (let r = 0; r < averaged.rows; r++) {
    for (let c = 0; c < averaged.cols; c++) {
      const k = winners[r * averaged.cols + c];
      if (k < 0) continue;
      painted++;
      const y = (r + 0.5) * ch;
      const x = (c + 0.5) * cw;
      let near = false;
      let on = false;
      let right = false;
      truth.forEach((t, i) => {
        const [y0, x0, y1, x1] = t.box;
        const [hy, hx] = [y1 - y0, x1 - x0];
        if (y >= y0 - hy / 2 && y < y1 + hy / 2 && x >= x0 - hx / 2 && x < x1 + hx / 2) near = true;
        if (y >= y0 && y < y1 && x >= x0 && x < x1) {
          on = true;
          if (digitOf(k) === t.classIndex) {
            found.add(i);
            right = true;
          }
        }
      });
      if (!near) stray++;
      if (on) onDigit++;
      if (right) onDigitRight++;
    }
  }
  return { painted, stray, found: found.size, cells: averaged.rows * averaged.cols, onDigit, onDigitRight };
}
const rates = (c: Counts): { precision: number; recall: number; f1: number } => {
  const precision = c.tp + c.fp === 0 ? 1 : c.tp / (c.tp + c.fp);
  const recall = c.tp + c.fn === 0 ? 1 : c.tp / (c.tp + c.fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision: +precision.toFixed(3), recall: +recall.toFixed(3), f1: +f1.toFixed(3) };
};

async function dumpMaps(dir: string, name: string, maps: readonly ScoreMap[], truth: readonly DigitTruth[], labels: readonly string[]): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const meta = { labels, truth, maps: maps.map((m) => ({ scale: m.scale, imageSize: m.imageSize, scaledSize: m.scaledSize, rows: m.rows, cols: m.cols, classes: m.classes, geometry: m.geometry, length: m.scores.length })) };
  await fs.writeFile(path.join(dir, `${name}.json`), JSON.stringify(meta));
  await fs.writeFile(path.join(dir, `${name}.bin`), Buffer.concat(maps.map((m) => Buffer.from(m.scores.buffer, m.scores.byteOffset, m.scores.byteLength))));
}

/** One model on every scene: counts per scene kind and overall, or the reason it did not open. */
async function measureModel(target: string | undefined, specs: readonly SceneSpec[], scenes: readonly DigitScene[]): Promise<Record<string, unknown>> {
  // A corpus ONNX file is named by its folder; files that share a folder (LOCALISE_MODELS) by their own names.
  const shared = target?.endsWith('.onnx') && readdirSync(path.dirname(target)).filter((f) => f.endsWith('.onnx')).length > 1;
  const name = target === undefined ? 'builtin' : shared ? path.basename(target, '.onnx') : path.basename(target.replace(/\/[^/]*\.onnx$/, ''));
  const stride = process.env.LOCALISE_STRIDE ? Number(process.env.LOCALISE_STRIDE) : undefined;
  const asked = process.env.LOCALISE_PREPROCESS ? readPreprocessMode(process.env.LOCALISE_PREPROCESS) : undefined;
  if (asked?.ok === false) throw new Error(`LOCALISE_PREPROCESS: ${asked.reason}`);
  const preprocess = target === undefined ? undefined : asked;
  let prepared;
  try {
    prepared = await prepareModel(target, { ...(stride ? { stride } : {}), ...(preprocess?.ok ? { preprocess: preprocess.mode } : {}) });
  } catch (e) {
    return { model: name, opened: false, reason: (e as Error).message.split('\n')[0] };
  }
  const { info } = prepared;
  const engine = await createEngine({ backend: 'auto' });
  const dump = process.env.LOCALISE_DUMP;
  try {
    const handle = await engine.loadModel(prepared.artifacts, info, prepared.onnx ? { onnx: prepared.onnx } : undefined);
    const settings = { mode: DEFAULT_RECIPE.mode, classChoice: defaultClassChoice(info.labels), detectThreshold: DEFAULT_RECIPE.detectThreshold };
    const byKind = new Map<string, Counts>();
    const all: Counts = { tp: 0, fp: 0, fn: 0 };
    let boxes = 0;
    let truths = 0;
    const paint: Paint = { painted: 0, stray: 0, found: 0, cells: 0, onDigit: 0, onDigitRight: 0 };
    const t0 = Date.now();
    for (let s = 0; s < scenes.length; s++) {
      process.stderr.write(`localise: ${name} scene ${s + 1}/${scenes.length}\n`);
      const scene = scenes[s];
      const image = { data: scene.rgb, width: scene.width, height: scene.height, channels: 3 as const };
      const scales = scalePlan(info.window, [scene.height, scene.width]).scales;
      const maps = await engine.scoreMaps(handle, image, scales, info.preprocess);
      if (dump) await dumpMaps(path.join(dump, name), `scene-${s}-${specs[s].kind}`, maps, scene.truth, info.labels);
      const { detections, averaged } = analyseMaps(maps, info.labels, settings);
      // Truth classes are digits 0–9; a model's class k is the digit of its label.
      const digitOf = (k: number): number => (/^\d$/.test(info.labels[k] ?? '') ? Number(info.labels[k]) : k);
      const dets = detections.map((d) => ({ ...d, classIndex: digitOf(d.classIndex) }));
      const m = matchDetections(dets, scene.truth, 0.5);
      const c = byKind.get(specs[s].kind) ?? { tp: 0, fp: 0, fn: 0 };
      for (const k of ['tp', 'fp', 'fn'] as const) c[k] += m[k];
      byKind.set(specs[s].kind, c);
      if (EXTRA_KINDS.has(specs[s].kind)) continue;
      const p = paintOf(averaged, info.labels, scene.truth, digitOf);
      for (const k of ['painted', 'stray', 'found', 'cells', 'onDigit', 'onDigitRight'] as const) paint[k] += p[k];
      for (const k of ['tp', 'fp', 'fn'] as const) all[k] += m[k];
      boxes += detections.length;
      truths += scene.truth.length;
    }
    return {
      model: name, opened: true, backend: engine.backend, labels: info.labels.length, window: info.window, preprocess: info.preprocess,
      ...rates(all), ...all, boxes, digits: truths,
      // Where the class map is the default view (closed-set models): the share of the scenes painted, of the paint stray from every digit, of the digits painted in their class, of the paint on digits in the digit's class.
      ...(defaultView(info.labels) === 'classes' ? {
        paintedShare: +(paint.painted / Math.max(1, paint.cells)).toFixed(3), strayPaint: +(paint.stray / Math.max(1, paint.painted)).toFixed(3),
        digitsPainted: +(paint.found / Math.max(1, truths)).toFixed(3), paintOnDigitRight: +(paint.onDigitRight / Math.max(1, paint.onDigit)).toFixed(3),
      } : {}),
      seconds: +((Date.now() - t0) / 1000).toFixed(1),
      byKind: Object.fromEntries([...byKind].map(([k, c]) => [k, { ...rates(c), ...c }])),
    };
  } finally {
    await engine.close();
  }
}

/** The localise case: every digit model on every scene, with defaults. */
export async function localise(full = false): Promise<Record<string, unknown>> {
  await selectBackend('auto');
  const specs = sceneSpecs(full);
  const scenes: DigitScene[] = [];
  for (const spec of specs) scenes.push(await makeScene(spec));
  const chosen = process.env.LOCALISE_MODELS?.split(',').filter(Boolean);
  const results: Record<string, unknown>[] = [chosen === undefined || chosen.includes('builtin') ? await measureModel(undefined, specs, scenes) : { model: 'builtin', opened: false, reason: 'not in LOCALISE_MODELS' }];
  const missing: string[] = [];
  for (const rel of chosen?.filter((m) => m !== 'builtin') ?? THIRD_PARTY_DIGIT_MODELS) {
    const target = path.resolve(corpus, rel);
    if (!existsSync(target)) {
      missing.push(rel);
      continue;
    }
    results.push(await measureModel(target, specs, scenes));
  }
  const thirdF1 = results.slice(1).filter((r) => r.opened === true).map((r) => r.f1 as number).sort((a, b) => a - b);
  const median = thirdF1.length === 0 ? null : thirdF1.length % 2 ? thirdF1[(thirdF1.length - 1) / 2] : (thirdF1[thirdF1.length / 2 - 1] + thirdF1[thirdF1.length / 2]) / 2;
  return {
    case: 'localise', iou: 0.5, scenes: specs.map((s) => `${s.kind} ${s.width}×${s.height} ${s.count}×[${s.sizes.join(',')}]`),
    byKindOnly: [...EXTRA_KINDS],
    settings: 'CLI defaults: scalePlan scales, DEFAULT_RECIPE (mode, detectThreshold), default class choice',
    builtinF1: results[0].f1 ?? null, medianThirdPartyF1: median === null ? null : +median.toFixed(3), thirdPartyOpened: thirdF1.length,
    targets: { builtinF1: 0.95, medianThirdPartyF1: 0.8 },
    ...(missing.length ? { missing } : {}),
    models: results,
  };
}
