/**
 * The crop check's classifier in ONNX Runtime: the crops of checkEquivalence are most of a
 * conversion's time, and tfjs in Node runs them on one thread (WebAssembly): a Teachable Machine
 * model's 36 crops took 6.5× longer there than in ONNX Runtime, to within 4e-7 of each other.
 */
import * as tf from '@tensorflow/tfjs';
import { collectGarbage } from '../io/collect-garbage';
import { exportOnnxFile } from './export';
import { inTempOnnx } from './one-off-session';
import { openTensorSession, type OwnProcess, type TensorSession } from './tensor-session';
import type { CropRunner } from '../model/onnx/original';

export type { CropRunner };

/** Largest |ONNX Runtime − tfjs| over the largest |tfjs| on the probe crop for ONNX Runtime to run the check. */
export const CROP_RUNNER_TOLERANCE = 1e-4;


/**
 * Scores of a batch of crops [n, h, w, c], [n, classes], one crop per run: ONNX Runtime's activations
 * are then a crop's, not a row's (VGG at 224²: tens of MB a crop, at the check's peak beside the
 * session's weights), at the same CPU time.
 */
async function run(session: TensorSession, batch: tf.Tensor4D): Promise<tf.Tensor2D> {
  const [n, h, w, c] = batch.shape;
  const pixels = (await batch.data()) as Float32Array;
  const per = h * w * c;
  const scores: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    scores.push((await session.run(pixels.subarray(i * per, (i + 1) * per), [1, h, w, c])).output);
  }
  const classes = scores[0]?.length ?? 0;
  const out = new Float32Array(n * classes);
  scores.forEach((s, i) => out.set(s, i * classes));
  return tf.tensor2d(out, [n, classes]);
}

/** The classifier in ONNX Runtime, not yet checked against tfjs: crops' scores, and its scores of the probe. */
export interface UncheckedCropRunner extends CropRunner {
  /** ONNX Runtime's scores of the probe crop, [classes]. */
  probeScores: Float32Array;
}

/**
 * True when ONNX Runtime's probe scores `a` agree with tfjs's `b` within {@link CROP_RUNNER_TOLERANCE}
 * of the largest |b| (NaN never agrees).
 */
export function probeAgrees(a: Float32Array, b: Float32Array): boolean {
  let maxAbs = a.length === b.length ? 0 : Infinity;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return maxAbs <= CROP_RUNNER_TOLERANCE * Math.max(scale, 1e-6);
}

/**
 * The classifier exported to ONNX (its one output, [batch, classes], reshaped to the exporter's
 * [batch, 1, 1, classes]), written to a temporary file as it is encoded and opened in ONNX Runtime
 * on the CPU, with its scores of `probe` (one crop, [1, height, width, channels]). Whether ONNX
 * Runtime may stand for tfjs is the caller's to decide ({@link probeAgrees}): a caller that holds
 * big tfjs weights scores the probe in tfjs once the session is released.
 * @param ownProcess where given, a big exported file's session runs in a process of its own (see
 *   openTensorSession)
 * @returns undefined where the classifier does not export or does not run
 */
export async function uncheckedCropRunner(
  classifier: tf.LayersModel, file: string, probe: tf.Tensor4D, ownProcess?: OwnProcess,
): Promise<UncheckedCropRunner | undefined> {
  const input = classifier.inputs[0]?.shape;
  const output = classifier.outputs[0]?.shape;
  if (classifier.inputs.length !== 1 || classifier.outputs.length !== 1 || input?.length !== 4 || output?.length !== 2 || typeof output[1] !== 'number') return undefined;
  let session: TensorSession | undefined;
  try {
    const head = tf.layers.reshape({ targetShape: [1, 1, output[1]] }).apply(classifier.outputs[0]) as tf.SymbolicTensor;
    const wrapped = tf.model({ inputs: classifier.inputs, outputs: head });
    // Its threads sleep between crop batches: spinning, they took the CPU the tfjs side of the check needs.
    session = await inTempOnnx(async (f) => {
      await exportOnnxFile(wrapped, file, f);
      // The export's buffers are garbage now; V8 does not count the session's native memory, and might
      // otherwise keep them (a big model's kernels: a hundred megabytes) beside it.
      collectGarbage();
    }, (f) => openTensorSession(f, ownProcess));
    const got = await run(session, probe);
    const probeScores = (await got.data()) as Float32Array;
    got.dispose();
    const ready = session;
    return { predict: (batch) => run(ready, batch), release: () => ready.release(), probeScores };
  } catch {
    await session?.release().catch(() => undefined);
    return undefined;
  }
}

/**
 * {@link uncheckedCropRunner} when it agrees with tfjs on `probe` ({@link probeAgrees}).
 * @param reference the tfjs scores of `probe` ([1, classes]); default: the classifier's
 * @returns undefined where it does not: the check then runs in tfjs, as the classifier is
 */
export async function onnxCropRunner(
  classifier: tf.LayersModel, file: string, probe: tf.Tensor4D, reference?: (probe: tf.Tensor4D) => tf.Tensor,
): Promise<CropRunner | undefined> {
  const runner = await uncheckedCropRunner(classifier, file, probe);
  if (!runner) return undefined;
  try {
    const want = reference ? reference(probe) : (classifier.predict(probe) as tf.Tensor);
    const b = (await want.data()) as Float32Array;
    want.dispose();
    if (probeAgrees(runner.probeScores, b)) return { predict: runner.predict, release: runner.release };
  } catch {
    /* tfjs could not score the probe: the check runs in tfjs, which says why */
  }
  await runner.release().catch(() => undefined);
  return undefined;
}
