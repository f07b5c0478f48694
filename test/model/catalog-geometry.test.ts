import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../core/random';
import { refineStride } from '../../main/convert/atrous';
import { convertClassifier, type Conversion } from '../../main/convert/convert';
import { checkEquivalence } from '../../main/convert/equivalence';
import { loadClassifier } from '../../main/model/load';
import { exportOnnx } from '../../main/onnx/export';
import { type Json, k3Conv, k3Dense, k3Input, k3Layer, k3Sequential, kt, writeKerasArchive, writeLegacyH5 } from '../helpers/keras';
import { useWasm } from '../helpers/models';
import { tempDir } from '../helpers/temp-dir';
import { ortRun } from '../onnx/helpers';

/**
 * docs/models.md's layers that change how a map is laid out or merge two maps: Subtract, UpSampling2D
 * (nearest and bilinear) and a CenterCrop smaller than its input. Each is written into a Keras file
 * (`.keras` as Keras 3 writes it, `.h5` as Keras 2 does), opened with loadClassifier, converted and
 * exported to ONNX; one window is compared with Keras's formula worked here in float64 (the
 * classifier, and the ONNX model's one cell), and a larger image's cells with crops through the
 * original model (checkEquivalence).
 */

beforeAll(useWasm);
const root = tempDir('convmap-catalog-geometry-');
const CLASSES = 3;

function values(n: number, seed: number, lo: number, hi: number): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** A map [h, w, c] in float64, row-major HWC. */
interface Map3 {
  h: number;
  w: number;
  c: number;
  v: number[];
}

const at = (m: Map3, y: number, x: number, k: number): number => m.v[(y * m.w + x) * m.c + k];

function mapOf(x: Float32Array, h: number, w: number, c: number): Map3 {
  return { h, w, c, v: Array.from(x) };
}

/** Keras UpSampling2D 'nearest': out[y, x] = in[floor(y / f), floor(x / f)]. */
function upNearest(m: Map3, f: number): Map3 {
  const h = m.h * f;
  const w = m.w * f;
  const v: number[] = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < m.c; k++) v.push(at(m, Math.floor(y / f), Math.floor(x / f), k));
  return { h, w, c: m.c, v };
}

/**
 * Keras UpSampling2D 'bilinear' (tf.image.resize, half-pixel centres): output i reads input
 * s = (i + 0.5) / f − 0.5 between rows max(floor(s), 0) and min(ceil(s), n − 1), weight s − floor(s).
 */
function upBilinear(m: Map3, f: number): Map3 {
  const taps = (n: number, i: number): [number, number, number] => {
    const s = (i + 0.5) / f - 0.5;
    return [Math.max(Math.floor(s), 0), Math.min(Math.ceil(s), n - 1), s - Math.floor(s)];
  };
  const h = m.h * f;
  const w = m.w * f;
  const v: number[] = [];
  for (let y = 0; y < h; y++) {
    const [y0, y1, ty] = taps(m.h, y);
    for (let x = 0; x < w; x++) {
      const [x0, x1, tx] = taps(m.w, x);
      for (let k = 0; k < m.c; k++) {
        const top = at(m, y0, x0, k) * (1 - tx) + at(m, y0, x1, k) * tx;
        const bottom = at(m, y1, x0, k) * (1 - tx) + at(m, y1, x1, k) * tx;
        v.push(top * (1 - ty) + bottom * ty);
      }
    }
  }
  return { h, w, c: m.c, v };
}

/** Keras CenterCrop(h, w) of a larger map: rows from floor((H − h) / 2), columns from floor((W − w) / 2). */
function centerCrop(m: Map3, h: number, w: number): Map3 {
  const y0 = Math.floor((m.h - h) / 2);
  const x0 = Math.floor((m.w - w) / 2);
  const v: number[] = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < m.c; k++) v.push(at(m, y0 + y, x0 + x, k));
  return { h, w, c: m.c, v };
}

/** Flatten (HWC order) → Dense with kernel [h·w·c, classes]. */
function dense(m: Map3, kernel: Float32Array, bias: Float32Array): number[] {
  return Array.from({ length: bias.length }, (_, j) => m.v.reduce((s, x, i) => s + x * kernel[i * bias.length + j], bias[j]));
}

/**
 * Opens `file`, checks the classifier and the ONNX export's one cell on `x` [1, h, w, c] against
 * `want` (float64, 2e-5 of the scores' scale), converts, and returns the conversion for further checks.
 */
