/**
 * Opening an ONNX classifier: read the file (and its external data), rebuild it as a tfjs Layers
 * model (./to-layers), and check that rebuild against ONNX Runtime running the original file on the
 * same random images, before the converter ever sees it.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readPreprocessMode, type PreprocessMode } from '../../../core/model-info';
import { guessFromTrunk, guessSmallGrey, pixelRangeOfScale } from '../../../core/preprocess-guess';
import { ModelError } from '../errors';
import { readInside } from '../../io/safe-read';
import { IMAGENET_CLASSES } from './imagenet-classes';
import { inputScaling } from './input-scaling';
import { OnnxType, readOnnxFile, type OnnxModelFile } from './read';
import { importOnnx, type ImportedClassifier } from './to-layers';
import { ModelType } from './schema';
import { openOriginal, runOriginal, scoreDifference, type OriginalOnnx } from './original';
import { seededRandom } from '../../../core/random';

/** Largest relative difference between the rebuilt model and ONNX Runtime's run of the file. */
export const IMPORT_TOLERANCE = 1e-4;

/** Largest label file read beside an ONNX model. */
const MAX_LABELS_BYTES = 16 * 2 ** 20;

/** True for a path that names an ONNX file by its extension. */
export function isOnnxFile(file: string): boolean {
  return /\.onnx$/i.test(file);
}

/** How the rebuilt model agrees with ONNX Runtime running the original file. */
export interface ImportCheck {
  maxAbsDiff: number;
  maxRelDiff: number;
  /** Images compared, each at the window size. */
  images: number;
}

export interface LoadedOnnx {
  imported: ImportedClassifier;
  file: string;
  labels: string[] | null;
  /** Where the labels came from, said in the report. */
  labelsFrom: string | null;
  preprocess: { mode: PreprocessMode; why: string; uncertain: boolean };
  check: ImportCheck;
  /** The original file as ONNX Runtime runs it: the crop check's oracle. */
  original: OriginalOnnx;
}


/** ONNX bytes with one more graph output: protobuf merges a message appended to another, field by field. */
function withOutput(bytes: Uint8Array, name: string): Uint8Array {
  const extra = ModelType.encode(ModelType.fromObject({ graph: { output: [{ name, type: { tensorType: { elemType: OnnxType.FLOAT } } }] } })).finish();
  const out = new Uint8Array(bytes.byteLength + extra.byteLength);
  out.set(bytes, 0);
  out.set(extra, bytes.byteLength);
  return out;
}

/** Seeded random channels-last images at the window size: pixel values 0–255 for a uint8 input, else [0, 1). */
function checkImages(imp: ImportedClassifier, batch: number, seed: number): Float32Array {
  const [h, w] = imp.window;
  const rand = seededRandom(seed);
  const nhwc = new Float32Array(batch * h * w * imp.channels);
  const integer = imp.input.elemType === OnnxType.UINT8;
  for (let i = 0; i < nhwc.length; i++) nhwc[i] = integer ? Math.floor(rand() * 256) : rand();
  return nhwc;
}

/**
 * How ONNX Runtime runs the original file for `imp`: its bytes, with the scores tensor made a graph
 * output where an ArgMax was stripped, or its path where it has external data.
 * @throws ModelError for a file with external data whose output is a class index
 */
export function originalOf(m: OnnxModelFile, bytes: Uint8Array, imp: ImportedClassifier): OriginalOnnx {
  const extraOutput = imp.scores !== imp.output;
  if (extraOutput && m.externalData) throw new ModelError(m.file, 'cannot check a model with external data whose output is a class index');
  const batchDim = m.inputs.find((i) => i.name === imp.input.name)?.dims?.[0] ?? null;
  return {
    file: m.file,
    model: m.externalData ? m.file : extraOutput ? withOutput(bytes, imp.scores) : bytes,
    input: imp.input,
    batch: typeof batchDim === 'number' && batchDim > 0 ? batchDim : null,
    scores: imp.scores,
    logSoftmax: imp.logSoftmax,
  };
}

/**
 * Runs the original file in ONNX Runtime and the rebuilt model in tfjs on the same seeded random
 * images at the window size, and compares the scores.
 * @throws ModelError when they differ by more than {@link IMPORT_TOLERANCE} relative
 */
