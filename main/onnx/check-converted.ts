/**
 * The conversion's checks with the converted model in ONNX Runtime, on the ONNX file the user runs:
 * its cells against the classifier's crops (checkEquivalence), and its one cell at the window against
 * the classifier in tfjs (the ONNX check). tfjs never runs the converted model's head: on its
 * WebAssembly backend a run keeps XNNPACK's packed copy of every kernel it ran while the kernel
 * lives, and the heap never shrinks (VGG19's 7×7×512×4096 head: 0.82 GB more at the peak).
 */
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import type { EquivalenceReport, PreprocessMode } from '../../core/model-info';
import type { Conversion } from '../convert/convert';
import { boundedOutput, checkEquivalence, smoothRandomImage, tfjsCrops } from '../convert/equivalence';
import { collectGarbage } from '../io/collect-garbage';
import { ModelError } from '../model/errors';
import { originalCropRunner, scoreDifference, type CropRunner, type OriginalOnnx } from '../model/onnx/original';
import { onnxCropRunner, probeAgrees, uncheckedCropRunner, type UncheckedCropRunner } from './crops';
import { openTensorSession, PROCESS_ENDED, type OwnProcess, type TensorSession } from './tensor-session';
import { checkOnnx, ONNX_TOLERANCE, type OnnxCheck } from './verify';

/** What {@link checkConverted} checks. */
export interface ConvertedCheckInput {
  /** The classifier in tfjs (for an ONNX import, its rebuild), input [batch, wy, wx(, c)]. */
  classifier: tf.LayersModel;
  conv: Conversion;
  /** Named in messages. */
  file: string;
  /** The converted model's ONNX file (exportFcnFile), input NHWC [batch, h, w, c]. */
  onnxFile: string;
  preprocess: PreprocessMode;
  /** The model reads whole pixel values: the check image is rounded (checkEquivalence). */
  integerInput?: boolean;
  /** For an ONNX import: the original file, whose crops are the oracle (no tfjs stands for it). */
  original?: OriginalOnnx;
  /**
   * Where given, the ONNX Runtime sessions of a big converted model and of its exported classifier run
   * in processes of their own (see openTensorSession); else in this process.
   */
  ownProcess?: OwnProcess;
}

/** The check's probe: a window-sized smooth image in the model's input range, [1, wy, wx, c]. */
function makeProbe(conv: Conversion, preprocess: PreprocessMode): tf.Tensor4D {
  return smoothRandomImage(conv.window[0], conv.window[1], conv.channels, 7, preprocess);
}

/**
 * The classifier's tfjs scores of the check's probe, [classes], as {@link checkConverted} makes them
 * (see classifierScores).
 */
export async function probeScores(classifier: tf.LayersModel, conv: Conversion, preprocess: PreprocessMode): Promise<Float32Array> {
  const probe = makeProbe(conv, preprocess);
  try {
    return await values(classifierScores(classifier, conv.outputIndex, probe));
  } finally {
    probe.dispose();
  }
}

async function runNhwc(session: TensorSession, x: tf.Tensor4D): Promise<tf.Tensor4D> {
  const y = await session.run((await x.data()) as Float32Array, x.shape);
  return tf.tensor4d(y.output, y.dims as [number, number, number, number]);
}

