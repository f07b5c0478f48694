import { KERAS3_HARD_SIGMOID } from './activations';
import { ModelError } from './errors';

/**
 * Layers that are no-ops at inference time in Keras (augmentation and regularisation noise).
 * tfjs has no classes for most of them, so they are rewritten as an identity Rescaling.
 */
export const INFERENCE_NOOP_LAYERS = new Set([
  'RandomFlip', 'RandomRotation', 'RandomZoom', 'RandomTranslation', 'RandomContrast', 'RandomBrightness',
  'RandomCrop', 'RandomHeight', 'RandomWidth', 'RandomGrayscale', 'RandomHue', 'RandomSaturation',
  'RandomColorJitter', 'RandomShear', 'RandomPerspective', 'RandomErasing', 'RandomGaussianBlur',
  'RandomSharpness', 'RandomPosterization', 'RandomInvert', 'RandomElasticTransform', 'RandomApply', 'RandomChoice',
  'MixUp', 'CutMix', 'RandAugment', 'AugMix',
  'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'SpatialDropout1D', 'SpatialDropout2D', 'SpatialDropout3D', 'ActivityRegularization',
]);

/** Config keys of regularizers, constraints and initializers, snake_case as Keras and tfjs write them. */
const TRAINING_ONLY_KEY = /(^|_)(regularizer|constraint|initializer)$/;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Keras 3 writes dtypes as DTypePolicy objects (Keras 2: Policy), tfjs wants a plain dtype name, and
 * computes in float32 only: mixed-precision policies and float16/bfloat16/float64 layers run in
 * float32 (their weights are read as float32 whatever the file stores).
 */
function dtypeName(d: Json): Json {
  const name = isObject(d) && isObject(d.config) && typeof d.config.name === 'string' ? d.config.name : d;
  if (typeof name !== 'string') return d;
  return /^(mixed_)?b?float(16|64)$/.test(name) ? 'float32' : name;
}

/**
 * Keras 3 layer options tfjs spells differently or lacks: LeakyReLU's `negative_slope` is tfjs's
 * `alpha`; a ReLU with a negative slope (and no cap or threshold) is a LeakyReLU; Keras 3's
 * `hard_sigmoid` is relu6(x + 3) / 6, not Keras 2's (and tfjs's) clip(0.2·x + 0.5).
 */
function keras3Options(out: JsonObject, config: JsonObject, keras3: boolean, file: string): void {
  if (out.class_name === 'LeakyReLU' && 'negative_slope' in config) {
    config.alpha = config.negative_slope;
    delete config.negative_slope;
  }
  if (out.class_name === 'ReLU') {
    const slope = Number(config.negative_slope ?? 0);
    const threshold = Number(config.threshold ?? 0);
    if (threshold === 0 && slope !== 0 && (config.max_value === null || config.max_value === undefined)) {
      out.class_name = 'LeakyReLU';
      config.alpha = slope;
    }
    // Anything else tfjs's ReLU cannot compute is refused rather than ignored.
    if (threshold !== 0 || (slope !== 0 && out.class_name === 'ReLU')) {
      throw new ModelError(file, `ReLU with threshold ${threshold} and negative_slope ${slope} together with max_value is not supported (tfjs's ReLU has only max_value)`, {
        name: String(config.name), className: 'ReLU',
      });
    }
    delete config.negative_slope;
    delete config.threshold;
  }
  // A built-in activation written as a serialised function object: its name.
  const a = config.activation;
  if (isObject(a) && a.class_name === 'function' && typeof a.config === 'string') config.activation = a.config;
  if (keras3 && config.activation === 'hard_sigmoid') config.activation = KERAS3_HARD_SIGMOID;
}