export async function checkImport(original: OriginalOnnx, imp: ImportedClassifier): Promise<ImportCheck> {
  const [h, w] = imp.window;
  // A file with a fixed batch of 32 is fed 32 images; the rebuilt model need only match the first two.
  const compared = Math.min(original.batch ?? 2, 2);
  const nhwc = checkImages(imp, compared, 7);
  const session = await openOriginal(original);
  let expected: Float32Array;
  try {
    expected = await runOriginal(original, session, nhwc, [compared, h, w, imp.channels]);
  } finally {
    await session.release();
  }
  let actual: Float32Array;
  try {
    actual = tf.tidy(() => (imp.model.predict(tf.tensor4d(nhwc, [compared, h, w, imp.channels])) as tf.Tensor).dataSync() as Float32Array);
  } catch (e) {
    // A TensorFlow.js failure on a stranger's graph still gets one line naming the file.
    throw new ModelError(original.file, `the rewrite of the ONNX graph could not run in TensorFlow.js (${(e as Error).message.split('\n')[0]}): not converted`);
  }
  if (actual.length !== expected.length) {
    throw new ModelError(original.file, `the rebuilt model gives ${actual.length / compared} scores per image, ONNX Runtime ${expected.length / compared}`);
  }
  const { maxAbs, maxRel } = scoreDifference(actual, expected);
  if (!(maxRel <= IMPORT_TOLERANCE)) {
    throw new ModelError(original.file, `the rewrite of the ONNX graph differs from ONNX Runtime's run of the file by ${maxRel.toExponential(2)} relative (> ${IMPORT_TOLERANCE}) at the window size: not converted`);
  }
  return { maxAbsDiff: maxAbs, maxRelDiff: maxRel, images: compared };
}