async function values(t: tf.Tensor): Promise<Float32Array> {
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

/**
 * Checks a conversion on its ONNX file, one ONNX Runtime session open at a time (for a big model each
 * in a process of its own, which ends when the session is released: see ./tensor-session):
 * 1. the converted model's session scores the probe (a window-sized smooth image) and the crop
 *    check's whole image, and is released;
 * 2. the crops run through the classifier exported to ONNX (or the original ONNX file), released;
 * 3. tfjs scores the probe with the classifier: where the exported classifier disagrees with it, the
 *    crop check is run again with the crops in tfjs; the converted model's cell at the window must
 *    match it within {@link ONNX_TOLERANCE} (or, for a conversion whose cell at the window is not the
 *    crop — a Squeeze-and-Excitation pool over the window around each location — match the
 *    converted model in tfjs).
 * @returns the crop check's report, and the ONNX check (on a window-sized input) or, where the ONNX
 *   file does not compute the converted model, the refusal naming the file and the first differing
 *   layer: `convert` refuses the model, a heatmap run goes on with the model in tfjs, as without a check
 */
export async function checkConverted(input: ConvertedCheckInput): Promise<{ equivalence: EquivalenceReport; onnx: OnnxCheck | ModelError }> {
  const { classifier, conv, file, onnxFile, preprocess, integerInput, original, ownProcess } = input;
  const probe = makeProbe(conv, preprocess);
  let fcn: TensorSession | undefined;
  let crops: CropRunner | UncheckedCropRunner | undefined;
  const wholeInOrt = async (image: tf.Tensor4D): Promise<tf.Tensor> => {
    fcn ??= await openTensorSession(onnxFile, ownProcess);
    try {
      return await runNhwc(fcn, image);
    } finally {
      // Released before the crops' session opens: two VGG-sized sessions at once would double the peak.
      await fcn.release();
      fcn = undefined;
    }
  };
  try {
    // The classifier's joined weight buffer (read, then copied into tfjs) and the export's buffers are
    // garbage by now; ONNX Runtime's allocations are native, which V8 does not count, so it might not
    // collect them before the sessions' weights sit beside them.
    collectGarbage();
    fcn = await openTensorSession(onnxFile, ownProcess);
    const onnxProbe = await values(await runNhwc(fcn, probe));
    let cropsOpened = false;
    const predictCrops = async (batch: tf.Tensor4D): Promise<tf.Tensor> => {
      if (!cropsOpened) {
        cropsOpened = true;
        crops = original ? await originalCropRunner(original) : await uncheckedCropRunner(classifier, file, probe, ownProcess);
      }
      return crops ? crops.predict(batch) : tfjsCrops(classifier, conv.outputIndex, batch);
    };
    let equivalence = await checkEquivalence(classifier, conv, file, { preprocess, integerInput, predictWhole: wholeInOrt, predictCrops });
    const cropProbe = crops && 'probeScores' in crops ? crops.probeScores : undefined;
    await crops?.release();
    crops = undefined;

    // tfjs runs the classifier once, on the probe, after every session is released: the pass's packed
    // convolution kernels and activations stay in tfjs's heap, which never shrinks.
    const tfjsProbe = await values(classifierScores(classifier, conv.outputIndex, probe));
    if (cropProbe && !probeAgrees(cropProbe, tfjsProbe)) {
      // ONNX Runtime does not reproduce the classifier: its crops come from tfjs.
      equivalence = await checkEquivalence(classifier, conv, file, { preprocess, integerInput, predictWhole: wholeInOrt });
    }
    const onnx = await onnxCheck(conv, file, onnxFile, probe, onnxProbe, tfjsProbe).catch((e: unknown) => {
      if (e instanceof ModelError) return e;
      throw e;
    });
    return { equivalence, onnx };
  } catch (e) {
    // The sessions' process ended (a big model's: the system out of memory, most often): say which model's check.
    if (e instanceof Error && e.name === PROCESS_ENDED) throw new ModelError(file, `its check could not finish: ${e.message}`);
    throw e;
  } finally {
    probe.dispose();
    await fcn?.release();
    await crops?.release();
  }
}

/** Every Dense layer of a model, nested models' included. */
function denseLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.flatMap((l) => (l instanceof tf.LayersModel ? denseLayers(l) : l.getClassName() === 'Dense' ? [l] : []));
}

/**
 * The classifier's scores of `probe` in tfjs ({@link tfjsCrops}). On tfjs's WebAssembly backend its
 * Dense layers compute Keras's formula, activation(x · kernel + bias), with tfjs's matMul of xᵀ
 * transposed back: XNNPACK keeps a packed copy of every kernel it has multiplied by as long as the
 * kernel lives, in a heap that never shrinks (VGG's 25088×4096 kernel: 411 MB at the conversion's
 * peak), and the WebAssembly matMul of a transposed operand takes its plain loop, which packs nothing.
 */
