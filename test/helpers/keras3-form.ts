import type { H5Weight, Json } from './keras';
import type { Keras2Graph } from './keras2-apps';

/**
 * A graph of keras2-apps.ts / keras-backbones.ts in the form Keras 3 (3.5+) writes into a `.keras`
 * archive (keras/src/models/functional.py get_config, serialization_lib.serialize_keras_object):
 * every layer `{module, class_name, config, registered_name, build_config: {input_shape}, name,
 * inbound_nodes: [{args: [__keras_tensor__ {shape, dtype, keras_history}], kwargs}]}` with DTypePolicy
 * dtypes and module-qualified initializers; operations on tensors (`x + 3.0`, `inputs + x`) as
 * keras.src.ops.numpy operations (no build_config, their constants among the args); nested Sequentials
 * with their InputLayer first; and the weights at `layers/<snake_case class>[_k]/vars/<i>` of
 * model.weights.h5 (saving_lib: counted per class among the model's layers, operations excluded).
 */

type Obj = { [k: string]: Json };
type Vars = Record<string, { shape: number[]; values: Float32Array }[]>;

const DTYPE: Json = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };

/** keras.src.utils.naming.to_snake_case. */
function snake(name: string): string {
  return name.replace(/\W+/g, '').replace(/(.)([A-Z][a-z]+)/g, '$1_$2').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}

/** Keras 3 serialised classes that are not keras.layers' public ones. */
const MODULE: Readonly<Record<string, string>> = { LayerScale: 'keras.src.applications.convnext' };
/** Classes whose output keeps its input's rank (a vector stays a vector). */
const SAME_RANK = new Set(['Dense', 'Dropout', 'LayerNormalization', 'Activation', 'BatchNormalization', 'ReLU']);

interface Entry {
  class_name: string;
  name: string;
  config: Obj;
  inbound_nodes: [string, number, number, Obj][][];
}

/** Counts names per Keras class as saving_lib does: `conv2d`, `conv2d_1`, … */
class Counter {
  private readonly seen = new Map<string, number>();
  next(className: string): string {
    const base = snake(className);
    const k = this.seen.get(base);
    this.seen.set(base, k === undefined ? 0 : k + 1);
    return k === undefined ? base : `${base}_${k + 1}`;
  }
}

export class Keras3Form {
  private readonly flat = new Set<string>();
  private readonly byName = new Map<string, H5Weight[]>();
  private readonly renamed = new Map<string, string>();
  readonly vars: Vars = {};

  constructor(private readonly g: Keras2Graph) {
    for (const l of g.weights) this.byName.set(l.name, l.weights);
  }

  private ref(t: string): string {
    return this.renamed.get(t) ?? t;
  }

  shapeOf(t: string): (number | null)[] {
    const [h, w, c] = this.g.shape(t);
    return this.flat.has(t) ? [null, c] : [null, h, w, c];
  }

  kt(t: string): Json {
    return { class_name: '__keras_tensor__', config: { shape: this.shapeOf(t), dtype: 'float32', keras_history: [this.ref(t), 0, 0] } };
  }

  private trackRank(e: Entry): void {
    const inputs = (e.inbound_nodes[0] ?? []).map((r) => r[0]);
    const vector = e.class_name === 'Reshape' && Array.isArray(e.config.target_shape) && e.config.target_shape.length === 1;
    if ((e.class_name === 'GlobalAveragePooling2D' && e.config.keepdims === false) || e.class_name === 'Flatten' || vector) this.flat.add(e.name);
    else if (SAME_RANK.has(e.class_name) && inputs.length === 1 && this.flat.has(inputs[0])) this.flat.add(e.name);
  }

