import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { checkEquivalence } from '../../main/convert/equivalence';
import { kerasSnakeCase } from '../../main/model/keras';
import { buildModel } from '../../main/model/keras-config';
import { loadClassifier } from '../../main/model/load';
import { type Json, k3BatchNorm, k3Conv, k3Dense, k3Input, k3Layer, kt, writeKerasArchive } from '../helpers/keras';
import { useWasm } from '../helpers/models';
import { tempDir } from '../helpers/temp-dir';
import { expectOnnxMatchesTfjs } from '../onnx/helpers';

/**
 * Real topologies from public repositories (../shared/corpus/topologies) whose weight files are
 * too big to store: tools/synth_weights.py writes deterministic weights of the real names, shapes
 * and dtypes, and the folder must load and convert. The crops through the original model are the
 * oracle; with synthetic weights only the structure is tested, not accuracy.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shared = path.resolve(repoRoot, '../shared/corpus');
const synth = path.join(shared, 'tools/synth_weights.py');

function whyNot(): string | null {
  if (!existsSync(synth)) return `${synth} is absent`;
  const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) return 'python3 with numpy is not available (synth_weights.py needs it)';
  return null;
}
const skip = whyNot();
if (skip) console.warn(`topology tests skipped: ${skip}`);

beforeAll(useWasm);
const root = tempDir('convmap-topologies-');

/** Copies the topology's model.json with synthetic shards into a temp folder; returns the folder. */
function synthesise(name: string, seed: number): string {
  const out = path.join(root.path, name);
  const run = spawnSync('python3', [synth, path.join(shared, 'topologies', name, 'model.json'), '--seed', String(seed), '--out', out], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`synth_weights.py failed: ${run.stderr}`);
  return out;
}

describe.skipIf(skip !== null)('real topologies with synthetic weights (../shared/corpus/topologies)', () => {
  it('Keras 3.8 MobileNetV2 α 1.0 nested as a sub-model (DepthwiseConv2D weights named "kernel" by Keras 3) loads and converts (224 window, stride 64 with its MaxPool, 10 classes); graded close or approximate against its crops', async () => {
    const dir = synthesise('mobilenetv2_100_keras38_nested_lukaskrisna', 1);
    const loaded = await loadClassifier(dir);
    try {
      const c = convertClassifier(loaded.model, loaded.file);
      try {
        expect({ window: c.window, stride: c.stride, classes: c.classes, boundary: c.boundary.shape }).toEqual({ window: [224, 224], stride: [64, 64], classes: 10, boundary: [3, 3, 128] });
        const report = await checkEquivalence(loaded.model, c, loaded.file, { cellsPerAxis: 3, preprocess: 'signed' });
        expect(report.cellsChecked).toBe(9);
        expect(report.grade === 'close' || report.grade === 'approximate').toBe(true);
      } finally {
        c.fcn.dispose();
      }
    } finally {
      loaded.model.dispose();
    }
  });
});

/**
 * An EfficientNet MBConv stem and block as keras.applications writes them in Keras 3 (efficientnet.py):
 * Rescaling(1/255) → Normalization → Rescaling(1/√stddev per channel) → stem Conv2D stride 2 → BN →
 * swish → DepthwiseConv2D → BN → swish → squeeze-excite (GAP → Reshape(1, 1, C) → Conv2D swish →
 * Conv2D sigmoid → Multiply) → project Conv2D → BN → top Conv2D → GAP → Dropout → Dense softmax.
 */
