/**
 * ONNX's ReduceMean and ReduceMax over the channels of a feature map (CBAM's spatial attention reads
 * both: `torch.max(x, 1)` and `torch.mean(x, 1)` side by side), and ReduceL2 over them (a cosine
 * classifier's `F.normalize`), as a tfjs layer on channels-last maps and on vectors.
 * Not a Keras layer: an ONNX file's rebuild (main/model/onnx/to-layers.ts) makes it, main/onnx/export.ts
 * writes it back as ONNX's ReduceMean or ReduceMax over the channel axis. Per location, so the head
 * rewrite and `--stride` pass it.
 */
import * as tf from '@tensorflow/tfjs';

/** [batch, h, w, c] → [batch, h, w, 1] (or [batch, c] → [batch, 1]): the mean, the maximum or the L2 norm over the channels at each location. */
export class OnnxChannelReduce extends tf.layers.Layer {
  static className = 'ConvmapChannelReduce';
  readonly op: 'mean' | 'max' | 'l2';

  constructor(args: { op: 'mean' | 'max' | 'l2'; name?: string }) {
    super({ name: args.name });
    if (args.op !== 'mean' && args.op !== 'max' && args.op !== 'l2') throw new Error(`ConvmapChannelReduce: unknown op ${String(args.op)}`);
    this.op = args.op;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [...s.slice(0, -1), 1];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => (this.op === 'mean' ? tf.mean(x, -1, true) : this.op === 'max' ? tf.max(x, -1, true) : tf.sqrt(tf.sum(tf.square(x), -1, true))));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), op: this.op };
  }
}
tf.serialization.registerClass(OnnxChannelReduce);
