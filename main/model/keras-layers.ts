/**
 * Keras layers that tfjs 4 lacks or builds wrongly, registered under Keras's class names (importing
 * this module registers them; build.ts does):
 * - `Normalization`: (x − mean) / max(√variance, 1e−7), or its inverse, per channel (Keras's formula);
 *   mean and variance come from the config or from the layer's weights (Keras 2 also stores a count).
 * - `Resizing`: tfjs's own drops the batch axis from its output shape ("expected ndim=4, found
 *   ndim=3" in the next layer); this one keeps it. The converter treats a Resizing that keeps the
 *   window's size as the identity (main/convert/convert.ts).
 * - `CenterCrop`: tfjs's writes its output size into its input's shape array (the model's input
 *   then claims the cropped size), and samples its box with cropAndResize; this one copies the shape
 *   first and cuts the centre exactly as Keras does.
 * - `Subtract` (tfjs has none) and `UpSampling2D` (tfjs's bilinear is TensorFlow 1's alignment, not Keras's).
 * - `ELU`: tfjs's refuses an alpha other than 1; this one computes x > 0 ? x : alpha·(eˣ − 1).
 * - `LayerScale` (keras.applications ConvNeXt's own layer, Keras 2.10+ and 3): x · gamma per channel.
 * - `Reshape`: tfjs's leaves a `-1` dimension unknown whenever the batch size is unknown (always, in
 *   a model), so `Reshape((1, 1, -1))` after a global pooling fed the next Conv2D an unknown channel
 *   count ("The channel dimension of the input should be defined"); this one resolves it from the
 *   known dimensions.
 */
import * as tf from '@tensorflow/tfjs';
// Every place that builds a model from a topology needs the activations too, and ONNX's LRN (a converted
// folder of a Caffe2 ONNX file holds it): one import registers them all.
import './activations';
import './lrn-layer';
import './pow-layer';
import './channel-reduce-layer';

type Kwargs = Record<string, unknown>;
type Shape = (number | null)[];

/** Keras's backend.epsilon(), the floor of the standard deviation Normalization divides by. */
export const KERAS_EPSILON = 1e-7;

function oneShape(s: Shape | Shape[]): Shape {
  return (Array.isArray(s[0]) ? s[0] : s) as Shape;
}

function oneTensor(x: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(x) ? x[0] : x;
}

/** Keras `Normalization(axis=-1)`: one mean and variance per channel. */
export class KerasNormalization extends tf.layers.Layer {
  static className = 'Normalization';
  readonly axis: unknown;
  readonly invert: boolean;
  readonly fixedMean: number[] | null;
  readonly fixedVariance: number[] | null;
  private mean: tf.LayerVariable | null = null;
  private variance: tf.LayerVariable | null = null;

  constructor(args: Kwargs) {
    super(args);
    this.axis = args.axis ?? -1;
    this.invert = args.invert === true;
    const list = (v: unknown): number[] | null =>
      typeof v === 'number' ? [v] : Array.isArray(v) ? (v.flat(8) as unknown[]).map(Number) : null;
    this.fixedMean = list(args.mean);
    this.fixedVariance = list(args.variance);
  }

  /** The channel count this layer normalises over; throws for axes Convmap cannot run per location. */
  private channels(shape: Shape): number {
    const axis = Array.isArray(this.axis) ? (this.axis.length === 1 ? Number(this.axis[0]) : NaN) : Number(this.axis);
    if (!(axis === -1 || axis === shape.length - 1)) {
      throw new Error(`Normalization over axis ${JSON.stringify(this.axis)} is not supported (only the channel axis, -1)`);
    }
    const c = shape[shape.length - 1];
    if (c === null) throw new Error('Normalization needs a known channel count');
    return c;
  }

  override build(inputShape: Shape | Shape[]): void {
    const c = this.channels(oneShape(inputShape));
    if (this.fixedMean === null) {
      this.mean = this.addWeight('mean', [c], 'float32', tf.initializers.zeros(), undefined, false);
      this.variance = this.addWeight('variance', [c], 'float32', tf.initializers.ones(), undefined, false);
    }
    this.built = true;
  }