function efficientNetBlock(): Json {
  const S = 32;
  const t = (name: string, shape: (number | null)[]): Json => kt(name, shape);
  const conv = (filters: number, k: number, act: string, strides = 1): Record<string, Json> => ({ ...k3Conv(filters, k, act, 'same'), strides: [strides, strides], use_bias: false });
  return {
    module: 'keras', class_name: 'Functional', registered_name: 'Functional',
    config: {
      name: 'efficientnetb0_like', trainable: true,
      layers: [
        k3Input('input_layer', [null, S, S, 3]),
        k3Layer('Rescaling', 'rescaling', { scale: 1 / 255, offset: 0 }, [t('input_layer', [null, S, S, 3])]),
        k3Layer('Normalization', 'normalization', { axis: -1, mean: null, variance: null, invert: false }, [t('rescaling', [null, S, S, 3])]),
        k3Layer('Rescaling', 'rescaling_1', { scale: [1 / Math.sqrt(0.229 ** 2), 1 / Math.sqrt(0.224 ** 2), 1 / Math.sqrt(0.225 ** 2)], offset: 0 }, [t('normalization', [null, S, S, 3])]),
        k3Layer('Conv2D', 'stem_conv', conv(8, 3, 'linear', 2), [t('rescaling_1', [null, S, S, 3])]),
        k3Layer('BatchNormalization', 'stem_bn', k3BatchNorm(), [t('stem_conv', [null, 16, 16, 8])]),
        k3Layer('Activation', 'stem_activation', { activation: 'swish' }, [t('stem_bn', [null, 16, 16, 8])]),
        k3Layer('DepthwiseConv2D', 'block1a_dwconv', { kernel_size: [3, 3], strides: [1, 1], padding: 'same', depth_multiplier: 1, data_format: 'channels_last', dilation_rate: [1, 1], activation: 'linear', use_bias: false }, [t('stem_activation', [null, 16, 16, 8])]),
        k3Layer('BatchNormalization', 'block1a_bn', k3BatchNorm(), [t('block1a_dwconv', [null, 16, 16, 8])]),
        k3Layer('Activation', 'block1a_activation', { activation: 'swish' }, [t('block1a_bn', [null, 16, 16, 8])]),
        k3Layer('GlobalAveragePooling2D', 'block1a_se_squeeze', { data_format: 'channels_last', keepdims: false }, [t('block1a_activation', [null, 16, 16, 8])]),
        k3Layer('Reshape', 'block1a_se_reshape', { target_shape: [1, 1, 8] }, [t('block1a_se_squeeze', [null, 8])]),
        k3Layer('Conv2D', 'block1a_se_reduce', { ...k3Conv(2, 1, 'swish', 'same') }, [t('block1a_se_reshape', [null, 1, 1, 8])]),
        k3Layer('Conv2D', 'block1a_se_expand', { ...k3Conv(8, 1, 'sigmoid', 'same') }, [t('block1a_se_reduce', [null, 1, 1, 2])]),
        k3Layer('Multiply', 'block1a_se_excite', {}, [t('block1a_activation', [null, 16, 16, 8]), t('block1a_se_expand', [null, 1, 1, 8])]),
        k3Layer('Conv2D', 'block1a_project_conv', conv(4, 1, 'linear'), [t('block1a_se_excite', [null, 16, 16, 8])]),
        k3Layer('BatchNormalization', 'block1a_project_bn', k3BatchNorm(), [t('block1a_project_conv', [null, 16, 16, 4])]),
        k3Layer('Conv2D', 'top_conv', conv(16, 1, 'linear'), [t('block1a_project_bn', [null, 16, 16, 4])]),
        k3Layer('BatchNormalization', 'top_bn', k3BatchNorm(), [t('top_conv', [null, 16, 16, 16])]),
        k3Layer('Activation', 'top_activation', { activation: 'swish' }, [t('top_bn', [null, 16, 16, 16])]),
        k3Layer('GlobalAveragePooling2D', 'avg_pool', { data_format: 'channels_last', keepdims: false }, [t('top_activation', [null, 16, 16, 16])]),
        k3Layer('Dropout', 'top_dropout', { rate: 0.2, seed: null, noise_shape: null }, [t('avg_pool', [null, 16])]),
        k3Layer('Dense', 'predictions', k3Dense(5, 'softmax'), [t('top_dropout', [null, 16])]),
      ],
      input_layers: ['input_layer', 0, 0],
      output_layers: ['predictions', 0, 0],
    },
  };
}