/** Keras 3 inbound node `{args: [keras_tensor...], kwargs}` → Keras 2 `[[layer, node, tensor, kwargs], ...]`. */
function inboundNode(node: Json): Json {
  if (!isObject(node) || !('args' in node)) return node;
  const out: Json[] = [];
  const visit = (a: Json): void => {
    if (Array.isArray(a)) a.forEach(visit);
    else if (isObject(a) && a.class_name === '__keras_tensor__' && isObject(a.config)) {
      const h = a.config.keras_history as Json[];
      out.push([h[0], h[1], h[2], {}]);
    }
  };
  visit(node.args as Json);
  return out;
}

/** Keras 3 writes `input_layers: ["in", 0, 0]` for a single input; tfjs wants a list of triples. */
function tripleList(x: Json): Json {
  if (Array.isArray(x) && x.length === 3 && typeof x[0] === 'string') return [x];
  return x;
}

/** TensorFlow functions Keras 2's functional API records as TFOpLambda that are one activation of their input. */
const TF_UNARY: Readonly<Record<string, string>> = {
  'nn.relu': 'relu', 'nn.relu6': 'relu6', 'math.sigmoid': 'sigmoid', 'nn.sigmoid': 'sigmoid', 'math.tanh': 'tanh', 'nn.tanh': 'tanh',
  'nn.silu': 'silu', 'nn.swish': 'silu', 'nn.gelu': 'gelu', 'nn.elu': 'elu', 'nn.selu': 'selu', 'math.softplus': 'softplus', 'nn.softplus': 'softplus',
};

/**
 * A Keras 2 TFOpLambda (`x + 3.0`, `x * (1 / 6)` in keras.applications' MobileNetV3, `tf.nn.relu6(x)`)
 * as the built-in layer that computes the same: arithmetic with a number → Rescaling, a unary
 * activation → Activation. Null for anything else (refused by name, see unsupported.ts).
 */
function tfOpLayer(config: JsonObject, inbound: Json | undefined): { className: string; config: JsonObject } | null {
  const fn = typeof config.function === 'string' ? config.function : '';
  if (fn in TF_UNARY) return { className: 'Activation', config: { activation: TF_UNARY[fn] } };
  // One call on one tensor, the other operand a number in the call's kwargs: [[["layer", 0, 0, {"y": 3.0, "name": null}]]].
  if (!Array.isArray(inbound) || inbound.length !== 1 || !Array.isArray(inbound[0]) || inbound[0].length !== 1) return null;
  const ref = inbound[0][0];
  const kwargs = Array.isArray(ref) && isObject(ref[3]) ? ref[3] : null;
  const y = kwargs?.y;
  if (typeof y !== 'number' || !Number.isFinite(y)) return null;
  switch (fn) {
    case '__operators__.add': case 'math.add': return { className: 'Rescaling', config: { scale: 1, offset: y } };
    case 'math.subtract': case '__operators__.sub': return { className: 'Rescaling', config: { scale: 1, offset: -y } };
    case 'math.multiply': case '__operators__.mul': return { className: 'Rescaling', config: { scale: y, offset: 0 } };
    case 'math.truediv': case 'math.divide': case '__operators__.truediv': return y === 0 ? null : { className: 'Rescaling', config: { scale: 1 / y, offset: 0 } };
    default: return null;
  }
}

/** An inbound node entry `[layer, node, tensor, kwargs]` with its call kwargs emptied. */
function withoutCallArguments(node: Json): Json {
  if (!Array.isArray(node)) return node;
  return node.map((ref) => (Array.isArray(ref) && ref.length === 4 ? [ref[0], ref[1], ref[2], {}] : ref));
}

