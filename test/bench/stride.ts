/**
 * Finer strides (issue 10): the à trous rewrite against the k² shifted passes of the network at its
 * own stride and against the crops both replace, on a VGG16-shaped network at 384×384, on tfjs
 * (the engine's backend) and ONNX Runtime (CPU, one thread like a wasm worker); and the digit
 * demo's detection F1 at the network's stride and finer.
 */
import * as tf from '@tensorflow/tfjs';
import { averageScoreMaps } from '../../core/average';
import { detect, matchDetections } from '../../core/detect';
import { refineStride, shiftedPasses } from '../../main/convert/atrous';
import { convertClassifier } from '../../main/convert/convert';
import { selectBackend } from '../../main/engine/backend';
import { createEngine } from '../../main/engine/engine';
import { makeDigitScene } from '../../main/digits/scene';
import { exportOnnx } from '../../main/onnx/export';
import { createSession, runNhwc } from '../../main/ort/runtime';
import { prepareModel } from '../../main/services/models';
import { median, timeRuns } from './timing';
import { vgg16 } from './vgg';

const N = 384;

async function timed(runs: number, f: () => Promise<void>): Promise<number> {
  return Math.round(median(await timeRuns(runs, f)));
}

/** Bytes of tensors allocated beyond what existed before `f` (weights excluded), at the peak. */
async function peakExtraMB(f: () => Promise<void>): Promise<number> {
  const before = tf.memory().numBytes;
  const info = await tf.profile(f);
  return Math.round((info.peakBytes - before) / 2 ** 20);
}

/**
 * VGG16 (same padding, random weights) at 384×384, cells every `stride` pixels: one pass of the
 * rewritten model, k² passes of the stride-32 model on shifted inputs, and the crops (timed on 12,
 * scaled to the cell count). ONNX Runtime times the same two models.
 */