/** Seeded values in [lo, hi) (a sine hash: deterministic, no dependency). */
function seeded(n: number, seed: number, lo: number, hi: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => lo + (hi - lo) * (0.5 + 0.5 * Math.sin(seed * 7919 + i * 104729.123)));
}

function bn(c: number, seed: number): { shape: number[]; values: Float32Array }[] {
  return [seeded(c, seed, 0.8, 1.2), seeded(c, seed + 1, -0.05, 0.05), seeded(c, seed + 2, -0.05, 0.05), seeded(c, seed + 3, 0.5, 1.5)].map((values) => ({ shape: [c], values }));
}

describe('keras.applications building blocks in the form Keras 3 writes them', () => {
  it('an EfficientNet stem and MBConv block (Normalization, per-channel Rescaling, swish, DepthwiseConv2D, squeeze-excite Multiply) converts; its cells are graded against crops and ONNX equals tfjs', async () => {
    const file = path.join(root.path, 'efficientnet_block.keras');
    const w = (shape: number[], seed: number, scale = 0.5): { shape: number[]; values: Float32Array } => ({ shape, values: seeded(shape.reduce((a, b) => a * b, 1), seed, -scale, scale) });
    await writeKerasArchive(file, efficientNetBlock(), {
      'layers/normalization': [{ shape: [3], values: Float32Array.of(0.485, 0.456, 0.406) }, { shape: [3], values: Float32Array.of(0.229 ** 2, 0.224 ** 2, 0.225 ** 2) }],
      'layers/conv2d': [w([3, 3, 3, 8], 1)],
      'layers/batch_normalization': bn(8, 10),
      'layers/depthwise_conv2d': [w([3, 3, 8, 1], 2)],
      'layers/batch_normalization_1': bn(8, 20),
      'layers/conv2d_1': [w([1, 1, 8, 2], 3), w([2], 4, 0.1)],
      'layers/conv2d_2': [w([1, 1, 2, 8], 5), w([8], 6, 0.1)],
      'layers/conv2d_3': [w([1, 1, 8, 4], 7)],
      'layers/batch_normalization_2': bn(4, 30),
      'layers/conv2d_4': [w([1, 1, 4, 16], 8)],
      'layers/batch_normalization_3': bn(16, 40),
      'layers/dense': [w([16, 5], 9), w([5], 10, 0.1)],
    });
    const loaded = await loadClassifier(file);
    try {
      const c = convertClassifier(loaded.model, loaded.file);
      try {
        expect({ window: c.window, stride: c.stride, classes: c.classes }).toEqual({ window: [32, 32], stride: [2, 2], classes: 5 });
        // The SE pool is named in the report: it averages the window around each location.
        expect(c.paddedLayers.some((l) => l.startsWith('block1a_se_squeeze (Squeeze-and-Excitation'))).toBe(true);
        const report = await checkEquivalence(loaded.model, c, loaded.file, { cellsPerAxis: 3, preprocess: 'raw' });
        expect(report.exact).toBe(false);
        expect(['close', 'approximate']).toContain(report.grade);
        await expectOnnxMatchesTfjs(c.fcn, loaded.file, { shape: [1, 40, 44, 3], max: 255, seed: 3 });
      } finally {
        c.fcn.dispose();
      }
    } finally {
      loaded.model.dispose();
    }
  });
});

/**
 * A ConvNeXt stem and block as keras.applications writes them (convnext.py): patchify Conv2D 4×4
 * stride 4 → LayerNormalization → DepthwiseConv2D 7×7 → LayerNormalization → Dense 4C gelu → Dense C →
 * LayerScale → Activation('linear') (StochasticDepth at rate 0) → Add; head GAP → LayerNormalization → Dense.
 */