function normalizeLayer(layer: JsonObject, file: string, keras3: boolean): JsonObject {
  const className = layer.class_name as string;
  const config = isObject(layer.config) ? { ...layer.config } : layer.config;
  const out: JsonObject = { ...layer, config };
  delete out.module;
  delete out.registered_name;
  delete out.build_config;
  delete out.compile_config;
  if (Array.isArray(layer.inbound_nodes)) out.inbound_nodes = layer.inbound_nodes.map(inboundNode);
  if (className === 'TFOpLambda' && isObject(config)) {
    const op = tfOpLayer(config, out.inbound_nodes);
    if (op !== null) {
      const keep: JsonObject = { name: config.name, ...op.config };
      for (const k of ['dtype', 'trainable']) if (k in config) keep[k] = config[k];
      out.class_name = op.className;
      out.config = normalizeConfig(keep, file, keras3);
      // The constant operand was a call argument; the layer now holds it.
      if (Array.isArray(out.inbound_nodes)) out.inbound_nodes = out.inbound_nodes.map(withoutCallArguments);
      return out;
    }
  }
  if (INFERENCE_NOOP_LAYERS.has(className) && isObject(config)) {
    const keep: JsonObject = { name: config.name, scale: 1, offset: 0 };
    for (const k of ['batch_input_shape', 'batch_shape', 'dtype', 'trainable']) if (k in config) keep[k] = config[k];
    out.class_name = 'Rescaling';
    out.config = normalizeConfig(keep, file, keras3);
    return out;
  }
  if (isObject(config)) {
    const c = normalizeConfig(config, file, keras3);
    out.config = c;
    keras3Options(out, c, keras3, file);
  } else if (Array.isArray(config)) out.config = config.map((l) => (isObject(l) ? normalizeLayer(l, file, keras3) : l));
  return out;
}

function normalizeConfig(config: JsonObject, file: string, keras3: boolean): JsonObject {
  const c: JsonObject = { ...config };
  if ('batch_shape' in c && !('batch_input_shape' in c)) c.batch_input_shape = c.batch_shape;
  delete c.batch_shape;
  if ('dtype' in c) c.dtype = dtypeName(c.dtype);
  if (Array.isArray(c.layers)) c.layers = c.layers.map((l) => (isObject(l) ? normalizeLayer(l, file, keras3) : l));
  if ('input_layers' in c) c.input_layers = tripleList(c.input_layers);
  if ('output_layers' in c) c.output_layers = tripleList(c.output_layers);
  for (const [k, v] of Object.entries(c)) {
    // Only training reads these, and Keras 3 writes kinds tfjs lacks ("Unknown regularizer: L2"):
    // every weight is overwritten from the file and checked to be there, so defaults are harmless.
    if (TRAINING_ONLY_KEY.test(k)) {
      delete c[k];
      continue;
    }
    // Other Keras 3 serialised objects carry module/registered_name; tfjs reads class_name + config.
    if (isObject(v) && 'class_name' in v && 'module' in v && k !== 'layers') {
      const { module: _m, registered_name: _r, ...rest } = v;
      c[k] = rest;
    }
  }
  return c;
}

/**
 * Rewrites a Keras/tfjs model topology so that tfjs 4 can build it:
 * Keras 3's `batch_shape` and DTypePolicy objects, its inbound-node format, regularizers, constraints
 * and initializers dropped (inference never uses them), pre-1.0 tfjs files whose
 * Sequential config is a plain list, and inference-time no-op layers (RandomFlip…) as identities.
 * @param topology the `modelTopology` object of a model.json (with or without `model_config`).
 * @param kerasVersion the Keras version that wrote it (default: the topology's `keras_version`);
 *   Keras 3 changed what some names compute.
 */
export function normalizeTopology(topology: unknown, file: string, kerasVersion?: string | null): JsonObject {
  if (!isObject(topology)) throw new ModelError(file, 'modelTopology is not an object');
  const root = isObject(topology.model_config) ? topology.model_config : topology;
  if (typeof root.class_name !== 'string') throw new ModelError(file, 'modelTopology has no class_name: not a Keras/tfjs Layers model');
  const version = kerasVersion ?? (typeof topology.keras_version === 'string' ? topology.keras_version : '');
  const normalized = normalizeLayer(root, file, /^3\./.test(version));
  if (isObject(topology.model_config)) return { ...topology, model_config: normalized };
  return normalized;
}