async function throughFile(file: string, x: tf.Tensor4D, want: number[], check: (c: Conversion, model: tf.LayersModel, file: string) => Promise<void>): Promise<void> {
  const loaded = await loadClassifier(file);
  try {
    const got = tf.tidy(() => (loaded.model.predict(x) as tf.Tensor).dataSync());
    const scale = Math.max(1, ...want.map(Math.abs));
    const c = convertClassifier(loaded.model, loaded.file);
    try {
      const cell = await ortRun(exportOnnx(c.fcn, loaded.file).bytes, x);
      expect(cell.dims).toEqual([1, 1, 1, CLASSES]);
      for (let j = 0; j < CLASSES; j++) {
        expect({ j, tfjs: Math.abs(got[j] - want[j]) / scale <= 2e-5 }).toEqual({ j, tfjs: true });
        expect({ j, onnx: Math.abs(cell.data[j] - want[j]) / scale <= 2e-5 }).toEqual({ j, onnx: true });
      }
      await check(c, loaded.model, loaded.file);
    } finally {
      c.fcn.dispose();
    }
  } finally {
    loaded.model.dispose();
    x.dispose();
  }
}

/** The converted model's map on a random image equals its ONNX export's (so the sliding geometry holds in the file users get). */
async function onnxMapEqualsTfjs(c: Conversion, file: string, size: [number, number], seed: number): Promise<void> {
  const image = tf.randomUniform([1, size[0], size[1], c.channels], -2, 2, 'float32', seed) as tf.Tensor4D;
  try {
    const want = tf.tidy(() => c.fcn.predict(image) as tf.Tensor);
    const got = await ortRun(exportOnnx(c.fcn, file).bytes, image);
    expect(got.dims).toEqual(want.shape);
    const w = want.dataSync();
    want.dispose();
    for (let i = 0; i < w.length; i++) expect(Math.abs(got.data[i] - w[i])).toBeLessThanOrEqual(1e-4);
  } finally {
    image.dispose();
  }
}

const DENSE = (n: number, seed: number): { kernel: Float32Array; bias: Float32Array } => ({ kernel: values(n * CLASSES, seed, -0.5, 0.5), bias: values(CLASSES, seed + 1, -0.1, 0.1) });