/** Class names in the model's metadata_props (a JSON list or {index: name}, a Python dict, or comma-separated). */
function metadataLabels(meta: Record<string, string>): { labels: string[]; key: string } | null {
  for (const key of ['labels', 'classes', 'class_names', 'names', 'classLabels']) {
    const text = meta[key];
    if (text === undefined) continue;
    try {
      const v = JSON.parse(text) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return { labels: v as string[], key };
      if (v && typeof v === 'object') {
        const entries = Object.entries(v as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string');
        if (entries.length > 0 && entries.every(([k]) => /^\d+$/.test(k))) return { labels: entries.sort((a, b) => Number(a[0]) - Number(b[0])).map((e) => e[1]), key };
      }
    } catch {
      const dict = [...text.matchAll(/(\d+)\s*:\s*(['"])(.*?)\2/g)];
      if (dict.length > 0) return { labels: dict.sort((a, b) => Number(a[1]) - Number(b[1])).map((d) => d[3]), key };
      const list = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
      if (list.length > 1) return { labels: list, key };
    }
  }
  return null;
}

async function folderLabels(dir: string): Promise<{ labels: string[]; name: string } | null> {
  for (const name of ['labels.txt', 'classes.txt', 'synset.txt']) {
    // A label file is optional: one that is absent, leaves the folder, or is not a small regular file is not the model's.
    const text = await readInside(dir, name, { maxBytes: MAX_LABELS_BYTES }).then((r) => r.bytes.toString('utf8'), () => null);
    if (text === null) continue;
    const labels = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
    if (labels.length > 0) return { labels, name };
  }
  return null;
}

/** The preprocessing an ONNX file implies (it states none), and why. */
function guessPreprocess(m: OnnxModelFile, imp: ImportedClassifier): LoadedOnnx['preprocess'] {
  if (imp.input.elemType === OnnxType.UINT8) return { mode: 'raw', why: 'the input holds uint8 pixel values', uncertain: false };
  const stated = m.metadata['convmap.preprocess'];
  const read = typeof stated === 'string' ? readPreprocessMode(stated) : undefined;
  if (read?.ok) {
    return { mode: read.mode, why: 'stated in the model\'s metadata', uncertain: false };
  }
  const scaling = inputScaling(m, imp.input.name, imp.channels);
  if (scaling) {
    const range = pixelRangeOfScale(scaling.scale);
    const grey = range === 'unit' ? guessSmallGrey(imp.channels, imp.window) : null;
    const values = (v: number[]): string => v.map((x) => Number(x.toPrecision(4))).join('/');
    const why = `the graph scales its input itself (${scaling.nodes.join(', ')}: x · scale + offset, scale ${values(scaling.scale)}, offset ${values(scaling.offset)}), which fits pixel values in ${range === 'raw' ? '0–255' : '0–1'}`;
    return { mode: grey ? 'ink' : range, why: `guessed: ${why}${grey ? '; a small grey classifier: inverted on a light photo' : ''} (ONNX files state no preprocessing; --preprocess settles it)`, uncertain: true };
  }
  const producer = m.producer.toLowerCase();
  if (producer.startsWith('pytorch') && imp.channels === 3) {
    return { mode: 'imagenet', why: 'guessed: a PyTorch model with colour input, torchvision\'s ImageNet mean/std (ONNX files state no preprocessing; --preprocess settles it, e.g. normalize:MEAN/STD for a model trained with other statistics)', uncertain: true };
  }
  if (producer.includes('caffe') && imp.channels === 3) {
    return { mode: 'caffe', why: `guessed: a Caffe model (producer "${m.producer}"), Caffe's BGR 0–255 with the ImageNet mean subtracted (ONNX files state no preprocessing; --preprocess settles it)`, uncertain: true };
  }
  if (/tf2onnx|keras2onnx|tensorflow|keras/.test(producer)) {
    // tf2onnx and keras2onnx name each node by its Keras layer's path: a nested keras.applications trunk is one of its parts.
    const parts = [...new Set(m.nodes.flatMap((n) => n.name.split('/')))];
    const trunk = guessFromTrunk(parts);
    if (trunk) return { ...trunk, why: `${trunk.why} (named in the graph's nodes; ONNX files state no preprocessing; --preprocess settles it)` };
  }
  const grey = guessSmallGrey(imp.channels, imp.window);
  if (grey) return { ...grey, why: `${grey.why} (ONNX files state no preprocessing; --preprocess settles it)`, uncertain: true };
  return { mode: 'unit', why: `guessed: [0, 1], the default for ${m.producer ? `a ${m.producer}` : 'an ONNX'} model (ONNX files state no preprocessing; --preprocess settles it, e.g. normalize:MEAN/STD for torchvision's Normalize)`, uncertain: true };
}

/**
 * Reads, rebuilds and checks an ONNX classifier.
 * @throws ModelError for files that are not ONNX image classifiers, naming the node and why
 */
export async function loadOnnx(file: string, opts: { output?: string; window?: number } = {}): Promise<LoadedOnnx> {
  const { model: m, bytes } = await readOnnxFile(file);
  const imported = importOnnx(m, { output: opts.output, ...(opts.window !== undefined ? { window: [opts.window, opts.window] as [number, number] } : {}) });
  try {
    const original = originalOf(m, bytes, imported);
    const check = await checkImport(original, imported);
    const fromMeta = metadataLabels(m.metadata);
    const fromFolder = await folderLabels(path.dirname(file));
    let labels: string[] | null = null;
    let labelsFrom: string | null = null;
    if (fromFolder && fromFolder.labels.length === imported.classes) {
      labels = fromFolder.labels;
      labelsFrom = fromFolder.name;
    } else if (fromMeta && fromMeta.labels.length === imported.classes) {
      labels = fromMeta.labels;
      labelsFrom = `the model's metadata "${fromMeta.key}"`;
    } else if (imported.classes === 1000) {
      labels = [...IMAGENET_CLASSES];
      labelsFrom = 'ImageNet\'s 1000 class names (the model has 1000 classes and no labels of its own)';
    } else if (imported.classes === 1001) {
      // TensorFlow-slim's and TF Hub's ImageNet classifiers put a background class before ImageNet's 1000.
      labels = ['background', ...IMAGENET_CLASSES];
      labelsFrom = 'a background class and ImageNet\'s 1000 class names (the model has 1001 classes, as TensorFlow-slim\'s, and no labels of its own)';
    }
    return { imported, file, labels, labelsFrom, preprocess: guessPreprocess(m, imported), check, original };
  } catch (e) {
    imported.model.dispose();
    throw e;
  }
}

/** What loadClassifier keeps of an ONNX import for the converter's report. */
export interface OnnxImportSummary {
  /** Lines for the report's head section: what was read, how it was checked, what was decided. */
  notes: string[];
  preprocess: LoadedOnnx['preprocess'];
  /** The graph output converted (its ONNX name: what `--output` takes and the sidecar records). */
  output: string;
  /** The original file as ONNX Runtime runs it, for the crop check (main/model/onnx/original). */
  original: OriginalOnnx;
}

/**
 * An ONNX classifier as main/model/load's LoadedClassifier: the rebuilt tfjs model, its labels, and
 * what the report should say about the import.
 */
export async function loadOnnxClassifier(file: string, opts: { output?: string; window?: number } = {}): Promise<{
  model: tf.LayersModel; file: string; labels: string[] | null; teachableMachine: false; quantization: null; onnx: OnnxImportSummary;
}> {
  const l = await loadOnnx(file, opts);
  const { imported: imp, check } = l;
  const layout = imp.input.layout === 'flat' ? 'flat' : imp.input.layout.toUpperCase();
  const notes = [
    `ONNX input "${imp.input.name}" ${layout} [${imp.input.dims.join(', ')}]; scores from "${imp.scores}": rebuilt and checked against ONNX Runtime running the file on ${check.images} random image(s) at ${imp.window[0]}×${imp.window[1]}, largest relative difference ${check.maxRelDiff.toExponential(1)}`,
    ...(l.labelsFrom ? [`labels from ${l.labelsFrom}`] : []),
    ...imp.notes,
  ];
  return { model: imp.model, file, labels: l.labels, teachableMachine: false, quantization: null, onnx: { notes, preprocess: l.preprocess, output: imp.output, original: l.original } };
}
