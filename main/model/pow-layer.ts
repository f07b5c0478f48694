/**
 * ONNX's Pow of a tensor by one constant exponent (GeM pooling's x^p and its p-th root after the
 * average pool, in retrieval and Kaggle classifiers; timm's GeM) as a tfjs layer. Not a Keras layer:
 * an ONNX file's rebuild (main/model/onnx/to-layers.ts) makes it, main/onnx/export.ts writes it back as
 * ONNX's Pow. Elementwise, so the head rewrite and `--stride` pass it.
 */
import * as tf from '@tensorflow/tfjs';

/** y = x ^ exponent, elementwise (ONNX Pow with a scalar exponent; a negative base to a fractional power is NaN, as there). */
export class OnnxPow extends tf.layers.Layer {
  static className = 'ConvmapPow';
  readonly exponent: number;

  constructor(args: { exponent: number; name?: string }) {
    super({ name: args.name });
    this.exponent = args.exponent;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => tf.pow(x, tf.scalar(this.exponent)));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), exponent: this.exponent };
  }
}
tf.serialization.registerClass(OnnxPow);