describe('catalog: Subtract (first input minus the second)', () => {
  const C = 2;
  const k = values(C * C, 21, -1, 1);
  const b = values(C, 22, -0.2, 0.2);
  const d = DENSE(4 * 4 * C, 23);
  /** x − conv1×1(x) per location, then Flatten → Dense. */
  const reference = (x: Float32Array): number[] => {
    const v: number[] = [];
    for (let p = 0; p < 16; p++) {
      const px = Array.from(x.subarray(p * C, p * C + C));
      for (let o = 0; o < C; o++) v.push(px[o] - px.reduce((s, xi, i) => s + xi * k[i * C + o], b[o]));
    }
    return dense({ h: 4, w: 4, c: C, v }, d.kernel, d.bias);
  };

  it('Keras 3 .keras: Subtract([input, Conv2D(input)]) equals x − conv(x) through load, convert and ONNX; the map equals its crops exactly', async () => {
    const t = (name: string, shape: (number | null)[]): Json => kt(name, shape);
    const config: Json = {
      module: 'keras', class_name: 'Functional', registered_name: 'Functional',
      config: {
        name: 'sub', trainable: true,
        layers: [
          k3Input('in', [null, 4, 4, C]),
          k3Layer('Conv2D', 'conv', k3Conv(C, 1, 'linear'), [t('in', [null, 4, 4, C])]),
          k3Layer('Subtract', 'minus', {}, [t('in', [null, 4, 4, C]), t('conv', [null, 4, 4, C])]),
          k3Layer('Flatten', 'flat', { data_format: 'channels_last' }, [t('minus', [null, 4, 4, C])]),
          k3Layer('Dense', 'out', k3Dense(CLASSES, 'linear'), [t('flat', [null, 16 * C])]),
        ],
        input_layers: ['in', 0, 0],
        output_layers: ['out', 0, 0],
      },
    };
    const file = path.join(root.path, 'subtract.keras');
    await writeKerasArchive(file, config, {
      'layers/conv2d': [{ shape: [1, 1, C, C], values: k }, { shape: [C], values: b }],
      'layers/dense': [{ shape: [16 * C, CLASSES], values: d.kernel }, { shape: [CLASSES], values: d.bias }],
    });
    const x = values(16 * C, 24, -3, 3);
    await throughFile(file, tf.tensor4d(x, [1, 4, 4, C]), reference(x), async (c, model, f) => {
      const report = await checkEquivalence(model, c, f, { cellsPerAxis: 3 });
      expect(report.exact).toBe(true);
      await onnxMapEqualsTfjs(c, f, [9, 7], 25);
    });
  });

  it('Keras 2 .h5 (Functional, nested-list inbound nodes, weights at model_weights/<layer>/<layer>/kernel:0): the same formula', async () => {
    const layer = (cls: string, name: string, cfg: Record<string, Json>, inbound: Json[][]): Json =>
      ({ class_name: cls, config: { name, dtype: 'float32', trainable: true, ...cfg }, name, inbound_nodes: inbound.length ? [inbound] : [] });
    const config: Json = {
      class_name: 'Functional',
      config: {
        name: 'sub2',
        layers: [
          layer('InputLayer', 'in', { batch_input_shape: [null, 4, 4, C], sparse: false, ragged: false }, []),
          layer('Conv2D', 'conv', { filters: C, kernel_size: [1, 1], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'linear', use_bias: true }, [['in', 0, 0, {}]]),
          layer('Subtract', 'minus', {}, [['in', 0, 0, {}], ['conv', 0, 0, {}]]),
          layer('Flatten', 'flat', { data_format: 'channels_last' }, [['minus', 0, 0, {}]]),
          layer('Dense', 'out', { units: CLASSES, activation: 'linear', use_bias: true }, [['flat', 0, 0, {}]]),
        ],
        input_layers: [['in', 0, 0]],
        output_layers: [['out', 0, 0]],
      },
    };
    const file = path.join(root.path, 'subtract_keras2.h5');
    await writeLegacyH5(file, config, [
      { name: 'conv', weights: [{ name: 'conv/kernel:0', shape: [1, 1, C, C], values: k }, { name: 'conv/bias:0', shape: [C], values: b }] },
      { name: 'out', weights: [{ name: 'out/kernel:0', shape: [16 * C, CLASSES], values: d.kernel }, { name: 'out/bias:0', shape: [CLASSES], values: d.bias }] },
    ], { kerasVersion: '2.15.0' });
    const x = values(16 * C, 26, -3, 3);
    await throughFile(file, tf.tensor4d(x, [1, 4, 4, C]), reference(x), async () => undefined);
  });
});

