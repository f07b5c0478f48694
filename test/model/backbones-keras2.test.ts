import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { EquivalenceReport } from '../../core/model-info';
import { convertClassifier, type Conversion } from '../../main/convert/convert';
import { checkEquivalence } from '../../main/convert/equivalence';
import { loadClassifier } from '../../main/model/load';
import { type H5Weight, type Json, writeLegacyH5 } from '../helpers/keras';
import { convNeXtTiny } from '../helpers/keras-backbones';
import { efficientNetB0, mobileNetV2, nestedMobileNetV2, resnet50 } from '../helpers/keras2-apps';
import { useWasm } from '../helpers/models';
import { tempDir } from '../helpers/temp-dir';
import { expectOnnxMatchesTfjs } from '../onnx/helpers';

/**
 * Whole keras.applications backbones as Keras 2 `.h5` exports (issue 23 item 3): the model_config
 * and weight layout tf.keras 2.15 writes (test/helpers/keras2-apps.ts; ConvNeXt: keras-backbones.ts
 * form 2), synthesised weights, small inputs and (ResNet50, ConvNeXt) a fraction of the published
 * widths so the test stays quick. Each file goes
 * the way a user's does: loadClassifier → convertClassifier → checkEquivalence against crops through
 * the original model, and the ONNX export of the map equals the tfjs map.
 */

beforeAll(useWasm);
const root = tempDir('convmap-backbones-k2-');

async function convertFile(
  name: string, config: Json, weights: { name: string; weights: H5Weight[] }[], check: (c: Conversion, report: EquivalenceReport) => void,
  loadedCheck?: (model: tf.LayersModel) => void,
): Promise<void> {
  const file = path.join(root.path, `${name}.h5`);
  await writeLegacyH5(file, config, weights, { kerasVersion: '2.15.0' });
  const loaded = await loadClassifier(file);
  try {
    loadedCheck?.(loaded.model);
    const c = convertClassifier(loaded.model, loaded.file);
    try {
      const report = await checkEquivalence(loaded.model, c, loaded.file, { cellsPerAxis: 3, preprocess: 'raw' });
      check(c, report);
      const [wy, wx] = c.window;
      await expectOnnxMatchesTfjs(c.fcn, loaded.file, { shape: [1, wy + c.stride[0], wx + 2 * c.stride[1], 3], max: 255, seed: 7 });
    } finally {
      c.fcn.dispose();
    }
  } finally {
    loaded.model.dispose();
  }
}