function convNeXtBlock(): Json {
  const t = (name: string, shape: (number | null)[]): Json => kt(name, shape);
  const ln = { axis: -1, epsilon: 1e-6, center: true, scale: true, rms_scaling: false };
  return {
    module: 'keras', class_name: 'Functional', registered_name: 'Functional',
    config: {
      name: 'convnext_like', trainable: true,
      layers: [
        k3Input('input_layer', [null, 32, 32, 3]),
        k3Layer('Conv2D', 'stem_conv', { ...k3Conv(8, 4, 'linear'), strides: [4, 4] }, [t('input_layer', [null, 32, 32, 3])]),
        k3Layer('LayerNormalization', 'stem_ln', ln, [t('stem_conv', [null, 8, 8, 8])]),
        k3Layer('DepthwiseConv2D', 'b0_depthwise', { kernel_size: [7, 7], strides: [1, 1], padding: 'same', depth_multiplier: 1, data_format: 'channels_last', dilation_rate: [1, 1], activation: 'linear', use_bias: true }, [t('stem_ln', [null, 8, 8, 8])]),
        k3Layer('LayerNormalization', 'b0_ln', ln, [t('b0_depthwise', [null, 8, 8, 8])]),
        k3Layer('Dense', 'b0_pw1', k3Dense(32, 'gelu'), [t('b0_ln', [null, 8, 8, 8])]),
        k3Layer('Dense', 'b0_pw2', k3Dense(8, 'linear'), [t('b0_pw1', [null, 8, 8, 32])]),
        { ...(k3Layer('LayerScale', 'b0_layer_scale', { init_values: 1e-6, projection_dim: 8 }, [t('b0_pw2', [null, 8, 8, 8])]) as Record<string, Json>), module: 'keras.src.applications.convnext', registered_name: 'LayerScale' },
        k3Layer('Activation', 'b0_identity', { activation: 'linear' }, [t('b0_layer_scale', [null, 8, 8, 8])]),
        k3Layer('Add', 'b0_add', {}, [t('stem_ln', [null, 8, 8, 8]), t('b0_identity', [null, 8, 8, 8])]),
        k3Layer('GlobalAveragePooling2D', 'head_gap', { data_format: 'channels_last', keepdims: false }, [t('b0_add', [null, 8, 8, 8])]),
        k3Layer('LayerNormalization', 'head_layernorm', ln, [t('head_gap', [null, 8])]),
        k3Layer('Dense', 'head_dense', k3Dense(5, 'softmax'), [t('head_layernorm', [null, 8])]),
      ],
      input_layers: ['input_layer', 0, 0],
      output_layers: ['head_dense', 0, 0],
    },
  };
}

describe('keras.applications building blocks: ConvNeXt', () => {
  it('a ConvNeXt stem and block (LayerNormalization, 7×7 DepthwiseConv2D, Dense gelu on the channel axis, LayerScale, Add; GAP → LayerNormalization head) converts; graded against crops, ONNX equals tfjs', async () => {
    const file = path.join(root.path, 'convnext_block.keras');
    const w = (shape: number[], seed: number, scale = 0.5): { shape: number[]; values: Float32Array } => ({ shape, values: seeded(shape.reduce((a, b) => a * b, 1), seed, -scale, scale) });
    const lnw = (c: number, seed: number): { shape: number[]; values: Float32Array }[] => [{ shape: [c], values: seeded(c, seed, 0.8, 1.2) }, w([c], seed + 1, 0.05)];
    await writeKerasArchive(file, convNeXtBlock(), {
      'layers/conv2d': [w([4, 4, 3, 8], 1), w([8], 2, 0.1)],
      'layers/layer_normalization': lnw(8, 10),
      'layers/depthwise_conv2d': [w([7, 7, 8, 1], 3), w([8], 4, 0.1)],
      'layers/layer_normalization_1': lnw(8, 20),
      'layers/dense': [w([8, 32], 5), w([32], 6, 0.1)],
      'layers/dense_1': [w([32, 8], 7), w([8], 8, 0.1)],
      'layers/layer_scale': [{ shape: [8], values: seeded(8, 9, 0.1, 0.5) }],
      'layers/layer_normalization_2': lnw(8, 30),
      'layers/dense_2': [w([8, 5], 11), w([5], 12, 0.1)],
    });
    const loaded = await loadClassifier(file);
    try {
      const c = convertClassifier(loaded.model, loaded.file);
      try {
        expect({ window: c.window, stride: c.stride, classes: c.classes }).toEqual({ window: [32, 32], stride: [4, 4], classes: 5 });
        const report = await checkEquivalence(loaded.model, c, loaded.file, { cellsPerAxis: 3, preprocess: 'raw' });
        expect(report.exact).toBe(false);
        expect(report.note).toMatch(/b0_depthwise \('same' 7×7\)/);
        await expectOnnxMatchesTfjs(c.fcn, loaded.file, { shape: [1, 44, 40, 3], max: 255, seed: 4 });
      } finally {
        c.fcn.dispose();
      }
    } finally {
      loaded.model.dispose();
    }
  });
});