  /** A layer's config in Keras 3's words. */
  private layerConfig(className: string, c: Obj): Obj {
    const out: Obj = { ...c, dtype: DTYPE };
    for (const [k, v] of Object.entries(out)) {
      if (k.endsWith('_initializer') && v !== null && typeof v === 'object' && !Array.isArray(v)) {
        out[k] = { module: 'keras.initializers', ...v, registered_name: null };
      }
    }
    if (className === 'BatchNormalization') {
      out.axis = 3;
      out.synchronized = false;
    }
    if (className === 'LayerNormalization') {
      out.axis = -1;
      out.rms_scaling = false;
    }
    if (className === 'DepthwiseConv2D') delete out.groups;
    if (className === 'SeparableConv2D') {
      for (const k of ['groups', 'kernel_initializer', 'kernel_regularizer', 'kernel_constraint']) delete out[k];
    }
    return out;
  }

  private layerEntry(e: Entry, inputs: string[]): Obj {
    const className = e.class_name;
    const shapes = inputs.map((i) => this.shapeOf(i));
    return {
      module: MODULE[className] ?? 'keras.layers',
      class_name: className,
      config: this.layerConfig(className, e.config),
      registered_name: className in MODULE ? className : null,
      build_config: { input_shape: shapes.length === 1 ? shapes[0] : shapes },
    };
  }

  private weightsOf(name: string): { shape: number[]; values: Float32Array }[] {
    return (this.byName.get(name) ?? []).map((w) => ({ shape: w.shape, values: w.values }));
  }

  private opName(base: string): string {
    for (let k = 0; ; k++) {
      const n = k === 0 ? base : `${base}_${k}`;
      if (![...this.renamed.values()].includes(n) && !this.g.layers.some((l) => (l as { name?: string }).name === n)) return n;
    }
  }

  /** The Functional config of the graph ending at `output`, its weights filed under `prefix` in {@link vars}. */
  functional(output: string, prefix = ''): Obj {
    const counter = new Counter();
    const layers: Json[] = [];
    let input = '';
    for (const raw of this.g.layers) {
      const e = raw as unknown as Entry;
      const inputs = (e.inbound_nodes[0] ?? []).map((r) => r[0]);
      this.trackRank(e);
      if (e.class_name === 'InputLayer') {
        input = e.name;
        counter.next('InputLayer');
        const [h, w, c] = this.g.shape(e.name);
        layers.push({ module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, h, w, c], dtype: 'float32', sparse: false, name: e.name }, registered_name: null, name: e.name, inbound_nodes: [] });
        continue;
      }
      if (e.class_name === 'TFOpLambda' || e.class_name === 'OpAdd') {
        const cls = e.class_name === 'OpAdd' || e.config.function === '__operators__.add' ? 'Add' : 'Multiply';
        const name = this.opName(snake(cls));
        this.renamed.set(e.name, name);
        const args: Json[] = e.class_name === 'OpAdd' ? inputs.map((i) => this.kt(i)) : [this.kt(inputs[0]), e.inbound_nodes[0][0][3].y];
        layers.push({ module: 'keras.src.ops.numpy', class_name: cls, config: { name }, registered_name: cls, name, inbound_nodes: [{ args, kwargs: {} }] });
        continue;
      }
      const at = `${prefix}layers/${counter.next(e.class_name)}`;
      let entry: Obj;
      if (e.class_name === 'Sequential') {
        const inner = (e.config.layers as unknown as Entry[]);
        const innerCounter = new Counter();
        const inShape = this.shapeOf(inputs[0]);
        let prev = inputs[0];
        const innerLayers: Json[] = [{ module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: inShape, dtype: 'float32', sparse: false, name: `${e.name}_input` }, registered_name: null }];
        for (const l of inner) {
          innerLayers.push(this.layerEntry(l, [prev]));
          const w = this.weightsOf(l.name);
          const k = innerCounter.next(l.class_name);
          if (w.length > 0) this.vars[`${at}/layers/${k}`] = w;
          prev = l.name;
        }
        entry = {
          module: 'keras', class_name: 'Sequential', registered_name: null, build_config: { input_shape: inShape },
          config: { name: e.name, trainable: true, dtype: DTYPE, layers: innerLayers, build_input_shape: inShape },
        };
      } else {
        entry = this.layerEntry(e, inputs);
        const w = this.weightsOf(e.name);
        if (w.length > 0) this.vars[at] = w;
      }
      const tensors = inputs.map((i) => this.kt(i));
      entry.name = e.name;
      entry.inbound_nodes = [{ args: tensors.length === 1 ? tensors : [tensors], kwargs: e.class_name === 'BatchNormalization' ? { mask: null } : {} }];
      layers.push(entry);
    }
    return {
      module: 'keras.src.models.functional', class_name: 'Functional', registered_name: 'Functional', build_config: { input_shape: null },
      config: { name: this.g.name, trainable: true, layers, input_layers: [[input, 0, 0]], output_layers: [[this.ref(output), 0, 0]] },
    };
  }
}

