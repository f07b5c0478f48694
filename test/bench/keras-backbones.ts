/**
 * Grades of the keras.applications backbones of test/helpers/keras-backbones.ts, as Keras 3 `.keras`
 * and tf.keras 2 `.h5` files (synthetic weights), through what `convmap convert` runs (load, convert,
 * crop check, ONNX export and its self-check): one JSON line per file with the seconds it took.
 *   node bin/run-ts.mjs test/bench/keras-backbones.ts           # the sizes the tests use (about a minute)
 *   node bin/run-ts.mjs test/bench/keras-backbones.ts --full    # published widths, depths and input sizes (minutes, GBs)
 *   ... --only convnext_tiny,xception                           # some of them
 *   ... --deep [--full]      # ResNet101/152 (v1, v2), EfficientNet B1–B7 and V2 B1–B3/S/M/L, ConvNeXt S/B/L
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { equivalenceGrade } from '../../core/model-info';
import { selectBackend } from '../../main/engine/backend';
import { exportConverted } from '../../main/onnx/convert';
import { prepareModel } from '../../main/services/models';
import { writeKerasArchive, writeLegacyH5 } from '../helpers/keras';
import { type BackboneOptions, convNeXt, convNeXtTiny, denseNet121, EFFICIENTNET_V2, efficientNetV2, efficientNetV2B0, inceptionV3, mobileNetV1, mobileNetV3Small, resNet50V2, resNetV2, vgg16, xception } from '../helpers/keras-backbones';
import { efficientNetB0, type Keras2Graph, resnet50 } from '../helpers/keras2-apps';
import { keras3Model } from '../helpers/keras3-form';

type Build = (o: BackboneOptions) => Keras2Graph;

/** name, builder, test-size options, published-size options, whether a Keras 2 form is written too. */
const CASES: [string, Build, Partial<BackboneOptions>, Partial<BackboneOptions>, boolean][] = [
  ['resnet50v2', resNet50V2, { size: 32, width: 0.25, repeats: 2 }, { size: 224 }, true],
  ['densenet121', denseNet121, { size: 32, width: 0.25, repeats: 2 }, { size: 224 }, true],
  ['xception', xception, { size: 71, width: 0.125, repeats: 1 }, { size: 299 }, true],
  ['inception_v3', inceptionV3, { size: 75, width: 0.125, repeats: 1 }, { size: 299 }, true],
  ['mobilenetv3small', mobileNetV3Small, { size: 32 }, { size: 224 }, true],
  ['convnext_tiny', convNeXtTiny, { size: 32, width: 0.125, repeats: 1 }, { size: 224 }, true],
  ['efficientnetv2b0', efficientNetV2B0, { size: 32, width: 0.5, repeats: 1 }, { size: 224 }, true],
  ['vgg16', vgg16, { size: 32, width: 1 / 16 }, { size: 224 }, true],
  ['mobilenet_v1', (o) => mobileNetV1({ ...o, alpha: o.size === 224 ? 1 : 0.25 }), { size: 32 }, { size: 224 }, true],
  // The deeper and wider members of the families above: the same blocks at keras.applications' depths,
  // widths and sizes (--deep; test size: the published depth at a quarter of the width, 64 px).
];

const EFFICIENTNET_V1: [number, number, number, number][] = [[1.0, 1.1, 240, 0.2], [1.1, 1.2, 260, 0.3], [1.2, 1.4, 300, 0.3],
  [1.4, 1.8, 380, 0.4], [1.6, 2.2, 456, 0.4], [1.8, 2.6, 528, 0.5], [2.0, 3.1, 600, 0.5]];
const DEEP: typeof CASES = [
  ...([['resnet101', [3, 4, 23, 3]], ['resnet152', [3, 8, 36, 3]]] as const).map(([name, depths]): (typeof CASES)[number] =>
    [name, (o) => resnet50(o.size, o.classes, o.width ?? 1, o.seed, o.classifierActivation, depths, name), { size: 64, width: 0.25 }, { size: 224 }, false]),
  ...(['resnet101v2', 'resnet152v2'] as const).map((name): (typeof CASES)[number] =>
    [name, (o) => resNetV2(o, name), { size: 64, width: 0.25 }, { size: 224 }, true]),
  ...EFFICIENTNET_V1.map(([w, d, size, drop], i): (typeof CASES)[number] =>
    [`efficientnetb${i + 1}`, (o) => efficientNetB0(o.size, o.classes, w * (o.width ?? 1), o.seed, d, `efficientnetb${i + 1}`, drop, o.classifierActivation), { size: 64, width: 0.25 }, { size }, false]),
  ...(['b1', 'b2', 'b3', 's', 'm', 'l'] as const).map((v): (typeof CASES)[number] =>
    [`efficientnetv2-${v}`, (o) => efficientNetV2(o, v), { size: 64, width: 0.25 }, { size: EFFICIENTNET_V2[v].size }, true]),
  ...(['convnext_small', 'convnext_base', 'convnext_large'] as const).map((name): (typeof CASES)[number] =>
    [name, (o) => convNeXt(o, name), { size: 64, width: 0.25 }, { size: 224 }, true]),
];

/** What `convmap convert FILE` does (load, convert, crop check, ONNX export and its self-check), and what it reports. */
async function grade(file: string): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const prepared = await prepareModel(file, {});
  const onnx = await exportConverted(prepared.artifacts, prepared.info, file);
  const r = prepared.info.equivalence;
  return {
    window: prepared.info.window, stride: prepared.info.stride, grade: r ? equivalenceGrade(r) : null, topClassMismatch: r?.topClassMismatch,
    meanRelDiff: r?.meanRelDiff, cells: r?.cellsChecked, onnxMaxRelDiff: onnx.check.maxRelDiff, seconds: +((performance.now() - t0) / 1000).toFixed(1),
  };
}

async function main(): Promise<void> {
  const full = process.argv.includes('--full');
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1].split(',') : null;
  await selectBackend('auto');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-keras-backbones-'));
  try {
    for (const [name, build, small, published, keras2] of process.argv.includes('--deep') ? DEEP : CASES) {
      if (only && !only.includes(name)) continue;
      const base = { classes: 5, seed: 1, classifierActivation: 'linear', ...(full ? published : small) } as BackboneOptions;
      const forms: [string, () => Promise<string>][] = [['keras3', async () => {
        const file = path.join(dir, `${name}.keras`);
        const { config, vars } = keras3Model(build(base));
        await writeKerasArchive(file, config, vars, 0);
        return file;
      }]];
      if (keras2) {
        forms.push(['keras2', async () => {
          const file = path.join(dir, `${name}.h5`);
          const g = build({ ...base, form: 2 });
          await writeLegacyH5(file, g.config(g.output), g.weights, { kerasVersion: '2.15.0' });
          return file;
        }]);
      }
      for (const [form, write] of forms) {
        let file = '';
        try {
          file = await write();
          console.log(JSON.stringify({ model: name, form, size: full ? 'published' : 'test', ...(await grade(file)) }));
        } catch (e) {
          console.log(JSON.stringify({ model: name, form, size: full ? 'published' : 'test', error: e instanceof Error ? e.message : String(e) }));
        } finally {
          if (file) await fs.rm(file, { force: true });
        }
      }
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

await main();