  /** Mean and divisor max(√variance, ε), each [channels]. */
  private stats(c: number): [tf.Tensor1D, tf.Tensor1D] {
    const expand = (v: number[]): number[] => (v.length === 1 ? new Array<number>(c).fill(v[0]) : v);
    const mean = this.mean ? (this.mean.read() as tf.Tensor1D) : tf.tensor1d(expand(this.fixedMean ?? [0]));
    const variance = this.variance ? (this.variance.read() as tf.Tensor1D) : tf.tensor1d(expand(this.fixedVariance ?? [1]));
    return [mean, tf.maximum(tf.sqrt(variance), KERAS_EPSILON)];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneTensor(inputs);
      const [mean, std] = this.stats(x.shape[x.shape.length - 1]);
      return this.invert ? tf.add(mean, tf.mul(x, std)) : tf.div(tf.sub(x, mean), std);
    });
  }

  /** Per-channel scale and offset: y = x·scale + offset (what the ONNX exporter writes). */
  affine(channels: number): { scale: Float32Array; offset: Float32Array } {
    return tf.tidy(() => {
      const [mean, std] = this.stats(channels);
      const m = mean.dataSync() as Float32Array;
      const s = std.dataSync() as Float32Array;
      const scale = new Float32Array(channels);
      const offset = new Float32Array(channels);
      for (let i = 0; i < channels; i++) {
        scale[i] = this.invert ? s[i] : 1 / s[i];
        offset[i] = this.invert ? m[i] : -m[i] / s[i];
      }
      return { scale, offset };
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), axis: this.axis as number, invert: this.invert, mean: this.fixedMean, variance: this.fixedVariance };
  }
}

/** Keras `Resizing(height, width)` with the batch axis kept in its output shape. */
export class KerasResizing extends tf.layers.Layer {
  static className = 'Resizing';
  readonly height: number;
  readonly width: number;
  readonly interpolation: string;
  readonly cropToAspectRatio: boolean;

  constructor(args: Kwargs) {
    super(args);
    this.height = Number(args.height);
    this.width = Number(args.width);
    this.interpolation = typeof args.interpolation === 'string' ? args.interpolation : 'bilinear';
    this.cropToAspectRatio = args.cropToAspectRatio === true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = oneShape(inputShape).slice();
    s[s.length - 3] = this.height;
    s[s.length - 2] = this.width;
    return s;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneTensor(inputs) as tf.Tensor4D;
      const size: [number, number] = [this.height, this.width];
      if (x.shape[1] === this.height && x.shape[2] === this.width) return x.clone();
      return this.interpolation === 'nearest' ? tf.image.resizeNearestNeighbor(x, size, false, true) : tf.image.resizeBilinear(x, size, false, true);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), height: this.height, width: this.width, interpolation: this.interpolation, cropToAspectRatio: this.cropToAspectRatio };
  }
}

tf.serialization.registerClass(KerasNormalization);
tf.serialization.registerClass(KerasResizing);

type ShapeFn = (inputShape: Shape | Shape[]) => Shape | Shape[];
const TfjsReshape = Object.getPrototypeOf(tf.layers.reshape({ targetShape: [1] })).constructor as new (args: Kwargs) => tf.layers.Layer;

/** Keras `Reshape(target_shape)` whose `-1` is resolved whenever the non-batch dimensions are known. */
export class KerasReshape extends TfjsReshape {
  static className = 'Reshape';

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    const s = oneShape(inputShape);
    const target = ((this.getConfig().targetShape as (number | null)[] | undefined) ?? []).map((d) => (d === null || d < 0 ? null : d));
    const rest = s.slice(1);
    const unknown = target.filter((d) => d === null).length;
    if (unknown !== 1 || rest.some((d) => d === null)) return (TfjsReshape.prototype as unknown as { computeOutputShape: ShapeFn }).computeOutputShape.call(this, inputShape);
    const size = rest.reduce((a: number, b) => a * (b as number), 1);
    const known = target.reduce((a: number, b) => a * (b ?? 1), 1);
    if (known === 0 || size % known !== 0) throw new Error(`Reshape of [${rest.join(', ')}] to [${target.map((d) => d ?? -1).join(', ')}]: the total size must be unchanged`);
    return [s[0], ...target.map((d) => d ?? size / known)];
  }
}
tf.serialization.registerClass(KerasReshape as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);

const TfjsCenterCrop = Object.getPrototypeOf(tf.layers.centerCrop({ height: 1, width: 1 })).constructor as new (args: Kwargs) => tf.layers.Layer;

/** Keras `CenterCrop(height, width)` that leaves its input's shape alone. */
export class KerasCenterCrop extends TfjsCenterCrop {
  static className = 'CenterCrop';

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    const s = oneShape(inputShape).slice();
    const cfg = this.getConfig();
    s[s.length - 3] = Number(cfg.height);
    s[s.length - 2] = Number(cfg.width);
    return s;
  }

  /** Keras's crop, rows from floor((H − height) / 2): tfjs's samples a box with cropAndResize, off by a fraction of a pixel. */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const x = oneTensor(inputs);
    const cfg = this.getConfig();
    const [h, w] = [Number(cfg.height), Number(cfg.width)];
    const [ih, iw] = [Number(x.shape[1]), Number(x.shape[2])];
    if (x.rank !== 4 || ih < h || iw < w) return super.call(inputs, kwargs);
    return tf.slice(x, [0, Math.floor((ih - h) / 2), Math.floor((iw - w) / 2), 0], [-1, h, w, -1]);
  }
}
tf.serialization.registerClass(KerasCenterCrop as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);

/** Keras `ELU(alpha)` for any alpha. */
export class KerasELU extends tf.layers.Layer {
  static className = 'ELU';
  readonly alpha: number;