/** One layer of a Keras 3 Functional config: class, name, config, the names of the layers it reads. */
type Spec = [string, string, Record<string, Json>, string[]];

/** A Keras 3 Functional config from specs (the first spec is the InputLayer's name; shapes in refs are informational). */
function functional(name: string, batchShape: (number | null)[], specs: Spec[], output: string): Json {
  return {
    module: 'keras', class_name: 'Functional', registered_name: 'Functional',
    config: {
      name, trainable: true,
      layers: [k3Input('input_layer', batchShape), ...specs.map(([cls, n, cfg, ins]) => k3Layer(cls, n, cfg, ins.map((i) => kt(i, [null]))))],
      input_layers: ['input_layer', 0, 0],
      output_layers: [output, 0, 0],
    },
  };
}

/**
 * Writes `config` as a .keras file with seeded weights at the paths Keras 3 gives them
 * (layers/<snake_case class>[_k]/vars); the shapes are read from the model tfjs builds from the
 * config (setup only: the test's oracle is the crops through the loaded model).
 */
async function writeSeededKeras(file: string, config: Json): Promise<void> {
  const model = await buildModel(config as Record<string, unknown>, file, '3.5.0');
  const vars: Record<string, { shape: number[]; values: Float32Array }[]> = {};
  const seen = new Map<string, number>();
  let seed = 1;
  for (const raw of (config as { config: { layers: { class_name: string; config: { name: string } }[] } }).config.layers) {
    const snake = kerasSnakeCase(raw.class_name);
    const k = seen.get(snake);
    seen.set(snake, k === undefined ? 0 : k + 1);
    const layer = model.getLayer(raw.config.name);
    if (layer.weights.length === 0) continue;
    vars[`layers/${k === undefined ? snake : `${snake}_${k + 1}`}`] = layer.weights.map((v) => {
      const shape = v.shape as number[];
      const n = shape.reduce((a, b) => a * b, 1);
      const fanIn = shape.length > 1 ? shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
      const variance = /moving_variance|gamma/.test(v.originalName);
      const values = variance ? seeded(n, seed++, 0.8, 1.2) : seeded(n, seed++, -Math.sqrt(3 / fanIn), Math.sqrt(3 / fanIn));
      return { shape, values };
    });
  }
  model.dispose();
  await writeKerasArchive(file, config, vars);
}

async function convertsAgainstCrops(file: string, want: { window: number[]; stride: number[] }): Promise<void> {
  const loaded = await loadClassifier(file);
  try {
    const c = convertClassifier(loaded.model, loaded.file);
    try {
      expect({ window: c.window, stride: c.stride }).toEqual(want);
      const report = await checkEquivalence(loaded.model, c, loaded.file, { cellsPerAxis: 3, preprocess: 'raw' });
      expect(report.cellsChecked).toBe(9);
      expect(report.note).toMatch(/pad with zeros/);
      await expectOnnxMatchesTfjs(c.fcn, loaded.file, { shape: [1, want.window[0] + 9, want.window[1] + 5, 3], max: 255, seed: 5 });
    } finally {
      c.fcn.dispose();
    }
  } finally {
    loaded.model.dispose();
  }
}

