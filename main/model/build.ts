/** Building a stranger's topology in tfjs without paying for the sizes it declares. */
import * as tf from '@tensorflow/tfjs';
import './activations';
import './keras-layers';

const ZEROS = { class_name: 'Zeros', config: {} };

const KERNEL_BIAS = ['kernel_initializer', 'bias_initializer'];

/** Initializers of tfjs's weighted layers, which a topology may leave to their random defaults. */
const INITIALIZERS: Readonly<Record<string, readonly string[]>> = {
  Dense: KERNEL_BIAS, Conv1D: KERNEL_BIAS, Conv2D: KERNEL_BIAS, Conv2DTranspose: KERNEL_BIAS, Conv3D: KERNEL_BIAS,
  DepthwiseConv2D: ['depthwise_initializer', 'bias_initializer'],
  SeparableConv2D: ['depthwise_initializer', 'pointwise_initializer', 'bias_initializer'],
  BatchNormalization: ['gamma_initializer', 'beta_initializer', 'moving_mean_initializer', 'moving_variance_initializer'],
  LayerNormalization: ['gamma_initializer', 'beta_initializer'],
  PReLU: ['alpha_initializer'],
  Embedding: ['embeddings_initializer'],
};

function zeroed(value: unknown, className?: string): unknown {
  if (Array.isArray(value)) return value.map((v) => zeroed(v));
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const inner = typeof obj.class_name === 'string' ? obj.class_name : undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    out[k] = k.endsWith('_initializer') && v !== null ? ZEROS : zeroed(v, k === 'config' ? inner : undefined);
  }
  // Own keys only: a layer named after an Object.prototype key ('constructor') is tfjs's to refuse.
  for (const k of className !== undefined && Object.hasOwn(INITIALIZERS, className) ? INITIALIZERS[className] : []) out[k] = ZEROS;
  return out;
}

/**
 * The topology (Keras JSON: a Model, a Sequential, nested ones) with every layer initialised by
 * zeros. A copy: the input is not changed.
 */
export function withZeroInitializers(topology: unknown): unknown {
  return zeroed(topology);
}

/**
 * Builds a Layers model from a topology that may declare far bigger layers than its weight files
 * hold. tfjs gives every layer its initial weights before the saved ones are compared with them;
 * drawn from Glorot they are real memory (a declared 1.27 GB head took the CLI to 2.6 GB on wasm,
 * 1.4 GB on cpu). So the layers are built with zeros on the cpu backend, where a zero tensor is a
 * fresh typed array whose pages the OS hands out only when written: the declared size costs
 * address space until the weights are checked (and refused, or written into them). (tfjs's own
 * `loadLayersModel` does the same when it is given the weights, so saved FCN folders need nothing.) The caller
 * must then overwrite every weight (the loaders refuse a missing one); its backend is restored,
 * and tfjs moves each weight to it when first used.
 * @throws what tfjs throws for a topology it cannot build
 */
export async function buildUntrusted(topology: unknown): Promise<tf.LayersModel> {
  const previous = tf.getBackend();
  const json = { modelTopology: withZeroInitializers(topology) } as tf.io.ModelJSON;
  if (previous === 'cpu') return tf.models.modelFromJSON(json);
  await tf.setBackend('cpu');
  try {
    return await tf.models.modelFromJSON(json);
  } finally {
    if (previous !== undefined) await tf.setBackend(previous);
  }
}