describe('catalog: UpSampling2D (nearest repeats, bilinear with half-pixel centres, as Keras 2 on TensorFlow 2 and Keras 3 compute it)', () => {
  const C = 2;
  for (const interpolation of ['nearest', 'bilinear'] as const) {
    it(`${interpolation}: one window equals Keras's formula through load, convert and ONNX`, async () => {
      const d = DENSE(8 * 8 * C, 31);
      const file = path.join(root.path, `up_${interpolation}.keras`);
      await writeKerasArchive(file, k3Sequential('up', [null, 4, 4, C], [
        k3Layer('UpSampling2D', 'up', { size: [2, 2], data_format: 'channels_last', interpolation }),
        k3Layer('Flatten', 'flat', { data_format: 'channels_last' }),
        k3Layer('Dense', 'out', k3Dense(CLASSES, 'linear')),
      ]), { 'layers/dense': [{ shape: [8 * 8 * C, CLASSES], values: d.kernel }, { shape: [CLASSES], values: d.bias }] });
      const x = values(16 * C, 32, -3, 3);
      const m = mapOf(x, 4, 4, C);
      const want = dense(interpolation === 'nearest' ? upNearest(m, 2) : upBilinear(m, 2), d.kernel, d.bias);
      await throughFile(file, tf.tensor4d(x, [1, 4, 4, C]), want, async (c) => {
        // Upsampled at the input: cells every 2 upsampled positions are the crops 1 pixel apart.
        expect({ window: c.window, stride: c.stride }).toEqual({ window: [4, 4], stride: [1, 1] });
      });
    });
  }

  /**
   * Conv2D 2×2 stride 2 → UpSampling2D 2 → Conv2D 3×3 → Flatten → Dense on an 8×8 window: the map
   * after the upsampling has positions every pixel, but only every second one is a crop's (the
   * input moved by the strided layer's 2 pixels), so cells are 2 pixels apart.
   */
  async function trunk(interpolation: 'nearest' | 'bilinear'): Promise<string> {
    const file = path.join(root.path, `up_trunk_${interpolation}.keras`);
    await writeKerasArchive(file, k3Sequential('up_trunk', [null, 8, 8, C], [
      k3Layer('Conv2D', 'down', { ...k3Conv(3, 2, 'relu'), strides: [2, 2] }),
      k3Layer('UpSampling2D', 'up', { size: [2, 2], data_format: 'channels_last', interpolation }),
      k3Layer('Conv2D', 'c3', k3Conv(2, 3, 'tanh')),
      k3Layer('Flatten', 'flat', { data_format: 'channels_last' }),
      k3Layer('Dense', 'out', k3Dense(CLASSES, 'softmax')),
    ]), {
      'layers/conv2d': [{ shape: [2, 2, C, 3], values: values(12 * 2, 41, -1, 1) }, { shape: [3], values: values(3, 42, -0.1, 0.1) }],
      'layers/conv2d_1': [{ shape: [3, 3, 3, 2], values: values(54, 43, -1, 1) }, { shape: [2], values: values(2, 44, -0.1, 0.1) }],
      'layers/dense': [{ shape: [6 * 6 * 2, CLASSES], values: values(72 * CLASSES, 45, -1, 1) }, { shape: [CLASSES], values: values(CLASSES, 46, -0.1, 0.1) }],
    });
    return file;
  }

  it('nearest inside the trunk at a fixed factor: cells at the strided layer\'s spacing, every one equal to its crop (exact); ONNX map equals tfjs', async () => {
    const loaded = await loadClassifier(await trunk('nearest'));
    try {
      const c = convertClassifier(loaded.model, loaded.file);
      try {
        expect({ window: c.window, stride: c.stride }).toEqual({ window: [8, 8], stride: [2, 2] });
        const report = await checkEquivalence(loaded.model, c, loaded.file, { cellsPerAxis: 4 });
        expect({ exact: report.exact, grade: report.grade, cells: report.cellsChecked }).toEqual({ exact: true, grade: 'exact', cells: 16 });
        await onnxMapEqualsTfjs(c, loaded.file, [14, 12], 47);
        // The positions between cells mix two crops' features: a finer stride is refused, naming the layer.
        expect(() => refineStride(c, 1, loaded.file)).toThrow(`${loaded.file}: layer "up" (UpSampling2D): stride 1 is not possible: the map is upsampled inside the network`);
      } finally {
        c.fcn.dispose();
      }
    } finally {
      loaded.model.dispose();
    }
  });

  it('bilinear inside the trunk: a crop interpolates toward its own edge where the whole map has neighbours, so it is named and graded, not exact; ONNX map equals tfjs', async () => {
    const loaded = await loadClassifier(await trunk('bilinear'));
    try {
      const c = convertClassifier(loaded.model, loaded.file);
      try {
        expect(c.stride).toEqual([2, 2]);
        expect(c.paddedLayers.some((l) => l.startsWith('up (UpSampling2D bilinear'))).toBe(true);
        const report = await checkEquivalence(loaded.model, c, loaded.file, { cellsPerAxis: 4 });
        expect(report.exact).toBe(false);
        expect(report.maxAbsDiff).toBeGreaterThan(0);
        expect(report.grade).not.toBe('exact');
        await onnxMapEqualsTfjs(c, loaded.file, [14, 12], 48);
      } finally {
        c.fcn.dispose();
      }
    } finally {
      loaded.model.dispose();
    }
  });

  it('an interpolation Convmap does not compute (bicubic) is refused in one line naming the file', async () => {
    const file = path.join(root.path, 'up_bicubic.keras');
    await writeKerasArchive(file, k3Sequential('upb', [null, 4, 4, C], [
      k3Layer('UpSampling2D', 'up', { size: [2, 2], data_format: 'channels_last', interpolation: 'bicubic' }),
      k3Layer('Flatten', 'flat', { data_format: 'channels_last' }),
      k3Layer('Dense', 'out', k3Dense(CLASSES, 'linear')),
    ]), { 'layers/dense': [{ shape: [8 * 8 * C, CLASSES], values: values(8 * 8 * C * CLASSES, 49, -1, 1) }, { shape: [CLASSES], values: new Float32Array(CLASSES) }] });
    let message = '';
    await loadClassifier(file).then((l) => l.model.dispose(), (e: unknown) => {
      message = (e as Error).message;
    });
    expect(message.startsWith(`${file}: `)).toBe(true);
    expect(message).toContain('UpSampling2D interpolation "bicubic" is not supported (only nearest and bilinear)');
    expect(message).not.toContain('\n');
  });
});

