/**
 * ONNX's LRN (local response normalisation across channels, Caffe's AlexNet, CaffeNet, GoogLeNet and
 * ZFNet as the ONNX model zoo holds them) as a tfjs layer on channels-last maps. Not a Keras layer: an
 * ONNX file's rebuild (main/model/onnx/to-layers.ts) makes it, main/onnx/export.ts writes it back as
 * ONNX's LRN. Built from plain tfjs ops rather than tf.localResponseNormalization, whose window is
 * symmetric: ONNX's is not for an even size.
 */
import * as tf from '@tensorflow/tfjs';

/** ONNX LRN's attributes, as its operator documents them. */
export interface LrnConfig {
  /** Channels summed over, ≥ 1. */
  size: number;
  alpha: number;
  beta: number;
  bias: number;
}

/**
 * y[c] = x[c] / (bias + alpha / size · Σ x[c']²)^beta over c' from c − ⌊(size − 1)/2⌋ to
 * c + ⌈(size − 1)/2⌉ that exist; on [batch, h, w, c] (or [batch, c]), the channels last.
 */
export class OnnxLRN extends tf.layers.Layer {
  static className = 'ConvmapLRN';
  readonly lrn: LrnConfig;

  constructor(args: LrnConfig & { name?: string }) {
    super({ name: args.name });
    this.lrn = { size: args.size, alpha: args.alpha, beta: args.beta, bias: args.bias };
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => {
      const { size, alpha, beta, bias } = this.lrn;
      const c = x.shape[x.rank - 1] as number;
      // A window reaching past every channel sums them all: the reach is capped there, so a file's
      // size of 10⁹ costs no more than one of 2·c (the divisor stays the file's size).
      const before = Math.min(Math.floor((size - 1) / 2), c - 1);
      const after = Math.min(Math.ceil((size - 1) / 2), c - 1);
      const pads = x.shape.map((_, i): [number, number] => (i === x.rank - 1 ? [before, after] : [0, 0]));
      const squares = tf.pad(tf.square(x), pads);
      const begin = x.shape.map(() => 0);
      const parts = Array.from({ length: before + after + 1 }, (_, k) => tf.slice(squares, begin.map((b, i) => (i === x.rank - 1 ? k : b)), [...x.shape.slice(0, -1), c] as number[]));
      const sum = parts.length === 1 ? parts[0] : tf.addN(parts);
      return tf.div(x, tf.pow(tf.add(tf.mul(sum, alpha / size), bias), beta));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.lrn };
  }
}
tf.serialization.registerClass(OnnxLRN);