function classifierScores(classifier: tf.LayersModel, outputIndex: number, probe: tf.Tensor4D): tf.Tensor {
  const dense = denseLayers(classifier);
  if (tf.getBackend() !== 'wasm' || dense.length === 0) return tfjsCrops(classifier, outputIndex, probe);
  const calls = dense.map((layer) => layer.call);
  dense.forEach((layer) => {
    const { activation } = layer as unknown as { activation: { apply(t: tf.Tensor): tf.Tensor } };
    layer.call = (inputs) => tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const [kernel, bias] = layer.getWeights(false);
      const rows = x.reshape([-1, x.shape[x.rank - 1]]);
      let y = tf.matMul(rows.transpose(), kernel, true, false);
      if (bias) y = y.add(bias);
      return activation.apply(y.reshape([...x.shape.slice(0, -1), kernel.shape[1]] as number[]));
    });
  });
  try {
    return tfjsCrops(classifier, outputIndex, probe);
  } finally {
    dense.forEach((layer, i) => {
      layer.call = calls[i];
    });
  }
}

/**
 * The crop check of a conversion that has no ONNX file (a layer without an ONNX mapping): the
 * converted model runs in tfjs; the crops in ONNX Runtime where the classifier exports and agrees
 * with tfjs on a probe crop (the original file for an ONNX import), else in tfjs.
 */
export async function checkWithoutOnnx(input: Omit<ConvertedCheckInput, 'onnxFile'>): Promise<EquivalenceReport> {
  const { classifier, conv, file, preprocess, integerInput, original } = input;
  let runner: CropRunner | undefined;
  if (original) {
    runner = await originalCropRunner(original);
  } else {
    const probe = smoothRandomImage(conv.window[0], conv.window[1], conv.channels, 7, preprocess);
    runner = await onnxCropRunner(classifier, file, probe).finally(() => probe.dispose());
  }
  try {
    return await checkEquivalence(classifier, conv, file, { preprocess, integerInput, ...(runner ? { predictCrops: runner.predict } : {}) });
  } finally {
    await runner?.release();
  }
}

/**
 * The converted model's ONNX scores of the probe against tfjs's: the classifier's (the same function
 * at the window), else the converted model's in tfjs (only for a conversion whose cell at the window
 * is not the crop; its head is then a pooled one).
 */
async function onnxCheck(conv: Conversion, file: string, onnxFile: string, probe: tf.Tensor4D, onnxProbe: Float32Array, tfjsProbe: Float32Array): Promise<OnnxCheck> {
  const bounded = boundedOutput(conv.fcn);
  const inputSize: [number, number] = [conv.window[0], conv.window[1]];
  let diff = onnxProbe.length === tfjsProbe.length ? scoreDifference(onnxProbe, tfjsProbe, bounded) : { maxAbs: Infinity, maxRel: Infinity };
  if (!(diff.maxRel <= ONNX_TOLERANCE)) {
    const fcnProbe = await values(tf.tidy(() => conv.fcn.predict(probe) as tf.Tensor));
    if (fcnProbe.length === onnxProbe.length) diff = scoreDifference(onnxProbe, fcnProbe, bounded);
  }
  if (diff.maxRel <= ONNX_TOLERANCE) return { maxAbsDiff: diff.maxAbs, maxRelDiff: diff.maxRel, inputSize };
  // Names the first layer whose outputs differ (the whole file is read: a refusal, not the common path).
  await checkOnnx(conv.fcn, new Uint8Array(await readFile(onnxFile)), file, inputSize);
  throw new ModelError(file, `the ONNX model differs from the tfjs model by ${diff.maxRel.toExponential(2)} of the output's scale (> ${ONNX_TOLERANCE}) on a ${inputSize[0]}×${inputSize[1]} image`);
}