  constructor(args: Kwargs) {
    super(args);
    this.alpha = args.alpha === undefined ? 1 : Number(args.alpha);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneTensor(inputs);
      return this.alpha === 1 ? tf.elu(x) : tf.where(tf.greater(x, 0), x, tf.mul(this.alpha, tf.sub(tf.exp(x), 1)));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), alpha: this.alpha };
  }
}
tf.serialization.registerClass(KerasELU);

/** keras.applications ConvNeXt's `LayerScale(init_values, projection_dim)`: x · gamma, gamma [projection_dim]. */
export class KerasLayerScale extends tf.layers.Layer {
  static className = 'LayerScale';
  readonly projectionDim: number;
  readonly initValues: number;
  private gamma: tf.LayerVariable | null = null;

  constructor(args: Kwargs) {
    super(args);
    this.projectionDim = Number(args.projectionDim);
    this.initValues = Number(args.initValues ?? 1e-6);
  }

  override build(): void {
    this.gamma = this.addWeight('gamma', [this.projectionDim], 'float32', tf.initializers.constant({ value: this.initValues }));
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.mul(oneTensor(inputs), (this.gamma as tf.LayerVariable).read()));
  }

  /** gamma as a plain array (what the ONNX exporter multiplies by). */
  scale(): Float32Array {
    return tf.tidy(() => (this.gamma as tf.LayerVariable).read().dataSync() as Float32Array).slice();
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), projectionDim: this.projectionDim, initValues: this.initValues };
  }
}
tf.serialization.registerClass(KerasLayerScale);

type MergeClass = new (args: Kwargs) => tf.layers.Layer & { mergeFunction(inputs: tf.Tensor[]): tf.Tensor };
const TfjsMerge = Object.getPrototypeOf(Object.getPrototypeOf(tf.layers.add({})).constructor) as MergeClass;

/** Keras `Subtract()`: its first input minus its second (tfjs has no Subtract layer). */
export class KerasSubtract extends TfjsMerge {
  static className = 'Subtract';

  override build(inputShape: Shape | Shape[]): void {
    if (!Array.isArray(inputShape[0]) || inputShape.length !== 2) throw new Error('a Subtract layer takes exactly 2 inputs');
    super.build(inputShape);
  }

  override mergeFunction(inputs: tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.sub(inputs[0], inputs[1]));
  }
}
tf.serialization.registerClass(KerasSubtract as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);

/** Interpolations of Keras's UpSampling2D that Convmap computes. */
export const UPSAMPLING_INTERPOLATIONS: readonly string[] = ['nearest', 'bilinear'];

/**
 * Keras `UpSampling2D(size, interpolation)` as Keras 2 (TensorFlow 2) and Keras 3 compute it:
 * `nearest` repeats each value size times; `bilinear` is tf.image.resize with half-pixel centres
 * (output pixel i reads input (i + 0.5) / size − 0.5, clamped to the edge). tfjs's own bilinear
 * reads i / size (TensorFlow 1's alignment), which shifts the map by a quarter of an input pixel.
 */
export class KerasUpSampling2D extends tf.layers.Layer {
  static className = 'UpSampling2D';
  readonly size: [number, number];
  readonly interpolation: string;
  readonly dataFormat: string;

  constructor(args: Kwargs) {
    super(args);
    const s = args.size ?? 2;
    this.size = Array.isArray(s) ? [Number(s[0]), Number(s[1] ?? s[0])] : [Number(s), Number(s)];
    this.interpolation = typeof args.interpolation === 'string' ? args.interpolation : 'nearest';
    this.dataFormat = typeof args.dataFormat === 'string' ? args.dataFormat : 'channelsLast';
    if (!UPSAMPLING_INTERPOLATIONS.includes(this.interpolation)) {
      throw new Error(`UpSampling2D interpolation "${this.interpolation}" is not supported (only nearest and bilinear)`);
    }
    if (this.dataFormat !== 'channelsLast' && this.dataFormat !== 'channels_last') throw new Error('UpSampling2D is supported channels-last only');
    if (!this.size.every((f) => Number.isInteger(f) && f >= 1)) throw new Error(`UpSampling2D size ${JSON.stringify(s)} is not a pair of whole numbers`);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = oneShape(inputShape).slice();
    s[1] = s[1] === null ? null : s[1] * this.size[0];
    s[2] = s[2] === null ? null : s[2] * this.size[1];
    return s;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneTensor(inputs) as tf.Tensor4D;
      const size: [number, number] = [x.shape[1] * this.size[0], x.shape[2] * this.size[1]];
      return this.interpolation === 'nearest' ? tf.image.resizeNearestNeighbor(x, size, false, false) : tf.image.resizeBilinear(x, size, false, true);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), size: this.size, interpolation: this.interpolation, dataFormat: this.dataFormat };
  }
}
tf.serialization.registerClass(KerasUpSampling2D);