export async function strideVgg(stride: number, runs: number): Promise<Record<string, unknown>> {
  const backend = await selectBackend('auto');
  const classifier = vgg16();
  const coarse = convertClassifier(classifier, 'vgg16');
  const fine = refineStride(coarse, stride, 'vgg16');
  const k = 32 / stride;
  const cells = Math.floor((N - 224) / stride) + 1;
  const image = tf.randomUniform([1, N, N, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  const small = tf.randomUniform([1, 224 + stride, 224 + stride, 3], 0, 1, 'float32', 8) as tf.Tensor4D;

  const atrous = async (): Promise<void> => {
    const y = fine.fcn.predict(image) as tf.Tensor;
    await y.data();
    y.dispose();
  };
  const shifted = async (): Promise<void> => {
    shiftedPasses(coarse.fcn, image, coarse.window, coarse.stride, stride);
    await Promise.resolve();
  };
  const crops = tf.tidy(() => tf.concat(Array.from({ length: 12 }, (_, i) => image.slice([0, (i % cells) * stride, Math.floor(i / cells) * stride, 0], [1, 224, 224, 3])), 0));
  const cropPass = async (): Promise<void> => {
    const y = classifier.predict(crops, { batchSize: 12 }) as tf.Tensor;
    await y.data();
    y.dispose();
  };
  // Warm-up on a small input: the wasm backend packs each convolution's filter on first use.
  tf.dispose([fine.fcn.predict(small) as tf.Tensor, coarse.fcn.predict(small) as tf.Tensor, classifier.predict(crops.slice(0, 1)) as tf.Tensor]);

  const atrousMs = await timed(runs, atrous);
  const atrousPeakMB = await peakExtraMB(atrous);
  const shiftedMs = await timed(1, shifted);
  const shiftedPeakMB = await peakExtraMB(async () => {
    const [, h, w] = image.shape;
    // One of the k² passes: they run one after another, so this is their peak.
    const y = coarse.fcn.predict(image.slice([0, 0, 0, 0], [1, h, w, 3])) as tf.Tensor;
    await y.data();
    y.dispose();
  });
  const cropMs = await timed(1, cropPass);

  const agreement = tf.tidy(() => {
    const a = (fine.fcn.predict(image) as tf.Tensor).dataSync();
    const b = shiftedPasses(coarse.fcn, image, coarse.window, coarse.stride, stride).scores;
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    return m;
  });

  // ONNX Runtime, one thread, on the same two models.
  const ort: Record<string, number | string> = {};
  try {
    const input = await image.data() as Float32Array;
    const fineSession = await createSession(exportOnnx(fine.fcn, 'vgg16').bytes, { device: 'cpu', threads: 1 });
    await runNhwc(fineSession.session, (await small.data()) as Float32Array, [224 + stride, 224 + stride, 3]);
    ort.atrousMs = await timed(runs, async () => {
      await runNhwc(fineSession.session, input, [N, N, 3]);
    });
    await fineSession.session.release();
    const coarseSession = await createSession(exportOnnx(coarse.fcn, 'vgg16').bytes, { device: 'cpu', threads: 1 });
    await runNhwc(coarseSession.session, (await small.data()) as Float32Array, [224 + stride, 224 + stride, 3]);
    ort.shiftedMs = await timed(1, async () => {
      for (let a = 0; a < k; a++) {
        for (let b = 0; b < k; b++) {
          const h = N - a * stride;
          const w = N - b * stride;
          const part = tf.tidy(() => image.slice([0, a * stride, b * stride, 0], [1, h, w, 3]).dataSync() as Float32Array);
          await runNhwc(coarseSession.session, part, [h, w, 3]);
        }
      }
    });
    await coarseSession.session.release();
  } catch (e) {
    ort.error = (e as Error).message.split('\n')[0];
  }

  tf.dispose([image, small, crops]);
  fine.fcn.dispose();
  coarse.fcn.dispose();
  classifier.dispose();
  const cropsMs = Math.round((cropMs / 12) * cells * cells);
  return {
    case: `stride-vgg16-384-s${stride}`, backend, input: [N, N], networkStride: 32, stride, k, cells: [cells, cells], runs,
    atrousMs, shiftedPassesMs: shiftedMs, cropsMs, cropsNote: `12 crops timed (${cropMs} ms), scaled to ${cells * cells}`,
    shiftedOverAtrous: +(shiftedMs / atrousMs).toFixed(2), cropsOverAtrous: +(cropsMs / atrousMs).toFixed(1),
    atrousPeakTensorMB: atrousPeakMB, shiftedPassPeakTensorMB: shiftedPeakMB, maxAbsDiffAtrousVsShifted: agreement,
    onnxRuntime1Thread: ort,
  };
}

/** The digit demo's scenes (5 × 640×480, scales 1, ⅔, ½): detection F1 at IoU 0.5 at cells `stride` apart. */
export async function strideDigits(stride: number | undefined, runs: number): Promise<Record<string, unknown>> {
  const backend = await selectBackend('auto');
  const prepared = await prepareModel(undefined, { stride });
  const engine = await createEngine({ backend: 'auto' });
  const scales = [1, 2 / 3, 1 / 2];
  try {
    const handle = await engine.loadModel(prepared.artifacts, prepared.info);
    let tp = 0;
    let fp = 0;
    let fn = 0;
    let ms = 0;
    for (let s = 0; s < 5; s++) {
      const scene = makeDigitScene({ width: 640, height: 480, count: 14, sizes: [28, 42, 56], seed: 1000 + s });
      const image = { data: scene.rgb, width: scene.width, height: scene.height, channels: 3 as const };
      let maps = await engine.scoreMaps(handle, image, scales, prepared.info.preprocess);
      ms += await timed(runs, async () => {
        maps = await engine.scoreMaps(handle, image, scales, prepared.info.preprocess);
      });
      averageScoreMaps(maps);
      const m = matchDetections(detect(maps, { threshold: 0.5, labels: prepared.info.labels }), scene.truth, 0.5);
      tp += m.tp;
      fp += m.fp;
      fn += m.fn;
    }
    const precision = tp / Math.max(1, tp + fp);
    const recall = tp / Math.max(1, tp + fn);
    return {
      case: `stride-digits-s${prepared.info.stride[0]}`, backend, workers: engine.workers, stride: prepared.info.stride[0],
      networkStride: (prepared.info.networkStride ?? prepared.info.stride)[0], scenes: 5, scales, runs,
      msPerMegapixel: Math.round(ms / (5 * 640 * 480 / 1e6)),
      precision: +precision.toFixed(3), recall: +recall.toFixed(3), f1: +((2 * precision * recall) / Math.max(1e-9, precision + recall)).toFixed(3), iou: 0.5,
    };
  } finally {
    await engine.close();
  }
}
