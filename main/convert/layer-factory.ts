import * as tf from '@tensorflow/tfjs';
import type { FlatNode } from './graph';

type Layer = tf.layers.Layer;
type Config = Record<string, unknown>;
type LayerClass = new (config: Config) => Layer;

/**
 * Builds fresh tfjs layers for a rewritten model and holds the weights each takes: tfjs layers get
 * their weights only once apply() has built them, so they are set in one step at the end.
 */
export class LayerFactory {
  private readonly used: Set<string>;
  private readonly pending: { layer: Layer; weights: tf.Tensor[]; owned: tf.Tensor[] }[] = [];

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
    this.pending.push({ layer, weights: node.layer.getWeights(), owned: [] });
    return layer;
  }

  /** `owned` are temporaries made for `weights` (reshaped kernels), disposed once copied in. */
  make(layer: Layer, weights: tf.Tensor[] = [], owned: tf.Tensor[] = []): Layer {
    this.pending.push({ layer, weights, owned });
    return layer;
  }

  /** Sets every layer's weights (call after the model is built) and frees the temporaries. */
  setWeights(): void {
    for (const { layer, weights, owned } of this.pending) {
      if (weights.length > 0) layer.setWeights(weights);
      tf.dispose(owned);
    }
  }

  /** Frees the weights of every layer made so far: the rewrite failed and its model is not returned. */
  discard(): void {
    for (const { layer, owned } of this.pending) {
      for (const w of layer.weights) w.dispose();
      tf.dispose(owned);
    }
  }
}