/** The Keras 3 config.json and model.weights.h5 contents of a whole graph. */
export function keras3Model(g: Keras2Graph): { config: Json; vars: Vars } {
  const form = new Keras3Form(g);
  return { config: form.functional(g.output), vars: form.vars };
}

/**
 * A Keras 3 transfer model: `inputs = keras.Input(...)`, `x = base(inputs, training=False)`,
 * GlobalAveragePooling2D → Dropout → Dense, the base one Functional layer (its output referenced at
 * node 1, as Keras 3 numbers a nested Functional's calls) whose weights are under `layers/functional/`.
 */
export function keras3Transfer(base: Keras2Graph, classes: number, dense: { kernel: Float32Array; bias: Float32Array }): { config: Json; vars: Vars } {
  const form = new Keras3Form(base);
  const inner = form.functional(base.output, 'layers/functional/');
  const [h, w, c] = base.shape(base.output);
  const [ih, iw, ic] = base.shape((base.layers[0] as { name: string }).name);
  const kt = (layer: string, node: number, shape: (number | null)[]): Json => ({ class_name: '__keras_tensor__', config: { shape, dtype: 'float32', keras_history: [layer, node, 0] } });
  const layer = (className: string, name: string, config: Obj, input: Json, inputShape: (number | null)[]): Json => ({
    module: 'keras.layers', class_name: className, config: { name, trainable: true, dtype: DTYPE, ...config }, registered_name: null,
    build_config: { input_shape: inputShape }, name, inbound_nodes: [{ args: [input], kwargs: {} }],
  });
  const config: Json = {
    module: 'keras.src.models.functional', class_name: 'Functional', registered_name: 'Functional', build_config: { input_shape: null },
    config: {
      name: 'functional_1', trainable: true,
      layers: [
        { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, ih, iw, ic], dtype: 'float32', sparse: false, name: 'input_layer_1' }, registered_name: null, name: 'input_layer_1', inbound_nodes: [] },
        { ...inner, build_config: { input_shape: [null, ih, iw, ic] }, name: base.name, inbound_nodes: [{ args: [kt('input_layer_1', 0, [null, ih, iw, ic])], kwargs: { training: false } }] },
        layer('GlobalAveragePooling2D', 'global_average_pooling2d', { data_format: 'channels_last', keepdims: false }, kt(base.name, 1, [null, h, w, c]), [null, h, w, c]),
        layer('Dropout', 'dropout', { rate: 0.2, seed: null, noise_shape: null }, kt('global_average_pooling2d', 0, [null, c]), [null, c]),
        layer('Dense', 'dense', {
          units: classes, activation: 'linear', use_bias: true,
          kernel_initializer: { module: 'keras.initializers', class_name: 'GlorotUniform', config: { seed: null }, registered_name: null },
          bias_initializer: { module: 'keras.initializers', class_name: 'Zeros', config: {}, registered_name: null },
          kernel_regularizer: null, bias_regularizer: null, kernel_constraint: null, bias_constraint: null,
        }, kt('dropout', 0, [null, c]), [null, c]),
      ],
      input_layers: [['input_layer_1', 0, 0]],
      output_layers: [['dense', 0, 0]],
    },
  };
  const vars: Vars = { ...form.vars, 'layers/dense': [{ shape: [c, classes], values: dense.kernel }, { shape: [classes], values: dense.bias }] };
  return { config, vars };
}
