import * as tf from '@tensorflow/tfjs';
import type { FlatNode } from './graph';

type Layer = tf.layers.Layer;
type Config = Record<string, unknown>;
type LayerClass = new (config: Config) => Layer;
type Initializer = ReturnType<typeof tf.initializers.zeros>;

const Zeros = tf.initializers.zeros().constructor as new () => Initializer;

/**
 * The initializer a factory-made layer builds its weights with: a tensor sharing the data of the
 * weight it is to take (found by shape, in the layer's weight order), so building it allocates
 * nothing; zeros when none fits. It serialises as Zeros, and is replaced by the layer's own
 * initializer once the weights are set.
 */
class Adopting extends Zeros {
  constructor(private readonly take: (shape: number[], dtype?: tf.DataType) => tf.Tensor | undefined) {
    super();
  }

  override apply(shape: number[], dtype?: tf.DataType): tf.Tensor {
    return this.take(shape, dtype) ?? super.apply(shape, dtype);
  }
}

interface Pending {
  layer: Layer;
  weights: tf.Tensor[];
  owned: tf.Tensor[];
  /** The layer's own initializers, by property, while Adopting ones stand in for them. */
  initializers: [string, unknown][];
}

/**
 * Builds fresh tfjs layers for a rewritten model and holds the weights each takes: tfjs layers get
 * their weights only once apply() has built them, so they are set in one step at the end.
 */
export class LayerFactory {
  private readonly used: Set<string>;
  private readonly pending: Pending[] = [];

  /**
   * @param names names already taken (a rewrite of an existing model keeps its layers' names).
   * @param renameClones give clones a fresh unique name (a new model) instead of keeping the original's.
   */
  constructor(names: Iterable<string> = [], private readonly renameClones = true) {
    this.used = new Set(names);
  }

  /** `name`, or `name_2`, `name_3`… when taken; the result is taken from then on. */
  unique(name: string): string {
    let n = name;
    for (let k = 2; this.used.has(n); k++) n = `${name}_${k}`;
    this.used.add(n);
    return n;
  }

  /** A copy of `node`'s layer with config overrides, taking the same weights. */
  clone(node: FlatNode, overrides: Config = {}): Layer {
    const config = { ...(node.layer.getConfig() as Config), ...overrides };
    for (const k of ['batchInputShape', 'inputShape', 'inputDim', 'batchSize']) delete config[k];
    if (this.renameClones) config.name = this.unique(node.layer.name);
    const layer = new (node.layer.constructor as LayerClass)(config);
    return this.make(layer, node.layer.getWeights());
  }

  /**
   * Registers `layer` (not built yet) to take `weights`. Until {@link setWeights} its initializers
   * hand it views of those weights: a VGG's Dense-as-convolution would otherwise draw 400 MB of
   * Glorot noise (seconds of CPU, and memory the WebAssembly heap never gives back) only to be
   * overwritten; shared, the rewritten model costs no weight memory of its own.
   * `owned` are temporaries made for `weights` (reshaped kernels), disposed once copied in.
   */
  make(layer: Layer, weights: tf.Tensor[] = [], owned: tf.Tensor[] = []): Layer {
    const entry: Pending = { layer, weights, owned, initializers: [] };
    if (weights.length > 0) {
      const used = new Set<tf.Tensor>();
      const take = (shape: number[], dtype?: tf.DataType): tf.Tensor | undefined => {
        const w = weights.find((t) => !used.has(t) && (dtype === undefined || t.dtype === dtype) && t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]));
        if (w === undefined) return undefined;
        used.add(w);
        // A reshape shares the data (tfjs counts references); a clone would copy it.
        return w.reshape(shape);
      };
      const fields = layer as unknown as Record<string, unknown>;
      for (const key of Object.keys(fields)) {
        if (key.endsWith('Initializer') && fields[key] instanceof Object && typeof (fields[key] as Initializer).apply === 'function') {
          entry.initializers.push([key, fields[key]]);
          fields[key] = new Adopting(take);
        }
      }
    }
    this.pending.push(entry);
    return layer;
  }

  /** Sets every layer's weights (call after the model is built) and frees the temporaries. */
  setWeights(): void {
    for (const entry of this.pending) {
      const { layer, weights, owned } = entry;
      // Adopted weights are the same data: setWeights then only checks shapes, copying nothing.
      if (weights.length > 0) layer.setWeights(weights);
      this.restoreInitializers(entry);
      tf.dispose(owned);
    }
  }

  private restoreInitializers(entry: Pending): void {
    const fields = entry.layer as unknown as Record<string, unknown>;
    for (const [key, value] of entry.initializers) fields[key] = value;
    entry.initializers = [];
  }

  /** Frees the weights of every layer made so far: the rewrite failed and its model is not returned. */
  discard(): void {
    for (const entry of this.pending) {
      for (const w of entry.layer.weights) w.dispose();
      this.restoreInitializers(entry);
      tf.dispose(entry.owned);
    }
  }
}