const bnSpec = k3BatchNorm();
const convSpec = (f: number, k: [number, number], strides: number, padding: string, act = 'linear'): Record<string, Json> =>
  ({ ...k3Conv(f, 1, act, padding), kernel_size: k, strides: [strides, strides] });

describe('keras.applications building blocks: ResNet50, InceptionV3, Xception', () => {
  it('ResNet50\'s stem and a conv block (ZeroPadding2D, 7×7/2 conv, 3×3/2 max pool, 1×1 projection shortcut, Add) converts; graded against crops, ONNX equals tfjs', async () => {
    const file = path.join(root.path, 'resnet_block.keras');
    await writeSeededKeras(file, functional('resnet50_like', [null, 64, 64, 3], [
      ['ZeroPadding2D', 'conv1_pad', { padding: [[3, 3], [3, 3]], data_format: 'channels_last' }, ['input_layer']],
      ['Conv2D', 'conv1_conv', convSpec(8, [7, 7], 2, 'valid'), ['conv1_pad']],
      ['BatchNormalization', 'conv1_bn', bnSpec, ['conv1_conv']],
      ['Activation', 'conv1_relu', { activation: 'relu' }, ['conv1_bn']],
      ['ZeroPadding2D', 'pool1_pad', { padding: [[1, 1], [1, 1]], data_format: 'channels_last' }, ['conv1_relu']],
      ['MaxPooling2D', 'pool1_pool', { pool_size: [3, 3], strides: [2, 2], padding: 'valid', data_format: 'channels_last' }, ['pool1_pad']],
      ['Conv2D', 'conv2_block1_0_conv', convSpec(16, [1, 1], 1, 'valid'), ['pool1_pool']],
      ['BatchNormalization', 'conv2_block1_0_bn', bnSpec, ['conv2_block1_0_conv']],
      ['Conv2D', 'conv2_block1_1_conv', convSpec(4, [1, 1], 1, 'valid'), ['pool1_pool']],
      ['BatchNormalization', 'conv2_block1_1_bn', bnSpec, ['conv2_block1_1_conv']],
      ['Activation', 'conv2_block1_1_relu', { activation: 'relu' }, ['conv2_block1_1_bn']],
      ['Conv2D', 'conv2_block1_2_conv', convSpec(4, [3, 3], 1, 'same'), ['conv2_block1_1_relu']],
      ['BatchNormalization', 'conv2_block1_2_bn', bnSpec, ['conv2_block1_2_conv']],
      ['Activation', 'conv2_block1_2_relu', { activation: 'relu' }, ['conv2_block1_2_bn']],
      ['Conv2D', 'conv2_block1_3_conv', convSpec(16, [1, 1], 1, 'valid'), ['conv2_block1_2_relu']],
      ['BatchNormalization', 'conv2_block1_3_bn', bnSpec, ['conv2_block1_3_conv']],
      ['Add', 'conv2_block1_add', {}, ['conv2_block1_0_bn', 'conv2_block1_3_bn']],
      ['Activation', 'conv2_block1_out', { activation: 'relu' }, ['conv2_block1_add']],
      ['GlobalAveragePooling2D', 'avg_pool', { data_format: 'channels_last', keepdims: false }, ['conv2_block1_out']],
      ['Dense', 'predictions', k3Dense(4, 'softmax'), ['avg_pool']],
    ], 'predictions'));
    await convertsAgainstCrops(file, { window: [64, 64], stride: [4, 4] });
  });

  it('an InceptionV3 block (1×7 and 7×1 kernels, a 3×3/1 average pool branch, Concatenate) converts; graded against crops, ONNX equals tfjs', async () => {
    const file = path.join(root.path, 'inception_block.keras');
    const cbr = (n: string, f: number, k: [number, number], input: string, strides = 1, padding = 'same'): Spec[] => [
      ['Conv2D', `${n}_conv`, { ...convSpec(f, k, strides, padding), use_bias: false }, [input]],
      ['BatchNormalization', `${n}_bn`, { ...bnSpec, scale: false }, [`${n}_conv`]],
      ['Activation', n, { activation: 'relu' }, [`${n}_bn`]],
    ];
    await writeSeededKeras(file, functional('inception_like', [null, 35, 35, 3], [
      ...cbr('stem', 8, [3, 3], 'input_layer', 2, 'valid'),
      ...cbr('b1x1', 4, [1, 1], 'stem'),
      ...cbr('b7_1', 4, [1, 1], 'stem'), ...cbr('b7_2', 4, [1, 7], 'b7_1'), ...cbr('b7_3', 4, [7, 1], 'b7_2'),
      ['AveragePooling2D', 'bpool_avg', { pool_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last' }, ['stem']],
      ...cbr('bpool', 4, [1, 1], 'bpool_avg'),
      ['Concatenate', 'mixed', { axis: -1 }, ['b1x1', 'b7_3', 'bpool']],
      ['GlobalAveragePooling2D', 'avg_pool', { data_format: 'channels_last', keepdims: false }, ['mixed']],
      ['Dense', 'predictions', k3Dense(4, 'softmax'), ['avg_pool']],
    ], 'predictions'));
    await convertsAgainstCrops(file, { window: [35, 35], stride: [2, 2] });
  });

  it('an Xception entry block (SeparableConv2D, 3×3/2 same max pool, strided 1×1 shortcut, Add) converts; graded against crops, ONNX equals tfjs', async () => {
    const file = path.join(root.path, 'xception_block.keras');
    const sep = (f: number): Record<string, Json> => ({
      filters: f, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], depth_multiplier: 1,
      activation: 'linear', use_bias: false,
    });
    await writeSeededKeras(file, functional('xception_like', [null, 40, 40, 3], [
      ['Conv2D', 'block1_conv1', { ...convSpec(8, [3, 3], 2, 'valid'), use_bias: false }, ['input_layer']],
      ['BatchNormalization', 'block1_conv1_bn', bnSpec, ['block1_conv1']],
      ['Activation', 'block1_conv1_act', { activation: 'relu' }, ['block1_conv1_bn']],
      ['Conv2D', 'shortcut', { ...convSpec(16, [1, 1], 2, 'same'), use_bias: false }, ['block1_conv1_act']],
      ['BatchNormalization', 'shortcut_bn', bnSpec, ['shortcut']],
      ['SeparableConv2D', 'block2_sepconv1', sep(16), ['block1_conv1_act']],
      ['BatchNormalization', 'block2_sepconv1_bn', bnSpec, ['block2_sepconv1']],
      ['Activation', 'block2_sepconv2_act', { activation: 'relu' }, ['block2_sepconv1_bn']],
      ['SeparableConv2D', 'block2_sepconv2', sep(16), ['block2_sepconv2_act']],
      ['BatchNormalization', 'block2_sepconv2_bn', bnSpec, ['block2_sepconv2']],
      ['MaxPooling2D', 'block2_pool', { pool_size: [3, 3], strides: [2, 2], padding: 'same', data_format: 'channels_last' }, ['block2_sepconv2_bn']],
      ['Add', 'add', {}, ['block2_pool', 'shortcut_bn']],
      ['GlobalAveragePooling2D', 'avg_pool', { data_format: 'channels_last', keepdims: false }, ['add']],
      ['Dense', 'predictions', k3Dense(4, 'softmax'), ['avg_pool']],
    ], 'predictions'));
    await convertsAgainstCrops(file, { window: [40, 40], stride: [4, 4] });
  });
});