describe('catalog: CenterCrop smaller than its input (each window\'s centre): a crop of the map, cells equal to the crops', () => {
  const C = 2;
  it('at the input: one window equals Keras\'s crop (rows from floor((8 − 5) / 2)) through load, convert and ONNX; the map equals its crops exactly at the window\'s own geometry', async () => {
    const d = DENSE(5 * 6 * C, 51);
    const file = path.join(root.path, 'center_crop.keras');
    await writeKerasArchive(file, k3Sequential('cc', [null, 8, 8, C], [
      k3Layer('CenterCrop', 'cc', { height: 5, width: 6, data_format: 'channels_last' }),
      k3Layer('Flatten', 'flat', { data_format: 'channels_last' }),
      k3Layer('Dense', 'out', k3Dense(CLASSES, 'linear')),
    ]), { 'layers/dense': [{ shape: [5 * 6 * C, CLASSES], values: d.kernel }, { shape: [CLASSES], values: d.bias }] });
    const x = values(64 * C, 52, -3, 3);
    const want = dense(centerCrop(mapOf(x, 8, 8, C), 5, 6), d.kernel, d.bias);
    await throughFile(file, tf.tensor4d(x, [1, 8, 8, C]), want, async (c, model, f) => {
      expect({ window: c.window, stride: c.stride, offset: c.offset }).toEqual({ window: [8, 8], stride: [1, 1], offset: [0, 0] });
      const report = await checkEquivalence(model, c, f, { cellsPerAxis: 4 });
      expect(report.exact).toBe(true);
      await onnxMapEqualsTfjs(c, f, [13, 11], 53);
    });
  });

  it('after a strided layer (Keras 2 .h5): the feature map\'s centre is cut on the whole map, every cell equal to its crop', async () => {
    const file = path.join(root.path, 'center_crop_deep.h5');
    const config: Json = {
      class_name: 'Sequential',
      config: {
        name: 'ccd', layers: [
          { class_name: 'InputLayer', config: { batch_input_shape: [null, 11, 10, C], dtype: 'float32', name: 'in' } },
          { class_name: 'Conv2D', config: { name: 'down', filters: 3, kernel_size: [3, 3], strides: [2, 2], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'relu', use_bias: true, dtype: 'float32' } },
          { class_name: 'CenterCrop', config: { name: 'cc', height: 2, width: 3, dtype: 'float32' } },
          { class_name: 'Flatten', config: { name: 'flat', dtype: 'float32' } },
          { class_name: 'Dense', config: { name: 'out', units: CLASSES, activation: 'softmax', use_bias: true, dtype: 'float32' } },
        ],
      },
    };
    await writeLegacyH5(file, config, [
      { name: 'down', weights: [{ name: 'down/kernel:0', shape: [3, 3, C, 3], values: values(54, 61, -1, 1) }, { name: 'down/bias:0', shape: [3], values: values(3, 62, -0.1, 0.1) }] },
      { name: 'out', weights: [{ name: 'out/kernel:0', shape: [2 * 3 * 3, CLASSES], values: values(18 * CLASSES, 63, -1, 1) }, { name: 'out/bias:0', shape: [CLASSES], values: values(CLASSES, 64, -0.1, 0.1) }] },
    ], { kerasVersion: '2.15.0' });
    const loaded = await loadClassifier(file);
    try {
      const c = convertClassifier(loaded.model, loaded.file);
      try {
        expect({ window: c.window, stride: c.stride }).toEqual({ window: [11, 10], stride: [2, 2] });
        const report = await checkEquivalence(loaded.model, c, loaded.file, { cellsPerAxis: 4 });
        expect(report.exact).toBe(true);
        await onnxMapEqualsTfjs(c, loaded.file, [19, 16], 65);
      } finally {
        c.fcn.dispose();
      }
    } finally {
      loaded.model.dispose();
    }
  });
});
