import { KERAS3_HARD_SIGMOID } from './activations';
import { ModelError } from './errors';

/**
 * Layers that are no-ops at inference time in Keras (augmentation and regularisation noise, and
 * Keras 3's `Identity`). tfjs has no classes for most of them, so they are rewritten as an identity Rescaling.
 */
export const INFERENCE_NOOP_LAYERS = new Set([
  'Identity',
  'RandomFlip', 'RandomRotation', 'RandomZoom', 'RandomTranslation', 'RandomContrast', 'RandomBrightness',
  'RandomCrop', 'RandomHeight', 'RandomWidth', 'RandomGrayscale', 'RandomHue', 'RandomSaturation',
  'RandomColorJitter', 'RandomShear', 'RandomPerspective', 'RandomErasing', 'RandomGaussianBlur',
  'RandomSharpness', 'RandomPosterization', 'RandomInvert', 'RandomElasticTransform', 'RandomColorDegeneration', 'RandomApply', 'RandomChoice',
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

/** keras.applications modules by their `preprocess_input`'s mode (imagenet_utils): 'tf', 'torch', 'caffe', or none (the model holds its own). */
const APPLICATION_MODES: Readonly<Record<string, 'tf' | 'torch' | 'caffe' | 'none'>> = {
  mobilenet: 'tf', mobilenet_v2: 'tf', inception_v3: 'tf', inception_resnet_v2: 'tf', xception: 'tf', nasnet: 'tf', resnet_v2: 'tf',
  densenet: 'torch',
  resnet: 'caffe', resnet50: 'caffe', vgg16: 'caffe', vgg19: 'caffe',
  mobilenet_v3: 'none', efficientnet: 'none', efficientnet_v2: 'none', convnext: 'none', regnet: 'none', resnet_rs: 'none',
};

/**
 * A Lambda wrapping a keras.applications `preprocess_input` (`Lambda(preprocess_input)` before a trunk, as
 * transfer models were built before Keras could call it on a tensor), as the layer that computes the same:
 * 'tf' mode x / 127.5 − 1 a Rescaling, 'torch' mode a Normalization with ImageNet's statistics of 0–255
 * pixels, none the identity. Keras 2 records the function as its module and marshalled code (which names
 * it), Keras 3 as its module and name. Null for any other Lambda (refused, see unsupported.ts).
 * @throws ModelError for 'caffe' mode (BGR, mean subtracted), which no one layer computes here.
 */
function applicationsPreprocess(config: JsonObject, file: string): { className: string; config: JsonObject } | null {
  const fn = config.function;
  let module: string | undefined;
  let named = false;
  if (isObject(fn) && typeof fn.module === 'string') {
    module = fn.module;
    named = fn.config === 'preprocess_input';
  } else if (Array.isArray(fn) && typeof fn[0] === 'string' && typeof config.module === 'string') {
    module = config.module;
    // The marshalled code object holds its own name as a string.
    named = Buffer.from(fn[0], 'base64').includes('preprocess_input');
  }
  const app = module === undefined ? undefined : /(?:^|\.)applications\.([a-z0-9_]+)$/.exec(module)?.[1];
  if (!named || app === undefined) return null;
  const args = isObject(config.arguments) ? config.arguments : {};
  const mode = app === 'imagenet_utils' ? (typeof args.mode === 'string' ? args.mode : 'caffe') : APPLICATION_MODES[app];
  switch (mode) {
    case 'tf': return { className: 'Rescaling', config: { scale: 1 / 127.5, offset: -1 } };
    case 'none': return { className: 'Rescaling', config: { scale: 1, offset: 0 } };
    case 'torch': {
      const [mean, std] = [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]];
      return { className: 'Normalization', config: { axis: -1, mean: mean.map((m) => m * 255), variance: std.map((d) => (d * 255) ** 2), invert: false } };
    }
    case 'caffe':
      throw new ModelError(file, `a Lambda of keras.applications.${app}'s preprocess_input (Caffe's BGR with the ImageNet mean subtracted), which Convmap does not rebuild: export the model without the Lambda and open it with --preprocess caffe`, { name: String(config.name), className: 'Lambda' });
    default: return null;
  }
}

/** Keras 3 operations on tensors (keras.src.ops.numpy: `x + 3.0`, `inputs + x`) and the merge layer of the same meaning. */
const KERAS3_OPS: Readonly<Record<string, string>> = { Add: 'Add', Subtract: 'Subtract', Multiply: 'Multiply', TrueDivide: '', Divide: '' };

/**
 * A Keras 3 operation recorded in a Functional config (`x + 3.0` in keras.applications' MobileNetV3,
 * `inputs + x` in ConvNeXt: `{module: "keras.src.ops.numpy", class_name: "Add", inbound_nodes:
 * [{args: [tensor, 3.0]}]}`) as the layer that computes the same: tensor with a number → Rescaling,
 * tensors only → the merge layer (Add, Subtract, Multiply). Null when it is no such operation;
 * an operation of another kind is refused naming it.
 */
function keras3Op(layer: JsonObject, file: string): { className: string; config: JsonObject } | null {
  if (typeof layer.module !== 'string' || !layer.module.startsWith('keras.src.ops.')) return null;
  const op = String(layer.class_name);
  const name = isObject(layer.config) ? layer.config.name : layer.name;
  const nodes = Array.isArray(layer.inbound_nodes) ? layer.inbound_nodes : [];
  const args = nodes.length === 1 && isObject(nodes[0]) && Array.isArray(nodes[0].args) ? nodes[0].args : null;
  const refuse = (why: string): never => {
    throw new ModelError(file, `the Keras operation ${layer.module as string}.${op} ${why}: rebuild the model with Keras layers in its place`, { name: String(name), className: op });
  };
  if (!(op in KERAS3_OPS) || args === null) refuse('is not one Convmap converts (it converts add, subtract, multiply and divide of a tensor by a number, and add, subtract, multiply of two tensors)');
  const isTensor = (a: Json): boolean => isObject(a) && a.class_name === '__keras_tensor__';
  const tensors = (args as Json[]).filter(isTensor);
  const numbers = (args as Json[]).filter((a) => typeof a === 'number' && Number.isFinite(a)) as number[];
  if (tensors.length === 2 && numbers.length === 0 && args?.length === 2 && KERAS3_OPS[op] !== '') return { className: KERAS3_OPS[op], config: { name } };
  if (tensors.length !== 1 || numbers.length !== 1 || args?.length !== 2) refuse('has arguments other than one tensor and one number or two tensors');
  const y = numbers[0];
  const tensorFirst = isTensor((args as Json[])[0]);
  switch (op) {
    case 'Add': return { className: 'Rescaling', config: { name, scale: 1, offset: y } };
    case 'Multiply': return { className: 'Rescaling', config: { name, scale: y, offset: 0 } };
    case 'Subtract': return { className: 'Rescaling', config: tensorFirst ? { name, scale: 1, offset: -y } : { name, scale: -1, offset: y } };
    default:
      if (!tensorFirst || y === 0) refuse('divides a number by a tensor, or by zero');
      return { className: 'Rescaling', config: { name, scale: 1 / y, offset: 0 } };
  }
}

/**
 * Keras 3's `GlobalAveragePooling2D(keepdims=True)` (MobileNetV3's squeeze-excite and head): tfjs
 * ignores keepdims and returns [n, c], so the pool is followed by a Reshape to [1, 1, c] that takes
 * over the pool's name in every reference (the pool keeps its own name for messages).
 */
function expandKeepDims(layers: Json[]): Json[] {
  const out: Json[] = [];
  const renamed = new Map<string, string>();
  for (const l of layers) {
    out.push(l);
    if (!isObject(l) || !isObject(l.config) || l.config.keepdims !== true) continue;
    if (l.class_name !== 'GlobalAveragePooling2D' && l.class_name !== 'GlobalMaxPooling2D') continue;
    const name = String(l.config.name);
    const { keepdims: _k, ...pool } = l.config;
    l.config = pool;
    const reshapeName = `${name}/keepdims`;
    const reshape: JsonObject = { class_name: 'Reshape', config: { name: reshapeName, target_shape: [1, 1, -1], trainable: false, dtype: pool.dtype ?? 'float32' } };
    if (Array.isArray(l.inbound_nodes)) {
      reshape.name = reshapeName;
      reshape.inbound_nodes = l.inbound_nodes.map((_n, k) => [[name, k, 0, {}]]);
      renamed.set(name, reshapeName);
    }
    out.push(reshape);
  }
  if (renamed.size === 0) return out;
  const rename = (ref: Json): Json => (Array.isArray(ref) && typeof ref[0] === 'string' && renamed.has(ref[0]) ? [renamed.get(ref[0]) as string, ...ref.slice(1)] : ref);
  for (const l of out) {
    if (!isObject(l) || !Array.isArray(l.inbound_nodes) || (isObject(l.config) && String(l.config.name).endsWith('/keepdims'))) continue;
    l.inbound_nodes = l.inbound_nodes.map((node) => (Array.isArray(node) ? node.map(rename) : node));
  }
  return out;
}

/**
 * A Conv2D with groups = its input channels (ConvNeXt's 7×7 "depthwise" convolution in
 * keras.applications) is a DepthwiseConv2D with depth multiplier filters / groups; tfjs's Conv2D has
 * no groups. Its kernel is read in Keras's grouped shape (keras-weights.ts). A grouped convolution with
 * fewer groups than channels is refused, naming the layer, when the config says the channels
 * (Keras 3's build_config); otherwise its kernel's shape is refused when the weights are read.
 */
function depthwiseOfGroups(out: JsonObject, c: JsonObject, buildConfig: Json | undefined, file: string): void {
  const groups = Number(c.groups);
  const filters = Number(c.filters);
  const shape = isObject(buildConfig) && Array.isArray(buildConfig.input_shape) ? buildConfig.input_shape : null;
  const channels = shape !== null ? shape[shape.length - 1] : null;
  if ((typeof channels === 'number' && channels !== groups) || !Number.isInteger(filters / groups)) {
    throw new ModelError(file, `Conv2D in ${groups} groups over ${String(channels ?? '?')} channels is a grouped convolution, which Convmap does not convert (it converts groups = input channels, a depthwise convolution)`, {
      name: String(c.name), className: 'Conv2D',
    });
  }
  out.class_name = 'DepthwiseConv2D';
  c.depth_multiplier = filters / groups;
  for (const k of ['filters', 'groups']) delete c[k];
}

/** TensorFlow functions Keras 2 records for `a + b`, `a − b`, `a * b` of two tensors, and the merge layer of each. */
const TF_MERGES: Readonly<Record<string, string>> = {
  '__operators__.add': 'Add', 'math.add': 'Add', 'math.subtract': 'Subtract', 'math.multiply': 'Multiply',
};

/**
 * Keras 2's `inputs + x` of two tensors (tf.keras 2 ConvNeXt's residual): a TFOpLambda whose call
 * names the second tensor in its kwargs, `[["a", 0, 0, {"y": ["b", 0, 0], "name": null}]]`, as the
 * merge layer reading both. Null for anything else.
 */
function tfOpMerge(config: JsonObject, inbound: Json | undefined): { className: string; inbound: Json } | null {
  const cls = typeof config.function === 'string' ? TF_MERGES[config.function] : undefined;
  if (cls === undefined || !Array.isArray(inbound) || inbound.length !== 1 || !Array.isArray(inbound[0]) || inbound[0].length !== 1) return null;
  const ref = inbound[0][0];
  const y = Array.isArray(ref) && isObject(ref[3]) ? ref[3].y : undefined;
  if (!Array.isArray(ref) || !Array.isArray(y) || y.length !== 3 || typeof y[0] !== 'string' || typeof y[1] !== 'number' || typeof y[2] !== 'number') return null;
  return { className: cls, inbound: [[[ref[0], ref[1], ref[2], {}], [y[0], y[1], y[2], {}]]] };
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
  const op = keras3Op(layer, file);
  if (op !== null) {
    out.class_name = op.className;
    out.config = normalizeConfig({ ...op.config, trainable: false, dtype: 'float32' }, file, keras3);
    return out;
  }
  if (className === 'TFOpLambda' && isObject(config)) {
    const merge = tfOpMerge(config, out.inbound_nodes);
    if (merge !== null) {
      out.class_name = merge.className;
      out.config = normalizeConfig({ name: config.name, trainable: false, dtype: 'float32' }, file, keras3);
      out.inbound_nodes = merge.inbound;
      return out;
    }
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
  if (className === 'Lambda' && isObject(config)) {
    const pre = applicationsPreprocess(config, file);
    if (pre !== null) {
      out.class_name = pre.className;
      const keep: JsonObject = { name: config.name, trainable: false, dtype: 'float32', ...pre.config };
      for (const k of ['batch_input_shape', 'batch_shape']) if (k in config) keep[k] = config[k];
      out.config = normalizeConfig(keep, file, keras3);
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
    if (className === 'Conv2D' && Number(c.groups ?? 1) > 1) depthwiseOfGroups(out, c, layer.build_config, file);
  } else if (Array.isArray(config)) out.config = config.map((l) => (isObject(l) ? normalizeLayer(l, file, keras3) : l));
  return out;
}

function normalizeConfig(config: JsonObject, file: string, keras3: boolean): JsonObject {
  const c: JsonObject = { ...config };
  if ('batch_shape' in c && !('batch_input_shape' in c)) c.batch_input_shape = c.batch_shape;
  delete c.batch_shape;
  if ('dtype' in c) c.dtype = dtypeName(c.dtype);
  let renamedOutputs: Map<string, string> | null = null;
  if (Array.isArray(c.layers)) {
    const layers = c.layers.map((l) => (isObject(l) ? normalizeLayer(l, file, keras3) : l));
    c.layers = expandKeepDims(layers);
    renamedOutputs = new Map(c.layers.filter(isObject).filter((l) => Array.isArray(l.inbound_nodes) && isObject(l.config) && String(l.config.name).endsWith('/keepdims'))
      .map((l) => [String((l.config as JsonObject).name).slice(0, -'/keepdims'.length), String((l.config as JsonObject).name)]));
  }
  if ('input_layers' in c) c.input_layers = tripleList(c.input_layers);
  if ('output_layers' in c) c.output_layers = tripleList(c.output_layers);
  if (renamedOutputs && renamedOutputs.size > 0 && Array.isArray(c.output_layers)) {
    const map = renamedOutputs;
    c.output_layers = c.output_layers.map((r) => (Array.isArray(r) && typeof r[0] === 'string' && map.has(r[0]) ? [map.get(r[0]) as string, ...r.slice(1)] : r));
  }
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