describe('keras.applications backbones as Keras 2 .h5 exports load, convert and are graded against their crops', () => {
  it('ResNet50 v1 (¼ width, 64 px): zero-padded 7×7/2 stem, 16 bottleneck blocks with projection shortcuts, GAP head → stride 32, graded (not exact: zero padding)', async () => {
    // Logits (classifier_activation=None): synthetic weights drive a softmax to one-hot, which would agree trivially.
    const g = resnet50(64, 5, 0.25, 1, 'linear');
    await convertFile('resnet50_k2', g.config(g.output), g.weights, (c, report) => {
      expect({ window: c.window, stride: c.stride, classes: c.classes, boundary: c.boundary.shape }).toEqual({ window: [64, 64], stride: [32, 32], classes: 5, boundary: [2, 2, 512] });
      expect(report.exact).toBe(false);
      expect(c.paddedLayers).toContain('conv1_pad (ZeroPadding2D)');
      expect(['close', 'approximate', 'not representative']).toContain(report.grade);
    });
  });

  it('MobileNetV2 α 0.35 (64 px): ReLU(6), correct_pad ZeroPadding2D before stride-2 depthwise, inverted residual Adds → stride 32, graded', async () => {
    const g = mobileNetV2(64, 0.35, 4, 2);
    await convertFile('mobilenetv2_k2', g.config(g.output), g.weights, (c, report) => {
      expect({ window: c.window, stride: c.stride, classes: c.classes, boundary: c.boundary.shape }).toEqual({ window: [64, 64], stride: [32, 32], classes: 4, boundary: [2, 2, 1280] });
      expect(report.exact).toBe(false);
      expect(['close', 'approximate', 'not representative']).toContain(report.grade);
    });
  });

  it('EfficientNetB0 (64 px): Rescaling, Normalization with its count weight, per-channel Rescaling, swish, 16 MBConv blocks with squeeze-excite Multiply and Dropout before the skip Add → stride 32, graded', async () => {
    const g = efficientNetB0(64, 3, 1, 3);
    await convertFile('efficientnetb0_k2', g.config(g.output), g.weights, (c, report) => {
      expect({ window: c.window, stride: c.stride, classes: c.classes, boundary: c.boundary.shape }).toEqual({ window: [64, 64], stride: [32, 32], classes: 3, boundary: [2, 2, 1280] });
      expect(c.paddedLayers.some((l) => l.startsWith('block1a_se_squeeze (Squeeze-and-Excitation'))).toBe(true);
      expect(report.exact).toBe(false);
      expect(['close', 'approximate', 'not representative']).toContain(report.grade);
    });
  });

  it('ConvNeXtTiny (⅛ width, 1 block a stage, 32 px): Normalization prestem, nested Sequential stem and downsamplings read at node 1, 7×7 Conv2D with groups = channels, LayerNormalization, Dense on the channels with gelu, LayerScale, residual as TFOpLambda tf.__operators__.add → stride 32, graded', async () => {
    const g = convNeXtTiny({ size: 32, classes: 4, seed: 24, width: 0.125, repeats: 1, form: 2, classifierActivation: 'linear' });
    await convertFile('convnext_tiny_k2', g.config(g.output), g.weights, (c, report) => {
      expect({ window: c.window, stride: c.stride, classes: c.classes }).toEqual({ window: [32, 32], stride: [32, 32], classes: 4 });
      expect(report.exact).toBe(false);
      expect(['close', 'approximate', 'not representative']).toContain(report.grade);
    }, (model) => {
      // The residuals became Add layers reading both tensors, and each Sequential's group reached its sublayers.
      expect(model.getLayer('tf.__operators__.add_3').getClassName()).toBe('Add');
      const stem = model.getLayer('convnext_tiny_stem') as tf.LayersModel;
      const written = g.weights.find((l) => l.name === 'convnext_tiny_stem')?.weights.find((w) => w.name === 'convnext_tiny_stem_conv/kernel:0') as H5Weight;
      expect(Array.from(stem.getLayer('convnext_tiny_stem_conv').getWeights()[0].dataSync())).toEqual(Array.from(written.values));
      const gamma = g.weights.find((l) => l.name === 'convnext_tiny_stage_3_block_0_layer_scale')?.weights[0] as H5Weight;
      expect(Array.from(model.getLayer('convnext_tiny_stage_3_block_0_layer_scale').getWeights()[0].dataSync())).toEqual(Array.from(gamma.values));
    });
  });

  it('MobileNetV2 α 0.35 nested as a sub-model (transfer: Input → base(inputs, training=False) → GAP → Dropout → Dense), its weights in one group → stride 32, graded', async () => {
    const { config, weights } = nestedMobileNetV2(64, 0.35, 2, 4);
    const written = weights[0].weights.find((w) => w.name === 'block_16_project/kernel:0') as H5Weight;
    await convertFile('mobilenetv2_nested_k2', config, weights, (c, report) => {
      expect({ window: c.window, stride: c.stride, classes: c.classes }).toEqual({ window: [64, 64], stride: [32, 32], classes: 2 });
      expect(['close', 'approximate', 'not representative']).toContain(report.grade);
    }, (model) => {
      // The nested group's weights went to the sublayers they are named after.
      const base = model.getLayer('mobilenetv2_0.35_64') as tf.LayersModel;
      const kernel = base.getLayer('block_16_project').getWeights()[0];
      expect(kernel.shape).toEqual(written.shape);
      expect(Array.from(kernel.dataSync())).toEqual(Array.from(written.values));
    });
  });
});
